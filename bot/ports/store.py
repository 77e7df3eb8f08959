"""The store interface the rest of the code uses; backends (embedded SQLite now, shared later) implement it."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Protocol

from bot.core.cards import CardStatus
from bot.core.lifecycle import same_alert

# How long the store keeps what it no longer needs (pruned by ``Store.prune``). Failed outbox items are kept for
# the operator to read; done click claims stop repeats of a click (Cloudforet's callback links last 1 hour, a week
# covers any late click); cards of resolved alerts take no more notifications; open alerts re-notify on each
# escalation step, so a card untouched for a month belongs to an alert Cloudforet has forgotten.
FAILED_ITEM_RETENTION_SECONDS = 7 * 24 * 3600
CLAIM_RETENTION_SECONDS = 7 * 24 * 3600
RESOLVED_CARD_RETENTION_SECONDS = 7 * 24 * 3600
OPEN_CARD_RETENTION_SECONDS = 30 * 24 * 3600
AUDIT_RETENTION_SECONDS = 90 * 24 * 3600
# Row caps on top of the ages, so a flood of failures or clicks cannot grow the store without bound.
MAX_FAILED_ITEMS = 10_000
MAX_AUDIT_RECORDS = 100_000
# A lane's sending mark (``Store.begin_send``) outlives any send; it is cleared when the item is settled, and goes by
# itself after this long should its item vanish otherwise (dropped by an operator, the store pruned).
SENDING_MARK_SECONDS = 24 * 3600
# What one failed item keeps of its body at most (``bot.core.compact.failed_body``; a bigger one is cut, visibly). A
# card shows at most ~12,000 characters of block text and a 4,000-character fallback (``bot.core.limits``): under
# 100 KiB even at JSON's worst 6 bytes a character, so 256 KiB keeps every real card whole (a Cloudforet message is
# a few KiB) and cuts only what a card could not show anyway.
MAX_FAILED_ITEM_BYTES = 256 * 1024
# What all failed items keep together at most, oldest dropped first (checked as each one fails, and when pruning):
# room for MAX_FAILED_ITEMS typical ones of ~3 KiB, and ~3 % of the `single` overlay's 1 GiB volume
# (deploy/kubernetes/overlays/single/persistent-volume-claim.yaml) or of a small Redis, whatever fails.
MAX_FAILED_BYTES = 32 * 1024 * 1024
# Once over MAX_FAILED_BYTES as an item fails, the oldest are dropped until this share of it is left, so that a
# flood of failures measures the total once in a while, not at every failure.
FAILED_BYTES_KEPT_AFTER_DROP = 7 / 8


class StoreError(Exception):
    """The store could not be read or written just now (locked by another program, disk full, file deleted).

    Worth retrying later; the message names no secret.
    """


class ItemState(StrEnum):
    """Where an outbox item stands. Delivered items are deleted, so only these two are ever stored."""

    PENDING = "pending"
    FAILED = "failed"


class ItemKind(StrEnum):
    """What an outbox item carries."""

    DISPATCH = "dispatch"  # a notification from Cloudforet: posts or updates its alert's card
    NOTE = "note"  # a line for a card's thread (an acknowledgement from a click)


class SendOutcome(StrEnum):
    """The answer to ``Store.begin_send``: whether the lane's holder may make a Slack call for an item now."""

    GO = "go"  # the lease is the caller's (and now extended); the lane is marked as sending the item
    LOST = "lost"  # the lease is not the caller's any more: send nothing
    BUSY = "busy"  # another process was sending an item of this lane and has not settled it (it may have landed)
    SETTLED = "settled"  # the item is not pending any more (delivered or failed by another process): skip it


@dataclass(frozen=True)
class CardQuery:
    """Which card to look up with ``Coordination.begin_send`` (the same question as ``CardIndex.find_card``), so that
    the fencing check and the alert's card cost one round trip to a network store."""

    bot: str
    target: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class SendGrant:
    outcome: SendOutcome
    mark: str = ""  # BUSY: who was sending what (``owner|item id``)
    cards: tuple[FoundCard, ...] = ()  # GO, when asked with a ``CardQuery``: what its names found


