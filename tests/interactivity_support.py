"""Support for click tests: a live stack with interactivity on, a fake Cloudforet, and waiting helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack
from tests.samples import APP_TOKEN, alerting_message
from tests.support import CHANNEL_ID, Stack, live_stack

__all__ = ["APP_TOKEN", "SIGNING_SECRET", "ClickStack", "click_stack", "wait_for"]

# Shaped as Slack issues one (32 lowercase hex digits): the plugin refuses anything else at start.
SIGNING_SECRET = "8f742231b10e8888abcd9912e3a785a5"
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10, what: str = "condition") -> T:
    """``predicate``'s first truthy value, polled until ``timeout``; AssertionError naming ``what`` after that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Acked:
    """How a click's delivery went, over either transport: HTTP status (200 when Socket Mode acked)."""

    status: int
    elapsed: float


class ClickStack:
    def __init__(self, stack: Stack, cloudforet: FakeCloudforet, transport: str = "http") -> None:
        self.stack = stack
        self.slack: FakeSlack = stack.slack
        self.cloudforet = cloudforet
        self.transport = transport

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.runtime.http_port}/slack/events"

    def post_alert(self, alert_id: str = "alert-1", callback_url: str | None = None, **extra: Any) -> tuple[str, str]:
        """Dispatch an [Alerting] card; return (its ts, the callback URL behind its button)."""
        url = callback_url or self.cloudforet.issue_key(alert_id)
        before = len(self.stack.posted())
        self.stack.dispatch(alerting_message(callback_url=url, **extra))
        return self.stack.posted()[before].ts, url

    def payload(self, ts: str, action_id: str = "callback_0", **kwargs: Any) -> dict[str, Any]:
        return self.slack.block_actions_payload(CHANNEL_ID, ts, action_id, **kwargs)

    def click(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        """Deliver a click the way Slack would over this stack's transport (signed HTTP, or Socket Mode)."""
        if self.transport == "socket":
            return Acked(200, self.stack.loop.run(self.slack.send_interactive(payload)))
        return self.stack.loop.run(self.slack.click(self.events_url, SIGNING_SECRET, payload, **kwargs))

    async def click_async(self, payload: dict[str, Any]) -> Acked:
        if self.transport == "socket":
            return Acked(200, await self.slack.send_interactive(payload))
        result = await self.slack.click(self.events_url, SIGNING_SECRET, payload)
        return Acked(result.status, result.elapsed)

    def card(self, ts: str) -> Any:
        message = self.slack.find(CHANNEL_ID, ts)
        assert message is not None
        return message

    def card_text(self, ts: str) -> str:
        message = self.card(ts)
        return str(message.blocks) + str(message.attachments)

    def ephemerals_for(self, user: str = "U0CLICKER") -> list[str]:
        return [str(e.get("text")) for e in self.slack.ephemerals if e.get("user") == user]


@contextmanager
def click_stack(data_dir: Path, transport: str = "http", **settings: Any) -> Iterator[ClickStack]:
    values: dict[str, Any] = {"signing_secret": SIGNING_SECRET, "callback_timeout": 2.0}
    if transport == "socket":
        values.update(signing_secret=None, app_token=APP_TOKEN)
    values.update(settings)
    with live_stack(data_dir, **values) as stack:
        cloudforet = FakeCloudforet()
        stack.loop.run(cloudforet.start())
        if transport == "socket":
            stack.loop.run(stack.slack.wait_for_socket())
        try:
            yield ClickStack(stack, cloudforet, transport)
        finally:
            stack.loop.run(cloudforet.stop())
