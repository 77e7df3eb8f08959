"""The click service: one callback-button click, from Slack's payload to Cloudforet and back to the card.

1. the click is acknowledged to Slack by the caller before this runs;
2. the button value is opened (sealed by us; a tampered value calls nothing), the clicker and the callback host
   are checked;
3. the action is claimed in the store, so concurrent or repeated clicks make exactly one callback request;
4. the card shows the click in progress, the callback is called, and the card shows the outcome; on failure the
   card gets its button back and the clicker is told what went wrong and what to do;
5. an audit record is written whatever happened.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot import metrics
from bot.button_keys import ButtonKeys
from bot.callback_client import CallbackClient, CallbackRefused, CallbackResult, Outcome, check_url
from bot.core.alerts import action_key, alert_id_from_url, done_label
from bot.core.card_updates import apply_state
from bot.core.cards import CardState, CardStatus, slack_date
from bot.core.sealed import SealError, unseal
from bot.interactivity.responders import ResponderPolicy
from bot.store import AuditRecord, ClaimStatus, Store

logger = logging.getLogger(__name__)

ADVICE = {
    Outcome.EXPIRED: "Cloudforet's callback links last 1 hour: open the alert in Cloudforet and acknowledge it "
                     "there.",
    Outcome.FAILED: "Try again in a moment; if it keeps failing, open the alert in Cloudforet.",
    Outcome.REFUSED: "This plugin is not allowed to call that address; ask the operator to check "
                     "BOT_CALLBACK_ALLOWED_HOSTS, or open the alert in Cloudforet.",
}


@dataclass(frozen=True)
class Click:
    """What the service needs from a ``block_actions`` payload."""

    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    message_ts: str
    action_id: str
    value: str
    label: str
    message: dict[str, Any]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Click:
        action = (body.get("actions") or [{}])[0]
        user = body.get("user") or {}
        container = body.get("container") or {}
        return cls(
            user_id=str(user.get("id") or ""),
            user_name=str(user.get("username") or user.get("name") or user.get("id") or "someone"),
            team_id=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
            channel_id=str((body.get("channel") or {}).get("id") or container.get("channel_id") or ""),
            message_ts=str(container.get("message_ts") or (body.get("message") or {}).get("ts") or ""),
            action_id=str(action.get("action_id") or ""),
            value=str(action.get("value") or ""),
            label=str((action.get("text") or {}).get("text") or ""),
            message=body.get("message") or {},
        )


class Responder(Protocol):
    """How the service talks back: replace the card, or tell only the clicker."""

    async def replace(self, payload: dict[str, Any]) -> None: ...

    async def tell(self, text: str) -> None: ...


class CardBook(Protocol):
    """What clicks need to know about living cards (kept by the outbox)."""

    def card_status(self, channel_id: str, ts: str) -> str | None: ...

    def record_ack(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None: ...


class ClickService:
    def __init__(self, *, store: Store, callbacks: CallbackClient, keys: ButtonKeys, responders: ResponderPolicy,
                 allowed_hosts: list[str] | None, claim_timeout: float, cards: CardBook | None = None) -> None:
        self._cards = cards
        self._store = store
        self._callbacks = callbacks
        self._keys = keys
        self._responders = responders
        self._allowed_hosts = allowed_hosts
        self._claim_timeout = claim_timeout

    def _audit(self, click: Click, target: str, outcome: str, detail: str = "") -> None:
        metrics.inc("chatops_clicks_total", outcome=outcome)
        try:
            self._store.add_audit(AuditRecord(at=time.time(), actor=click.user_id, action=click.label or
                                              click.action_id, channel=click.channel_id,
                                              message_ts=click.message_ts, target=target, outcome=outcome,
                                              detail=detail))
        except Exception as exc:  # the audit must not break the click, but must not vanish either
            logger.error("could not write the audit record for a click (%s): %s", outcome, type(exc).__name__)
        logger.info("click by %s on %s in %s: %s %s", click.user_id, target, click.channel_id, outcome, detail)

    async def handle(self, click: Click, respond: Responder) -> Outcome | ClaimStatus | str:
        try:
            url = str(unseal(click.value, self._keys.opening_keys).get("u", ""))
        except SealError:
            self._audit(click, "unknown", "refused", "button value not sealed by this deployment")
            await _safely(respond.tell(":no_entry: This button was not issued by this plugin (or was altered), so "
                                       "nothing was done. Open the alert in Cloudforet instead."))
            return "tampered"
        target = alert_id_from_url(url) or "callback"
        refusal = await self._responders.refusal(click.user_id, click.channel_id)
        if refusal is not None:
            self._audit(click, target, "refused", "clicker not in BOT_ALLOWED_RESPONDERS")
            await _safely(respond.tell(f":no_entry: Nothing was done: {refusal}."))
            return "not_allowed"
        try:
            check_url(url, self._allowed_hosts)
        except CallbackRefused as exc:
            self._audit(click, target, "refused", str(exc))
            await _safely(respond.tell(f":no_entry: Nothing was done: {exc}. {ADVICE[Outcome.REFUSED]}"))
            return Outcome.REFUSED

        if self._cards is not None and self._cards.card_status(click.channel_id, click.message_ts) == "resolved":
            self._audit(click, target, "refused", "alert already resolved")
            await _safely(respond.tell(":white_check_mark: This alert is already resolved; nothing was sent to "
                                       "Cloudforet."))
            return "resolved"
        key = action_key(url)
        claim = self._store.claim_action(key, click.user_id, now=time.time(), stale_after=self._claim_timeout)
        if claim.status is not ClaimStatus.CLAIMED:
            when = slack_date(datetime.fromtimestamp(claim.at, UTC))
            text = (f"<@{claim.actor}> already did this at {when}." if claim.status is ClaimStatus.DONE
                    else f"<@{claim.actor}> is already doing this (since {when}).")
            self._audit(click, target, "duplicate", claim.status.value)
            await _safely(respond.tell(f":information_source: {text} Nothing more was sent to Cloudforet."))
            return claim.status

        label = click.label or "the button"
        await _safely(respond.replace(apply_state(click.message, CardState(
            status=CardStatus.PENDING, actor=click.user_id, action_label=label))))
        result: CallbackResult = await self._callbacks.call(url, f"{click.user_name} (Slack {click.user_id})")
        metrics.inc("chatops_callback_seconds_total", result.elapsed)
        if result.outcome is Outcome.DONE:
            self._store.finish_action(key, done=True, now=time.time())
            acted_at = datetime.now(UTC)
            await _safely(respond.replace(apply_state(click.message, CardState(
                status=CardStatus.ACKNOWLEDGED, actor=click.user_id, acted_at=acted_at,
                action_label=done_label(url, label)))))
            if self._cards is not None:
                try:
                    self._cards.record_ack(click.channel_id, click.message_ts, actor=click.user_id,
                                           actor_name=click.user_name, at=acted_at)
                except Exception as exc:
                    logger.error("could not record the acknowledgement on the card: %s", type(exc).__name__)
        else:
            self._store.finish_action(key, done=False, now=time.time())
            await _safely(respond.replace(apply_state(click.message, CardState())))
            await _safely(respond.tell(f":warning: *{label}* did not go through: {result.detail}. "
                                       f"{ADVICE.get(result.outcome, '')}"))
        self._audit(click, target, result.outcome.value, result.detail)
        return result.outcome


async def _safely(call: Any) -> None:
    """Talk back to Slack; a failure there is logged, never raised into the click flow."""
    try:
        await call
    except Exception as exc:
        logger.error("could not update Slack after a click: %s", type(exc).__name__)
