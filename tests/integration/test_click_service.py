"""The click service driven directly, with real parts: the SQLite store (or a real Redis shared by two services, as
two replicas), sealed buttons, the callback client and a fake Cloudforet on loopback. How a click ends, where its
callback URL is checked, closed clients, and replicas whose clocks disagree."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.button_keys import ButtonKeys
from bot.clicks.responders import ResponderPolicy
from bot.clicks.service import ClickOutcome, ClickService
from bot.cloudforet.callback_client import CallbackClient, Outcome
from bot.core.cards import CardStatus
from bot.core.clicks import Click
from bot.core.models import Message, NotificationType
from bot.delivery.card_builder import build_card, callback_values
from bot.store import ClaimStatus, RedisStore, SqliteStore, Store
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.redis_server import RedisServer
from tests.samples import alerting_message

CHANNEL = "C0ALERTS01"
TS = "1700000000.000100"


@dataclass
class Replies:
    """The click's answers as Slack would get them: card replacements and lines to the clicker."""

    replaced: list[dict[str, Any]] = field(default_factory=list)
    told: list[str] = field(default_factory=list)

    async def replace(self, payload: dict[str, Any]) -> None:
        self.replaced.append(payload)

    async def tell(self, text: str) -> None:
        self.told.append(text)


@dataclass
class Cards:
    """A card book whose card has a given status (a CardStatus, or its string value as the outbox gives today)."""

    status: CardStatus | str | None = None
    acks: list[str] = field(default_factory=list)

    async def card_status(self, channel_id: str, ts: str) -> Any:
        return self.status

    async def record_ack(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        self.acks.append(actor)

    async def record_resolve(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        self.acks.append(f"resolved by {actor}")

    async def record_note(self, channel_id: str, ts: str, *, actor_name: str, at: datetime, note: str) -> None:
        self.acks.append(f"note by {actor_name}")


@dataclass
class Parts:
    store: SqliteStore
    keys: ButtonKeys
    cloudforet: FakeCloudforet
    callbacks: CallbackClient

    def service(
        self,
        *,
        cards: Cards | None = None,
        responders: list[str] | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> ClickService:
        return ClickService(
            store=self.store if store is None else store,
            callbacks=self.callbacks,
            keys=self.keys,
            responders=ResponderPolicy(responders),
            claim_timeout=30,
            cards=cards,
            clock=clock,
        )

    def click(self, url: str, *, user: str = "U0CLICKER", value: str | None = None) -> Click:
        message = Message.from_struct(alerting_message(callback_url=url))
        card = build_card(message, NotificationType.ERROR, self.keys).payload()
        sealed = callback_values(message, self.keys)[0]
        assert sealed is not None
        return Click(
            user_id=user,
            user_name="alice",
            team_id="T1",
            channel_id=CHANNEL,
            message_ts=TS,
            action_id="callback_0",
            value=sealed if value is None else value,
            label="Acknowledge Alerts",
            message=card,
        )


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    store = SqliteStore(tmp_path)
    async with FakeCloudforet() as cloudforet:
        callbacks = CallbackClient(allowed_hosts=None, timeout=5)
        try:
            yield Parts(store, ButtonKeys([], tmp_path), cloudforet, callbacks)
        finally:
            await callbacks.close()
            await store.close()


async def test_the_callback_clients_allow_list_is_the_one_checked_before_anything_is_claimed(parts: Parts) -> None:
    """The allow-list is given once, to the callback client; the service checks a URL with it before it claims
    the action or changes the card (it used to check with an allow-list of its own, then the client again)."""
    await parts.callbacks.close()
    parts.callbacks = CallbackClient(allowed_hosts=["cloudforet.example.com"], timeout=5)
    replies = Replies()
    url = parts.cloudforet.issue_key("alert-1")
    outcome = await parts.service().handle(parts.click(url), replies)
    assert outcome is ClickOutcome.REFUSED
    assert replies.replaced == [] and parts.cloudforet.requests == []
    assert replies.told == [
        ":no_entry: Nothing was done: callbacks to 127.0.0.1 are not allowed "
        "(BOT_CALLBACK_ALLOWED_HOSTS). This plugin is not allowed to call that address; ask the "
        "operator to check BOT_CALLBACK_ALLOWED_HOSTS, or open the alert in Cloudforet."
    ]
    [audit] = await parts.store.audit()
    assert (audit.outcome, audit.target) == ("refused", "alert-1")
    assert (
        await parts.store.claim_action("alert:alert-1:ACKNOWLEDGED", "U2", stale_after=30)
    ).status is ClaimStatus.CLAIMED  # nothing was left claimed


async def test_a_done_click_then_a_repeat(parts: Parts) -> None:
    cards = Cards(CardStatus.OPEN)
    service = parts.service(cards=cards)
    url = parts.cloudforet.issue_key("alert-1")
    first, second = Replies(), Replies()
    assert await service.handle(parts.click(url), first) is ClickOutcome.DONE
    assert await service.handle(parts.click(url, user="U0OTHER"), second) is ClickOutcome.DUPLICATE
    assert len(parts.cloudforet.requests) == 1 and cards.acks == ["U0CLICKER"]
    assert [a.outcome for a in await parts.store.audit()] == ["duplicate", "done"]  # newest first
    assert "already did this" in second.told[0]


@pytest.mark.parametrize("status", [CardStatus.RESOLVED, "resolved"])
async def test_a_click_on_a_resolved_card_is_refused_whatever_type_the_status_has(
    parts: Parts, status: CardStatus | str
) -> None:
    replies = Replies()
    url = parts.cloudforet.issue_key("alert-1")
    outcome = await parts.service(cards=Cards(status)).handle(parts.click(url), replies)
    assert outcome is ClickOutcome.REFUSED and parts.cloudforet.requests == []
    assert replies.told == [":white_check_mark: This alert is already resolved; nothing was sent to Cloudforet."]
    assert [(a.outcome, a.detail) for a in await parts.store.audit()] == [("refused", "alert already resolved")]


@pytest.mark.parametrize(
    ("case", "outcome", "audited"),
    [
        ("tampered", ClickOutcome.REFUSED, "refused"),
        ("not allowed", ClickOutcome.REFUSED, "refused"),
        ("expired", ClickOutcome.EXPIRED, "expired"),
        ("failed", ClickOutcome.FAILED, "failed"),
    ],
)
async def test_every_end_of_a_click_is_a_click_outcome_audited_as_before(
    parts: Parts, case: str, outcome: ClickOutcome, audited: str
) -> None:
    url = parts.cloudforet.issue_key("alert-1")
    click = parts.click(url, value="v1.forged.value" if case == "tampered" else None)
    if case == "expired":
        parts.cloudforet.expire(url)
    if case == "failed":
        parts.cloudforet.fail(url, 503)
    service = parts.service(responders=["U0SOMEONE"] if case == "not allowed" else None)
    ended = await service.handle(click, Replies())
    assert type(ended) is ClickOutcome and ended is outcome
    assert [a.outcome for a in await parts.store.audit()] == [audited]


async def test_a_closed_callback_client_calls_nothing(parts: Parts) -> None:
    url = parts.callbacks.check(parts.cloudforet.issue_key("alert-1"))
    await parts.callbacks.close()
    result = await parts.callbacks.call(url, "alice (Slack U0CLICKER)")
    assert result.outcome is Outcome.FAILED and "stopping" in result.detail
    assert parts.cloudforet.requests == []


async def test_replicas_whose_clocks_disagree_still_carry_out_an_action_once(
    parts: Parts, redis_server: RedisServer
) -> None:
    """Two replicas on one Redis, the second's clock a minute ahead: a click on each, a second apart while the first
    click's callback is still on its way, makes one callback. Each replica's clock, a minute apart, says the first
    claim is older than the claim timeout (30 s); only the store's own clock may say so."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    stores = [await RedisStore.connect(redis_server.url, prefix=prefix) for _ in range(2)]
    started = time.time()
    ahead = started + 60 + 1  # the second replica: 60 s ahead, and its click a second later
    first_replica = parts.service(store=stores[0], clock=lambda: started)
    second_replica = parts.service(store=stores[1], clock=lambda: ahead)
    url = parts.cloudforet.issue_key("alert-1")
    parts.cloudforet.slow(url, 1.0)  # the first click's callback is in flight when the second click comes
    try:
        first = asyncio.ensure_future(first_replica.handle(parts.click(url), Replies()))
        for _ in range(500):  # the first claim is taken once its callback reaches Cloudforet
            if parts.cloudforet.requests or first.done():
                break
            await asyncio.sleep(0.01)
        assert len(parts.cloudforet.requests) == 1
        replies = Replies()
        second = await second_replica.handle(parts.click(url, user="U0OTHER"), replies)
        assert (await first, second) == (ClickOutcome.DONE, ClickOutcome.DUPLICATE)
        assert len(parts.cloudforet.requests) == 1  # one callback
        assert replies.told and "<@U0CLICKER> is already doing this" in replies.told[0]
    finally:
        for store in stores:
            await store.close()
