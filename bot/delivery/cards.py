"""The card keeper: each alert's one living card in a channel, from its first notification to its resolution.

The first notification of an alert posts its card; later ones update it and add a line to its thread; a late
notification for a resolved alert is ignored; a card deleted in Slack is posted anew. A click's acknowledgement is
recorded on the card and announced in its thread. Which card shows which alert, and where the alert stands, is kept
in the store (``CardRecord``), so it survives restarts.

The keeper finds, decides, renders and records; it reaches Slack only through the ``Courier`` the outbox hands it
for each item (paced in the item's lane; whatever fails is retried by the outbox), and it queues its thread lines
in the outbox (``NoteQueue``). It is the ``CardBook`` of the click service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot import metrics
from bot.button_keys import ButtonKeys
from bot.core.cards import Card, CardState, CardStatus
from bot.core.compact import compact_message
from bot.core.errors import BotError, ErrorCode
from bot.core.lifecycle import (
    CardAction,
    acknowledged_line,
    alert_keys,
    next_transition,
    noted_line,
    phase_of,
    resolved_line,
)
from bot.core.mentions import CardMentions
from bot.core.models import DispatchRequest, Message, NotificationType
from bot.core.sealed import SealError, fingerprint
from bot.delivery.card_builder import build_card
from bot.delivery.tokens import TokenVault
from bot.mentions import Directory, MentionResolver
from bot.ports.schema import DispatchBody, NoteBody, UnreadableRecord, read_body
from bot.ports.slack import Posted
from bot.ports.store import CardIndex, CardQuery, CardRecord, ItemKind, OutboxItem

logger = logging.getLogger(__name__)

# A dispatch's message and type, parsed (kept beside a fresh item so it is not parsed again from the store's copy).
Parsed = tuple[Message, NotificationType]
StoreWrite = Callable[[], Awaitable[None]]


class Courier(Protocol):
    """How the keeper reaches Slack for one outbox item, with the item's bot token."""

    async def post(self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        """``chat.postMessage``, paced in the item's lane."""
        ...

    async def update(self, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        """``chat.update``, paced per bot."""
        ...

    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        """The alert's card (``Store.find_card``), looked up with the item's fencing check when both fit in one round
        trip to the store. Raises ``StoreError`` (nothing was sent)."""
        ...

    async def finish(self, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        """The item is delivered: record that, together with ``card`` saved under ``keys`` (in one atomic step). A
        failing store is retried until it succeeds, so what Slack already has is never sent again."""
        ...


class NoteQueue(Protocol):
    """Where the keeper's own items (thread lines) wait for their turn in their lane."""

    async def add(
        self,
        kind: ItemKind,
        target: str,
        body: dict[str, Any],
        token: str,
        sealed_token: str,
        *,
        alongside: StoreWrite | None = None,
    ) -> None:
        """Write an item to the store (with ``alongside``, in one transaction) and queue it for delivery."""
        ...


def dispatch_body(request: DispatchRequest) -> tuple[dict[str, Any], Parsed | None]:
    """What an outbox item keeps of a dispatch: what its card can show (see ``bot.core.compact``), not the whole
    request; and the parsed message, when nothing of it was cut, to render from without parsing it again."""
    kept, cut = compact_message(request.message)
    body = {"target": request.channel.target, "message": kept, "notification_type": request.notification_type.value}
    if (mentions := request.channel.mention_rules.to_body()) is not None:  # mentions: kept only when configured
        body["mentions"] = mentions
    return body, None if cut else (request.message, request.notification_type)


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def state_of(record: CardRecord) -> CardState:
    """What the card of ``record`` shows beyond its message."""
    return CardState(
        status=record.status,
        actor=record.actor,
        acted_at=_timestamp(record.acted_at),
        action_label="Acknowledged" if record.actor else None,
        notified=record.notified,
        resolved_at=_timestamp(record.resolved_at),
    )


def _new_record(bot: str, target: str, posted: Posted, state: CardState, sealed_token: str) -> CardRecord:
    return CardRecord(
        bot=bot,
        channel_id=posted.channel_id,
        ts=posted.ts,
        target=target,
        status=state.status,
        notified=state.notified,
        token=sealed_token,
        resolved_at=state.resolved_at.timestamp() if state.resolved_at else None,
        updated_at=time.time(),
    )


def _shown(action: metrics.CardChange, channel_id: str, ts: str, keys: list[str]) -> None:
    """Count a card Slack now shows, and log where it is: the line that ties a notification (its trace, its alert)
    to its Slack message."""
    metrics.CARDS.labels(action.value).inc()
    fields = {"event": "card", "outcome": action.value, "channel": channel_id, "ts": ts}
    fields["alert"] = keys[0] if keys else ""
    logger.info("card %s in %s at %s", action.value, channel_id, ts, extra=fields)


class CardKeeper:
    def __init__(
        self,
        store: CardIndex,
        keys: ButtonKeys,
        tokens: TokenVault,
        *,
        directory: Directory | None = None,
        two_way: bool = False,
        default_domain: str = "",
    ) -> None:
        """``two_way``: Cloudforet's alert API is set up, so alert cards offer Resolve (issue 19); ``default_domain``:
        the domain of alerts whose notification names none (1.x, ``BOT_CLOUDFORET_DOMAIN_ID``)."""
        self._two_way = two_way
        self._default_domain = default_domain
        self._mentions = MentionResolver(directory)  # mentions: who a card notifies (bot.mentions)
        self._store = store
        self._keys = keys
        self._tokens = tokens
        self._notes: NoteQueue | None = None

    def queue_notes_in(self, notes: NoteQueue) -> None:
        """Where thread lines go (the outbox, which calls this when it is made)."""
        self._notes = notes

    # -- the click service's CardBook ----------------------------------------------------------------------------

    async def card_status(self, channel_id: str, ts: str) -> CardStatus | None:
        """Where the alert of the card at ``channel_id``/``ts`` stands; None for a message that is no alert card."""
        record = await self._store.card_by_message(channel_id, ts)
        return record.status if record else None

    async def record_ack(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        """A click acknowledged the alert behind this card: remember it, and add a line to the card's thread."""
        record = await self._store.card_by_message(channel_id, ts)
        if record is None or record.status is CardStatus.RESOLVED:
            return
        record.status, record.actor, record.actor_name = CardStatus.ACKNOWLEDGED, actor, actor_name
        record.acted_at, record.updated_at = at.timestamp(), time.time()
        await self._thread_note(record, acknowledged_line(actor_name, at))

    async def record_resolve(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        """A click resolved the alert behind this card through Cloudforet's API: remember it (a later ``[Resolved]``
        notification then finds the card resolved and changes nothing), and add a line to the card's thread."""
        record = await self._store.card_by_message(channel_id, ts)
        if record is None or record.status is CardStatus.RESOLVED:
            return
        record.status, record.resolved_at, record.updated_at = CardStatus.RESOLVED, at.timestamp(), time.time()
        await self._thread_note(record, resolved_line(actor_name, at))

    async def record_note(self, channel_id: str, ts: str, *, actor_name: str, at: datetime, note: str) -> None:
        """A note was added to the alert behind this card from Slack: a line in the card's thread (the card's state
        does not change)."""
        record = await self._store.card_by_message(channel_id, ts)
        if record is None:
            return
        await self._thread_note(record, noted_line(actor_name, at, note))

    async def _thread_note(self, record: CardRecord, text: str) -> None:
        """Save ``record`` and queue ``text`` in its card's thread (only save it when its token cannot be opened)."""
        try:
            token = self._tokens.open(record.token)
        except SealError:  # the keys changed since the card was posted: no thread line, but the card knows
            await self._store.save_card(record)
            return
        if self._notes is None:
            raise RuntimeError("the card keeper has no outbox to queue thread lines in")
        body = {
            "target": record.target,
            "channel_id": record.channel_id,
            "ts": record.ts,
            "text": text,
        }
        await self._notes.add(
            ItemKind.NOTE, record.target, body, token, record.token, alongside=lambda: self._store.save_card(record)
        )

    # -- delivering ----------------------------------------------------------------------------------------------

    async def deliver(self, item: OutboxItem, token: str, parsed: Parsed | None, courier: Courier) -> None:
        """Carry one outbox item to Slack. Raises what Slack or the store raised before anything was sent (the
        outbox retries it or records it as failed). An item of a newer layout than this release reads is refused
        (``NewerLayout``, not retryable: the outbox fails it with that reason, and its lane goes on)."""
        try:
            body = read_body(item.body, kind=item.kind.value, item_id=item.id)
        except UnreadableRecord as exc:
            raise BotError(ErrorCode.INTERNAL, str(exc)) from None
        if isinstance(body, NoteBody):
            await self._thread_line(courier, body.channel_id, body.ts, body.text)
            await courier.finish()
            return
        assert isinstance(body, DispatchBody)
        message, kind = parsed or (Message.from_struct(body.message), NotificationType.parse(body.notification_type))
        await self._show(item, token, body.target, message, kind, courier)

    @staticmethod
    def card_query(item: OutboxItem, token: str, parsed: Parsed | None) -> CardQuery | None:
        """The card look-up ``deliver`` will ask its courier for, when it can be told without parsing the item again
        (a new dispatch, its message parsed): asked ahead with the item's write (``Store.enqueue_sending``)."""
        target = item.body.get("target")
        if item.kind is not ItemKind.DISPATCH or parsed is None or not isinstance(target, str):
            return None
        keys = alert_keys(parsed[0])
        return CardQuery(fingerprint(token), target, tuple(keys)) if keys else None

    def _card(self, message: Message, kind: NotificationType, state: CardState, mentions: CardMentions) -> Card:
        """The alert's card as this deployment renders it (with Resolve and Add note when two-way actions are on)."""
        return build_card(
            message, kind, self._keys, state, mentions, two_way=self._two_way, default_domain=self._default_domain
        )

    async def _show(
        self, item: OutboxItem, token: str, target: str, message: Message, kind: NotificationType, courier: Courier
    ) -> None:
        """Post the alert's card, or update the one it has; record where the alert stands."""
        keys = alert_keys(message)
        bot = fingerprint(token)
        record = await courier.find_card(bot, target, keys) if keys else None  # StoreError: retried, nothing sent
        transition = next_transition(
            state_of(record) if record else None, phase_of(message), message, datetime.now(UTC)
        )
        logger.debug("item %d: %s (card %s)", item.id, transition.action.value, record.ts if record else "none")
        mentions = await self._mentions.for_card(token, item.body.get("mentions"), message, kind, transition)
        if record is None or transition.action is CardAction.POST:
            card = self._card(message, kind, transition.state, mentions)
            if card.truncated:
                logger.info("card shortened to fit Slack: %s", "; ".join(card.truncated))
            posted = await courier.post(target, card.payload())
            _shown(metrics.CardChange.POSTED, posted.channel_id, posted.ts, keys)
            if not keys:  # a plain notification: no alert to keep a card for
                await courier.finish()
                return
            new = _new_record(bot, target, posted, transition.state, item.token)
            await courier.finish(new, keys)
            return
        if transition.action is CardAction.IGNORE:
            logger.info("ignored a late notification for resolved alert card %s", record.ts)
            metrics.CARDS.labels(metrics.CardChange.IGNORED.value).inc()
            await courier.finish()
            return

        card = self._card(message, kind, transition.state, mentions)
        try:
            await courier.update(record.channel_id, record.ts, card.payload())
        except BotError as exc:
            if exc.code is not ErrorCode.SLACK_MESSAGE_NOT_FOUND:
                raise
            logger.info("card %s was deleted in Slack; posting a new one", record.ts)
            posted = await courier.post(target, card.payload())
            record.channel_id, record.ts = posted.channel_id, posted.ts
            _shown(metrics.CardChange.POSTED, posted.channel_id, posted.ts, keys)
        else:
            _shown(metrics.CardChange.UPDATED, record.channel_id, record.ts, keys)
            if transition.thread_line:
                line = mentions.thread_line(transition.thread_line)  # mentions only when the update notifies
                await self._thread_line(courier, record.channel_id, record.ts, line)
        state = transition.state
        record.status, record.notified, record.updated_at = state.status, state.notified, time.time()
        record.resolved_at = state.resolved_at.timestamp() if state.resolved_at else None
        await courier.finish(record, keys)

    @staticmethod
    async def _thread_line(courier: Courier, channel_id: str, ts: str, text: str) -> None:
        """A line in a card's thread; lost (and logged) only when Slack refuses it for good."""
        try:
            await courier.post(channel_id, {"text": text}, thread_ts=ts)
        except BotError as exc:
            if exc.retryable:
                raise
            logger.warning("could not add a line to the thread of card %s: %s", ts, exc.details)
