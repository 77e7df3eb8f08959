"""Reading a click from Slack's block_actions payload (bot.slack.bolt_app.read_click)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.clicks import Click
from bot.slack.bolt_app import read_click

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
