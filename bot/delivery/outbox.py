"""The outbox: notifications are delivered in order per lane (one bot token and channel), paced within Slack's
limits, retried through 429s, 5xx and outages. A notification is written to the store before its dispatch is
answered unless it was already delivered by then (the common, fast case), so every dispatch answered OK is
delivered, and a quiet channel costs no outbox write at all.

It also carries each alert's living card: the first notification posts it, later ones update it (and add a line
to its thread), and an acknowledgement from a click is recorded on it. Items survive a crash: on start every
undelivered item is picked up again. A dispatch waits for its own item only a few seconds (see DispatchService).

A lane is one asyncio task that never dies of an error: Slack failures are retried or recorded against the item,
store failures (``StoreError``) are retried with backoff without sending anything twice, and a lane idle for
``LANE_IDLE_SECONDS`` ends and is forgotten, so memory follows the channels in use, not every channel ever seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot import metrics
from bot.button_keys import ButtonKeys
from bot.core.cards import CardState, CardStatus
from bot.core.compact import compact_message
from bot.core.errors import BotError, ErrorCode
from bot.core.lifecycle import CardAction, acknowledged_line, alert_keys, next_transition, phase_of
from bot.core.models import DispatchRequest, Message, NotificationType
from bot.core.sealed import SealError, fingerprint, seal, unseal
from bot.delivery.pacer import Pacer
from bot.slack.card_builder import build_card
from bot.slack.web_api import Posted, SlackSender
from bot.store import CardRecord, OutboxItem, Store, StoreError

logger = logging.getLogger(__name__)
T = TypeVar("T")

KIND_DISPATCH = "dispatch"
KIND_NOTE = "note"
MAX_BACKOFF_SECONDS = 30.0
# An item still undeliverable after this long is given up on, with its reason recorded.
MAX_ITEM_AGE_SECONDS = 24 * 3600
MAX_REMEMBERED_CHANNELS = 10_000
# A lane with nothing to send for this long ends; the next notification to its channel starts a new one. Longer
# than any pacing state worth keeping (a full burst refills in 3 s; a Retry-After pause keeps the lane alive).
LANE_IDLE_SECONDS = 60.0
# How long a dispatch keeps trying to write its notification down (store locked or failing) before it answers
# ERROR_STORE_UNAVAILABLE: well inside Cloudforet's patience, long enough for a brief lock to pass.
PERSIST_DEADLINE_SECONDS = 3.0
STORE_RETRY_SECONDS = 0.1
MAX_STORE_RETRY_SECONDS = 5.0


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

    @property
    def label(self) -> str:
        """The lane's channel, for logs (the key's bot part is a token fingerprint, never the token)."""
        return self.key.partition(":")[2]


@dataclass(frozen=True)
class Submission:
    job: Job
    future: asyncio.Future[None]
    eta: float  # rough seconds until this item's turn comes


def lane_key(token: str, target: str) -> str:
    return f"{fingerprint(token)}:{target}"


def lane_label(key: str) -> str:
    return key.partition(":")[2]


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
                 update_rate: float, update_burst: int, lane_idle_seconds: float = LANE_IDLE_SECONDS) -> None:
        self._store = store
        self._sender = sender
        self._keys = keys
        self._post_rate, self._post_burst = post_rate, post_burst
        self._update_rate, self._update_burst = update_rate, update_burst
        self._lane_idle_seconds = lane_idle_seconds
        self._lanes: dict[str, Lane] = {}
        self._update_pacers: OrderedDict[str, Pacer] = OrderedDict()
        self._stopping = False
        self._sealed_tokens: OrderedDict[str, str] = OrderedDict()
        self._recent: OrderedDict[str, float] = OrderedDict()  # dispatch digest -> when last seen (monotonic)
        # channel ID -> the bot token that last posted there (memory only), for user-group look-ups on clicks
        self.channel_tokens: OrderedDict[str, str] = OrderedDict()

    # -- accepting work ------------------------------------------------------------------------------------------

    def _seal_token(self, token: str) -> str:
        sealed = self._sealed_tokens.get(token)
        if sealed is None:
            sealed = self._sealed_tokens[token] = seal({"t": token}, self._keys.sealing_key)
            if len(self._sealed_tokens) > MAX_REMEMBERED_CHANNELS:
                self._sealed_tokens.popitem(last=False)
        return sealed

    def _open_token(self, sealed: str) -> str:
        return str(unseal(sealed, self._keys.opening_keys)["t"])

    def _lane(self, key: str) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(key, Pacer(self._post_rate, self._post_burst))
        if lane.task is None or lane.task.done():  # new, or (a bug) ended without being forgotten
            lane.task = asyncio.get_running_loop().create_task(self._run(lane), name=f"lane {lane.label}")
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
        kept, cut = compact_message(request.message)  # what the card can show, not the whole request
        body = {"target": target, "message": kept, "notification_type": request.notification_type.value}
        item = OutboxItem(0, lane_key(token, target), KIND_DISPATCH, body, self._seal_token(token), time.time())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        parsed = None if cut else (request.message, request.notification_type)
        job = Job(item, token, future, parsed=parsed, digest=digest)
        eta = self._push(job)
        metrics.inc("chatops_outbox_accepted_total")
        return Submission(job, future, eta)

    async def persist(self, job: Job) -> None:
        """Write a queued job to the store (before its dispatch is answered), unless it is already delivered.

        Retries a failing store for up to ``PERSIST_DEADLINE_SECONDS``, then raises ``ERROR_STORE_UNAVAILABLE``
        (the job stays queued in memory and is still delivered if this process lives).
        """
        deadline = time.monotonic() + PERSIST_DEADLINE_SECONDS
        delay = STORE_RETRY_SECONDS
        while not (job.item.id or job.delivered):
            item = job.item
            try:
                item.id = self._store.enqueue(lane=item.lane, kind=item.kind, body=item.body, token=item.token,
                                              now=item.created_at)
            except StoreError as exc:
                if time.monotonic() + delay > deadline:
                    logger.error("could not write a notification to the outbox: %s", exc)
                    raise BotError(ErrorCode.STORE_UNAVAILABLE, "the plugin's store cannot be written just now, so "
                                   "the notification could not be queued safely; it is still being tried") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            metrics.inc("chatops_outbox_persisted_total")

    async def start(self) -> None:
        """Pick up everything a previous run accepted but did not deliver."""
        resumed = 0
        for item in self._store.pending():
            try:
                token = self._open_token(item.token)
            except SealError:
                self._store.failed(item.id, error="the bot token cannot be opened with the current keys "
                                   "(BOT_BUTTON_KEY or the signing secret changed)", now=time.time())
                continue
            self._push(Job(item, token))
            resumed += 1
        if resumed:
            logger.info("resuming delivery of %d accepted notification(s) from the outbox", resumed)

    def rewrite_queued(self) -> int:
        """Write every queued item that was in the store into it again (after its file vanished); return how many.

        Items not yet written (their dispatch is still waiting) are written by ``persist`` as usual.
        """
        written = 0
        for lane in self._lanes.values():
            for job in lane.jobs:
                if job.item.id and not job.delivered:
                    item = job.item
                    item.id = self._store.enqueue(lane=item.lane, kind=item.kind, body=item.body, token=item.token,
                                                  now=item.created_at)
                    written += 1
        return written

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
        body = {"target": record.target, "channel_id": record.channel_id, "ts": record.ts,
                "text": acknowledged_line(actor_name, at)}
        key = lane_key(token, record.target)
        with self._store.transaction():
            self._store.save_card(record)
            item_id = self._store.enqueue(lane=key, kind=KIND_NOTE, body=body, token=record.token, now=time.time())
        self._push(Job(OutboxItem(item_id, key, KIND_NOTE, body, record.token, time.time()), token))

    # -- delivering ----------------------------------------------------------------------------------------------

    def _update_pacer(self, token: str) -> Pacer:
        key = fingerprint(token)
        pacer = self._update_pacers.get(key)
        if pacer is None:
            pacer = self._update_pacers[key] = Pacer(self._update_rate, self._update_burst)
            if len(self._update_pacers) > MAX_REMEMBERED_CHANNELS:
                self._update_pacers.popitem(last=False)
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

    async def _thread_line(self, lane: Lane, token: str, channel_id: str, ts: str, text: str) -> None:
        try:
            await self._post(lane, token, channel_id, {"text": text}, thread_ts=ts)
        except BotError as exc:
            if exc.retryable:
                raise
            logger.warning("could not add a line to the thread of card %s: %s", ts, exc.details)

    async def _settle(self, write: Callable[[], T]) -> T:
        """Run the store writes that follow a Slack call until they succeed: what Slack already has is never sent
        again because the store was briefly unavailable."""
        delay = STORE_RETRY_SECONDS
        while True:
            try:
                return write()
            except StoreError as exc:
                logger.warning("the store failed after a Slack call; retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_STORE_RETRY_SECONDS)

    async def _deliver(self, lane: Lane, job: Job) -> None:
        item, token = job.item, job.token
        if item.kind == KIND_NOTE:
            await self._thread_line(lane, token, item.body["channel_id"], item.body["ts"], item.body["text"])
            await self._settle(lambda: self._done(job))
            return

        target = item.body["target"]
        message, kind = job.parsed or (Message.from_struct(item.body["message"]),
                                       NotificationType(item.body["notification_type"]))
        job.parsed = None  # the lane keeps nothing it no longer needs
        keys = alert_keys(message)
        bot = fingerprint(token)
        record = self._store.find_card(bot, target, keys) if keys else None  # StoreError: retried, nothing sent
        now = datetime.now(UTC)
        transition = next_transition(state_of(record) if record else None, phase_of(message, kind), message, now)
        if record is None or transition.action is CardAction.POST:
            card = build_card(message, kind, self._keys, transition.state)
            if card.truncated:
                logger.info("card shortened to fit Slack: %s", "; ".join(card.truncated))
            posted = await self._post(lane, token, target, card.payload())
            new = self._new_record(bot, target, posted, transition.state, item.token)

            def save_new() -> None:
                with self._store.transaction():
                    if keys:
                        self._store.save_card(new, keys)
                    self._done(job)

            await self._settle(save_new)
            return
        if transition.action is CardAction.IGNORE:
            logger.info("ignored a late notification for resolved alert card %s", record.ts)
            await self._settle(lambda: self._done(job))
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
                await self._thread_line(lane, token, record.channel_id, record.ts, transition.thread_line)
        state = transition.state
        record.status, record.notified, record.updated_at = state.status.value, state.notified, time.time()
        record.resolved_at = state.resolved_at.timestamp() if state.resolved_at else None

        def save_update() -> None:
            with self._store.transaction():
                self._store.save_card(record, keys)
                self._done(job)

        await self._settle(save_update)

    def _done(self, job: Job) -> None:
        job.delivered = True
        if job.item.id:
            self._store.delivered(job.item.id)

    @staticmethod
    def _new_record(bot: str, target: str, posted: Posted, state: CardState, sealed_token: str) -> CardRecord:
        return CardRecord(bot=bot, channel_id=posted.channel_id, ts=posted.ts, target=target,
                          status=state.status.value, notified=state.notified, token=sealed_token,
                          resolved_at=state.resolved_at.timestamp() if state.resolved_at else None,
                          updated_at=time.time())

    async def _run(self, lane: Lane) -> None:
        try:
            while True:
                if not lane.jobs:
                    if self._stopping:
                        return
                    lane.wake.clear()
                    try:
                        async with asyncio.timeout(self._lane_idle_seconds):
                            await lane.wake.wait()
                    except TimeoutError:
                        if not lane.jobs and lane.pacer.wait_time() == 0:
                            return  # idle: forgotten below, made anew by the next notification
                    continue
                await self._step(lane)
        finally:
            if self._lanes.get(lane.key) is lane and not lane.jobs:
                del self._lanes[lane.key]

    async def _step(self, lane: Lane) -> None:
        """Deliver the lane's first job, or schedule its retry; never raises (but for cancellation)."""
        job = lane.jobs[0]
        try:
            await self._deliver(lane, job)
        except asyncio.CancelledError:
            raise
        except StoreError as exc:  # before anything was sent: try the same job again shortly
            logger.warning("delivery to %s waits for the store: %s", lane.label, exc)
            await self._back_off(lane, job)
            return
        except BotError as exc:
            if exc.retryable and time.time() - job.item.created_at < MAX_ITEM_AGE_SECONDS:
                metrics.inc("chatops_outbox_retries_total")
                if exc.retry_after is None:  # 5xx, timeout, connection: back off; a 429 paused the pacer
                    logger.warning("delivery to %s will be retried: %s", lane.label, exc.details)
                    await self._back_off(lane, job)
                else:
                    self._count_attempt(job)
                return
            await self._fail(job, exc)
        except Exception as exc:  # a bug: record it against the item, keep the lane going
            logger.error("delivery failed unexpectedly: %s", type(exc).__name__, exc_info=exc)
            await self._fail(job, BotError(ErrorCode.INTERNAL, f"unexpected failure ({type(exc).__name__})"))
        else:
            lane.backoff_until = 0.0
            metrics.inc("chatops_outbox_delivered_total")
            if job.future is not None and not job.future.done():
                job.future.set_result(None)
        lane.jobs.popleft()

    def _count_attempt(self, job: Job) -> None:
        job.item.attempts += 1
        if job.item.id:
            with contextlib.suppress(StoreError):  # only a counter; the retry goes ahead regardless
                self._store.record_attempt(job.item.id)

    async def _back_off(self, lane: Lane, job: Job) -> None:
        self._count_attempt(job)
        backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(job.item.attempts - 1, 10))
        lane.backoff_until = time.monotonic() + backoff
        await asyncio.sleep(backoff)

    async def _fail(self, job: Job, exc: BotError) -> None:
        logger.warning("a notification to %s failed for good: %s", lane_label(job.item.lane), exc.details)
        metrics.inc("chatops_outbox_failed_total", code=exc.code.value)
        if job.digest is not None:  # once the cause is fixed, the same notification may be sent again at once
            self._recent.pop(job.digest, None)
        job.delivered = True  # settled: a dispatch still waiting must not write it down as pending

        def record() -> None:
            item = job.item
            if not item.id:  # recorded with its reason, even when its dispatch never had to wait for it
                item.id = self._store.enqueue(lane=item.lane, kind=item.kind, body=item.body, token=item.token,
                                              now=item.created_at)
            self._store.failed(item.id, error=exc.details, now=time.time())

        await self._settle(record)
        if job.future is not None and not job.future.done():
            job.future.set_exception(exc)

    def backlog(self) -> int:
        return sum(len(lane.jobs) for lane in self._lanes.values())

    def lane_count(self) -> int:
        return len(self._lanes)

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
