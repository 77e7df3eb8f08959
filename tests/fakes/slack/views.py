"""``views.open`` as Slack serves it: a bot token, a trigger id the fake issued with a recent interaction (good once,
for 3 s), and a modal of a valid shape; the opened view is recorded in ``state.views``."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from tests.fakes.slack.blockkit import validate_blocks
from tests.fakes.slack.state import BotToken, Workspace
from tests.fakes.slack.web_api import Reply, fail, ok

VIEWS_OPEN = "views.open"
# Slack: "trigger_id ... expires in 3 seconds"; each is exchanged for one view.
TRIGGER_TTL = 3.0
# Block Kit's view limits: title, submit and close text at most 24 characters; private_metadata and
# callback_id at most 3,000 and 255; at most 100 blocks; an input's label at most 2,000 characters and a
# plain_text_input's min_length/max_length within 0..3,000 and 1..3,000.
MAX_VIEW_TEXT = 24
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
MAX_VIEW_BLOCKS = 100
MAX_LABEL = 2000
MAX_INPUT_LENGTH = 3000
MAX_ID = 255


def _plain_text(value: Any, where: str, limit: int, errors: list[str]) -> None:
    if not isinstance(value, dict) or value.get("type") != "plain_text" or not isinstance(value.get("text"), str):
        errors.append(f"must be a plain_text object [json-pointer:{where}]")
    elif not 0 < len(value["text"]) <= limit:
        errors.append(f"must be between 1 and {limit} characters [json-pointer:{where}/text]")


def _input_block(block: dict[str, Any], where: str, errors: list[str]) -> None:
    _plain_text(block.get("label"), f"{where}/label", MAX_LABEL, errors)
    if "hint" in block:
        _plain_text(block["hint"], f"{where}/hint", MAX_LABEL, errors)
    element = block.get("element")
    if not isinstance(element, dict) or element.get("type") != "plain_text_input":
        errors.append(f"must be a supported input element [json-pointer:{where}/element]")
        return
    action_id = element.get("action_id")
    if not isinstance(action_id, str) or not 0 < len(action_id) <= MAX_ID:
        errors.append(f"must be a string of 1 to {MAX_ID} characters [json-pointer:{where}/element/action_id]")
    low, high = element.get("min_length", 0), element.get("max_length", MAX_INPUT_LENGTH)
    if not isinstance(low, int) or not 0 <= low <= MAX_INPUT_LENGTH:
        errors.append(f"must be between 0 and {MAX_INPUT_LENGTH} [json-pointer:{where}/element/min_length]")
    elif not isinstance(high, int) or not 1 <= high <= MAX_INPUT_LENGTH or high < low:
        errors.append(f"must be between min_length and {MAX_INPUT_LENGTH} [json-pointer:{where}/element/max_length]")
    if "multiline" in element and not isinstance(element["multiline"], bool):
        errors.append(f"must be a boolean [json-pointer:{where}/element/multiline]")


def modal_problems(view: Any) -> list[str]:
    """What Slack would refuse in a modal view (empty when it is fine)."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    errors: list[str] = []
    if view.get("type") != "modal":
        errors.append("must be modal [json-pointer:/view/type]")
    _plain_text(view.get("title"), "/view/title", MAX_VIEW_TEXT, errors)
    for key in ("submit", "close"):
        if key in view:
            _plain_text(view[key], f"/view/{key}", MAX_VIEW_TEXT, errors)
    metadata = view.get("private_metadata", "")
    if not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA:
        errors.append(
            f"must be a string of at most {MAX_PRIVATE_METADATA} characters [json-pointer:/view/private_metadata]"
        )
    callback_id = view.get("callback_id", "")
    if not isinstance(callback_id, str) or len(callback_id) > MAX_CALLBACK_ID:
        errors.append(f"must be a string of at most {MAX_CALLBACK_ID} characters [json-pointer:/view/callback_id]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= MAX_VIEW_BLOCKS:
        return [*errors, f"must hold 1 to {MAX_VIEW_BLOCKS} blocks [json-pointer:/view/blocks]"]
    block_ids: set[str] = set()
    inputs = 0
    for i, block in enumerate(blocks):
        where = f"/view/blocks/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= MAX_ID or block_id in block_ids:
                errors.append(f"must be a unique string of 1 to {MAX_ID} characters [json-pointer:{where}/block_id]")
            else:
                block_ids.add(block_id)
        if block.get("type") == "input":
            inputs += 1
            _input_block(block, where, errors)
        else:
            errors += [
                e.replace("[json-pointer:/blocks/0", f"[json-pointer:{where}")
                for e in validate_blocks([block], None)[0]
            ]
    if inputs and "submit" not in view:
        errors.append("a view with input blocks must have a submit [json-pointer:/view/submit]")
    return errors


class Views:
    """``views.open`` over ``state``; register :meth:`views_open` as a bot-token Web API method."""

    def __init__(self, state: Workspace) -> None:
        self.state = state
        self.trigger_ttl = TRIGGER_TTL

    def views_open(self, info: BotToken, params: dict[str, Any]) -> Reply:
        trigger_id, view = params.get("trigger_id"), params.get("view")
        if isinstance(view, str):  # a form post sends the view as JSON text
            try:
                view = json.loads(view)
            except ValueError:
                return fail("invalid_arguments", response_metadata={"messages": ["[ERROR] view is not JSON"]})
        if not isinstance(trigger_id, str) or not trigger_id:
            return fail("invalid_arguments", response_metadata={"messages": ["[ERROR] missing trigger_id"]})
        issued = self.state.triggers.get(trigger_id)
        if issued is None:
            return fail("invalid_trigger_id")
        if issued[0] < 0:
            return fail("exchanged_trigger_id")
        if time.monotonic() - issued[0] > self.trigger_ttl:
            return fail("expired_trigger_id")
        problems = modal_problems(view)
        if problems or not isinstance(view, dict):
            return fail("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
        self.state.triggers[trigger_id] = (-1.0, issued[1])  # exchanged: good once
        view_id = f"V{secrets.token_hex(5).upper()}"
        record = {"id": view_id, "view": view, "trigger_id": trigger_id, "user": issued[1], "team": info.team_id}
        self.state.views.append(record)
        return ok({"view": {"id": view_id, **view, "state": {"values": {}}}})
