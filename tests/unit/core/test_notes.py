"""The Add note modal (bot.core.notes): its shape, checked as Slack checks it, and its submission read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.lifecycle import MAX_NOTE_QUOTE, noted_line
from bot.core.notes import (
    MAX_PRIVATE_METADATA,
    NOTE_BLOCK_ID,
    NOTE_CALLBACK_ID,
    NOTE_INPUT_ACTION_ID,
    note_errors,
    note_modal,
    read_submission,
)
from tests.fakes.slack.views import modal_problems


def test_the_modal_is_one_a_slack_accepts() -> None:
    view = note_modal("sealed-reference", "alert-123")
    assert modal_problems(view) == []
    assert view["type"] == "modal" and view["callback_id"] == NOTE_CALLBACK_ID
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24 and len(view["close"]["text"]) <= 24
    assert view["private_metadata"] == "sealed-reference"
    [block] = view["blocks"]
    element = block["element"]
    assert (block["type"], block["block_id"]) == ("input", NOTE_BLOCK_ID)
    assert (element["type"], element["action_id"]) == ("plain_text_input", NOTE_INPUT_ACTION_ID)
    assert element["multiline"] is True and element["min_length"] == 1  # an empty note is refused at the modal
    assert "alert-123" in block["hint"]["text"]


def test_metadata_too_long_for_slack_is_refused() -> None:
    note_modal("x" * MAX_PRIVATE_METADATA, "a")
    with pytest.raises(ValueError, match="private_metadata"):
        note_modal("x" * (MAX_PRIVATE_METADATA + 1), "a")


def _submission(text: Any, metadata: Any = "sealed") -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": "U1", "username": "alice"},
        "view": {
            "private_metadata": metadata,
            "state": {"values": {NOTE_BLOCK_ID: {NOTE_INPUT_ACTION_ID: {"type": "plain_text_input", "value": text}}}},
        },
    }


def test_a_submission_reads_the_author_the_metadata_and_the_text() -> None:
    read = read_submission(_submission("  Disk replaced.\n"))
    assert (read.user_id, read.user_name, read.private_metadata, read.text) == (
        "U1",
        "alice",
        "sealed",
        "Disk replaced.",
    )


@pytest.mark.parametrize("body", [None, "text", [], {"view": "x"}, _submission(7, metadata={"a": 1})])
def test_a_malformed_submission_reads_as_empty(body: Any) -> None:
    read = read_submission(body)
    assert read.text == "" and read.private_metadata == ""


def test_errors_go_under_the_note_input() -> None:
    assert note_errors("the key was refused") == {
        "response_action": "errors",
        "errors": {NOTE_BLOCK_ID: "the key was refused"},
    }


def test_the_thread_line_quotes_the_note_escaped_and_says_when_it_cut() -> None:
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    line = noted_line("alice", at, "Swapped <disk> &\nrebooted")
    assert line.startswith(":memo: Note added by alice at <!date^")
    assert line.endswith("Swapped &lt;disk&gt; &amp; rebooted") and "cut" not in line
    long = noted_line("alice", at, "x" * (MAX_NOTE_QUOTE + 10))
    assert long.endswith("(cut; the whole note is in Cloudforet)") and "x" * (MAX_NOTE_QUOTE + 1) not in long
