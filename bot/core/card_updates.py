"""Card updates after a click: the message Slack sent back with the click, with a new state applied.

Working from the message itself (not from a stored copy) keeps a click working on any replica.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.core.cards import (
    ACTIONS_BLOCK_ID,
    STATUS_BLOCK_ID,
    STATUS_COLORS,
    CardState,
    CardStatus,
    is_callback_button,
    is_resolve_button,
    status_block,
)

_ATTACHMENT_KEYS = ("color", "blocks", "fallback")


def _kept(element: dict[str, Any], state: CardState) -> bool:
    """Whether a button stays on the card in ``state``: every one while open; Resolve also once acknowledged."""
    if not is_callback_button(element):
        return True
    return state.status is CardStatus.ACKNOWLEDGED and is_resolve_button(element)


def _apply_to_blocks(blocks: list[dict[str, Any]], state: CardState, keep_callbacks: bool) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("block_id") == STATUS_BLOCK_ID:
            continue
        if block.get("type") == "actions" and not keep_callbacks:
            elements = [e for e in block.get("elements", []) if _kept(e, state)]
            if not elements:
                continue
            block = {**block, "elements": elements}
        result.append(block)
    status = status_block(state)
    if status is not None:
        # the status line goes just above the buttons (or last when there are none)
        index = next(
            (i for i, b in enumerate(result) if b.get("type") == "actions" or b.get("block_id") == ACTIONS_BLOCK_ID),
            len(result),
        )
        result.insert(index, status)
    return result


def apply_state(message: dict[str, Any], state: CardState) -> dict[str, Any]:
    """A replacement payload (``text``, ``blocks``, ``attachments``) for ``message`` showing ``state``."""
    keep_callbacks = state.status is CardStatus.OPEN
    attachments = [
        {k: a[k] for k in _ATTACHMENT_KEYS if k in a}
        for a in copy.deepcopy(message.get("attachments") or [])
        if isinstance(a, dict)
    ]
    top_blocks = copy.deepcopy(message.get("blocks") or [])
    if attachments and isinstance(attachments[0].get("blocks"), list):
        attachments[0]["blocks"] = _apply_to_blocks(attachments[0]["blocks"], state, keep_callbacks)
        if state.status in STATUS_COLORS:
            attachments[0]["color"] = STATUS_COLORS[state.status]
    else:
        top_blocks = _apply_to_blocks(top_blocks, state, keep_callbacks)
    return {"text": message.get("text") or "", "blocks": top_blocks, "attachments": attachments}
