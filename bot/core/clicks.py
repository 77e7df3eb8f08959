"""A click on one of the card's callback buttons, as the click service takes it (``bot.clicks.service``).

Plain data: Slack's ``block_actions`` payload is read into it by the Slack adapter (``bot.slack.bolt_app``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Click:
    """What the click service needs from a ``block_actions`` payload: who clicked which button on which message,
    and the message as Slack sent it (the card redrawn after the click)."""

    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    message_ts: str
    action_id: str
    value: str
    label: str
    message: dict[str, Any]
    trigger_id: str = ""  # what a modal is opened with (Add note), valid for 3 s
