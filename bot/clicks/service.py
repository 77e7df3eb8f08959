"""The click service: one callback-button click, from Slack's payload to Cloudforet and back to the card.

1. the click is acknowledged to Slack by the caller before this runs;
2. the button value is opened (sealed by us; a tampered value calls nothing), the clicker and the callback host
   are checked;
3. the action is claimed in the store, so concurrent or repeated clicks make exactly one callback request;
4. the card shows the click in progress, the callback is called, and the card shows the outcome; on failure the
   card gets its button back and the clicker is told what went wrong and what to do;
5. an audit record is written whatever happened.

A step that fails unexpectedly (the allow-list look-up, the store, the callback client, the card code) never
escapes :meth:`ClickService.handle`: the claim is released, the card gets its button back, the clicker is told
which step failed, and the audit records outcome ``error``. Logs name the exception type and where it was raised,
never its message (which could carry a callback URL).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePath
from typing import Any, Protocol

from bot import metrics, tracing
from bot.button_keys import ButtonKeys
from bot.clicks.responders import ResponderPolicy
from bot.core.alerts import action_key, alert_id_from_url, domain_from_url, done_label, resolve_key
from bot.core.card_updates import apply_state
from bot.core.cards import NOTE_ACTION_ID, NOTE_BUTTON_TEXT, RESOLVED_LABEL, CardState, CardStatus, slack_date
from bot.core.clicks import Click
from bot.core.mentions import responder_text
from bot.core.notes import NoteSubmission, note_errors, note_modal
from bot.core.sealed import SealError, seal, unseal
from bot.core.text import escape_mrkdwn
from bot.ports.alerts import AlertActions, AlertResult
from bot.ports.alerts import Outcome as AlertOutcome
from bot.ports.callbacks import CallbackRefused, CallbackResult, Callbacks, Outcome
from bot.ports.store import AuditRecord, ClaimStatus, ClickLedger

logger = logging.getLogger(__name__)

ADVICE = {
    Outcome.EXPIRED: "Cloudforet's callback links last 1 hour: open the alert in Cloudforet and acknowledge it there.",
    Outcome.FAILED: "Try again in a moment; if it keeps failing, open the alert in Cloudforet.",
    Outcome.REFUSED: "This plugin is not allowed to call that address; ask the operator to check "
    "BOT_CALLBACK_ALLOWED_HOSTS, or open the alert in Cloudforet.",
}


# What to do after a two-way action through Cloudforet's alert API failed, by its outcome.
ALERT_ADVICE = {
    AlertOutcome.REFUSED_KEY: "Ask the operator to check BOT_CLOUDFORET_APP_KEY(S) and the App's role; meanwhile "
    "open the alert in Cloudforet.",
    AlertOutcome.NOT_FOUND: "Open the alert in Cloudforet: it may have been deleted.",
    AlertOutcome.UNAVAILABLE: "Try again in a moment; if it keeps failing, open the alert in Cloudforet.",
    AlertOutcome.TIMEOUT: "Try again in a moment (check the alert in Cloudforet first: it may have gone through).",
    AlertOutcome.FAILED: "Open the alert in Cloudforet to see where it stands.",
}
# What a sealed Resolve button holds in its "a" field (bot.delivery.card_builder.RESOLVE).
RESOLVE_ACTION = "resolve"
# What a sealed Add note button holds in its "a" field (bot.delivery.card_builder.NOTE).
NOTE_ACTION = "note"
# What the note modal's sealed private_metadata holds in its "a" field (sealed here, when the modal opens).
NOTE_MODAL = "note-modal"


class Responder(Protocol):
    """How the service talks back: replace the card, or tell only the clicker."""

    async def replace(self, payload: dict[str, Any]) -> None: ...

    async def tell(self, text: str) -> None: ...


class CardBook(Protocol):
    """What clicks need to know about living cards (kept by the outbox)."""

    async def card_status(self, channel_id: str, ts: str) -> CardStatus | None: ...

    async def record_ack(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None: ...

    async def record_resolve(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None: ...

    async def record_note(self, channel_id: str, ts: str, *, actor_name: str, at: datetime, note: str) -> None: ...


class Modals(Protocol):
    """Opens a Slack modal for a click (``views.open`` with the click's trigger id and the bot token of its
    channel's workspace): None when Slack opened it, else what went wrong (safe to show: no token)."""

    async def open_modal(self, channel_id: str, trigger_id: str, view: dict[str, Any]) -> str | None: ...


class People(Protocol):
    """Who clicked, in Cloudforet's words: the clicker's e-mail, when Slack gives it (bot.mentions)."""

    async def email_of(self, user_id: str, channel_id: str) -> str | None: ...


class ClickOutcome(StrEnum):
    """How a click ended: what :meth:`ClickService.handle` returns, and the outcome of its audit record and of
    the ``chatops_clicks_total`` metric (the audit record's ``detail`` says why)."""

    DONE = "done"  # Cloudforet confirmed the callback
    EXPIRED = "expired"  # Cloudforet says the callback link expired
    FAILED = "failed"  # the callback did not go through
    # Nothing was called: a button not sealed by this deployment, a clicker not on BOT_ALLOWED_RESPONDERS, a
    # callback address that may not be called, or an alert already resolved.
    REFUSED = "refused"
    DUPLICATE = "duplicate"  # someone else already did this, or is doing it
    ERROR = "error"  # a step failed unexpectedly


metrics.outcomes(metrics.CLICKS, ClickOutcome)
metrics.outcomes(metrics.CALLBACK_SECONDS, Outcome)


# What a click's callback came to, as the click's outcome.
_CALLBACK_OUTCOMES: dict[Outcome, ClickOutcome] = {
    Outcome.DONE: ClickOutcome.DONE,
    Outcome.EXPIRED: ClickOutcome.EXPIRED,
    Outcome.FAILED: ClickOutcome.FAILED,
    Outcome.REFUSED: ClickOutcome.REFUSED,
}


class Step(StrEnum):
    """The steps of a click, worded for the clicker when one of them fails."""

    READ_BUTTON = "reading the button"
    CHECK_RESPONDER = "checking who may act on these alerts"
    CHECK_TARGET = "checking the callback address"
    CHECK_CARD = "checking the card"
    CLAIM = "claiming the action in the plugin's store"
    CALLBACK = "calling Cloudforet"
    REPORT = "reporting the outcome"  # after the callback: it happened, whatever fails next


@dataclass
class _Progress:
    """How far a click got, so a failure at any step can be undone as far as needed."""

    step: Step = Step.READ_BUTTON
    target: str = "unknown"
    claimed_key: str | None = None  # set while this click holds the action's claim
    card_changed: bool = False  # the card shows the click in progress


def _where(exc: BaseException) -> str:
    """Where an exception was raised (file and line only: no values, so no secret, reach the log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{PurePath(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown place"


class ClickService:
    """Carries out clicks on callback buttons. Where callbacks may go is the callback client's to say (it holds
    BOT_CALLBACK_ALLOWED_HOSTS)."""

    def __init__(
        self,
        *,
        store: ClickLedger,
        callbacks: Callbacks,
        keys: ButtonKeys,
        responders: ResponderPolicy,
        claim_timeout: float,
        cards: CardBook | None = None,
        people: People | None = None,
        alerts: AlertActions | None = None,
        default_domain: str = "",
        modals: Modals | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` (epoch seconds) dates audit records and acknowledgements; claims are timed by the store's own
        clock, so replicas whose clocks disagree still carry out an action once."""
        self._clock = clock
        self._people = people
        self._cards = cards
        self._store = store
        self._callbacks = callbacks
        self._keys = keys
        self._responders = responders
        self._claim_timeout = claim_timeout
        self._alerts = alerts  # Cloudforet's alert API, when two-way actions are set up (issue 19)
        self._default_domain = default_domain  # 1.x: the App's domain (notifications and their URLs name none)
        self._modals = modals  # opens the Add note modal

    async def _audit(self, click: Click, target: str, outcome: ClickOutcome, detail: str = "") -> None:
        metrics.CLICKS.labels(outcome.value).inc()
        try:
            await self._store.add_audit(
                AuditRecord(
                    at=self._clock(),
                    actor=click.user_id,
                    action=click.label or click.action_id,
                    channel=click.channel_id,
                    message_ts=click.message_ts,
                    target=target,
                    outcome=outcome.value,
                    detail=detail,
                )
            )
        except Exception as exc:  # the audit must not break the click, but must not vanish either
            logger.error("could not write the audit record for a click (%s): %s", outcome, type(exc).__name__)
        fields = {"event": "click", "outcome": outcome.value, "channel": click.channel_id, "alert": target}
        logger.info(
            "click by %s on %s in %s: %s %s", click.user_id, target, click.channel_id, outcome, detail, extra=fields
        )

    async def _finish(self, key: str, *, done: bool) -> bool:
        """Mark the claimed action done (or release it); False when the store failed (logged)."""
        try:
            await self._store.finish_action(key, done=done)
        except Exception as exc:
            logger.error(
                "could not record the end of a clicked action in the store: %s at %s", type(exc).__name__, _where(exc)
            )
            return False
        return True

    @staticmethod
    async def _show(respond: Responder, click: Click, state: CardState) -> None:
        """Replace the card with ``state`` applied; a failure (of the card code or of Slack) is logged."""
        try:
            payload = apply_state(click.message, state)
        except Exception as exc:
            logger.error("could not redraw the card after a click: %s at %s", type(exc).__name__, _where(exc))
            return
        await _safely(respond.replace(payload))

    async def handle(self, click: Click, respond: Responder) -> ClickOutcome:
        """Carry out a click. Never raises: whatever step fails, the click is audited, the card is left usable
        and the clicker is told."""
        progress = _Progress()
        attributes = {"slack.channel": click.channel_id}
        with tracing.span("slack.click", kind=tracing.Kind.SERVER, attributes=attributes) as span:
            try:
                outcome = await self._handle(click, respond, progress)
            except Exception as exc:
                outcome = await self._failed(click, respond, progress, exc)
            span.set("slack_chatops.outcome", outcome.value)
            return outcome

    async def _failed(self, click: Click, respond: Responder, progress: _Progress, exc: Exception) -> ClickOutcome:
        name = type(exc).__name__
        logger.error("a click failed while %s: %s at %s", progress.step, name, _where(exc))
        if progress.claimed_key is not None:
            await self._finish(progress.claimed_key, done=False)  # so the next click tries again
        if progress.card_changed:
            await self._show(respond, click, CardState())
        await self._audit(click, progress.target, ClickOutcome.ERROR, f"{progress.step} failed ({name})")
        advice = ADVICE[Outcome.FAILED]
        label = escape_mrkdwn(click.label) or "The button"
        if progress.step is Step.CALLBACK:
            text = f":warning: *{label}* did not go through: something went wrong while {progress.step}. {advice}"
        elif progress.step is Step.REPORT:
            text = (
                f":warning: *{label}* was sent to Cloudforet, but something went wrong while {progress.step}; "
                "check the alert in Cloudforet."
            )
        else:
            text = f":warning: Nothing was done: something went wrong while {progress.step}. {advice}"
        await _safely(respond.tell(text))
        return ClickOutcome.ERROR

    async def _may_act(self, click: Click, respond: Responder, target: str) -> bool:
        """Whether the clicker may act on these alerts (BOT_ALLOWED_RESPONDERS); told and audited when not."""
        refusal = await self._responders.refusal(click.user_id, click.channel_id)
        if refusal is None:
            return True
        await self._audit(click, target, ClickOutcome.REFUSED, "clicker not in BOT_ALLOWED_RESPONDERS")
        await _safely(respond.tell(f":no_entry: Nothing was done: {refusal}."))
        return False

    async def _resolved_already(self, click: Click, respond: Responder, target: str) -> bool:
        # == (not is): the card book may give the status as a CardStatus or as its string value.
        if (
            self._cards is None
            or await self._cards.card_status(click.channel_id, click.message_ts) != CardStatus.RESOLVED
        ):
            return False
        await self._audit(click, target, ClickOutcome.REFUSED, "alert already resolved")
        await _safely(
            respond.tell(":white_check_mark: This alert is already resolved; nothing was sent to Cloudforet.")
        )
        return True

    async def _claim(self, click: Click, respond: Responder, target: str, key: str) -> bool:
        """Claim the action ``key`` for this click; when another click holds or did it, tell and audit, False."""
        claim = await self._store.claim_action(key, click.user_id, stale_after=self._claim_timeout)
        if claim.status is ClaimStatus.CLAIMED:
            return True
        when = slack_date(datetime.fromtimestamp(claim.at, UTC))
        text = (
            f"<@{claim.actor}> already did this at {when}."
            if claim.status is ClaimStatus.DONE
            else f"<@{claim.actor}> is already doing this (since {when})."
        )
        await self._audit(click, target, ClickOutcome.DUPLICATE, claim.status.value)
        await _safely(respond.tell(f":information_source: {text} Nothing more was sent to Cloudforet."))
        return False

    async def _resolve(
        self, click: Click, respond: Responder, progress: _Progress, alert_id: str, domain_id: str
    ) -> ClickOutcome:
        """A click on Resolve: the same checks and claim as a callback, then Cloudforet's ``Alert.update`` to
        resolved and a note naming the clicker (an App's key records no user)."""
        target = progress.target = alert_id or "alert"
        if self._alerts is None or not alert_id:
            await self._audit(click, target, ClickOutcome.REFUSED, "two-way actions are not set up")
            await _safely(
                respond.tell(
                    ":no_entry: Nothing was done: this plugin is no longer set up to resolve alerts "
                    "(BOT_CLOUDFORET_ENDPOINT and an App key). Open the alert in Cloudforet instead."
                )
            )
            return ClickOutcome.REFUSED
        progress.step = Step.CHECK_RESPONDER
        if not await self._may_act(click, respond, target):
            return ClickOutcome.REFUSED
        progress.step = Step.CHECK_CARD
        if await self._resolved_already(click, respond, target):
            return ClickOutcome.REFUSED
        progress.step = Step.CLAIM
        key = resolve_key(alert_id, domain_id)
        if not await self._claim(click, respond, target, key):
            return ClickOutcome.DUPLICATE
        progress.claimed_key = key
        progress.card_changed = True
        await self._show(
            respond, click, CardState(status=CardStatus.PENDING, actor=click.user_id, action_label="Resolve")
        )
        progress.step = Step.CALLBACK
        result = await self._alerts.resolve(alert_id, domain_id)
        if not result.ok:
            return await self._alert_failed(click, respond, progress, key, result, "Resolve")
        progress.step, progress.claimed_key, progress.card_changed = Step.REPORT, None, False
        recorded = await self._finish(key, done=True)
        email = await self._people.email_of(click.user_id, click.channel_id) if self._people else None
        who = note_author(click.user_name, click.user_id, email)
        note = await self._alerts.add_note(alert_id, domain_id, f"Resolved from Slack by {who}")
        detail = "resolved through Cloudforet's alert API" + ("" if note.ok else "; the note failed")
        await self._audit(click, target, ClickOutcome.DONE, detail if recorded else f"{detail}; not recorded")
        at = datetime.fromtimestamp(self._clock(), UTC)
        await self._show(
            respond,
            click,
            CardState(status=CardStatus.RESOLVED, actor=click.user_id, action_label=RESOLVED_LABEL, resolved_at=at),
        )
        if self._cards is not None:
            try:
                await self._cards.record_resolve(
                    click.channel_id, click.message_ts, actor=click.user_id, actor_name=click.user_name, at=at
                )
            except Exception as exc:
                logger.error("could not record the resolution on the card: %s", type(exc).__name__)
        if not note.ok:
            await _safely(
                respond.tell(
                    f":warning: The alert is resolved, but Cloudforet did not take the note naming you: {note.detail}."
                )
            )
        return ClickOutcome.DONE

    async def _open_note(
        self, click: Click, respond: Responder, progress: _Progress, alert_id: str, domain_id: str
    ) -> ClickOutcome:
        """A click on Add note: who may click, then the note modal opened with the click's trigger id. Its
        ``private_metadata`` is sealed (the alert, its domain, the card), so a submission names nothing else."""
        target = progress.target = alert_id or "alert"
        if self._alerts is None or self._modals is None or not alert_id:
            await self._audit(click, target, ClickOutcome.REFUSED, "two-way actions are not set up")
            await _safely(
                respond.tell(
                    ":no_entry: Nothing was done: this plugin is no longer set up to add notes to alerts "
                    "(BOT_CLOUDFORET_ENDPOINT and an App key). Open the alert in Cloudforet instead."
                )
            )
            return ClickOutcome.REFUSED
        progress.step = Step.CHECK_RESPONDER
        if not await self._may_act(click, respond, target):
            return ClickOutcome.REFUSED
        reference = {
            "a": NOTE_MODAL,
            "i": alert_id,
            "d": domain_id,
            "c": click.channel_id,
            "m": click.message_ts,
            "t": str(int(self._clock())),
        }
        view = note_modal(seal(reference, self._keys.sealing_key), alert_id)
        problem = (
            await self._modals.open_modal(click.channel_id, click.trigger_id, view)
            if click.trigger_id
            else "Slack sent no trigger id with the click"
        )
        if problem is not None:
            await self._audit(click, target, ClickOutcome.FAILED, f"the note form did not open: {problem}")
            await _safely(
                respond.tell(f":warning: The note form did not open: {problem}. Click *Add note* again in a moment.")
            )
            return ClickOutcome.FAILED
        return ClickOutcome.DONE

    async def submit_note(self, submission: NoteSubmission) -> dict[str, Any] | None:
        """The note modal submitted: None when the note was added (the modal closes), else the answer that keeps the
        modal open with what happened under the input (the user keeps the text). Never raises."""
        click = Click(
            user_id=submission.user_id,
            user_name=submission.user_name,
            team_id="",
            channel_id="",
            message_ts="",
            action_id=NOTE_ACTION_ID,
            value="",
            label=NOTE_BUTTON_TEXT,
            message={},
        )
        try:
            return await self._submit_note(submission, click)
        except Exception as exc:
            logger.error("a note could not be added: %s at %s", type(exc).__name__, _where(exc))
            await self._audit(click, "alert", ClickOutcome.ERROR, f"adding the note failed ({type(exc).__name__})")
            return note_errors("Something went wrong in the plugin; the note may not have been added. Try again.")

    async def _submit_note(self, submission: NoteSubmission, click: Click) -> dict[str, Any] | None:
        try:
            opened = unseal(submission.private_metadata, self._keys.opening_keys)
        except SealError:
            opened = {}
        if opened.get("a") != NOTE_MODAL:
            await self._audit(click, "unknown", ClickOutcome.REFUSED, "note form not issued by this deployment")
            return note_errors("This form was not issued by this plugin (or was altered): nothing was done.")
        alert_id, domain_id = str(opened.get("i", "")), str(opened.get("d", ""))
        channel_id, ts = str(opened.get("c", "")), str(opened.get("m", ""))
        click = replace(click, channel_id=channel_id, message_ts=ts)
        refusal = await self._responders.refusal(click.user_id, channel_id)
        if refusal is not None:
            await self._audit(click, alert_id, ClickOutcome.REFUSED, "clicker not in BOT_ALLOWED_RESPONDERS")
            return note_errors(f"Nothing was done: {refusal}.")
        if self._alerts is None:
            await self._audit(click, alert_id, ClickOutcome.REFUSED, "two-way actions are not set up")
            return note_errors("This plugin is no longer set up to add notes; add it in Cloudforet instead.")
        if not submission.text:
            return note_errors("Write a note first.")
        email = await self._people.email_of(click.user_id, channel_id) if self._people else None
        who = note_author(click.user_name, click.user_id, email)
        result = await self._alerts.add_note(alert_id, domain_id, f"{submission.text}\n— {who} from Slack")
        if not result.ok:
            await self._audit(click, alert_id, ClickOutcome.FAILED, f"{result.outcome.value}: {result.detail}")
            return note_errors(
                f"The note was not added: {result.detail}. {ALERT_ADVICE.get(result.outcome, '')}".strip()
            )
        await self._audit(click, alert_id, ClickOutcome.DONE, "note added through Cloudforet's alert API")
        if self._cards is not None:
            try:
                at = datetime.fromtimestamp(self._clock(), UTC)
                await self._cards.record_note(channel_id, ts, actor_name=click.user_name, at=at, note=submission.text)
            except Exception as exc:
                logger.error("could not queue the note's line in the card's thread: %s", type(exc).__name__)
        return None

    async def _acknowledge_expired(self, url: str, expired: CallbackResult, who: str) -> CallbackResult:
        """The callback link expired: acknowledge through Cloudforet's alert API instead, when the URL names the
        alert and its domain; the answer as a callback's (DONE, or EXPIRED with what the API said)."""
        assert self._alerts is not None
        alert_id, domain_id = alert_id_from_url(url), domain_from_url(url) or self._default_domain
        if not alert_id or not domain_id:
            return expired
        acked = await self._alerts.acknowledge(alert_id, domain_id)
        if not acked.ok:
            detail = f"{expired.detail}; acknowledging through Cloudforet's API failed too: {acked.detail}"
            return CallbackResult(Outcome.EXPIRED, detail, expired.status, expired.elapsed + acked.elapsed)
        note = await self._alerts.add_note(alert_id, domain_id, f"Acknowledged from Slack by {who}")
        detail = "acknowledged through Cloudforet's alert API (the link had expired)"
        if not note.ok:
            detail += "; the note naming the clicker failed"
        return CallbackResult(Outcome.DONE, detail, None, expired.elapsed + acked.elapsed)

    async def _alert_failed(
        self, click: Click, respond: Responder, progress: _Progress, key: str, result: AlertResult, label: str
    ) -> ClickOutcome:
        """A two-way action Cloudforet did not carry out: the claim released (a later click tries again), the card's
        buttons back, the clicker told what happened and what to do."""
        progress.step, progress.claimed_key, progress.card_changed = Step.REPORT, None, False
        await self._finish(key, done=False)
        await self._audit(click, progress.target, ClickOutcome.FAILED, f"{result.outcome.value}: {result.detail}")
        await self._show(respond, click, CardState())
        await _safely(
            respond.tell(
                f":warning: *{escape_mrkdwn(label)}* did not go through: {result.detail}. "
                f"{ALERT_ADVICE.get(result.outcome, '')}"
            )
        )
        return ClickOutcome.FAILED

    async def _handle(self, click: Click, respond: Responder, progress: _Progress) -> ClickOutcome:
        try:
            opened = unseal(click.value, self._keys.opening_keys)
        except SealError:
            await self._audit(click, "unknown", ClickOutcome.REFUSED, "button value not sealed by this deployment")
            await _safely(
                respond.tell(
                    ":no_entry: This button was not issued by this plugin (or was altered), so "
                    "nothing was done. Open the alert in Cloudforet instead."
                )
            )
            return ClickOutcome.REFUSED
        if opened.get("a") == RESOLVE_ACTION:
            return await self._resolve(click, respond, progress, str(opened.get("i", "")), str(opened.get("d", "")))
        if opened.get("a") == NOTE_ACTION:
            return await self._open_note(click, respond, progress, str(opened.get("i", "")), str(opened.get("d", "")))
        if opened.get("a") is not None:  # a sealed value of ours that is no button's (the note modal's metadata)
            await self._audit(click, "unknown", ClickOutcome.REFUSED, "not a button value")
            await _safely(respond.tell(":no_entry: This button was not issued by this plugin, so nothing was done."))
            return ClickOutcome.REFUSED
        url = str(opened.get("u", ""))
        target = progress.target = alert_id_from_url(url) or "callback"

        progress.step = Step.CHECK_RESPONDER
        if not await self._may_act(click, respond, target):
            return ClickOutcome.REFUSED
        progress.step = Step.CHECK_TARGET
        try:
            checked = self._callbacks.check(url)
        except CallbackRefused as exc:
            await self._audit(click, target, ClickOutcome.REFUSED, str(exc))
            await _safely(respond.tell(f":no_entry: Nothing was done: {exc}. {ADVICE[Outcome.REFUSED]}"))
            return ClickOutcome.REFUSED

        progress.step = Step.CHECK_CARD
        if await self._resolved_already(click, respond, target):
            return ClickOutcome.REFUSED

        progress.step = Step.CLAIM
        key = action_key(url)
        if not await self._claim(click, respond, target, key):
            return ClickOutcome.DUPLICATE
        progress.claimed_key = key

        label = click.label or "the button"
        shown = escape_mrkdwn(label)  # the label in the clicker's messages (the card's status line escapes its own)
        progress.card_changed = True
        await self._show(respond, click, CardState(status=CardStatus.PENDING, actor=click.user_id, action_label=label))
        progress.step = Step.CALLBACK
        email = await self._people.email_of(click.user_id, click.channel_id) if self._people else None
        result: CallbackResult = await self._callbacks.call(
            checked, responder_text(click.user_name, click.user_id, email)
        )
        if result.outcome is Outcome.EXPIRED and self._alerts is not None:
            result = await self._acknowledge_expired(url, result, note_author(click.user_name, click.user_id, email))
        # The callback happened: what follows guards itself, and a failure must not undo or deny it.
        progress.step, progress.claimed_key, progress.card_changed = Step.REPORT, None, False
        metrics.CALLBACK_SECONDS.labels(result.outcome.value).observe(result.elapsed)
        outcome = _CALLBACK_OUTCOMES[result.outcome]
        if result.outcome is Outcome.DONE:
            recorded = await self._finish(key, done=True)
            # audited before the card changes: whoever sees the new card finds the record
            await self._audit(
                click,
                target,
                outcome,
                result.detail if recorded else f"{result.detail}; the plugin's store could not record it",
            )
            acted_at = datetime.fromtimestamp(self._clock(), UTC)
            await self._show(
                respond,
                click,
                CardState(
                    status=CardStatus.ACKNOWLEDGED,
                    actor=click.user_id,
                    acted_at=acted_at,
                    action_label=done_label(url, label),
                ),
            )
            if self._cards is not None:
                try:
                    await self._cards.record_ack(
                        click.channel_id, click.message_ts, actor=click.user_id, actor_name=click.user_name, at=acted_at
                    )
                except Exception as exc:
                    logger.error("could not record the acknowledgement on the card: %s", type(exc).__name__)
            if not recorded:
                await _safely(
                    respond.tell(
                        f":warning: *{shown}* went through, but the plugin could not record "
                        "it (its store failed), so another click may call Cloudforet again."
                    )
                )
        else:
            await self._finish(key, done=False)
            await self._audit(click, target, outcome, result.detail)
            await self._show(respond, click, CardState())
            await _safely(
                respond.tell(
                    f":warning: *{shown}* did not go through: {result.detail}. {ADVICE.get(result.outcome, '')}"
                )
            )
        return outcome


def note_author(name: str, user_id: str, email: str | None) -> str:
    """Who acted, as a note on the alert says it: "Alice (alice@example.com)", or the Slack user ID without an e-mail
    (an App's key records no user, so the note is the only record of who it was)."""
    return f"{name} ({email})" if email else f"{name} (Slack {user_id})"


async def _safely(call: Any) -> None:
    """Talk back to Slack; a failure there is logged, never raised into the click flow."""
    try:
        await call
    except Exception as exc:
        logger.error("could not update Slack after a click: %s", type(exc).__name__)
