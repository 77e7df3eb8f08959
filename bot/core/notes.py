"""Add note (issue 19): the Slack modal a click on a card's Add note button opens, and the submission read back.

Plain data. The modal's ``private_metadata`` carries a value sealed by the click service (the alert, its domain and
the card's channel and message), never a key; :func:`read_submission` reads a ``view_submission`` payload of any
shape without raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOTE_CALLBACK_ID = "alert_add_note_modal"
NOTE_BLOCK_ID = "alert_note"
NOTE_INPUT_ACTION_ID = "alert_note_text"
MODAL_TITLE = "Add a note"
# Block Kit: a modal's title, submit and close are plain text of at most 24 characters; private_metadata at most
# 3,000 characters; a plain_text_input at most 3,000 characters.
MAX_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_NOTE_LENGTH = 3000


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def note_modal(private_metadata: str, alert_id: str) -> dict[str, Any]:
    """The modal for a note on ``alert_id``: one multiline input (a note of 1 to 3,000 characters), Add and
    Cancel. ``private_metadata`` must be the sealed reference (at most 3,000 characters)."""
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError(f"the modal's private_metadata is longer than {MAX_PRIVATE_METADATA} characters")
    return {
        "type": "modal",
        "callback_id": NOTE_CALLBACK_ID,
        "title": _plain(MODAL_TITLE),
        "submit": _plain("Add note"),
        "close": _plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": [
            {
                "type": "input",
                "block_id": NOTE_BLOCK_ID,
                "label": _plain("Note"),
                "hint": _plain(f"Added to alert {alert_id[:100]} in Cloudforet, with your name."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": NOTE_INPUT_ACTION_ID,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": MAX_NOTE_LENGTH,
                },
            }
        ],
    }


@dataclass(frozen=True)
class NoteSubmission:
    """What the click service needs from a ``view_submission`` of the note modal."""

    user_id: str
    user_name: str
    private_metadata: str
    text: str


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_submission(body: Any) -> NoteSubmission:
    """Read the note modal's submission from a payload of any shape (a missing or mistyped field reads empty)."""
    body = _object(body)
    user = _object(body.get("user"))
    view = _object(body.get("view"))
    values = _object(_object(view.get("state")).get("values"))
    text = _text(_object(_object(values.get(NOTE_BLOCK_ID)).get(NOTE_INPUT_ACTION_ID)).get("value"))
    return NoteSubmission(
        user_id=_text(user.get("id")),
        user_name=_text(user.get("username")) or _text(user.get("name")) or _text(user.get("id")) or "someone",
        private_metadata=_text(view.get("private_metadata")),
        text=text.strip(),
    )


def note_errors(message: str) -> dict[str, Any]:
    """The answer to a submission that keeps the modal open with ``message`` under the note's input."""
    return {"response_action": "errors", "errors": {NOTE_BLOCK_ID: message}}
