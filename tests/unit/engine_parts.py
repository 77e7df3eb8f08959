"""The delivery engine's parts for unit tests, shared by the engine's, the card keeper's and the dispatch service's
tests: a scripted Slack port, dispatch requests, an outbox on the in-memory store with a virtual clock, and waiting
in virtual time (``tests/unit/virtual_time.py``). No I/O.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.button_keys import ButtonKeys
from bot.core.errors import BotError
from bot.core.models import DispatchRequest
from bot.core.requests import parse_dispatch
from bot.delivery.cards import CardKeeper
from bot.delivery.outbox import Outbox, Submission
from bot.delivery.tokens import TokenVault
from bot.slack.web_api import Posted
from bot.store.memory import MemoryStore
from tests.unit.virtual_time import VirtualClock

TOKEN = "xoxb-1111-2222-SECRETbottoken"
CHANNEL_IDS = {"alerts": "C0ALERTS", "other": "C0OTHER", "#alerts": "C0ALERTS", "#other": "C0OTHER"}
KEYS = ButtonKeys(["a-button-key-for-tests"], Path("/nonexistent"))


@dataclass
class Call:
    at: float
    method: str
    channel: str
    text: str
    ts: str = ""  # the message posted or updated; for a thread line, the card it is under


@dataclass
class ScriptedSlack:
    """The Slack port: records what reached Slack, when; ``faults`` are raised (a ``BotError``) or waited
    (seconds, a slow answer) before the next calls, in order."""

    calls: list[Call] = field(default_factory=list)
    faults: deque[BotError | float] = field(default_factory=deque)
    slow: float = 0.0  # every call takes this long
    ts: int = 0

    async def _answer(self) -> None:
        if self.slow:
            await asyncio.sleep(self.slow)
        while self.faults:
            fault = self.faults.popleft()
            if isinstance(fault, BotError):
                raise fault
            await asyncio.sleep(fault)

    async def post(self, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        await self._answer()
        channel_id = CHANNEL_IDS.get(channel, channel)
        self.ts += 1
        text = str(payload.get("text", ""))
        ts = f"{self.ts}.000100"
        method = "thread" if thread_ts else "post"
        self.calls.append(Call(asyncio.get_running_loop().time(), method, channel_id, text, thread_ts or ts))
        return Posted(channel_id, ts)

    async def update(self, token: str, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        await self._answer()
        text = str(payload.get("text", ""))
        self.calls.append(Call(asyncio.get_running_loop().time(), "update", channel_id, text, ts))

    def posted(self) -> list[str]:
        return [call.text.rsplit(" ", 1)[-1] for call in self.calls if call.method == "post"]

    def times(self, method: str = "post") -> list[float]:
        return [call.at for call in self.calls if call.method == method]


def request(title: str, *, channel: str = "#alerts", alert: str | None = None, **more: Any) -> DispatchRequest:
    """A dispatch of a notification titled ``title`` (its card's text ends with it); ``alert`` gives it an alert to
    keep a card for; ``more``: more of the message (``tags``, ``callbacks``) or ``channel_data`` (a dict)."""
    message: dict[str, Any] = {"title": title}
    if alert is not None:
        message["link"] = f"https://console.example.test/monitoring/alert-manager/alert/{alert}"
    channel_data = {"token": TOKEN, "channel": channel, **more.pop("channel_data", {})}
    message.update(more)
    return parse_dispatch(channel_data=channel_data, secret_data={}, message=message, notification_type="ERROR")


def outbox(store: MemoryStore, slack: ScriptedSlack, *, keeper: CardKeeper | None = None, **pace: Any) -> Outbox:
    """An outbox on ``store`` with its card keeper (by default one of its own) and the test keys, on the virtual
    clock; ``pace``: the ``Outbox`` rates to change."""
    tokens = TokenVault(KEYS)
    rates = {"post_rate": 1.0, "post_burst": 3, "update_rate": 1.0, "update_burst": 3, **pace}
    keeper = keeper or CardKeeper(store, KEYS, tokens)
    return Outbox(store, slack, keeper, tokens, clock=VirtualClock(), **rates)


@asynccontextmanager
async def running(*boxes: Outbox) -> AsyncIterator[None]:
    for box in boxes:
        await box.start()
    try:
        yield
    finally:
        for box in boxes:
            await box.drain(0)


async def until(condition: Callable[[], bool], *, within: float = 600.0, step: float = 0.05) -> float:
    """Let virtual time pass until ``condition`` holds (at most ``within`` seconds); the time it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        assert loop.time() - started < within, "never happened"
        await asyncio.sleep(step)
    return loop.time() - started


async def submit(box: Outbox, title: str, **kwargs: Any) -> Submission:
    submission = await box.submit(request(title, **kwargs), digest=None, window=0)
    assert submission is not None
    return submission
