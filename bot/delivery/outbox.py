"""The outbox: notifications are delivered in order per lane (one bot token and channel), paced within Slack's
limits, retried through 429s, 5xx and outages. A notification is written to the store before its dispatch is
answered unless it was already delivered by then (the common, fast case), so every dispatch answered OK is
delivered, and a quiet channel costs no outbox write at all.

It also carries each alert's living card: the first notification posts it, later ones update it (and add a line
to its thread), and an acknowledgement from a click is recorded on it. Items survive a crash: on start every
undelivered item is picked up again. A dispatch waits for its own item only a few seconds (see DispatchService).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict, deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import metrics
from bot.button_keys import ButtonKeys
from bot.card_builder import build_card
from bot.core.cards import CardState, CardStatus
from bot.core.errors import BotError, ErrorCode
from bot.core.lifecycle import CardAction, acknowledged_line, alert_key, next_transition, phase_of
from bot.core.models import DispatchRequest, Message, NotificationType
from bot.core.sealed import SealError, seal, unseal
from bot.delivery.pacer import Pacer
from bot.slack_sender import Posted, SlackSender
from bot.store import CardRecord, OutboxItem, Store

logger = logging.getLogger(__name__)

KIND_DISPATCH = "dispatch"
KIND_NOTE = "note"
MAX_BACKOFF_SECONDS = 30.0
# An item still undeliverable after this long is given up on, with its reason recorded.
MAX_ITEM_AGE_SECONDS = 24 * 3600
MAX_REMEMBERED_CHANNELS = 10_000


@dataclass
class Job:
    item: OutboxItem  # item.id is 0 until the job is written to the store
    token: str
    future: asyncio.Future[None] | None = None
    parsed: tuple[Message, NotificationType] | None = None  # saves parsing again when known
    delivered: bool = False
    digest: str | None = None  # for repeat suppression


@dataclass
class Lane:
    key: str
    pacer: Pacer
    jobs: deque[Job] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    backoff_until: float = 0.0  # monotonic time of the next try after a transient failure (outage)


@dataclass(frozen=True)
class Submission:
    job: Job
    future: asyncio.Future[None]
    eta: float  # rough seconds until this item's turn comes


def lane_key(token: str, target: str) -> str:
    return f"{hashlib.sha256(token.encode()).hexdigest()[:16]}:{target}"


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def state_of(record: CardRecord) -> CardState:
    return CardState(status=CardStatus(record.status), actor=record.actor, acted_at=_timestamp(record.acted_at),
                     action_label="Acknowledged" if record.actor else None, notified=record.notified,
                     resolved_at=_timestamp(record.resolved_at))


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # nobody may be waiting any more; do not warn about it


class Outbox:
    def __init__(self, store: Store, sender: SlackSender, keys: ButtonKeys, *, post_rate: float, post_burst: int,
                 update_rate: float, update_burst: int) -> None:
        self._store = store
        self._sender = sender
        self._keys = keys
        self._post_rate, self._post_burst = post_rate, post_burst
        self._update_rate, self._update_burst = update_rate, update_burst
        self._lanes: dict[str, Lane] = {}
        self._update_pacers: dict[str, Pacer] = {}
        self._stopping = False
        self._sealed_tokens: dict[str, str] = {}
        self._recent: OrderedDict[str, float] = OrderedDict()  # dispatch digest -> when last seen (monotonic)
        # channel ID -> the bot token that last posted there (memory only), for user-group look-ups on clicks
        self.channel_tokens: OrderedDict[str, str] = OrderedDict()

    # -- accepting work ------------------------------------------------------------------------------------------

    def _seal_token(self, token: str) -> str:
        sealed = self._sealed_tokens.get(token)
        if sealed is None:
            sealed = self._sealed_tokens[token] = seal({"t": token}, self._keys.sealing_key)
            if len(self._sealed_tokens) > MAX_REMEMBERED_CHANNELS:
                self._sealed_tokens.pop(next(iter(self._sealed_tokens)))
        return sealed

    def _open_token(self, sealed: str) -> str:
        return str(unseal(sealed, self._keys.opening_keys)["t"])

    def _lane(self, key: str) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(key, Pacer(self._post_rate, self._post_burst))
            lane.task = asyncio.get_running_loop().create_task(self._run(lane), name=f"lane {key[17:]}")
        return lane

    def _push(self, job: Job) -> float:
        lane = self._lane(job.item.lane)
        eta = lane.pacer.eta(len(lane.jobs)) + max(0.0, lane.backoff_until - time.monotonic())
        lane.jobs.append(job)
        lane.wake.set()
        return eta

    def _is_repeat(self, digest: str, window: float) -> bool:
        now = time.monotonic()
        while self._recent and next(iter(self._recent.values())) < now - window:
            self._recent.popitem(last=False)
        seen = digest in self._recent and self._recent[digest] >= now - window
        self._recent[digest] = now
        self._recent.move_to_end(digest)
        return seen

    def submit(self, request: DispatchRequest, *, digest: str | None, window: float) -> Submission | None:
        """Queue a dispatch for delivery (in memory: see ``persist``); None when it repeats one seen within
        ``window`` seconds (a retry from Cloudforet)."""
        if digest is not None and window > 0 and self._is_repeat(digest, window):
            return None
        token = request.channel.token.get_secret_value()
        target = request.channel.target
        body = {"target": target, "message": request.raw_message,
                "notification_type": request.notification_type.value}
        item = OutboxItem(0, lane_key(token, target), KIND_DISPATCH, body, self._seal_token(token), time.time())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        job = Job(item, token, future, parsed=(request.message, request.notification_type), digest=digest)
        eta = self._push(job)
        metrics.inc("chatops_outbox_accepted_total")
        return Submission(job, future, eta)

    def persist(self, job: Job) -> None:
        """Write a queued job to the store (before its dispatch is answered), unless it is already delivered."""
        if job.item.id or job.delivered:
            return
        item = job.item
        item.id = self._store.enqueue(lane=item.lane, kind=item.kind, body=item.body, token=item.token,
                                      now=item.created_at)
        metrics.inc("chatops_outbox_persisted_total")

    async def start(self) -> None:
        """Pick up everything a previous run accepted but did not deliver."""
        resumed = 0
        for item in self._store.pending():
            try:
                token = self._open_token(item.token)
            except SealError:
                self._store.finish(item.id, state="failed", error="the bot token cannot be opened with the current "
                                   "keys (BOT_BUTTON_KEY or the signing secret changed)", now=time.time())
                continue
            self._push(Job(item, token))
            resumed += 1
        if resumed:
            logger.info("resuming delivery of %d accepted notification(s) from the outbox", resumed)

    # -- cards and clicks ----------------------------------------------------------------------------------------

    def card_status(self, channel_id: str, ts: str) -> str | None:
        record = self._store.card_by_message(channel_id, ts)
        return record.status if record else None

    def record_ack(self, channel_id: str, ts: str, *, actor: str, actor_name: str, at: datetime) -> None:
        """A click acknowledged the alert behind this card: remember it, and add a line to the card's thread."""
        record = self._store.card_by_message(channel_id, ts)
        if record is None or record.status == CardStatus.RESOLVED.value:
            return
        record.status, record.actor, record.actor_name = CardStatus.ACKNOWLEDGED.value, actor, actor_name
        record.acted_at, record.updated_at = at.timestamp(), time.time()
        try:
            token = self._open_token(record.token)
        except SealError:
            self._store.save_card(record)
            return
        body = {"target": record.target, "alert_key": record.alert_key, "text": acknowledged_line(actor_name, at)}
        key = lane_key(token, record.target)
        with self._store.transaction():
            self._store.save_card(record)
            item_id = self._store.enqueue(lane=key, kind=KIND_NOTE, body=body, token=record.token, now=time.time())
        self._push(Job(OutboxItem(item_id, key, KIND_NOTE, body, record.token, time.time()), token))

    # -- delivering ----------------------------------------------------------------------------------------------

    def _update_pacer(self, token: str) -> Pacer:
        key = hashlib.sha256(token.encode()).hexdigest()[:16]
        pacer = self._update_pacers.get(key)
        if pacer is None:
            pacer = self._update_pacers[key] = Pacer(self._update_rate, self._update_burst)
        return pacer

    @staticmethod
    async def _paced(pacer: Pacer, call: Any) -> Any:
        await pacer.acquire()
        try:
            return await call()
        except BotError as exc:
            if exc.retry_after is not None:
                pacer.pause(exc.retry_after)  # Slack said 429: honour its Retry-After for everything behind
                metrics.inc("chatops_slack_rate_limited_total")
            raise

    async def _post(self, lane: Lane, token: str, channel: str, payload: dict[str, Any],
                    thread_ts: str | None = None) -> Posted:
        posted: Posted = await self._paced(lane.pacer, lambda: self._sender.post(token, channel, payload,
                                                                                  thread_ts=thread_ts))
        self.channel_tokens[posted.channel_id] = token
        self.channel_tokens.move_to_end(posted.channel_id)
        if len(self.channel_tokens) > MAX_REMEMBERED_CHANNELS:
            self.channel_tokens.popitem(last=False)
        return posted

    async def _thread_line(self, lane: Lane, token: str, record: CardRecord, text: str) -> None:
        try:
            await self._post(lane, token, record.channel_id, {"text": text}, thread_ts=record.ts)
        except BotError as exc:
            if exc.retryable:
                raise
            logger.warning("could not add a line to the thread of card %s: %s", record.ts, exc.details)

    async def _deliver(self, lane: Lane, job: Job) -> None:
        item, token = job.item, job.token
        if item.kind == KIND_NOTE:
            record = self._store.card(item.body["target"], item.body["alert_key"])
            if record is not None:
                await self._thread_line(lane, token, record, item.body["text"])
            self._done(job)
            return

        target = item.body["target"]
        message, kind = job.parsed or (Message.from_struct(item.body["message"]),
                                       NotificationType(item.body["notification_type"]))
        key = alert_key(message)
        record = self._store.card(target, key) if key else None
        now = datetime.now(UTC)
        transition = next_transition(state_of(record) if record else None, phase_of(message, kind), message, now)
        if key is None or record is None or transition.action is CardAction.POST:
            card = build_card(message, kind, self._keys, transition.state)
            if card.truncated:
                logger.info("card shortened to fit Slack: %s", "; ".join(card.truncated))
            posted = await self._post(lane, token, target, card.payload())
            with self._store.transaction() if job.item.id else nullcontext():
                if key is not None:
                    self._store.save_card(self._new_record(target, key, posted, transition.state, item.token))
                self._done(job)
            return
        if transition.action is CardAction.IGNORE:
            logger.info("ignored a late notification for resolved alert card %s", record.ts)
            self._done(job)
            return

        card = build_card(message, kind, self._keys, transition.state)
        try:
            await self._paced(self._update_pacer(token), lambda: self._sender.update(
                token, record.channel_id, record.ts, card.payload()))
        except BotError as exc:
            if exc.code is not ErrorCode.SLACK_MESSAGE_NOT_FOUND:
                raise
            logger.info("card %s was deleted in Slack; posting a new one", record.ts)
            posted = await self._post(lane, token, target, card.payload())
            record.channel_id, record.ts = posted.channel_id, posted.ts
        else:
            if transition.thread_line:
                await self._thread_line(lane, token, record, transition.thread_line)
        state = transition.state
        record.status, record.notified, record.updated_at = state.status.value, state.notified, time.time()
        record.resolved_at = state.resolved_at.timestamp() if state.resolved_at else None
        with self._store.transaction() if job.item.id else nullcontext():
            self._store.save_card(record)
            self._done(job)

    def _done(self, job: Job) -> None:
        job.delivered = True
        if job.item.id:
            self._store.finish(job.item.id, state="done", now=time.time())

    @staticmethod
    def _new_record(target: str, key: str, posted: Posted, state: CardState, sealed_token: str) -> CardRecord:
        return CardRecord(target=target, alert_key=key, channel_id=posted.channel_id, ts=posted.ts,
                          status=state.status.value, notified=state.notified, token=sealed_token,
                          resolved_at=state.resolved_at.timestamp() if state.resolved_at else None,
                          updated_at=time.time())

    async def _run(self, lane: Lane) -> None:
        while True:
            if not lane.jobs:
                if self._stopping:
                    return
                lane.wake.clear()
                await lane.wake.wait()
                continue
            job = lane.jobs[0]
            try:
                await self._deliver(lane, job)
            except BotError as exc:
                if exc.retryable and time.time() - job.item.created_at < MAX_ITEM_AGE_SECONDS:
                    job.item.attempts += 1
                    if job.item.id:
                        self._store.record_attempt(job.item.id)
                    metrics.inc("chatops_outbox_retries_total")
                    if exc.retry_after is None:  # 5xx, timeout, connection: back off; a 429 paused the pacer
                        backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(job.item.attempts - 1, 10))
                        logger.warning("delivery to %s will be retried in %.1f s: %s", lane.key[17:], backoff,
                                       exc.details)
                        lane.backoff_until = time.monotonic() + backoff
                        await asyncio.sleep(backoff)
                    continue
                self._fail(job, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: record it against the item, keep the lane going
                logger.error("delivery failed unexpectedly: %s", type(exc).__name__, exc_info=exc)
                self._fail(job, BotError(ErrorCode.INTERNAL, f"unexpected failure ({type(exc).__name__})"))
            else:
                lane.backoff_until = 0.0
                metrics.inc("chatops_outbox_delivered_total")
                if job.future is not None and not job.future.done():
                    job.future.set_result(None)
            lane.jobs.popleft()

    def _fail(self, job: Job, exc: BotError) -> None:
        logger.warning("a notification to %s failed for good: %s", job.item.lane[17:], exc.details)
        metrics.inc("chatops_outbox_failed_total", code=exc.code.value)
        self.persist(job)  # recorded with its reason, even when its dispatch is still waiting to hear
        job.delivered = True
        if job.digest is not None:  # once the cause is fixed, the same notification may be sent again at once
            self._recent.pop(job.digest, None)
        self._store.finish(job.item.id, state="failed", error=exc.details, now=time.time())
        if job.future is not None and not job.future.done():
            job.future.set_exception(exc)

    def backlog(self) -> int:
        return sum(len(lane.jobs) for lane in self._lanes.values())

    async def drain(self, seconds: float) -> None:
        """Deliver what is queued, for up to ``seconds``; what is left stays in the outbox for next time."""
        self._stopping = True
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for lane in self._lanes.values():
            lane.wake.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                logger.warning("stopped with %d notification(s) still in the outbox; they go out on next start",
                               self.backlog())