class EventKind(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxEvent:
    """An item queued or settled by any process on a shared store (``Store.events``)."""

    kind: EventKind
    item_id: int
    detail: str  # QUEUED: the lane; FAILED: the error details; DELIVERED: ""

    @classmethod
    def parse(cls, text: str) -> OutboxEvent | None:
        """``kind|id|detail`` as the store publishes it; None for anything else."""
        kind, _, rest = text.partition("|")
        item, _, detail = rest.partition("|")
        try:
            return cls(EventKind(kind), int(item), detail)
        except ValueError:
            return None


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # the caller now carries out the action
    IN_PROGRESS = "in_progress"  # someone else is carrying it out right now
    DONE = "done"  # it was already carried out


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    actor: str  # who holds (or completed) the claim
    at: float  # when they claimed or completed it (epoch seconds)


@dataclass(frozen=True)
class AuditRecord:
    """Who did what, when, with what outcome. ``target`` never holds a secret (no URL, no token)."""

    at: float
    actor: str
    action: str
    channel: str
    message_ts: str
    target: str
    outcome: str
    detail: str = ""


@dataclass
class CardRecord:
    """The one card of an alert in a channel, and where its alert stands.

    A card belongs to the bot that posted it (only that bot may ``chat.update`` it) and to a channel by its ID, so
    the same alert sent by two bots, or to same-named channels of two workspaces, makes two cards.
    """

    bot: str  # fingerprint of the bot token that posted the card (``bot.core.sealed.fingerprint``)
    channel_id: str
    ts: str
    target: str  # the channel as configured (name or ID): names the delivery lane of thread lines
    status: CardStatus  # stored as its value
    notified: int
    token: str  # sealed bot token, for updates and thread lines
    actor: str | None = None
    actor_name: str | None = None
    acted_at: float | None = None
    resolved_at: float | None = None
    updated_at: float = 0.0
    id: int = 0  # 0 until first saved


@dataclass(frozen=True)
class FoundCard:
    """A card one of an alert's names points to, as a backend finds it; ``strongest_card`` decides which one is the
    alert's."""

    position: int  # which of the asked names found it (0: the strongest)
    record: CardRecord
    names: tuple[str, ...]  # every name the card is known by (a backend may leave it empty at position 0)


def strongest_card(keys: Sequence[str], found: Sequence[FoundCard]) -> CardRecord | None:
    """The alert's card among those its names found: the one the strongest name points to, else the first whose
    names do not contradict the alert's (``same_alert``). The one place this rule lives; every backend finds, this
    chooses."""
    for card in sorted(found, key=lambda card: card.position):
        if card.position == 0 or same_alert(keys, card.names):  # nothing can contradict the strongest name
            return card.record
    return None


@dataclass
class OutboxItem:
    """Something accepted for delivery to Slack, kept until delivered or failed for good."""

    id: int
    lane: str  # delivery is in order within a lane (one bot token and channel)
    kind: ItemKind
    body: dict[str, Any]
    token: str  # sealed bot token
    created_at: float
    attempts: int = 0


@dataclass(frozen=True)
class OutboxEntry:
    """An outbox item as the operator sees it (``slack-chatops outbox``): where it stands and why."""

    item: OutboxItem
    state: ItemState
    error: str = ""  # the ERROR_ details of a failed item
    finished_at: float | None = None  # when it failed


def _time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("not a time")
    return float(value)


def readable_audit(record: AuditRecord) -> AuditRecord:
    """``record`` when each field is of its type (``at`` a time, the others text); ``ValueError`` otherwise: a
    record written by hand or by another program, which a listing leaves out (and names) rather than fail on."""
    _time(record.at)
    if not all(isinstance(getattr(record, f.name), str) for f in fields(record) if f.name != "at"):
        raise ValueError("a field is not text")
    return record


def readable_entry(entry: OutboxEntry) -> OutboxEntry:
    """``entry`` when its fields are of their types (a JSON object for a body, times, a count); ``ValueError``
    otherwise, as for ``readable_audit``."""
    item = entry.item
    if not isinstance(item.body, dict) or not isinstance(item.lane, str) or not isinstance(item.token, str):
        raise ValueError("not an outbox item")
    if isinstance(item.attempts, bool) or not isinstance(item.attempts, int) or not isinstance(entry.error, str):
        raise ValueError("not an outbox item")
    _time(item.created_at)
    if entry.finished_at is not None:
        _time(entry.finished_at)
    return entry


class OutboxQueue(Protocol):
    """The outbox's queue (``bot.delivery.outbox``): items accepted, in order per lane, until delivered or failed;
    repeats told apart; the events other processes' items make."""

    shared: bool  # other processes use the same store at once (see ``Store``)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Group writes so they land together or not at all (where the backend can; each call is atomic anyway)."""
        ...

    async def enqueue(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None = None,
        window: float = 0.0,
    ) -> int:
        """Keep an item for delivery; ids increase in the order items are accepted. With ``digest`` (a shared store):
        minus the id of the item that had it, and nothing kept, when an item with that digest was accepted within
        the last ``window`` seconds; the digest counts as seen from the moment (and only if) the item is kept."""
        ...

    async def enqueue_sending(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None = None,
        window: float = 0.0,
        owner: str,
        ttl: float,
        cards: CardQuery | None = None,
        take: bool = False,
    ) -> tuple[int, SendGrant | None]:
        """``enqueue``, and for the item kept ``Coordination.begin_send(lane, owner, id, ttl, cards=cards)`` (never
        forced), in one atomic step: one round trip to a network store where the lane's holder may send a new item
        at once. The item is kept whatever the grant says (its lane sends it in its turn when not GO); a repeat keeps
        nothing and is granted nothing (None). The item is announced (``events``) unless the check passed: the writer
        then holds the lane, and no other process needs to hear of it. With ``take``, the lane's lease is first
        taken for ``owner`` (as ``acquire_lease``) when nobody holds it and the item is the lane's only pending one
        (nothing older is left to deliver first): a cold lane's first item in one round trip too."""
        ...

    def events(self) -> AsyncGenerator[OutboxEvent, None]:
        """Items queued and settled by every process, as it happens (a shared store; the embedded store's end at
        once: its only process knows). Raises ``StoreError`` when the stream breaks; what happened meanwhile is
        missed, so a caller looks at the store again."""
        ...

    async def pending(self, lane: str | None = None, *, after: int = 0) -> list[OutboxItem]:
        """Undelivered items (of one lane, or all; with ids above ``after``), oldest first."""
        ...

    async def pending_ids(self, lane: str) -> list[int]:
        """The ids of a lane's undelivered items, oldest first (cheap: no bodies)."""
        ...

    async def item_state(self, item_id: int) -> tuple[ItemState, str] | None:
        """Where an item stands (pending, or failed with its reason); None once delivered (or never known)."""
        ...

    async def pending_lanes(self) -> list[str]:
        """The lanes that have undelivered items."""
        ...

    async def record_attempt(self, item_id: int) -> None: ...

    async def delivered(self, item_id: int, *, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        """The item reached Slack: forget it; with ``card``, save it (as ``save_card(card, keys)``) in the same atomic
        step (one round trip to a network store), so the card and the item's settlement land together or not at
        all."""
        ...

    async def failed(self, item_id: int, *, error: str, now: float) -> None:
        """The item failed for good: keep it, with its reason, for the operator (pruned after a while). What it keeps
        of its body is bounded (``MAX_FAILED_ITEM_BYTES``), and so is what all failed items keep together
        (``MAX_FAILED_BYTES``, the oldest dropped first)."""
        ...

    async def seen_recently(self, digest: str, window: float) -> bool:
        """Record ``digest``; True when it was already recorded within the last ``window`` seconds (a retry)."""
        ...

    async def forget_seen(self, digest: str) -> None: ...


class Coordination(Protocol):
    """What several processes on one store agree through (``bot.delivery.leases``, ``pacer``, the button key):
    leases, sending marks, shared pacing budgets, shared secrets. On a store of one process every lease is its own
    and pacing stays in memory."""

    shared: bool  # other processes use the same store at once (see ``Store``)

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take (or extend) the lease ``name`` for ``owner`` unless someone else holds it."""
        ...

    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Extend a lease ``owner`` holds; False when it is no longer theirs (it expired and was taken)."""
        ...

    async def renew_leases(self, names: Sequence[str], owner: str, ttl: float) -> list[bool]:
        """Extend each lease ``owner`` holds (one round trip for all); False for those it no longer holds."""
        ...

    async def begin_send(
        self, lane: str, owner: str, item_id: int, ttl: float, *, force: bool = False, cards: CardQuery | None = None
    ) -> SendGrant:
        """The fencing check before the Slack calls of a lane's item: the lane's lease must be ``owner``'s (it is
        extended), and no other process may have an unsettled send in the lane (unless ``force``: it is known
        stale), and the item must still be pending. On GO the lane is marked as sending ``item_id`` until the item is
        delivered or failed, and with ``cards`` the grant carries what ``find_card`` would have looked at
        (``SendGrant.cards``, chosen from with ``strongest_card``), read in the same atomic step."""
        ...

    async def release_lease(self, name: str, owner: str, *, idle: bool = False) -> None:
        """Give a lease up; ``idle``: no send of the owner's is in flight, so its sending mark goes too."""
        ...

    async def take_slot(self, bucket: str, rate: float, burst: int) -> float:
        """Draw from the token bucket ``bucket`` (``rate`` per second, up to ``burst``): 0 when drawn, else the
        seconds to wait before asking again. Shared by every process using a shared store; a store that belongs to
        one process always answers 0 (that process paces in memory)."""
        ...

    async def pause_slot(self, bucket: str, seconds: float) -> None:
        """Nobody draws from ``bucket`` for ``seconds`` (Slack's Retry-After), and it starts empty afterwards."""
        ...

    async def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        """The secret kept under ``name``, made once with ``make`` by whichever process asks first."""
        ...

    async def sync_secret(self, name: str, current: str) -> tuple[str, list[str]]:
        """The shared secret ``name`` as the store has it (set back to ``current`` when the store lost it), and
        every one it has had (bounded), so what an older one sealed still opens."""
        ...


class CardIndex(Protocol):
    """Which card shows which alert (``bot.delivery.cards``)."""

    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        """The card ``bot`` posted in channel ``target`` (name or ID) for the alert named by any of ``keys``."""
        ...

    async def card_by_message(self, channel_id: str, ts: str) -> CardRecord | None: ...

    async def save_card(self, record: CardRecord, keys: Sequence[str] = ()) -> None:
        """Create or update the card (assigning ``record.id``); it is found from then on by each of ``keys`` too."""
        ...


class ClickLedger(Protocol):
    """Each click's action carried out once, and who did what (``bot.clicks``)."""

    async def claim_action(self, key: str, actor: str, *, stale_after: float) -> Claim:
        """Atomically take the right to carry out the action ``key``, unless someone has it or it is done. A claim
        not finished within ``stale_after`` seconds may be taken again. Time is the store's own (Redis' clock and
        TTLs; the embedded store's one process), never the caller's: replicas whose clocks disagree still see one
        claim. ``Claim.at`` is in the store's time."""
        ...

    async def finish_action(self, key: str, *, done: bool) -> None:
        """Mark a claimed action done for good (at the store's time), or release it after a failure so it can be
        tried again."""
        ...

    async def add_audit(self, record: AuditRecord) -> None: ...


class AppTokenRegistry(Protocol):
    """The app-level tokens Socket Mode keeps connected across restarts (``bot.runtime``)."""

    async def remember_app_token(self, token_id: str, sealed_token: str, *, now: float) -> bool:
        """Keep an app-level token (Socket Mode, sealed) across restarts; True when ``token_id`` is new."""
        ...

    async def app_tokens(self) -> list[str]:
        """The sealed app-level tokens, oldest first."""
        ...

    async def forget_app_token(self, token_id: str) -> bool:
        """Drop a remembered app-level token (Slack refused it for good); True when it was there."""
        ...


class AdminView(Protocol):
    """What the operator commands read and change (``bot.ops``)."""

    async def outbox_counts(self) -> dict[str, int]: ...

    async def failed_items(self, limit: int = 100) -> list[tuple[int, str, str]]:
        """(id, lane, reason) of items that failed for good, newest first."""
        ...

    async def outbox_entries(
        self, state: ItemState, limit: int = 100, *, unreadable: list[str] | None = None
    ) -> list[OutboxEntry]:
        """Items in ``state``, for the operator: pending ones oldest first (the order they go out in), failed ones
        newest first. One that cannot be read (a body that is not JSON, see ``readable_entry``) is left out, and
        named in ``unreadable`` (``outbox item <id>``) when given."""
        ...

    async def retry_item(self, item_id: int, *, now: float) -> bool:
        """Queue a failed item again, as if accepted at ``now`` (attempts and error cleared); False when there is no
        failed item ``item_id``. It keeps its id, so it goes out in its lane's order."""
        ...

    async def drop_item(self, item_id: int) -> bool:
        """Forget an item, pending or failed; False when there is none ``item_id``."""
        ...

    async def audit(self, limit: int = 100, *, unreadable: list[str] | None = None) -> list[AuditRecord]:
        """The newest audit records first. One that cannot be read (see ``readable_audit``) is left out, and named
        in ``unreadable`` when given."""
        ...


class Upkeep(Protocol):
    """What the runtime does with a store as a whole (``bot.runtime``)."""

    def describe(self) -> str:
        """Which store this is, for logs and operators: where, never a password."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers right now (readiness)."""
        ...

    async def vanished(self) -> bool:
        """Whether what the store held is gone under the running process (an embedded file deleted)."""
        ...

    async def reopen(self) -> None:
        """Start afresh after ``vanished``."""
        ...

    async def prune(self, now: float) -> int:
        """Forget what is past its retention (see the constants above); return how many records went."""
        ...

    async def close(self) -> None: ...


class DeliveryStore(OutboxQueue, Coordination, CardIndex, Protocol):
    """What the outbox uses: its queue, the coordination its leases and shared budgets need, and the card index it
    reads with its fencing check and writes with an item's settlement (one round trip each on a network store)."""


class Store(OutboxQueue, Coordination, CardIndex, ClickLedger, AppTokenRegistry, AdminView, Upkeep, Protocol):
    """Every port at once: what one backend (``bot.store``: memory, SQLite, Redis) implements and the runtime wires.

    Persistence for the plugin, asynchronous so that a network store (Redis) fits behind it. Every write is durable
    (committed) when it returns. A method that cannot do its work just now raises ``StoreError``.

    ``shared`` says whether other processes use the same store at once (Redis: any number of replicas), in which
    case lanes are leased so that one process at a time delivers each; the embedded store belongs to one process
    (its data-directory lock), so every lease is its own.
    """

    shared: bool
