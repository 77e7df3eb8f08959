"""What the services ask of Slack's Web API (``bot.slack.web_api.SlackSender`` implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# The longest a Web API call may take (connect, send, answer) before it counts as failed: a card is a few KiB and
# Slack answers in well under a second, so this only bounds a hung connection. Others wait on it too: a replica that
# takes a lane over waits at least this long for another's send to be recorded (``bot.delivery.leases``).
HTTP_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Posted:
    """Where a posted message is: its channel's ID and its ``ts``."""

    channel_id: str
    ts: str


class SlackPort(Protocol):
    """Post a message, update one (the outbox's way to Slack). A failure is a ``BotError``: retryable or not, with
    Slack's ``Retry-After`` when it said 429."""

    async def post(
        self, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> Posted: ...

    async def update(self, token: str, channel_id: str, ts: str, payload: dict[str, Any]) -> None: ...


class Verifier(Protocol):
    """Check a bot token with Slack (``auth.test``): what Slack says of it, or a ``BotError``."""

    async def auth_test(self, token: str) -> dict[str, Any]: ...
