"""Test support for the delivery parts on their own: the real store, vault, card keeper and outbox, delivering to
the fake Slack on loopback from the test's own event loop (no gRPC, no HTTP server of the plugin)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.button_keys import ButtonKeys
from bot.core.models import DispatchRequest
from bot.core.requests import parse_dispatch
from bot.delivery.cards import CardKeeper
from bot.delivery.outbox import Outbox
from bot.delivery.tokens import TokenVault
from bot.slack.web_api import SlackSender
from bot.store import SqliteStore
from tests.fakes.slack import FakeSlack
from tests.samples import TOKEN
from tests.support import populate

SECRET = "a-button-key-for-tests"


@dataclass
class Parts:
    slack: FakeSlack
    store: SqliteStore
    keys: ButtonKeys
    tokens: TokenVault
    cards: CardKeeper
    outbox: Outbox


def request(
    message: dict[str, Any], *, channel: str = "#alerts", token: str = TOKEN, notification_type: str = "ERROR"
) -> DispatchRequest:
    return parse_dispatch(
        channel_data={"token": token, "channel": channel},
        secret_data={},
        message=message,
        notification_type=notification_type,
    )


async def eventually(condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 10) -> None:  # noqa: ASYNC109
    """Wait until ``condition`` holds (the fake Slack and the store have no event to wait on), up to ``timeout``;
    the condition may be a coroutine (a store query)."""

    async def holds() -> bool:
        value = condition()
        return await value if inspect.isawaitable(value) else value

    try:
        async with asyncio.timeout(timeout):
            while not await holds():  # noqa: ASYNC110 - polling state that has no event
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@asynccontextmanager
async def delivery_parts(data_dir: Path, *, secret: str = SECRET, **outbox_options: Any) -> AsyncIterator[Parts]:
    """Every delivery part, wired as the runtime wires them, unpaced unless told otherwise."""
    slack = FakeSlack()
    populate(slack)
    await slack.start()
    sender = SlackSender(slack.base_url, retry_handlers=[])
    store = SqliteStore(data_dir, lock_wait=0)
    keys = ButtonKeys([secret], data_dir)
    tokens = TokenVault(keys)
    cards = CardKeeper(store, keys, tokens)
    options: dict[str, Any] = {"post_rate": 0, "post_burst": 1, "update_rate": 0, "update_burst": 1}
    options.update(outbox_options)
    outbox = Outbox(store, sender, cards, tokens, **options)
    try:
        yield Parts(slack, store, keys, tokens, cards, outbox)
    finally:
        await outbox.drain(0)
        await sender.close()
        await store.close()
        await slack.stop()
