"""The click service on the in-memory store, with in-process fakes of its other ports: Cloudforet's callbacks
(scripted answers behind the real check of a callback address), the card book, the people directory and Slack's
replies. The unit-level counterparts of ``tests/integration/test_click_service.py``: how each click ends, what the
clicker is told, what the card shows, what is audited and counted, and that an action is carried out once.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.button_keys import ButtonKeys
from bot.clicks.responders import ResponderPolicy
from bot.clicks.service import ADVICE, CardBook, ClickOutcome, ClickService
from bot.cloudforet.callback_client import CallbackClient, CallbackResult, CallbackUrl, Outcome
from bot.core.cards import STATUS_BLOCK_ID, CardStatus, is_callback_button, iter_buttons
from bot.core.clicks import Click
from bot.core.models import Message, NotificationType
from bot.delivery.card_builder import build_card, callback_values
from bot.store import AuditRecord, ClaimStatus, StoreError
from bot.store.memory import MemoryStore
from tests.samples import ALERT_ID, CALLBACK_URL, alerting_message
from tests.unit.metric_samples import sample

CHANNEL = "C0ALERTS01"
TS = "1700000000.000100"
CLICKER = "U0CLICKER"
ACTION = f"alert:{ALERT_ID}:ACKNOWLEDGED"  # what makes two clicks on CALLBACK_URL the same action
CLAIM_TIMEOUT = 30.0
KEYS = ButtonKeys(["a-button-key-for-tests"], Path("/nonexistent"))
CONFIRMED = CallbackResult(Outcome.DONE, "Cloudforet confirmed", 307, 0.25)
FAILED = CallbackResult(Outcome.FAILED, "Cloudforet answered HTTP 503", 503, 0.1)
EXPIRED = CallbackResult(Outcome.EXPIRED, "Cloudforet says this link has expired", 307, 0.1)


class Clock:
    """Epoch seconds that a test moves: the service's clock and the store's."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class LedgerStore(MemoryStore):
    """The in-memory store whose click ledger and audit can be told to fail (``broken``: method names)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.broken: set[str] = set()

    def _check(self, method: str) -> None:
        if method in self.broken:
            raise StoreError(f"told to fail {method}")

    async def claim_action(self, key: str, actor: str, *, stale_after: float) -> Any:
        self._check("claim_action")
        return await super().claim_action(key, actor, stale_after=stale_after)

    async def finish_action(self, key: str, *, done: bool) -> None:
        self._check("finish_action")
        await super().finish_action(key, done=done)

    async def add_audit(self, record: AuditRecord) -> None:
        self._check("add_audit")
        await super().add_audit(record)


class ScriptedCallbacks(CallbackClient):
    """Cloudforet's callbacks: the client's own check of an address (its allow-list), then scripted answers
    (a ``CallbackResult``, or an exception raised) instead of an HTTP request. ``hold`` keeps calls waiting."""

    def __init__(self, *, allowed_hosts: list[str] | None = None) -> None:
        super().__init__(allowed_hosts=allowed_hosts, timeout=5)  # a pool that is never used: nothing connects
        self.answers: deque[CallbackResult | Exception] = deque()
        self.responders: list[str] = []  # who each call named, in order
        self.hold: asyncio.Event | None = None
        self.reached = asyncio.Event()  # a call has begun

    async def call(self, url: CallbackUrl, responder: str) -> CallbackResult:
        self.responders.append(responder)
        self.reached.set()
        if self.hold is not None:
            await self.hold.wait()
        answer = self.answers.popleft() if self.answers else CONFIRMED
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Cards:
    """A card book: the card's status (a ``CardStatus``, or its string value), the acknowledgements recorded."""

    status: CardStatus | str | None = CardStatus.OPEN
    acks: list[tuple[str, str, str, str, datetime]] = field(default_factory=list)
    resolutions: list[tuple[str, str, str, str, datetime]] = field(default_factory=list)
    notes: list[tuple[str, str, str, str]] = field(default_factory=list)
    broken: bool = False

    async def card_status(self, channel_id: str, ts: str) -> Any:
        return self.status

    async def record_ack(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        if self.broken:
            raise StoreError("the card book's store failed")
        self.acks.append((channel_id, ts, actor, actor_name, at))

    async def record_resolve(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        self.resolutions.append((channel_id, ts, actor, actor_name, at))

    async def record_note(self, channel_id: str, ts: str, *, actor_name: str, at: datetime, note: str) -> None:
        self.notes.append((channel_id, ts, actor_name, note))


@dataclass
class Emails:
    """The people directory: the e-mail Slack gives for a user, if any."""

    emails: dict[str, str] = field(default_factory=dict)

    async def email_of(self, user_id: str, channel_id: str) -> str | None:
        return self.emails.get(user_id)


@dataclass
class Replies:
    """What the service sends back to Slack: card replacements and lines only the clicker sees."""

    replaced: list[dict[str, Any]] = field(default_factory=list)
    told: list[str] = field(default_factory=list)
    broken: bool = False  # Slack refuses every reply

    async def replace(self, payload: dict[str, Any]) -> None:
        if self.broken:
            raise ConnectionError("response_url refused")
        self.replaced.append(payload)

    async def tell(self, text: str) -> None:
        if self.broken:
            raise ConnectionError("response_url refused")
        self.told.append(text)


def shows(payload: dict[str, Any]) -> tuple[str, bool]:
    """A replaced card as the channel sees it: its status line ("" for none), and whether its button is back."""
    blocks = list(payload.get("blocks") or [])
    for attachment in payload.get("attachments") or []:
        blocks += attachment.get("blocks") or []
    lines = [b["elements"][0]["text"] for b in blocks if b.get("block_id") == STATUS_BLOCK_ID]
    return " ".join(lines), any(is_callback_button(button) for button in iter_buttons(payload))


def click(*, user: str = CLICKER, url: str = CALLBACK_URL, value: str | None = None) -> Click:
    message = Message.from_struct(alerting_message(callback_url=url))
    card = build_card(message, NotificationType.ERROR, KEYS).payload()
    [sealed] = callback_values(message, KEYS)
    assert sealed is not None
    return Click(
        user_id=user,
        user_name="alice" if user == CLICKER else "bob",
        team_id="T1",
        channel_id=CHANNEL,
        message_ts=TS,
        action_id="callback_0",
        value=sealed if value is None else value,
        label="Acknowledge Alerts",
        message=card,
    )


@dataclass
class Parts:
    clock: Clock
    store: LedgerStore
    callbacks: ScriptedCallbacks
    cards: Cards = field(default_factory=Cards)
    people: Emails = field(default_factory=Emails)

    def service(
        self,
        *,
        responders: ResponderPolicy | None = None,
        cards: CardBook | None = None,
        people: Emails | None = None,
        callbacks: CallbackClient | None = None,
        with_cards: bool = True,
        clock: Clock | None = None,
    ) -> ClickService:
        return ClickService(
            store=self.store,
            callbacks=callbacks or self.callbacks,
            keys=KEYS,
            responders=responders or ResponderPolicy(None),
            claim_timeout=CLAIM_TIMEOUT,
            cards=(cards or self.cards) if with_cards else None,
            people=people or self.people,
            clock=clock or self.clock,
        )

    async def audit(self) -> list[tuple[str, str, str]]:
        """The audit, newest first: (outcome, actor, detail)."""
        return [(a.outcome, a.actor, a.detail) for a in await self.store.audit()]

    async def claimable(self) -> bool:
        """Whether the next click on CALLBACK_URL would be the one to carry it out (nothing left claimed)."""
        claim = await self.store.claim_action(ACTION, "U0PROBE", stale_after=CLAIM_TIMEOUT)
        if claim.status is ClaimStatus.CLAIMED:
            await self.store.finish_action(ACTION, done=False)
            return True
        return False


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    clock = Clock()
    callbacks = ScriptedCallbacks()
    try:
        yield Parts(clock, LedgerStore(clock), callbacks)
    finally:
        await callbacks.close()


# Carried out, once.


async def test_a_click_calls_the_callback_once_and_the_card_shows_who_acknowledged_it(parts: Parts) -> None:
    parts.people.emails[CLICKER] = "alice@example.com"
    done, timed = (
        sample("slack_chatops_clicks_total", outcome="done"),
        sample("slack_chatops_callback_duration_seconds_count", outcome="done"),
    )
    replies = Replies()
    assert await parts.service().handle(click(), replies) is ClickOutcome.DONE
    assert parts.callbacks.responders == [f"alice@example.com (Slack {CLICKER})"]  # Cloudforet records the e-mail
    pending, acknowledged = (shows(payload) for payload in replies.replaced)
    assert pending == (f":hourglass_flowing_sand: <@{CLICKER}> clicked *Acknowledge Alerts*…", False)
    status, button = acknowledged
    assert status.startswith(f":eyes: *Acknowledged* by <@{CLICKER}> at <!date^{int(parts.clock.now)}^")
    assert not button and replies.told == []
    acted_at = datetime.fromtimestamp(parts.clock.now, UTC)
    assert parts.cards.acks == [(CHANNEL, TS, CLICKER, "alice", acted_at)]
    [record] = await parts.store.audit()
    assert record == AuditRecord(
        at=parts.clock.now,
        actor=CLICKER,
        action="Acknowledge Alerts",
        channel=CHANNEL,
        message_ts=TS,
        target=ALERT_ID,  # the alert, never the callback URL
        outcome="done",
        detail="Cloudforet confirmed",
    )
    assert sample("slack_chatops_clicks_total", outcome="done") == done + 1
    assert sample("slack_chatops_callback_duration_seconds_count", outcome="done") == timed + 1
    assert not await parts.claimable()  # done: the action stays claimed


async def test_without_an_email_cloudforet_is_told_the_clickers_slack_name(parts: Parts) -> None:
    await parts.service().handle(click(), Replies())
    assert parts.callbacks.responders == [f"alice (Slack {CLICKER})"]


async def test_a_repeat_of_a_done_click_calls_nothing_and_says_who_did_it_when(parts: Parts) -> None:
    service = parts.service()
    assert await service.handle(click(), Replies()) is ClickOutcome.DONE
    done_at = parts.clock.now
    parts.clock.now += 3600  # long after: a done action never goes stale
    replies = Replies()
    assert await service.handle(click(user="U0OTHER"), replies) is ClickOutcome.DUPLICATE
    assert len(parts.callbacks.responders) == 1
    assert replies.replaced == []  # the card is left as it is
    assert replies.told == [
        f":information_source: <@{CLICKER}> already did this at <!date^{int(done_at)}^{{date_short_pretty}} at "
        "{time}|2023-11-14 22:13 UTC>. Nothing more was sent to Cloudforet."
    ]
    assert await parts.audit() == [("duplicate", "U0OTHER", "done"), ("done", CLICKER, "Cloudforet confirmed")]


async def test_concurrent_clicks_make_one_callback(parts: Parts) -> None:
    parts.callbacks.hold = asyncio.Event()
    service = parts.service()
    first = asyncio.create_task(service.handle(click(), Replies()))
    await parts.callbacks.reached.wait()  # the first click's callback is on its way
    others = [Replies() for _ in range(3)]
    outcomes = await asyncio.gather(*(service.handle(click(user=f"U0OTHER{n}"), r) for n, r in enumerate(others)))
    parts.callbacks.hold.set()
    assert await first is ClickOutcome.DONE
    assert outcomes == [ClickOutcome.DUPLICATE] * 3
    assert len(parts.callbacks.responders) == 1
    for replies in others:
        [told] = replies.told
        assert told.startswith(f":information_source: <@{CLICKER}> is already doing this (since <!date^")


async def test_a_claim_older_than_the_claim_timeout_is_taken_over(parts: Parts) -> None:
    """A replica that died mid-click leaves its claim behind: after the claim timeout (on the store's clock), the
    next click carries the action out."""
    await parts.store.claim_action(ACTION, "U0GONE", stale_after=CLAIM_TIMEOUT)
    service = parts.service()
    parts.clock.now += CLAIM_TIMEOUT - 1
    assert await service.handle(click(), Replies()) is ClickOutcome.DUPLICATE
    parts.clock.now += 2
    assert await service.handle(click(), Replies()) is ClickOutcome.DONE
    assert len(parts.callbacks.responders) == 1


# Carried out, but Cloudforet did not take it.


@pytest.mark.parametrize(
    ("answer", "outcome", "advice"),
    [
        (FAILED, ClickOutcome.FAILED, ADVICE[Outcome.FAILED]),
        (EXPIRED, ClickOutcome.EXPIRED, ADVICE[Outcome.EXPIRED]),
        (
            CallbackResult(Outcome.REFUSED, "the callback is not a valid web address"),
            ClickOutcome.REFUSED,
            ADVICE[Outcome.REFUSED],
        ),
    ],
)
async def test_a_callback_that_did_not_go_through_gives_the_card_its_button_back_and_releases_the_claim(
    parts: Parts, answer: CallbackResult, outcome: ClickOutcome, advice: str
) -> None:
    parts.callbacks.answers.append(answer)
    counted = sample("slack_chatops_clicks_total", outcome=outcome.value)
    replies = Replies()
    assert await parts.service().handle(click(), replies) is outcome
    assert [shows(payload) for payload in replies.replaced] == [
        (f":hourglass_flowing_sand: <@{CLICKER}> clicked *Acknowledge Alerts*…", False),
        ("", True),  # as it was: the button is back
    ]
    assert replies.told == [f":warning: *Acknowledge Alerts* did not go through: {answer.detail}. {advice}"]
    assert await parts.audit() == [(outcome.value, CLICKER, answer.detail)]
    assert parts.cards.acks == []
    assert sample("slack_chatops_clicks_total", outcome=outcome.value) == counted + 1
    assert await parts.claimable()  # so the next click tries again


async def test_after_a_failed_callback_the_next_click_calls_again(parts: Parts) -> None:
    parts.callbacks.answers.append(FAILED)
    service = parts.service()
    assert await service.handle(click(), Replies()) is ClickOutcome.FAILED
    assert await service.handle(click(user="U0OTHER"), Replies()) is ClickOutcome.DONE
    assert len(parts.callbacks.responders) == 2
    assert [outcome for outcome, _, _ in await parts.audit()] == ["done", "failed"]


# Refused: nothing is called, nothing is claimed, the card is left alone.


async def test_a_button_not_sealed_by_this_deployment_calls_nothing(parts: Parts) -> None:
    replies = Replies()
    forged = click(value="v1.forged.value")
    assert await parts.service().handle(forged, replies) is ClickOutcome.REFUSED
    assert parts.callbacks.responders == [] and replies.replaced == []
    assert replies.told == [
        ":no_entry: This button was not issued by this plugin (or was altered), so nothing was done. Open the alert "
        "in Cloudforet instead."
    ]
    [record] = await parts.store.audit()
    assert (record.target, record.outcome, record.detail) == (
        "unknown",
        "refused",
        "button value not sealed by this deployment",
    )


async def test_a_button_sealed_with_another_key_is_refused(parts: Parts) -> None:
    other = ButtonKeys(["another-deployments-key"], Path("/nonexistent"))
    [sealed] = callback_values(Message.from_struct(alerting_message()), other)
    assert sealed is not None
    assert await parts.service().handle(click(value=sealed), Replies()) is ClickOutcome.REFUSED
    assert parts.callbacks.responders == []


async def test_only_allowed_responders_may_click(parts: Parts) -> None:
    service = parts.service(responders=ResponderPolicy(["U0BOSS"]))
    replies = Replies()
    assert await service.handle(click(), replies) is ClickOutcome.REFUSED
    assert replies.told == [
        ":no_entry: Nothing was done: you are not on the list of people who may act on these alerts from Slack."
    ]
    assert await service.handle(click(user="U0BOSS"), Replies()) is ClickOutcome.DONE
    assert parts.callbacks.responders == ["bob (Slack U0BOSS)"]
    assert await parts.audit() == [
        ("done", "U0BOSS", "Cloudforet confirmed"),
        ("refused", CLICKER, "clicker not in BOT_ALLOWED_RESPONDERS"),
    ]


async def test_a_callback_host_off_the_allow_list_is_refused_before_anything_is_claimed(parts: Parts) -> None:
    callbacks = ScriptedCallbacks(allowed_hosts=["cloudforet.example.com"])
    replies = Replies()
    try:
        assert await parts.service(callbacks=callbacks).handle(click(), replies) is ClickOutcome.REFUSED
    finally:
        await callbacks.close()
    assert callbacks.responders == [] and replies.replaced == []
    assert replies.told == [
        ":no_entry: Nothing was done: callbacks to monitoring-webhook.example.test are not allowed "
        f"(BOT_CALLBACK_ALLOWED_HOSTS). {ADVICE[Outcome.REFUSED]}"
    ]
    assert [(a.outcome, a.target) for a in await parts.store.audit()] == [("refused", ALERT_ID)]
    assert await parts.claimable()


async def test_a_callback_to_a_metadata_address_is_refused(parts: Parts) -> None:
    replies = Replies()
    url = f"http://169.254.169.254/monitoring/v1/alert/{ALERT_ID}/key/ACKNOWLEDGED"
    assert await parts.service().handle(click(url=url), replies) is ClickOutcome.REFUSED
    assert parts.callbacks.responders == []
    assert "link-local or metadata address" in replies.told[0]


@pytest.mark.parametrize("status", [CardStatus.RESOLVED, "resolved"])
async def test_a_click_on_a_resolved_alerts_card_calls_nothing(parts: Parts, status: CardStatus | str) -> None:
    replies = Replies()
    assert await parts.service(cards=Cards(status)).handle(click(), replies) is ClickOutcome.REFUSED
    assert parts.callbacks.responders == [] and replies.replaced == []
    assert replies.told == [":white_check_mark: This alert is already resolved; nothing was sent to Cloudforet."]
    assert await parts.audit() == [("refused", CLICKER, "alert already resolved")]
    assert await parts.claimable()


@pytest.mark.parametrize("status", [CardStatus.ACKNOWLEDGED, None])
async def test_a_card_not_resolved_or_unknown_to_the_card_book_can_be_clicked(
    parts: Parts, status: CardStatus | None
) -> None:
    cards = Cards(status)
    assert await parts.service(cards=cards).handle(click(), Replies()) is ClickOutcome.DONE
    assert len(cards.acks) == 1


async def test_without_a_card_book_a_click_still_goes_through(parts: Parts) -> None:
    assert await parts.service(with_cards=False).handle(click(), Replies()) is ClickOutcome.DONE
    assert parts.cards.acks == []


# A step that fails unexpectedly never escapes: the claim is released, the card restored, the clicker told.


async def test_a_callback_client_that_raises_releases_the_claim_and_restores_the_card(parts: Parts) -> None:
    parts.callbacks.answers.append(RuntimeError("https://secret.example/callback/key broke"))
    errors = sample("slack_chatops_clicks_total", outcome="error")
    replies = Replies()
    assert await parts.service().handle(click(), replies) is ClickOutcome.ERROR
    assert [shows(payload)[1] for payload in replies.replaced] == [False, True]  # pending, then the button back
    assert replies.told == [
        ":warning: *Acknowledge Alerts* did not go through: something went wrong while calling Cloudforet. "
        f"{ADVICE[Outcome.FAILED]}"
    ]
    assert await parts.audit() == [("error", CLICKER, "calling Cloudforet failed (RuntimeError)")]
    assert sample("slack_chatops_clicks_total", outcome="error") == errors + 1
    assert await parts.claimable()


@pytest.mark.parametrize(
    ("broken", "step"),
    [
        ("claim_action", "claiming the action in the plugin's store"),
        ("responders", "checking who may act on these alerts"),
        ("card book", "checking the card"),
    ],
)
async def test_a_step_before_the_callback_that_fails_leaves_everything_as_it_was(
    parts: Parts, broken: str, step: str
) -> None:
    async def no_lookup(group: str, channel_id: str) -> set[str] | None:
        raise ConnectionError("usergroups.users.list")

    class BrokenCards(Cards):
        async def card_status(self, channel_id: str, ts: str) -> Any:
            raise StoreError("the card index is away")

    responders = ResponderPolicy(["S0GROUP"], no_lookup) if broken == "responders" else None
    parts.store.broken.add(broken)
    replies = Replies()
    service = parts.service(responders=responders, cards=BrokenCards() if broken == "card book" else None)
    assert await service.handle(click(), replies) is ClickOutcome.ERROR
    assert parts.callbacks.responders == [] and replies.replaced == []
    assert replies.told == [f":warning: Nothing was done: something went wrong while {step}. {ADVICE[Outcome.FAILED]}"]
    [(outcome, _, detail)] = await parts.audit()
    assert outcome == "error" and detail.startswith(f"{step} failed (")
    parts.store.broken.clear()
    assert await parts.claimable()


async def test_a_failure_after_the_callback_does_not_let_the_action_be_done_twice(parts: Parts) -> None:
    """Once Cloudforet has the callback, what fails while reporting it must not release the claim."""
    nonsense = Clock()
    nonsense.now = math.nan  # the service cannot date the acknowledgement (the store's clock is fine)
    replies = Replies()
    assert await parts.service(clock=nonsense).handle(click(), replies) is ClickOutcome.ERROR
    assert replies.told == [
        ":warning: *Acknowledge Alerts* was sent to Cloudforet, but something went wrong while reporting the "
        "outcome; check the alert in Cloudforet."
    ]
    assert [outcome for outcome, _, _ in await parts.audit()] == ["error", "done"]
    assert await parts.service().handle(click(user="U0OTHER"), Replies()) is ClickOutcome.DUPLICATE
    assert len(parts.callbacks.responders) == 1


async def test_a_done_click_the_store_could_not_record_is_still_done_and_the_clicker_warned(parts: Parts) -> None:
    parts.store.broken.add("finish_action")
    replies = Replies()
    assert await parts.service().handle(click(), replies) is ClickOutcome.DONE
    assert replies.told == [
        ":warning: *Acknowledge Alerts* went through, but the plugin could not record it (its store failed), so "
        "another click may call Cloudforet again."
    ]
    assert await parts.audit() == [
        ("done", CLICKER, "Cloudforet confirmed; the plugin's store could not record it"),
    ]
    assert shows(replies.replaced[-1])[0].startswith(":eyes: *Acknowledged*")


async def test_an_audit_the_store_refuses_does_not_break_the_click(parts: Parts) -> None:
    parts.store.broken.add("add_audit")
    counted = sample("slack_chatops_clicks_total", outcome="done")
    assert await parts.service().handle(click(), Replies()) is ClickOutcome.DONE
    assert sample("slack_chatops_clicks_total", outcome="done") == counted + 1  # counted all the same
    parts.store.broken.clear()
    assert await parts.store.audit() == []


async def test_an_acknowledgement_the_card_book_cannot_record_does_not_break_the_click(parts: Parts) -> None:
    cards = Cards(broken=True)
    replies = Replies()
    assert await parts.service(cards=cards).handle(click(), replies) is ClickOutcome.DONE
    assert replies.told == [] and shows(replies.replaced[-1])[0].startswith(":eyes: *Acknowledged*")


async def test_slack_refusing_every_reply_does_not_change_how_the_click_ends(parts: Parts) -> None:
    assert await parts.service().handle(click(), Replies(broken=True)) is ClickOutcome.DONE
    parts.callbacks.answers.append(FAILED)
    another = CALLBACK_URL.replace(ALERT_ID, "alert-2")
    assert await parts.service().handle(click(url=another), Replies(broken=True)) is ClickOutcome.FAILED
    assert len(parts.callbacks.responders) == 2


async def test_a_card_that_cannot_be_redrawn_leaves_the_click_done(parts: Parts) -> None:
    odd = click()
    odd = Click(**{**odd.__dict__, "message": {"blocks": 5}})  # not a card the service can redraw
    replies = Replies()
    assert await parts.service().handle(odd, replies) is ClickOutcome.DONE
    assert replies.replaced == [] and len(parts.callbacks.responders) == 1


async def test_logs_name_the_failure_never_the_callback_url(parts: Parts, caplog: pytest.LogCaptureFixture) -> None:
    parts.callbacks.answers.append(RuntimeError(CALLBACK_URL))
    await parts.service().handle(click(), Replies())
    logged = json.dumps([(r.getMessage(), r.__dict__.get("alert")) for r in caplog.records])
    assert "RuntimeError at test_service.py:" in logged
    assert CALLBACK_URL not in logged and "monitoring-webhook" not in logged
