"""Reading a click from Slack's block_actions payload (bot.slack.bolt_app.read_click), and checking a modal's
view_submission (bot.slack.bolt_app.interaction)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.clicks import Click
from bot.core.notes import read_submission
from bot.slack.bolt_app import MalformedInteraction, interaction, read_click

MESSAGE = {"ts": "1700000000.000100", "blocks": []}


def test_a_click_is_read_from_a_block_actions_payload() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0CLICKER", "username": "ada", "name": "Ada", "team_id": "T0USER"},
        "team": {"id": "T0TEAM"},
        "channel": {"id": "C0ALERTS"},
        "container": {"message_ts": "1700000000.000100", "channel_id": "C0OTHER"},
        "message": MESSAGE,
        "actions": [{"action_id": "callback_0", "value": "sealed", "text": {"type": "plain_text", "text": "Ack"}}],
    }
    assert read_click(payload) == Click(
        user_id="U0CLICKER",
        user_name="ada",
        team_id="T0TEAM",
        channel_id="C0ALERTS",
        message_ts="1700000000.000100",
        action_id="callback_0",
        value="sealed",
        label="Ack",
        message=MESSAGE,
    )


def test_missing_fields_fall_back_to_where_else_slack_puts_them() -> None:
    payload = {
        "user": {"id": "U0CLICKER", "team_id": "T0USER"},
        "container": {"channel_id": "C0ALERTS"},
        "message": MESSAGE,
        "actions": [{}],
    }
    click = read_click(payload)
    assert (click.user_name, click.team_id, click.channel_id, click.message_ts) == (
        "U0CLICKER",
        "T0USER",
        "C0ALERTS",
        MESSAGE["ts"],
    )


@pytest.mark.parametrize(
    "payload",
    [None, "text", [], {"actions": "x", "user": 3, "message": []}, {"actions": [5], "channel": {"id": 7}}],
)
def test_any_shape_reads_as_an_empty_click_and_never_raises(payload: Any) -> None:
    click = read_click(payload)
    assert (click.value, click.channel_id, click.user_name, click.message) == ("", "", "someone", {})


def _view_submission(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": "U1", "username": "alice", "team_id": "T1"},
        "api_app_id": "A1",
        "trigger_id": "1.2.x",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "alert_add_note_modal",
            "private_metadata": "sealed",
            "state": {"values": {"alert_note": {"alert_note_text": {"type": "plain_text_input", "value": "hi"}}}},
            "blocks": [{"type": "input"}],
            "hash": "1.x",
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }
    payload.update(changes)
    return payload


def test_a_view_submission_is_checked_and_rebuilt_from_what_was_checked() -> None:
    clean = interaction(_view_submission(extra="dropped"))
    assert clean["type"] == "view_submission" and "extra" not in clean and "blocks" not in clean["view"]
    assert clean["view"]["callback_id"] == "alert_add_note_modal" and clean["view"]["private_metadata"] == "sealed"
    submission = read_submission(clean)
    assert (submission.user_id, submission.private_metadata, submission.text) == ("U1", "sealed", "hi")


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"user": "U1"}, "user is a string"),
        ({"view": None}, "view is missing"),
        ({"view": {"id": "V1", "callback_id": "c", "state": {"values": {"b": "x"}}}}, "view.state.values"),
        (
            {"view": {"id": "V1", "callback_id": "c", "private_metadata": 5, "state": {"values": {}}}},
            "private_metadata",
        ),
        ({"view": {"id": "V1", "callback_id": "c", "private_metadata": "x" * 3001, "state": {"values": {}}}}, "longer"),
        ({"type": "view_closed"}, "not block_actions"),
    ],
)
def test_a_malformed_view_submission_is_refused_by_what_is_wrong(changes: dict[str, Any], what: str) -> None:
    with pytest.raises(MalformedInteraction, match=what):
        interaction(_view_submission(**changes))
