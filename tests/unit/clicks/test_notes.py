"""Add note in the click service (issue 19): the modal opened from a click, the submission turned into a note; with
in-process fakes of Cloudforet's alert API, the modal opener, the card book and the people directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.clicks.responders import ResponderPolicy
from bot.clicks.service import NOTE_MODAL, ClickOutcome, ClickService
from bot.core.cards import NOTE_ACTION_ID
from bot.core.clicks import Click
from bot.core.notes import NOTE_BLOCK_ID, NoteSubmission
from bot.core.sealed import SealKey, seal, unseal
from bot.ports.alerts import AlertAction, AlertResult, Outcome
from tests.unit.clicks.test_service import CHANNEL, CLICKER, KEYS, TS, Cards, Clock, Emails, LedgerStore, Replies

ALERT = "alert-77"
DOMAIN = "domain-7"


@dataclass
class Alerts:
    """Cloudforet's alert API: the notes asked for, and the outcome it answers."""

    outcome: Outcome = Outcome.DONE
    notes: list[tuple[str, str, str]] = field(default_factory=list)

    async def add_note(self, alert_id: str, domain_id: str, note: str) -> AlertResult:
        self.notes.append((alert_id, domain_id, note))
        detail = "done" if self.outcome is Outcome.DONE else "Cloudforet refused the App key"
        return AlertResult(self.outcome, AlertAction.ADD_NOTE, detail)


@dataclass
class Modals:
    problem: str | None = None
    opened: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def open_modal(self, channel_id: str, trigger_id: str, view: dict[str, Any]) -> str | None:
        self.opened.append((channel_id, trigger_id, view))
        return self.problem


@dataclass
class Parts:
    store: LedgerStore
    alerts: Alerts = field(default_factory=Alerts)
    modals: Modals = field(default_factory=Modals)
    cards: Cards = field(default_factory=Cards)

    def service(self, responders: ResponderPolicy | None = None) -> ClickService:
        return ClickService(
            store=self.store,
            callbacks=None,  # type: ignore[arg-type]  # a note never calls a callback
            keys=KEYS,
            responders=responders or ResponderPolicy(None),
            claim_timeout=30,
            cards=self.cards,
            people=Emails({CLICKER: "alice@example.com"}),
            alerts=self.alerts,  # type: ignore[arg-type]  # only add_note is asked for
            modals=self.modals,
        )


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    yield Parts(LedgerStore(Clock()))


def note_click(trigger_id: str = "123.456.abc") -> Click:
    value = seal({"a": "note", "i": ALERT, "d": DOMAIN, "t": "1"}, KEYS.sealing_key)
    return Click(CLICKER, "alice", "T1", CHANNEL, TS, NOTE_ACTION_ID, value, "Add note", {}, trigger_id)


def submission(metadata: str, text: str = "Disk replaced", user: str = CLICKER) -> NoteSubmission:
    return NoteSubmission(user_id=user, user_name="alice", private_metadata=metadata, text=text)


def sealed_reference() -> str:
    return seal({"a": NOTE_MODAL, "i": ALERT, "d": DOMAIN, "c": CHANNEL, "m": TS, "t": "1"}, KEYS.sealing_key)


async def test_a_click_opens_the_modal_with_a_sealed_reference_to_the_alert_and_the_card(parts: Parts) -> None:
    replies = Replies()
    assert await parts.service().handle(note_click(), replies) is ClickOutcome.DONE
    [(channel, trigger, view)] = parts.modals.opened
    assert (channel, trigger) == (CHANNEL, "123.456.abc") and replies.told == []
    opened = unseal(view["private_metadata"], KEYS.opening_keys)
    assert (opened["a"], opened["i"], opened["d"], opened["c"], opened["m"]) == (NOTE_MODAL, ALERT, DOMAIN, CHANNEL, TS)
    assert parts.alerts.notes == []


@pytest.mark.parametrize(("trigger", "problem"), [("", None), ("1.2.x", "Slack's trigger for the form expired")])
async def test_a_modal_that_does_not_open_is_told(parts: Parts, trigger: str, problem: str | None) -> None:
    parts.modals.problem = problem
    replies = Replies()
    assert await parts.service().handle(note_click(trigger), replies) is ClickOutcome.FAILED
    [told] = replies.told
    assert told.startswith(":warning: The note form did not open") and "Add note" in told


async def test_a_submission_adds_the_note_naming_its_author_and_a_thread_line(parts: Parts) -> None:
    assert await parts.service().submit_note(submission(sealed_reference())) is None
    assert parts.alerts.notes == [(ALERT, DOMAIN, "Disk replaced\n— alice (alice@example.com) from Slack")]
    assert parts.cards.notes == [(CHANNEL, TS, "alice", "Disk replaced")]
    [audit] = await parts.store.audit()
    assert (audit.outcome, audit.target, audit.channel, audit.message_ts) == ("done", ALERT, CHANNEL, TS)


async def test_the_responder_policy_is_checked_again_at_submission(parts: Parts) -> None:
    answer = await parts.service(ResponderPolicy(["U0BOSS"])).submit_note(submission(sealed_reference()))
    assert answer is not None and answer["errors"][NOTE_BLOCK_ID].startswith("Nothing was done:")
    assert parts.alerts.notes == [] and parts.cards.notes == []


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "not-sealed",
        seal({"a": "note", "i": ALERT, "d": DOMAIN}, KEYS.sealing_key),  # the button's value, not the modal's
        seal({"a": NOTE_MODAL, "i": ALERT}, SealKey.derive("another deployment")),
    ],
)
async def test_a_reference_this_deployment_did_not_seal_is_refused(parts: Parts, metadata: str) -> None:
    answer = await parts.service().submit_note(submission(metadata))
    assert answer is not None and "not issued by this plugin" in answer["errors"][NOTE_BLOCK_ID]
    assert parts.alerts.notes == []


async def test_an_empty_note_is_not_sent(parts: Parts) -> None:
    answer = await parts.service().submit_note(submission(sealed_reference(), text=""))
    assert answer == {"response_action": "errors", "errors": {NOTE_BLOCK_ID: "Write a note first."}}
    assert parts.alerts.notes == []


async def test_a_failed_note_keeps_the_modal_open_saying_what_to_do(parts: Parts) -> None:
    parts.alerts.outcome = Outcome.REFUSED_KEY
    answer = await parts.service().submit_note(submission(sealed_reference()))
    assert answer is not None
    assert "The note was not added: Cloudforet refused the App key." in answer["errors"][NOTE_BLOCK_ID]
    assert "BOT_CLOUDFORET_APP_KEY" in answer["errors"][NOTE_BLOCK_ID]
    assert parts.cards.notes == []
    [audit] = await parts.store.audit()
    assert audit.outcome == "failed" and audit.detail.startswith("refused_key")


async def test_a_thread_line_that_cannot_be_queued_does_not_undo_the_note(parts: Parts) -> None:
    parts.cards.broken = True

    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the outbox is away")

    parts.cards.record_note = broken  # type: ignore[method-assign]
    assert await parts.service().submit_note(submission(sealed_reference())) is None
    assert len(parts.alerts.notes) == 1
