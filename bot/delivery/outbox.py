"""The outbox: notifications are delivered in order per lane (one bot token and channel), paced within Slack's
limits, retried through 429s, 5xx and outages, so that every dispatch answered OK is delivered.

One algorithm, for one process and for replicas alike: each lane is delivered by the one process holding its lease
(``bot.delivery.leases``), in the store's order, and a heartbeat keeps the leases while the lanes work; before each
Slack call the lane passes the fencing check. On a store of one process (``OutboxQueue.shared`` false) every
lease is this process's and every check passes at once without I/O, so the same code runs with nothing to wait
for. Two policies follow ``shared``: on a shared store every item is written down before it is queued (whichever
replica holds its lane delivers it; a dispatch that reaches another replica waits for it there, told by the
store's events), while one process writes an item down only when its dispatch must wait for it (the common, fast
case costs no outbox write at all); and the ``chat.update`` budget lives in the store for replicas, in memory for
one process. A replica that dies stops extending its leases and the others take its lanes over
(``TAKEOVER_SECONDS``); on start, every lane with items in the store is picked up the same way.

What an item does in Slack is the card keeper's business (``bot.delivery.cards``): the outbox hands it each item
in turn with a ``Courier`` that paces and fences its calls; tokens are sealed for the store by the token vault
(``bot.delivery.tokens``). A dispatch waits for its own item only a few seconds (see DispatchService).

A lane is one asyncio task that never dies of an error: Slack failures are retried or recorded against the item,
store failures (``StoreError``) are retried with the one back-off (``bot.core.backoff``) without sending anything
twice, and a lane idle for ``LANE_IDLE_SECONDS`` ends and is forgotten, so memory follows the channels in use. The
engine reads time only from its ``Clock`` and reaches Slack only through its ``SlackPort``, so the unit suite runs
it on virtual time (``tests/unit/delivery/test_engine.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot import metrics, tracing
from bot.core.backoff import Backoff
from bot.core.errors import BotError, ErrorCode
from bot.core.models import DispatchRequest
from bot.core.sealed import SealError, fingerprint
from bot.delivery.cards import CardKeeper, Parsed, StoreWrite, dispatch_body
from bot.delivery.clock import Clock, LoopClock
from bot.delivery.leases import RENEW_EVERY_SECONDS, SENDING_GRACE_SECONDS, Leases
from bot.delivery.pacer import Pacer, SharedPacer
from bot.delivery.tokens import TokenVault
from bot.ports.slack import Posted, SlackPort
from bot.ports.store import (
    CardQuery,
    CardRecord,
    DeliveryStore,
    EventKind,
    FoundCard,
    ItemKind,
    ItemState,
    OutboxEvent,
    OutboxItem,
    SendGrant,
    SendOutcome,
    StoreError,
    strongest_card,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Backoff after a transient failure (5xx, timeout, outage): from half a second (a blip), doubling per attempt up to
# half a minute (an outage: Slack's status page counts them in minutes, and a lane checks back twice a minute).
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# An item still undeliverable after this long is given up on, with its reason recorded.
MAX_ITEM_AGE_SECONDS = 24 * 3600
# Bots whose chat.update pacing is remembered at most (oldest forgotten first); far more than a deployment's bots.
MAX_REMEMBERED_BOTS = 10_000
# A lane with nothing to send for this long ends; the next notification to its channel starts a new one. Longer
# than any pacing state worth keeping (a full burst refills in 3 s; a Retry-After pause keeps the lane alive).
LANE_IDLE_SECONDS = 60.0
# How long a dispatch keeps trying to write its notification down (store locked or failing) before it answers
# ERROR_STORE_UNAVAILABLE: well inside Cloudforet's patience, long enough for a brief lock to pass.
PERSIST_DEADLINE_SECONDS = 3.0
# Retrying a failing store: from a tenth of a second (a brief lock) doubling up to a few seconds (a full disk).
STORE_RETRY_SECONDS = 0.1
MAX_PERSIST_RETRY_SECONDS = 1.0  # within PERSIST_DEADLINE_SECONDS: a few tries
MAX_STORE_RETRY_SECONDS = 5.0
# Recording what Slack already has is retried faster: the lane's sending mark stands until it is recorded, and
# another replica that takes the lane over waits for it (leases.SENDING_GRACE_SECONDS) before sending again.
MAX_SETTLE_RETRY_SECONDS = 1.0
# Turns of the event loop a lane gives a dispatch answered once Slack has its item, before recording the item: the
# dispatch's wait (a shielded future: its callback, then its task) and its gRPC answer handed on. Measured: the
# record's work run first (a store script's arguments and call; a card's JSON) held the answer ~0.2 ms on Redis.
ANSWER_TURNS = 3
# The one back-off rule (bot.core.backoff) for each kind of retry above.
DELIVERY_BACKOFF = Backoff(FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS)
PERSIST_BACKOFF = Backoff(STORE_RETRY_SECONDS, MAX_PERSIST_RETRY_SECONDS)
SETTLE_BACKOFF = Backoff(STORE_RETRY_SECONDS, MAX_SETTLE_RETRY_SECONDS)
EVENTS_BACKOFF = Backoff(STORE_RETRY_SECONDS, MAX_STORE_RETRY_SECONDS)
# The store counts as down (degraded mode) once it has failed for this long without a success in between: then a
# notification never written down is looked up without its card (a new card) and its card kept in memory until the
# store takes it, so Slack still gets it. Longer than SQLite's busy wait (0.2 s), so a brief lock is waited out.
DEGRADED_AFTER_SECONDS = 0.5
# Cards posted while the store was down and not yet written to it, at most (oldest forgotten first).
MAX_UNRECORDED_CARDS = 10_000
UNREADABLE_TOKEN = "the bot token cannot be opened with the current keys (BOT_BUTTON_KEY or the signing secret changed)"
# Shared store: replicas learn of items queued and settled elsewhere from the store's events (``Store.events``), at
# once; these looks at the store only catch what a broken event stream missed. A lane checks for items written down
# elsewhere this often, busy or idle; a dispatch written down for another replica's lane checks its item this often;
# each replica looks for lanes nobody delivers (a dead replica's) this often.
LANE_SYNC_SECONDS = 1.0
WATCH_POLL_SECONDS = 1.0
TAKEOVER_SECONDS = 1.0
# Shared store: the ids of items this replica wrote down lately, remembered so that the store's event announcing one
# (which may arrive after the item was delivered) does not send its lane to look at the store. Events arrive within
# milliseconds of the write; this many covers far more than any burst written meanwhile.
MAX_OWN_IDS = 1024
# A lane whose head item another replica may still be sending looks again this often (see leases.SENDING_GRACE).
BUSY_POLL_SECONDS = 0.25
# A lane whose lease is unconfirmed (the store did not answer the heartbeat) waits this long between looks.
UNCONFIRMED_POLL_SECONDS = 0.1
# An item whose bot token no key opens yet waits this long for the replica that sealed it to share its key (after
# the store lost the shared key, each replica puts its own back within HOUSEKEEPING_SECONDS): then it fails.
KEY_WAIT_SECONDS = 30.0


@dataclass
class Job:
    item: OutboxItem  # item.id is 0 until the job is written to the store
    token: str | None  # None: no key this process holds opens the item's sealed token (yet)
    target: str  # the channel as configured (name or ID): the lane's label
    future: asyncio.Future[None] | None = None
    parsed: Parsed | None = None  # saves parsing again when known
    delivered: bool = False
    digest: str | None = None  # for repeat suppression
    begun: bool = False  # this attempt passed the store's fencing check (shared store)
    unreadable_since: float = 0.0  # monotonic time its token was first found unreadable
    direct: asyncio.Task[None] | None = None  # degraded mode: its delivery straight to Slack (never written down)
    calling: bool = False  # degraded mode: its Slack call is under way
    answered: bool = False  # Slack has it all: its dispatch was told so (``Outbox._answer``), perhaps before settling
    # Shared store: its write passed the fencing check too (``Store.enqueue_sending``), with the card look-up asked
    # and what it found; good for its first attempt only, while the lane's sending mark still names it.
    granted: tuple[CardQuery | None, tuple[FoundCard, ...]] | None = None


class _Fenced(Exception):
    """A lane may not make its next Slack call (shared store); nothing of the item was sent in this attempt."""

    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


@dataclass
class Lane:
    key: str
    target: str
    pacer: Pacer
    jobs: deque[Job] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    backoff_until: float = 0.0  # monotonic time of the next try after a transient failure (outage)
    synced: float = 0.0  # shared store: monotonic time the lane last took in what other replicas wrote down
    lost: bool = False  # shared store: the lease went to another replica; the lane sends nothing more
    stepping: bool = False  # a delivery (maybe a Slack call) is under way
    resting: bool = False  # ... but only waiting to try its head job again (nothing of it is in flight)
    busy_mark: str = ""  # shared store: another replica's unsettled send this lane waits for, and since when
    busy_since: float = 0.0
    heard: set[int] = field(default_factory=set)  # shared store: items the store's events announced, to take in
    writing: int = 0  # shared store: this replica's writes of items of this lane under way (``Outbox._write``)
    marked: int = 0  # shared store: the item this replica last marked the lane as sending (0: none yet)

    @property
    def label(self) -> str:
        """The lane's channel as configured, for logs (its key's bot part is a token fingerprint, never the token)."""
        return self.target


@dataclass(frozen=True)
class Submission:
    job: Job
    future: asyncio.Future[None]
    eta: float  # rough seconds until this item's turn comes


def _kept(item: OutboxItem) -> dict[str, Any]:
    """What the store keeps of an item, as ``enqueue`` and ``enqueue_sending`` take it."""
    return {"lane": item.lane, "kind": item.kind, "body": item.body, "token": item.token, "now": item.created_at}


def lane_key(token: str, target: str) -> str:
    """The lane of a bot (by its token's fingerprint) and a channel (as configured); stored with each item."""
    return f"{fingerprint(token)}:{target}"


def lane_label(key: str) -> str:
    """The channel part of a lane key."""
    return key.partition(":")[2]


def _store_unavailable() -> BotError:
    return BotError(
        ErrorCode.STORE_UNAVAILABLE,
        "the plugin's store cannot be reached or written just now, so the notification could not be accepted safely",
    )


def error_from_details(details: str) -> BotError:
    """A failure recorded by another replica (its details ``ERROR_<CODE>: message``) as the coded error again."""
    code, _, message = details.partition(": ")
    try:
        return BotError(ErrorCode(code), message)
    except ValueError:  # recorded without a code (an older release): never a bare UNKNOWN for the caller
        code = ErrorCode.TOKEN_UNREADABLE if details == UNREADABLE_TOKEN else ErrorCode.INTERNAL
        return BotError(code, details)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # nobody may be waiting any more; do not warn about it


async def _paced(
    pacer: Pacer | SharedPacer, fence: Callable[[], Awaitable[str]], call: Callable[[str], Awaitable[T]]
) -> T:
    """Wait for the turn ``pacer`` gives, pass the ``fence`` (which names the token to send with), then ``call``."""
    await pacer.acquire()
    token = await fence()  # after the wait: the lane is marked as sending only once its call goes
    try:
        return await call(token)
    except BotError as exc:
        if exc.retry_after is not None:
            pacer.pause(exc.retry_after)  # Slack said 429: honour its Retry-After for everything behind
        raise


class _LaneCourier:
    """The card keeper's way to Slack for one job: posts paced in the job's lane, updates paced per bot."""

    __slots__ = ("_job", "_lane", "_outbox")

    def __init__(self, outbox: Outbox, lane: Lane, job: Job) -> None:
        self._outbox, self._lane, self._job = outbox, lane, job

    async def post(self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        return await self._outbox._post(self._lane, self._job, channel, payload, thread_ts)

    async def update(self, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        await self._outbox._update(self._lane, self._job, channel_id, ts, payload)

    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        query = CardQuery(bot, target, tuple(keys))
        return await self._outbox._degradable(self._job, self._outbox._find_card(self._lane, self._job, query))

    async def finish(self, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        await self._outbox._finish(self._job, card, keys)


class _DirectCourier:
    """Degraded mode on a shared store: a dispatch that could not be written down goes straight to Slack from the
    replica it reached (no lease: nobody can coordinate without the store), paced in this process, its card looked
    up only if the store answers, and kept in memory until the store takes it."""

    __slots__ = ("_job", "_outbox", "_pacer")

    def __init__(self, outbox: Outbox, job: Job, pacer: Pacer) -> None:
        self._outbox, self._job, self._pacer = outbox, job, pacer

    async def _call(self, call: Callable[[str], Awaitable[T]]) -> T:
        assert self._job.token is not None
        await self._pacer.acquire()
        self._job.calling = True
        try:
            return await call(self._job.token)
        except BotError as exc:
            if exc.retry_after is not None:
                self._pacer.pause(exc.retry_after)
            raise

    async def post(self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        sender, tokens = self._outbox._sender, self._outbox._tokens

        async def post(token: str) -> Posted:
            posted = await sender.post(token, channel, payload, thread_ts=thread_ts)
            tokens.posted_in(posted.channel_id, token)
            return posted

        return await self._call(post)

    async def update(self, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        sender = self._outbox._sender
        await self._call(lambda token: sender.update(token, channel_id, ts, payload))

    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        if self._outbox.degraded():  # known down: a hung store would cost the whole wait before the post
            metrics.DEGRADED_DELIVERIES.inc()
            return None
        return await self._outbox._degradable(self._job, self._outbox._store.find_card(bot, target, keys))

    async def finish(self, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        await self._outbox._done(self._job, card, keys)


class Outbox:
    def __init__(
        self,
        store: DeliveryStore,
        sender: SlackPort,
        cards: CardKeeper,
        tokens: TokenVault,
        *,
        post_rate: float,
        post_burst: int,
        update_rate: float,
        update_burst: int,
        lane_idle_seconds: float = LANE_IDLE_SECONDS,
        refresh_keys: Callable[[], Awaitable[None]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or LoopClock()
        self._store = store
        self._sender = sender
        self._cards = cards
        self._tokens = tokens
        self._post_rate, self._post_burst = post_rate, post_burst
        self._update_rate, self._update_burst = update_rate, update_burst
        self._lane_idle_seconds = lane_idle_seconds
        self._refresh_keys = refresh_keys  # asks the store for the button keys other replicas use
        self._lanes: dict[str, Lane] = {}
        self._update_pacers: OrderedDict[str, Pacer | SharedPacer] = OrderedDict()
        self._stopping = False
        # One algorithm for one process and for replicas: on a store of one process (``store.shared`` false) every
        # lease is this process's and every fencing check passes at once, without I/O; only two policies follow
        # ``shared``: whether an item is written down before it is queued (``submit``) and where budgets live.
        self._leases = Leases(store, clock=self._clock.monotonic)
        self._watched: dict[int, Job] = {}  # shared store: dispatches waiting here for an item another replica has
        self._own: OrderedDict[int, None] = OrderedDict()  # shared store: ids written here lately (MAX_OWN_IDS)
        self._taking: set[str] = set()  # shared store: lanes whose lease a write is taking now (``_write``)
        self._down_since: float | None = None  # monotonic time the store began failing (None: it answers)
        self._unrecorded: OrderedDict[tuple[str, str], tuple[CardRecord, tuple[str, ...]]] = OrderedDict()
        self._direct_pacers: OrderedDict[str, Pacer] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()
        cards.queue_notes_in(self)  # thread lines (acknowledgements) wait in their lane like any item

    # -- accepting work ------------------------------------------------------------------------------------------

    def _lane(self, key: str, target: str) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(
                key, target, Pacer(self._post_rate, self._post_burst, clock=self._clock.monotonic)
            )
        if lane.task is None or lane.task.done():  # new, or (a bug) ended without being forgotten
            lane.task = asyncio.get_running_loop().create_task(
                self._run(lane),
                name=f"lane {lane.label}",
                context=contextvars.Context(),  # no dispatch's trace
            )
        return lane

    def _push(self, job: Job) -> float:
        fresh = job.item.lane not in self._lanes
        lane = self._lane(job.item.lane, job.target)
        if fresh and job.granted is not None:
            # Its lease was taken with its write, the lane's only pending item then (``_write``): the lane is marked
            # as sending it, and nothing older is in the store to look for (what others write later is announced).
            lane.marked, lane.synced = job.item.id, self._clock.monotonic()
        eta = lane.pacer.eta(len(lane.jobs)) + max(0.0, lane.backoff_until - self._clock.monotonic())
        if job.item.id:
            for queued in lane.jobs:
                if queued.item.id == job.item.id:  # already taken in from the store: its dispatch waits for that one
                    queued.future = queued.future or job.future
                    queued.parsed = queued.parsed or job.parsed
                    return eta
        if lane.jobs and job.item.id and lane.jobs[-1].item.id > job.item.id:  # shared store: in the store's order
            position = next(i for i, queued in enumerate(lane.jobs) if queued.item.id > job.item.id)
            lane.jobs.insert(position, job)
        else:
            lane.jobs.append(job)
        lane.wake.set()
        return eta

    def _background_task(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def submit(self, request: DispatchRequest, *, digest: str | None, window: float) -> Submission | None:
        """Queue a dispatch for delivery (in memory: see ``persist``); None when it repeats one accepted within
        ``window`` seconds (a retry from Cloudforet, which may have reached another replica first)."""
        repeats = digest is not None and window > 0
        if repeats and not self._store.shared:
            assert digest is not None
            if await self._store.seen_recently(digest, window):  # one process's store: in memory, never fails
                return None
        token = request.channel.token.get_secret_value()
        target = request.channel.target
        body, parsed = dispatch_body(request)
        if digest is not None:
            body["digest"] = digest  # whoever fails it for good lets the same dispatch through again
        tracing.stamp(body)  # the dispatch's trace, carried with the item to its delivery
        item = OutboxItem(
            0, lane_key(token, target), ItemKind.DISPATCH, body, self._tokens.seal(token), self._clock.time()
        )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        job = Job(item, token, target, future, parsed=parsed, digest=digest)
        # Shared: written down first (a repeat told apart in the same step), for whichever replica holds the lane.
        # One process: written down only should its dispatch have to wait (``persist``), the common fast case.
        if self._store.shared:
            try:
                if not await self.persist(job, window=window if repeats else 0.0, begin=True):
                    return None
            except BotError as exc:
                if exc.code is not ErrorCode.STORE_UNAVAILABLE:
                    raise
                return self._deliver_direct(job, future)
        if await self._holds(item.lane):
            eta = self._push(job)
        else:
            self._watch(job, future)
            eta = 0.0
        return Submission(job, future, eta)

    async def _holds(self, lane: str) -> bool:
        """Whether this process delivers ``lane`` (taking its lease when nobody holds it)."""
        held = self._lanes.get(lane)
        if held is not None:
            return not held.lost and self._leases.known(lane)
        if self._leases.holds(lane):  # taken with its first item's write (``_write``)
            return True
        try:
            return await self._leases.take(lane)
        except StoreError as exc:
            logger.warning("could not take the lease of a lane: %s", exc)
            return False

    def _watch(self, job: Job, future: asyncio.Future[None]) -> None:
        """A dispatch written down for another replica to deliver: its outcome reaches its caller from the store's
        events (or the fallback look, ``_poll_watched``), until the caller stops waiting."""
        item_id = job.item.id
        self._watched[item_id] = job
        future.add_done_callback(lambda _: self._watched.pop(item_id, None))

    def _settled_elsewhere(self, item_id: int, state: tuple[ItemState, str] | None) -> None:
        job = self._watched.pop(item_id, None)
        if job is None or job.future is None or job.future.done():
            return
        if state is None:
            job.future.set_result(None)
        elif state[0] is ItemState.FAILED:
            job.future.set_exception(error_from_details(state[1]))
        else:
            self._watched[item_id] = job  # still pending

    def _wrote(self, item_id: int) -> int:
        """Remember an id this replica wrote down (its lane took it in already, or its holder is another)."""
        if self._store.shared and item_id > 0:
            self._own[item_id] = None
            if len(self._own) > MAX_OWN_IDS:
                self._own.popitem(last=False)
        return item_id

    def _on_event(self, event: OutboxEvent) -> None:
        if event.kind is EventKind.QUEUED and event.item_id in self._own:
            return  # written here: queued here when this replica holds its lane, nothing to take in
        if event.kind is not EventKind.QUEUED:  # settled: queued again later (an operator's retry) is news
            self._own.pop(event.item_id, None)
        if event.kind is EventKind.QUEUED:
            lane = self._lanes.get(event.detail)
            if lane is not None:  # ours: take it in now rather than at the next look (unless this replica queued it)
                lane.heard.add(event.item_id)
                lane.wake.set()
        elif event.kind is EventKind.DELIVERED:
            self._settled_elsewhere(event.item_id, None)
        else:
            self._settled_elsewhere(event.item_id, (ItemState.FAILED, event.detail))

    async def _listen(self) -> None:
        """Shared store: follow the store's events for as long as the outbox runs (resubscribing after a break)."""
        failures = 0
        while not self._stopping:
            try:
                async with contextlib.aclosing(self._store.events()) as events:
                    async for event in events:
                        failures = 0
                        self._on_event(event)
            except StoreError as exc:
                logger.warning("lost the store's events; looking at the store meanwhile: %s", exc)
            for lane in self._lanes.values():  # what the break may have hidden
                lane.synced = 0.0
                lane.wake.set()
            for item_id in list(self._watched):
                with contextlib.suppress(StoreError):
                    self._settled_elsewhere(item_id, await self._store.item_state(item_id))
            failures += 1
            await asyncio.sleep(EVENTS_BACKOFF.delay(failures))

    async def _poll_watched(self) -> None:
        """Shared store: the fallback look at the items dispatches here wait for (an event may have been missed)."""
        while not self._stopping:
            await asyncio.sleep(WATCH_POLL_SECONDS)
            for item_id in list(self._watched):
                try:
                    self._settled_elsewhere(item_id, await self._store.item_state(item_id))
                except StoreError:
                    break

    async def _heartbeat(self) -> None:
        """Keep every lease this process holds, whatever its lanes are doing (``bot.delivery.leases``); a lane whose
        lease was found lost stops before its next Slack call."""
        while not self._stopping:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            if self._unrecorded:
                await self._record_cards()
            try:
                lost = await self._leases.renew()
            except StoreError as exc:
                logger.warning("could not extend the lanes' leases: %s", exc)
                continue
            for key in lost:
                lane = self._lanes.get(key)
                if lane is not None:
                    logger.warning("lane %s went to another replica; it delivers what is queued there", lane.label)
                    lane.lost = True
                    lane.wake.set()

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
        """Write an item made by the plugin itself (a thread line) to the store, with ``alongside`` in the same
        transaction, and queue it for delivery; nobody waits for it. Raises ``StoreError`` (nothing written)."""
        lane, now = lane_key(token, target), self._clock.time()
        tracing.stamp(body)
        async with self._store.transaction():
            if alongside is not None:
                await alongside()
            item_id = self._wrote(
                await self._store.enqueue(lane=lane, kind=kind, body=body, token=sealed_token, now=now)
            )
        if await self._holds(lane):  # else the lane's holder finds it in the store
            self._push(Job(OutboxItem(item_id, lane, kind, body, sealed_token, now), token, target))

    async def _write(
        self, item: OutboxItem, *, digest: str | None = None, window: float = 0.0, sending: Job | None = None
    ) -> int:
        """Write the item down (its id set); with ``digest`` and ``window``, 0 when it repeats an accepted one, whose
        id is returned negated. With ``sending`` (the item's job), its fencing check goes with the write when its
        lane may send it at once (``_ready``), or when nobody delivers the lane (a cold lane: its lease is taken in
        the same step, should nobody hold it and nothing older wait in it)."""
        lane = self._lanes.get(item.lane)
        cold = sending is not None and lane is None and self._cold(item.lane)
        if lane is not None:
            lane.writing += 1
        if cold:
            self._taking.add(item.lane)
        try:
            if sending is not None and (cold or (lane is not None and self._ready(lane))):
                item_id = self._wrote(await self._write_sending(lane, sending, digest, window))
            else:
                item_id = self._wrote(await self._store.enqueue(**_kept(item), digest=digest, window=window))
        finally:
            if cold:
                self._taking.discard(item.lane)
            if lane is not None:
                lane.writing -= 1
                if lane.heard:  # put off while the write was under way (``_sync``)
                    lane.wake.set()
        if item_id > 0:
            item.id = item_id
        return item_id

    def _ready(self, lane: Lane) -> bool:
        """Whether a new item of ``lane`` may pass its fencing check with its write, saving the lane that round trip
        before its post: this replica holds the lane, the lane is idle (nothing queued, no delivery under way: no
        item of it waits to be recorded, so the alert's card read with the check is the latest), and its pacer lets
        it send at once (the lane's sending mark, set by the check, is never held through a wait)."""
        return (
            self._lanes.get(lane.key) is lane
            and lane.task is not None
            and not lane.task.done()
            and not lane.lost
            and not lane.stepping
            and not lane.jobs
            and not lane.busy_mark
            and self._leases.holds(lane.key)
            and lane.pacer.wait_time() == 0
            and lane.backoff_until <= self._clock.monotonic()
        )

    def _cold(self, key: str) -> bool:
        """Whether a new item of lane ``key``, which this process does not deliver, may take the lane's lease with
        its write (``Store.enqueue_sending`` with ``take``): on a shared store, unless another write of this process
        is taking it already (that one's item comes first)."""
        return self._store.shared and not self._leases.known(key) and key not in self._taking

    async def _write_sending(self, lane: Lane | None, job: Job, digest: str | None, window: float) -> int:
        """Write the job's item down and pass its fencing check in the same step (``Store.enqueue_sending``), with
        the card look-up its delivery will ask for; on GO its first attempt needs no store call before its post.
        Without ``lane`` (a cold lane), the lane's lease is taken in that step too when free (``_cold``)."""
        item = job.item
        query = self._cards.card_query(item, job.token, job.parsed) if job.token is not None else None
        sent = self._clock.monotonic()
        item_id, grant = await self._store.enqueue_sending(
            **_kept(item),
            digest=digest,
            window=window,
            owner=self._leases.owner,
            ttl=self._leases.ttl,
            cards=query,
            take=lane is None,
        )
        if grant is None:  # a repeat: nothing written, nothing checked
            return item_id
        self._leases.checked(item.lane, sent, grant)  # a cold lane's lease: now known as this process's, or not
        if grant.outcome is SendOutcome.GO:
            job.granted = (query, grant.cards)
            if lane is not None:  # (a cold lane's is marked when the lane is made: ``_push``)
                lane.marked = item_id
        elif grant.outcome is SendOutcome.LOST and lane is not None:  # another replica's: it delivers the item
            lane.lost = True
            lane.wake.set()
        return item_id  # BUSY: the lane finds another replica's unsettled send at its own check, and waits for it

    async def persist(self, job: Job, *, window: float = 0.0, begin: bool = False) -> bool:
        """Write a queued job to the store (before its dispatch is answered), unless it is already delivered; with
        ``window`` (a shared store), False when it repeats a dispatch accepted within that many seconds; with
        ``begin``, its fencing check made in the same step when its lane may send it at once (``_write``).

        Retries a failing store for up to ``PERSIST_DEADLINE_SECONDS``, then raises ``ERROR_STORE_UNAVAILABLE``: the
        job is withdrawn (not delivered, not counted as seen). One already being delivered cannot be withdrawn; its
        outcome answers instead.
        """
        if job.direct is not None:  # degraded mode: it goes straight to Slack or not at all, never written later
            if job.delivered:
                return True
            if self._withdraw(job):
                raise _store_unavailable()
            await self._outcome_of(job)
            return True
        deadline = self._clock.monotonic() + PERSIST_DEADLINE_SECONDS
        failures = 0
        while not (job.item.id or job.delivered):
            try:
                # A retry writes only: the first try may have been carried out, its answer lost (then this replica's
                # own sending mark, should it have been set, passes the lane's check later).
                sending = job if begin and not failures else None
                written = await self._write(job.item, digest=job.digest, window=window, sending=sending)
                self._store_answered()
                if written < 0:
                    if not failures:
                        return False  # a repeat of a dispatch accepted earlier
                    job.item.id = -written  # our own earlier try: the store carried it out, its answer was lost
            except StoreError as exc:
                self._store_failed()
                failures += 1
                delay = PERSIST_BACKOFF.delay(failures)
                if self._clock.monotonic() + delay > deadline:
                    logger.error("could not write a notification to the outbox: %s", exc)
                    if self._withdraw(job):
                        raise _store_unavailable() from None
                    await self._outcome_of(job)
                    return True
                await asyncio.sleep(delay)
        return True

    def _withdraw(self, job: Job) -> bool:
        """Take back a job its dispatch could not write down (so its answer, not accepted, is true): False when its
        delivery is already under way."""
        if job.direct is not None:  # degraded mode: straight to Slack unless its call is under way
            if job.calling or job.delivered:
                return False
            job.direct.cancel()
            return True
        lane = self._lanes.get(job.item.lane)
        if lane is None or job not in lane.jobs:
            return not job.delivered
        if lane.stepping and not lane.resting and lane.jobs[0] is job:
            return False
        lane.jobs.remove(job)
        if job.digest is not None:
            self._background_task(self._forget_seen(job.digest), name="forget seen")
        return True

    async def _forget_seen(self, digest: str) -> None:
        with contextlib.suppress(StoreError):
            await self._store.forget_seen(digest)

    async def _outcome_of(self, job: Job) -> None:
        """Wait for a job already being delivered (a Slack call is bounded), raising its permanent error."""
        if job.future is not None and not job.future.done():
            await asyncio.wait([job.future], timeout=SENDING_GRACE_SECONDS)
        if job.future is not None and job.future.done() and not job.future.cancelled():
            error = job.future.exception()
            if error is not None:
                raise error

    async def start(self) -> None:
        """Deliver every lane with items in the store that nobody delivers: what a previous run accepted and did not
        deliver, at once; a dead replica's lanes, from then on."""
        await self._take_over_once(resuming=True)
        self._background_task(self._take_over(), name="takeover")
        self._background_task(self._heartbeat(), name="lease heartbeat")
        if self._store.shared:  # what other processes queue and settle
            self._background_task(self._listen(), name="store events")
            self._background_task(self._poll_watched(), name="watched items")

    async def rewrite_queued(self) -> int:
        """Write every queued item that was in the store into it again (after its file vanished); return how many.

        Items not yet written (their dispatch is still waiting) are written by ``persist`` as usual.
        """
        written = 0
        for lane in self._lanes.values():
            for job in lane.jobs:
                if job.item.id and not job.delivered:
                    await self._write(job.item)
                    written += 1
        return written

    # -- delivering ----------------------------------------------------------------------------------------------

    def _update_pacer(self, token: str) -> Pacer | SharedPacer:
        """chat.update's budget is per workspace (bot): with replicas, one budget in the store for them all."""
        key = fingerprint(token)
        pacer = self._update_pacers.get(key)
        if pacer is None:
            pacer = self._update_pacers[key] = (
                SharedPacer(self._store, f"update:{key}", self._update_rate, self._update_burst)
                if self._store.shared
                else Pacer(self._update_rate, self._update_burst, clock=self._clock.monotonic)
            )
            if len(self._update_pacers) > MAX_REMEMBERED_BOTS:
                self._update_pacers.popitem(last=False)
        return pacer

    async def _fence(self, lane: Lane, job: Job) -> str:
        """Before each Slack call of a job: on a shared store, the lane must still be this replica's (the store
        asked at the item's first call, this process's lease clock after); the job's token. Raises ``_Fenced``
        (nothing of this attempt sent), or ``StoreError`` at the first call."""
        assert job.token is not None
        if job.begun:
            if lane.lost or not self._leases.holds(lane.key):
                raise _Fenced(SendOutcome.LOST)
            return job.token
        await self._begin(lane, job)
        return job.token

    async def _find_card(self, lane: Lane, job: Job, query: CardQuery) -> CardRecord | None:
        """The alert's card for a job about to be delivered. On a shared store whose lane may send at once, asked
        with the store's fencing check (one round trip for both, ``Store.begin_send``); when the lane must first
        wait for its pacing turn, asked alone, so that the lane is not marked as sending through the wait (a replica
        taking the lane over would wait for that mark)."""
        if job.granted is not None:  # read with the fencing check made with its write
            asked, found = job.granted
            job.granted = None
            if asked == query:
                return strongest_card(query.keys, found)
        if not self._store.shared or job.begun or lane.pacer.wait_time() > 0:
            return await self._store.find_card(query.bot, query.target, query.keys)
        return strongest_card(query.keys, (await self._begin(lane, job, query)).cards)

    async def _begin(self, lane: Lane, job: Job, cards: CardQuery | None = None) -> SendGrant:
        """The store's fencing check at an item's first Slack call (see ``_fence``); raises ``_Fenced`` unless GO."""
        mark, since = lane.busy_mark, lane.busy_since
        force = bool(mark) and self._clock.monotonic() - since >= SENDING_GRACE_SECONDS
        grant = await self._leases.begin(lane.key, job.item.id, force=force, cards=cards)
        if grant.outcome is SendOutcome.GO:
            if force:
                logger.warning(
                    "lane %s: another replica's send (%s) was never recorded; sending the item again (it may show "
                    "twice)",
                    lane.label,
                    mark,
                )
            lane.busy_mark = ""
            lane.marked = job.item.id
            job.begun = True
            return grant
        if grant.outcome is SendOutcome.BUSY and grant.mark != mark:
            lane.busy_mark, lane.busy_since = grant.mark, self._clock.monotonic()
            logger.info("lane %s waits for another replica's send to be recorded", lane.label)
        raise _Fenced(grant.outcome)

    async def _post(
        self, lane: Lane, job: Job, channel: str, payload: dict[str, Any], thread_ts: str | None = None
    ) -> Posted:
        async def post(token: str) -> Posted:
            posted = await self._sender.post(token, channel, payload, thread_ts=thread_ts)
            self._tokens.posted_in(posted.channel_id, token)
            return posted

        return await _paced(lane.pacer, lambda: self._fence(lane, job), post)

    async def _update(self, lane: Lane, job: Job, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        async def update(token: str) -> None:
            await self._sender.update(token, channel_id, ts, payload)

        await _paced(self._update_pacer(job.token or ""), lambda: self._fence(lane, job), update)

    async def _finish(self, job: Job, card: CardRecord | None, keys: Sequence[str]) -> None:
        job.delivered = True  # first: a dispatch still waiting must not write it down meanwhile
        # Slack has every call of the item: its dispatch is answered now rather than one store round trip later
        # (POSTED is already true). What follows is only the record of it, retried until it lands, and the lane
        # moves on only after it; should this process die first, the item stays pending with the lane's sending
        # mark, and the replica taking the lane over sends it again only past SENDING_GRACE_SECONDS (at least once,
        # as for a crash just after the post).
        waited = job.future is not None and not job.future.done()
        self._answer(job)
        if waited:  # let the answer go out before the record's work (its arguments, the store call) runs
            for _ in range(ANSWER_TURNS):
                await asyncio.sleep(0)
        await self._settle(lambda: self._done(job, card, keys))

    def _answer(self, job: Job) -> None:
        """The item reached Slack: answer the dispatch waiting for it (once), and count its latency."""
        if job.answered:
            return
        job.answered = True
        if job.item.kind is ItemKind.DISPATCH:  # Cloudforet's notifications (not the plugin's thread lines)
            metrics.NOTIFICATION_LATENCY.observe(max(0.0, self._clock.time() - job.item.created_at))
        if job.future is not None and not job.future.done():
            job.future.set_result(None)

    async def _settle(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run the store writes that follow a Slack call until they succeed: what Slack already has is never sent
        again because the store was briefly unavailable (the lane's sending mark stands until then)."""
        failures = 0
        while True:
            try:
                return await write()
            except StoreError as exc:
                failures += 1
                delay = SETTLE_BACKOFF.delay(failures)
                logger.warning("the store failed after a Slack call; retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)

    async def _done(self, job: Job, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        job.delivered = True  # first: a dispatch still waiting must not write it down meanwhile
        if job.item.id:  # the card saved in the same step (one round trip to a network store)
            await self._store.delivered(job.item.id, card=card, keys=keys)
            self._store_answered()
        elif card is not None:  # never written down (delivered before its dispatch had to wait): only the card
            try:
                if self.degraded():  # known down: not waited for (``_record_cards`` writes it once it answers)
                    raise StoreError("the store is down")
                await self._store.save_card(card, keys)
                self._store_answered()
            except StoreError:  # degraded mode: kept until the store answers (``_record_cards``)
                self._store_failed()
                self._unrecorded[(card.channel_id, card.ts)] = (card, tuple(keys))
                if len(self._unrecorded) > MAX_UNRECORDED_CARDS:
                    self._unrecorded.popitem(last=False)
                logger.warning("the store is down: card %s is kept in memory until it answers", card.ts)

    # -- degraded mode: the store cannot be written -------------------------------------------------------------

    def _store_failed(self) -> None:
        if self._down_since is None:
            self._down_since = self._clock.monotonic()

    def store_answers(self) -> None:
        """The store answered a check made elsewhere (the runtime's ping): degraded mode ends."""
        self._store_answered()

    def _store_answered(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            logger.info("the store answers again")

    def degraded(self) -> bool:
        """Whether the store has failed for ``DEGRADED_AFTER_SECONDS`` without a success since (degraded mode)."""
        return self._down_since is not None and self._clock.monotonic() - self._down_since >= DEGRADED_AFTER_SECONDS

    async def _degradable(self, job: Job, lookup: Awaitable[CardRecord | None]) -> CardRecord | None:
        """An item's card lookup; while the store is down, a job never written down goes on without its card (a new
        card, recorded once the store answers) rather than waiting: nothing of it is in the store to send twice."""
        try:
            found = await lookup
        except StoreError:
            self._store_failed()
            if job.item.id or not self.degraded():
                raise
            logger.warning("the store is down: posting a notification without looking for its alert's card")
            metrics.DEGRADED_DELIVERIES.inc()
            return None
        self._store_answered()
        return found

    def _deliver_direct(self, job: Job, future: asyncio.Future[None]) -> Submission:
        """Degraded mode on a shared store: deliver a dispatch that could not be written down straight to Slack;
        its dispatch is answered OK once it is posted, else ``ERROR_STORE_UNAVAILABLE`` (see ``DispatchService``)."""
        self._store_failed()
        pacer = self._direct_pacers.get(job.item.lane)
        if pacer is None:
            pacer = self._direct_pacers[job.item.lane] = Pacer(
                self._post_rate, self._post_burst, clock=self._clock.monotonic
            )
            if len(self._direct_pacers) > MAX_REMEMBERED_BOTS:
                self._direct_pacers.popitem(last=False)

        async def deliver() -> None:
            parsed, job.parsed = job.parsed, None
            try:
                await self._cards.deliver(job.item, job.token or "", parsed, _DirectCourier(self, job, pacer))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # not posted, and not written down: not accepted (the dispatch says so)
                if not future.done():  # a permanent Slack error as itself; else neither the store nor Slack took it
                    permanent = isinstance(exc, BotError) and not exc.retryable
                    error = exc if isinstance(exc, BotError) and permanent else _store_unavailable()
                    metrics.NOTIFICATIONS_FAILED.labels(error.code.value).inc()
                    future.set_exception(error)
                return
            if job.item.kind is ItemKind.DISPATCH:
                metrics.NOTIFICATION_LATENCY.observe(max(0.0, self._clock.time() - job.item.created_at))
            if not future.done():
                future.set_result(None)

        logger.warning("the store cannot be written: delivering a notification straight to Slack")
        metrics.DEGRADED_DELIVERIES.inc()
        job.direct = asyncio.get_running_loop().create_task(deliver(), name="direct delivery")
        self._background.add(job.direct)
        job.direct.add_done_callback(self._background.discard)
        return Submission(job, future, 0.0)

    async def _record_cards(self) -> None:
        """Write down the cards posted while the store was down (even into a store that came back empty), so the
        alert's next notification updates its card rather than starting another."""
        for key, (card, keys) in list(self._unrecorded.items()):
            try:
                await self._store.save_card(card, keys)
            except StoreError:
                return
            self._unrecorded.pop(key, None)
            logger.info("wrote down card %s, posted while the store was down", card.ts)
        self._store_answered()

    async def _deliver(self, lane: Lane, job: Job) -> None:
        parsed, job.parsed = job.parsed, None  # the lane keeps nothing it no longer needs
        try:
            await self._cards.deliver(job.item, job.token or "", parsed, _LaneCourier(self, lane, job))
        finally:
            job.granted = None  # the check made with its write covers its first attempt only

    async def _run(self, lane: Lane) -> None:
        idle_since = self._clock.monotonic()
        try:
            while True:
                if not await self._sync(lane):
                    return
                if not lane.jobs:
                    if self._stopping:
                        return
                    lane.wake.clear()
                    wait = LANE_SYNC_SECONDS
                    try:
                        async with asyncio.timeout(wait):
                            await lane.wake.wait()
                    except TimeoutError:
                        idle = self._clock.monotonic() - idle_since >= self._lane_idle_seconds
                        if idle and not lane.jobs and lane.pacer.wait_time() == 0:
                            return  # idle: forgotten below, made anew by the next notification
                    continue
                lane.stepping = True
                await self._step(lane)
                lane.stepping = False
                idle_since = self._clock.monotonic()
        finally:
            if self._lanes.get(lane.key) is lane and (lane.lost or not lane.jobs):
                del self._lanes[lane.key]
                for job in lane.jobs:  # every one is written down: the lane's new holder delivers it
                    if job.item.id in self._watched or job.future is None:
                        continue
                    self._watch(job, job.future)
                lane.jobs.clear()
                with contextlib.suppress(StoreError, asyncio.CancelledError):
                    await self._leases.release(lane.key, idle=not lane.stepping)

    async def _sync(self, lane: Lane) -> bool:
        """Check the lane is still this process's, and take in the items written down for it that it lacks (other
        replicas', or a retry the operator asked for), in the store's order. False when the lease went to another
        replica (which delivers what is queued)."""
        if lane.lost or not self._leases.known(lane.key):
            return False
        while not self._leases.holds(lane.key):  # the heartbeat could not confirm it: send nothing meanwhile
            if lane.lost or not self._leases.known(lane.key):
                return False
            await asyncio.sleep(UNCONFIRMED_POLL_SECONDS)
        known = {job.item.id for job in lane.jobs}
        lane.heard = {item_id for item_id in lane.heard if item_id not in known and item_id not in self._own}
        if self._clock.monotonic() - lane.synced < LANE_SYNC_SECONDS and (not lane.heard or lane.writing):
            # Looked recently, and the store's events announced nothing this lane lacks; or what they announced may
            # be this replica's own write, its event come before its answer: looked at once the write ends (it wakes
            # the lane), when its id is known to be ours.
            return True
        lane.synced = self._clock.monotonic()
        lane.heard.clear()
        try:
            ids = await self._store.pending_ids(lane.key)
            missing = [item_id for item_id in ids if item_id not in known]
            if missing:
                taken = [
                    await self._take_in(item)
                    for item in await self._store.pending(lane.key, after=min(missing) - 1)
                    if item.id in missing
                ]
                logger.debug("lane %s took in %d item(s) written down elsewhere", lane.label, sum(taken))
        except StoreError as exc:
            logger.warning("lane %s cannot reach the store: %s", lane.label, exc)
            await asyncio.sleep(STORE_RETRY_SECONDS)
        return True

    async def _take_in(self, item: OutboxItem) -> bool:
        """An item accepted earlier or elsewhere, queued in its lane (its token opened when its turn comes, should
        no key this process holds open it yet)."""
        job = Job(item, None, str(item.body.get("target", lane_label(item.lane))))
        digest = item.body.get("digest")
        job.digest = digest if isinstance(digest, str) else None
        self._open(job)
        watched = self._watched.pop(item.id, None)  # a dispatch here waits for it: this lane now delivers it
        if watched is not None:
            job.future, job.parsed = watched.future, watched.parsed
        self._push(job)
        return True

    @staticmethod
    def _opened(job: Job, tokens: TokenVault) -> bool:
        try:
            job.token = tokens.open(job.item.token)
        except SealError:
            return False
        return True

    def _open(self, job: Job) -> bool:
        if job.token is None and not self._opened(job, self._tokens):
            job.unreadable_since = job.unreadable_since or self._clock.monotonic()
            return False
        return True

    async def _unreadable(self, lane: Lane, job: Job) -> bool:
        """Whether the job's token still cannot be opened (after asking the store for other replicas' keys); it
        fails for good at once on the embedded store (no other process has keys), else past ``KEY_WAIT_SECONDS``."""
        if self._open(job):
            return False
        if self._refresh_keys is not None:
            with contextlib.suppress(StoreError):
                await self._refresh_keys()
            if self._open(job):
                return False
        if self._refresh_keys is not None and self._clock.monotonic() - job.unreadable_since < KEY_WAIT_SECONDS:
            logger.warning("lane %s: no button key opens an item's bot token yet; waiting for it", lane.label)
            await self._back_off(lane, job)
        else:
            await self._fail(job, BotError(ErrorCode.TOKEN_UNREADABLE, UNREADABLE_TOKEN))
            lane.jobs.popleft()
        return True

    async def _take_over(self) -> None:
        """Deliver every lane with queued items that no process delivers (its holder died), looking every
        ``TAKEOVER_SECONDS``."""
        while not self._stopping:
            await asyncio.sleep(TAKEOVER_SECONDS)
            await self._take_over_once(resuming=False)

    async def _take_over_once(self, *, resuming: bool) -> None:
        try:
            for key in await self._store.pending_lanes():
                if key not in self._lanes and await self._leases.take(key):
                    if resuming:
                        logger.info("resuming delivery of lane %s from the outbox", lane_label(key))
                    else:
                        logger.info("took over lane %s", lane_label(key))
                    self._lane(key, lane_label(key)).wake.set()
        except StoreError as exc:
            logger.warning("cannot look for lanes to take over: %s", exc)

    async def _settled_by_another(self, lane: Lane, job: Job) -> None:
        """The lane's head item was delivered or failed by another replica (it held the lane before): drop it here,
        answering a dispatch that waits for it."""
        lane.jobs.popleft()
        if job.future is None or job.future.done():
            return
        try:
            state = await self._store.item_state(job.item.id)
        except StoreError:
            state = (ItemState.PENDING, "")
        if state is None:
            job.future.set_result(None)
        elif state[0] is ItemState.FAILED:
            job.future.set_exception(error_from_details(state[1]))
        else:
            self._watch(job, job.future)

    async def _step(self, lane: Lane) -> None:
        """Deliver the lane's first job, or schedule its retry; never raises (but for cancellation)."""
        job = lane.jobs[0]
        if job.token is None and await self._unreadable(lane, job):
            return
        if lane.marked != job.item.id:  # another item was marked since its write's check: the lane checks again
            job.granted = None
        job.begun = job.granted is not None
        try:
            with tracing.span("outbox.deliver", parent=job.item.body.get("traceparent"), kind=tracing.Kind.CONSUMER):
                await self._deliver(lane, job)
        except asyncio.CancelledError:
            raise
        except _Fenced as fenced:  # nothing of this attempt was sent
            if fenced.outcome is SendOutcome.LOST:
                lane.lost = True  # the run loop ends; the new holder delivers the lane
            elif fenced.outcome is SendOutcome.SETTLED:
                await self._settled_by_another(lane, job)
            else:
                await asyncio.sleep(BUSY_POLL_SECONDS)
            return
        except StoreError as exc:  # before anything was sent: try the same job again shortly
            self._store_failed()
            logger.warning("delivery to %s waits for the store: %s", lane.label, exc)
            await self._back_off(lane, job)
            return
        except BotError as exc:
            if exc.retryable and self._clock.time() - job.item.created_at < MAX_ITEM_AGE_SECONDS:
                metrics.OUTBOX_RETRIES.inc()
                if exc.retry_after is None:  # 5xx, timeout, connection: back off; a 429 paused the pacer
                    logger.warning(
                        "delivery to %s will be retried: %s",
                        lane.label,
                        exc.details,
                        extra={"event": "delivery_retry", "channel": lane.label, "code": exc.code.value},
                    )
                    await self._back_off(lane, job)
                else:
                    await self._count_attempt(job)
                return
            await self._fail(job, exc)
        except Exception as exc:  # a bug: record it against the item, keep the lane going
            logger.error("delivery failed unexpectedly: %s", type(exc).__name__, exc_info=exc)
            await self._fail(job, BotError(ErrorCode.INTERNAL, f"unexpected failure ({type(exc).__name__})"))
        else:
            lane.backoff_until = 0.0
            self._answer(job)  # answered already when the keeper finished it (``_finish``)
        lane.jobs.popleft()

    async def _count_attempt(self, job: Job) -> None:
        job.item.attempts += 1
        if job.item.id:
            with contextlib.suppress(StoreError):  # only a counter; the retry goes ahead regardless
                await self._store.record_attempt(job.item.id)

    async def _back_off(self, lane: Lane, job: Job) -> None:
        await self._count_attempt(job)
        backoff = DELIVERY_BACKOFF.delay(job.item.attempts)
        lane.backoff_until = self._clock.monotonic() + backoff
        lane.resting = True
        try:
            await asyncio.sleep(backoff)
        finally:
            lane.resting = False

    async def _fail(self, job: Job, exc: BotError) -> None:
        logger.warning(
            "a notification to %s failed for good: %s",
            job.target,
            exc.details,
            extra={"event": "delivery_failed", "channel": job.target, "code": exc.code.value, "item": job.item.id},
        )
        if job.item.kind is ItemKind.DISPATCH:  # thread lines are the plugin's own, not Cloudforet's notifications
            metrics.NOTIFICATIONS_FAILED.labels(exc.code.value).inc()
        if job.digest is not None:  # once the cause is fixed, the same notification may be sent again at once
            await self._forget_seen(job.digest)
        job.delivered = True  # settled: a dispatch still waiting must not write it down as pending

        async def record() -> None:
            if not job.item.id:  # recorded with its reason, even when its dispatch never had to wait for it
                await self._write(job.item)
            await self._store.failed(job.item.id, error=exc.details, now=self._clock.time())

        await self._settle(record)
        if job.future is not None and not job.future.done():
            job.future.set_exception(exc)

    def backlog(self) -> int:
        return sum(len(lane.jobs) for lane in self._lanes.values())

    def lane_count(self) -> int:
        return len(self._lanes)

    def oldest(self) -> float | None:
        """When the oldest notification queued here was accepted (epoch seconds); None when nothing is queued."""
        return min((lane.jobs[0].item.created_at for lane in self._lanes.values() if lane.jobs), default=None)

    async def drain(self, seconds: float) -> None:
        """Deliver what is queued, for up to ``seconds``; what is left stays in the outbox for next time (on a shared
        store, the other replicas take it over once this one's leases are released or run out)."""
        self._stopping = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._lanes:  # no heartbeat from now on: keep the leases through the drain
            with contextlib.suppress(StoreError):
                await self._leases.renew()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for lane in self._lanes.values():
            lane.wake.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                logger.warning(
                    "stopped with %d notification(s) still in the outbox; they go out on next start", self.backlog()
                )
