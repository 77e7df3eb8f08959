"""What the fake Slack accepts as a message's content: text, blocks and attachments, checked the way Slack does.

Only the Block Kit the bot sends is modelled (bot/core/cards.py, bot/core/card_updates.py): ``header``,
``section`` (text, fields), ``image``, ``context`` (text elements) and ``actions`` (buttons with text, action_id,
url, value, style), in top-level blocks and in attachments' blocks. Within those types every documented limit
and wrong shape is refused, as Slack refuses it; another block or element type, or a property the bot never sets,
is refused as unsupported, so a card that starts using one fails loudly here instead of passing unchecked.

Errors read ``"<what> [json-pointer:/blocks/0/text/text]"``, like Slack's ``invalid_blocks`` answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

__all__ = ["MAX_BLOCKS_TEXT_TOTAL", "content_problem", "validate_blocks"]

# Documented limits: https://api.slack.com/reference/block-kit/blocks (blocks),
# .../block-kit/block-elements#button (buttons), .../block-kit/composition-objects#text (text objects).
MAX_BLOCKS = 50  # blocks per message, attachments' blocks included
MAX_BLOCK_ID = 255
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000  # a context element's text: not documented separately, Slack applies the section limit
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000  # a button's url and an image block's image_url
MAX_ALT_TEXT = 2000
# Undocumented: total characters of every text string across all blocks (slackapi/bolt-js#2509);
# past it Slack answers msg_blocks_too_long.
MAX_BLOCKS_TEXT_TOTAL = 12_000


class BlockType(StrEnum):
    """The block types the bot sends."""

    HEADER = "header"
    SECTION = "section"
    IMAGE = "image"
    CONTEXT = "context"
    ACTIONS = "actions"


class TextType(StrEnum):
    """Composition text object types."""

    PLAIN_TEXT = "plain_text"
    MRKDWN = "mrkdwn"


class ButtonStyle(StrEnum):
    """The styles Slack allows on a button (absent means the default look)."""

    PRIMARY = "primary"
    DANGER = "danger"


BUTTON = "button"  # the only element type in the bot's actions blocks

_BLOCK_PROPS: dict[str, frozenset[str]] = {
    BlockType.HEADER: frozenset({"type", "block_id", "text"}),
    BlockType.SECTION: frozenset({"type", "block_id", "text", "fields"}),
    BlockType.IMAGE: frozenset({"type", "block_id", "image_url", "alt_text"}),
    BlockType.CONTEXT: frozenset({"type", "block_id", "elements"}),
    BlockType.ACTIONS: frozenset({"type", "block_id", "elements"}),
}
_TEXT_PROPS: dict[str, frozenset[str]] = {
    TextType.PLAIN_TEXT: frozenset({"type", "text", "emoji"}),
    TextType.MRKDWN: frozenset({"type", "text"}),
}
_BUTTON_PROPS = frozenset({"type", "text", "action_id", "url", "value", "style"})
_BUTTON_STYLES = frozenset(ButtonStyle)


class _BlockValidator:
    """Walks blocks the way Slack's schema check does, collecting pointer-tagged errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.text_chars = 0
        self._block_ids: set[str] = set()
        self._action_ids: set[str] = set()
        self._blocks: dict[str, Callable[[dict[str, Any], str], None]] = {
            BlockType.HEADER: self._header,
            BlockType.SECTION: self._section,
            BlockType.IMAGE: self._image,
            BlockType.CONTEXT: self._context,
            BlockType.ACTIONS: self._actions,
        }

    def _err(self, what: str, pointer: str) -> None:
        self.errors.append(f"{what} [json-pointer:{pointer}]")

    # -- primitives ----------------------------------------------------------------------------

    def _type(self, obj: dict[str, Any], pointer: str) -> str | None:
        """The object's ``type`` when it is a string; otherwise records why not and answers None."""
        kind = obj.get("type")
        if kind is None:
            self._err("missing required field: type", pointer)
            return None
        if not isinstance(kind, str):
            self._err("must be a string", f"{pointer}/type")
            return None
        return kind

    def _props(self, obj: dict[str, Any], allowed: frozenset[str], pointer: str) -> None:
        for key in obj:
            if key not in allowed:
                self._err(f"invalid additional property: {key}", pointer)

    def _string(
        self,
        obj: dict[str, Any],
        key: str,
        pointer: str,
        *,
        max_len: int,
        required: bool = False,
        non_empty: bool = False,
    ) -> str | None:
        if key not in obj:
            if required:
                self._err(f"missing required field: {key}", pointer)
            return None
        value = obj[key]
        if not isinstance(value, str):
            self._err("must be a string", f"{pointer}/{key}")
            return None
        text: str = value
        if non_empty and not text:
            self._err("must be more than 0 characters", f"{pointer}/{key}")
        elif len(text) > max_len:
            self._err(f"must be less than {max_len + 1} characters", f"{pointer}/{key}")
        return text

    def _array(self, obj: dict[str, Any], key: str, pointer: str, *, min_items: int, max_items: int) -> list[Any]:
        value = obj[key]
        if not isinstance(value, list):
            self._err("must be an array", f"{pointer}/{key}")
            return []
        if len(value) > max_items:
            self._err(f"no more than {max_items} items allowed", f"{pointer}/{key}")
        elif len(value) < min_items:
            self._err(f"must provide at least {min_items} items", f"{pointer}/{key}")
        return value

    def _text(self, obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> None:
        """A composition text object. Union positions (plain_text|mrkdwn) get Slack's schema-miss note."""
        before = len(self.errors)
        self._text_inner(obj, pointer, max_len=max_len, plain_only=plain_only)
        if not plain_only and len(self.errors) > before:
            self.errors.insert(before, f"failed to match all allowed schemas [json-pointer:{pointer}]")

    def _text_inner(self, obj: Any, pointer: str, *, max_len: int, plain_only: bool) -> None:
        if not isinstance(obj, dict):
            self._err("must be an object", pointer)
            return
        kind = self._type(obj, pointer)
        if kind is not None:
            allowed = _TEXT_PROPS.get(kind)
            if allowed is None or (plain_only and kind != TextType.PLAIN_TEXT):
                self._err("must be a valid enum value", f"{pointer}/type")
            if allowed is not None:
                self._props(obj, allowed, pointer)
        if "emoji" in obj and not isinstance(obj["emoji"], bool):
            self._err("must be a boolean", f"{pointer}/emoji")
        text = self._string(obj, "text", pointer, max_len=max_len, required=True, non_empty=True)
        if text is not None:
            self.text_chars += len(text)

    def _required_text(self, obj: dict[str, Any], pointer: str, *, max_len: int, plain_only: bool = False) -> None:
        if "text" not in obj:
            self._err("missing required field: text", pointer)
        else:
            self._text(obj["text"], f"{pointer}/text", max_len=max_len, plain_only=plain_only)

    # -- elements ------------------------------------------------------------------------------

    def _button(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict):
            self._err("must be an object", pointer)
            return
        kind = self._type(element, pointer)
        if kind is None:
            return
        if kind != BUTTON:
            self._err(f"unsupported element type: {kind}", f"{pointer}/type")
            return
        self._props(element, _BUTTON_PROPS, pointer)
        self._required_text(element, pointer, max_len=MAX_BUTTON_TEXT, plain_only=True)
        action_id = self._string(element, "action_id", pointer, max_len=MAX_ACTION_ID, non_empty=True)
        if action_id is not None:
            if action_id in self._action_ids:
                self._err(f"duplicate action_id: {action_id}", f"{pointer}/action_id")
            self._action_ids.add(action_id)
        self._string(element, "value", pointer, max_len=MAX_BUTTON_VALUE, non_empty=True)
        self._string(element, "url", pointer, max_len=MAX_URL, non_empty=True)
        if "style" in element:
            style = element["style"]
            if not isinstance(style, str) or style not in _BUTTON_STYLES:
                self._err("must be a valid enum value", f"{pointer}/style")

    def _context_element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict):
            self._err("must be an object", pointer)
            return
        kind = self._type(element, pointer)
        if kind is None:
            return
        if kind not in _TEXT_PROPS:
            self._err(f"unsupported element type: {kind}", f"{pointer}/type")
            return
        self._text(element, pointer, max_len=MAX_CONTEXT_TEXT)

    # -- blocks --------------------------------------------------------------------------------

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self._err("must be an object", pointer)
            return
        kind = self._type(block, pointer)
        if kind is None:
            return
        check = self._blocks.get(kind)
        if check is None:
            self._err(f"unsupported block type: {kind}", f"{pointer}/type")
            return
        self._props(block, _BLOCK_PROPS[kind], pointer)
        block_id = self._string(block, "block_id", pointer, max_len=MAX_BLOCK_ID, non_empty=True)
        if block_id is not None:
            if block_id in self._block_ids:
                self._err(f"duplicate block_id: {block_id}", f"{pointer}/block_id")
            self._block_ids.add(block_id)
        check(block, pointer)

    def _header(self, block: dict[str, Any], pointer: str) -> None:
        self._required_text(block, pointer, max_len=MAX_HEADER_TEXT, plain_only=True)

    def _section(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block and "fields" not in block:
            self._err("must provide either text or fields", pointer)
        if "text" in block:
            self._text(block["text"], f"{pointer}/text", max_len=MAX_SECTION_TEXT)
        if "fields" in block:
            fields = self._array(block, "fields", pointer, min_items=1, max_items=MAX_SECTION_FIELDS)
            for i, item in enumerate(fields):
                self._text(item, f"{pointer}/fields/{i}", max_len=MAX_FIELD_TEXT)

    def _image(self, block: dict[str, Any], pointer: str) -> None:
        self._string(block, "image_url", pointer, max_len=MAX_URL, required=True, non_empty=True)
        self._string(block, "alt_text", pointer, max_len=MAX_ALT_TEXT, required=True, non_empty=True)

    def _elements(self, block: dict[str, Any], pointer: str, max_items: int) -> list[Any]:
        if "elements" not in block:
            self._err("missing required field: elements", pointer)
            return []
        return self._array(block, "elements", pointer, min_items=1, max_items=max_items)

    def _context(self, block: dict[str, Any], pointer: str) -> None:
        for i, element in enumerate(self._elements(block, pointer, MAX_CONTEXT_ELEMENTS)):
            self._context_element(element, f"{pointer}/elements/{i}")

    def _actions(self, block: dict[str, Any], pointer: str) -> None:
        for i, element in enumerate(self._elements(block, pointer, MAX_ACTIONS_ELEMENTS)):
            self._button(element, f"{pointer}/elements/{i}")


def validate_blocks(blocks: list[Any] | None, attachments: list[Any] | None) -> tuple[list[str], int]:
    """Validate a message's blocks and its attachments' blocks like Slack.

    Returns (errors, total_text_chars). Each error reads ``"<what> [json-pointer:/...]"``.
    The caller must already have checked that ``blocks``/``attachments`` are lists.
    """
    validator = _BlockValidator()
    top = blocks or []
    nested = [
        (i, a["blocks"])
        for i, a in enumerate(attachments or [])
        if isinstance(a, dict) and isinstance(a.get("blocks"), list)
    ]
    total = len(top) + sum(len(b) for _, b in nested)
    if total > MAX_BLOCKS:
        validator.errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(top):
        validator.block(block, f"/blocks/{i}")
    for a_index, attachment_blocks in nested:
        for i, block in enumerate(attachment_blocks):
            validator.block(block, f"/attachments/{a_index}/blocks/{i}")
    return validator.errors, validator.text_chars


def _refusal(error: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, **extra}


def content_problem(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """Slack's refusal of a message's ``text``/``blocks``/``attachments`` (its JSON answer), or None when fine.

    The same checks guard chat.postMessage, chat.update and response_url messages (each adds its own
    length limit on ``text``).
    """
    text, blocks, attachments = message.get("text"), message.get("blocks"), message.get("attachments")
    if text is not None and not isinstance(text, str):
        return _refusal("invalid_arguments", response_metadata={"messages": ["[ERROR] must be a string"]})
    if blocks is not None and not isinstance(blocks, list):
        return _refusal("invalid_blocks_format")
    if attachments is not None and (
        not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments)
    ):
        return _refusal("invalid_attachments")
    if blocks is not None or attachments:
        errors, text_chars = validate_blocks(blocks, attachments)
        if errors:
            return _refusal(
                "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
            )
        if text_chars > MAX_BLOCKS_TEXT_TOTAL:
            return _refusal("msg_blocks_too_long")
    if not (text or blocks or attachments):
        return _refusal("no_text")
    return None
