"""The in-memory store: the reference for what every backend does, and what unit tests run the engine and the
services on (no file, no network). Nothing survives the process.

``shared=True`` makes it behave as a store several processes share (leases, sending marks, shared pacing budgets,
events), so two outboxes on one ``MemoryStore`` in one event loop stand for two replicas on one Redis. Every time
it keeps (lease and claim expiry, pacing, repeat windows) is read from ``clock``: the store's own clock, as Redis'
``TIME`` is for the replicas (a test moves it; by default the event loop's).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.cards import CardStatus
from bot.core.compact import failed_body
from bot.core.models import is_channel_id
from bot.pacing import WHOLE_TOKEN
from bot.ports.store import (
    AUDIT_RETENTION_SECONDS,
    CLAIM_RETENTION_SECONDS,
    FAILED_BYTES_KEPT_AFTER_DROP,
    FAILED_ITEM_RETENTION_SECONDS,
    MAX_AUDIT_RECORDS,
    MAX_FAILED_BYTES,
    MAX_FAILED_ITEM_BYTES,
    MAX_FAILED_ITEMS,
    OPEN_CARD_RETENTION_SECONDS,
    RESOLVED_CARD_RETENTION_SECONDS,
    AuditRecord,
    CardQuery,
    CardRecord,
    Claim,
    ClaimStatus,
    EventKind,
    FoundCard,
    ItemKind,
    ItemState,
    OutboxEntry,
    OutboxEvent,
    OutboxItem,
    SendGrant,
    SendOutcome,
    Store,
    StoreError,
    strongest_card,
)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class _Item:
    item: OutboxItem
    state: ItemState = ItemState.PENDING
    error: str = ""
    finished_at: float | None = None
    size: int = 0  # what a failed item keeps, in bytes


@dataclass
class _Claim:
    actor: str
    at: float
    done: float | None = None


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    paused: float = 0.0


@dataclass
class _Card:
    record: CardRecord
    keys: list[str] = field(default_factory=list)  # its alert's names, in the order learnt


class MemoryStore:
    """Every method of ``bot.store.Store``, in memory (see the module docstring)."""

    def __init__(self, *, shared: bool = False, clock: Callable[[], float] = _loop_time) -> None:
        self.shared = shared
        self._clock = clock
        self._claims: dict[str, _Claim] = {}
        self._audit: list[AuditRecord] = []  # newest first
        # token id -> (added at, order added, sealed token): listed by when added, as the other backends list them
        self._app_tokens: dict[str, tuple[float, int, str]] = {}
        self._app_token_seq = itertools.count()
        self._ids = itertools.count(1)
        self._items: dict[int, _Item] = {}
        self._seen: dict[str, tuple[int, float]] = {}  # digest -> (item id, until)
        self._cards: dict[int, _Card] = {}
        self._card_ids = itertools.count(1)
        self._card_keys: dict[tuple[str, str, str], int] = {}  # (bot, channel id, alert name) -> card
        self._channel_names: dict[tuple[str, str], str] = {}  # (bot, name) -> channel id
        self._secrets: dict[str, str] = {}
        self._all_secrets: dict[str, list[str]] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # name -> (owner, until)
        self._marks: dict[str, str] = {}  # lane -> owner|item id
        self._buckets: dict[str, _Bucket] = {}
        self._listeners: list[asyncio.Queue[OutboxEvent]] = []
        self.fail_next: list[str] = []  # method names whose next call raises StoreError (a test's fault)
        self.failing: set[str] = set()  # method names that raise StoreError while named here (an outage)

    # Clicks.

    async def claim_action(self, key: str, actor: str, *, stale_after: float) -> Claim:
        now = self._clock()
        held = self._claims.get(key)
        if held is not None:
            if held.done is not None:
                return Claim(ClaimStatus.DONE, held.actor, held.done)
            if held.at > now - stale_after:
                return Claim(ClaimStatus.IN_PROGRESS, held.actor, held.at)
        self._claims[key] = _Claim(actor, now)
        return Claim(ClaimStatus.CLAIMED, actor, now)

    async def finish_action(self, key: str, *, done: bool) -> None:
        held = self._claims.get(key)
        if held is None or held.done is not None:
            return
        if done:
            held.done = self._clock()
        else:
            del self._claims[key]

    async def add_audit(self, record: AuditRecord) -> None:
        self._audit.insert(0, record)
        del self._audit[MAX_AUDIT_RECORDS:]

    async def audit(self, limit: int = 100, *, unreadable: list[str] | None = None) -> list[AuditRecord]:
        return self._audit[: max(0, limit)]

    # App-level tokens.

    async def remember_app_token(self, token_id: str, sealed_token: str, *, now: float) -> bool:
        if token_id in self._app_tokens:
            return False
        self._app_tokens[token_id] = (now, next(self._app_token_seq), sealed_token)
        return True

    async def app_tokens(self) -> list[str]:
        return [token for _, _, token in sorted(self._app_tokens.values())]

    async def forget_app_token(self, token_id: str) -> bool:
        return self._app_tokens.pop(token_id, None) is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield  # nothing here suspends between the writes of one task

    # The outbox.

    def _publish(self, kind: EventKind, item_id: int, detail: str) -> None:
        if self.shared:
            for queue in self._listeners:
                queue.put_nowait(OutboxEvent(kind, item_id, detail))

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
        self._raise_if_told("enqueue")
        return self._keep(lane=lane, kind=kind, body=body, token=token, now=now, digest=digest, window=window)

    def _keep(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None,
        window: float,
        announce: bool = True,
    ) -> int:
        if self.shared and digest is not None and window > 0:
            seen = self._seen.get(digest)
            if seen is not None and seen[1] > self._clock():
                self._seen[digest] = (seen[0], self._clock() + window)
                return -seen[0]
        item_id = next(self._ids)
        self._items[item_id] = _Item(OutboxItem(item_id, lane, kind, json.loads(json.dumps(body)), token, now))
        if self.shared and digest is not None and window > 0:
            self._seen[digest] = (item_id, self._clock() + window)
        if announce:
            self._publish(EventKind.QUEUED, item_id, lane)
        return item_id

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
        # One step: a fault told for either half fails it before anything is kept (as Redis' one script).
        self._raise_if_told("enqueue")
        self._raise_if_told("begin_send")
        item_id = self._keep(
            lane=lane, kind=kind, body=body, token=token, now=now, digest=digest, window=window, announce=False
        )
        if item_id < 0:
            return item_id, None
        name = f"lane:{lane}"
        alone = [kept.item.id for kept in self._pending() if kept.item.lane == lane] == [item_id]
        if take and self.shared and alone and self._holder(name) is None:  # a cold lane: its lease taken first
            self._leases[name] = (owner, self._clock() + ttl)
        grant = self._begin(lane, owner, item_id, ttl, force=False, cards=cards)
        if grant.outcome is not SendOutcome.GO:  # as Redis: announced unless the writer is the lane's holder
            self._publish(EventKind.QUEUED, item_id, lane)
        return item_id, grant

    async def events(self) -> AsyncGenerator[OutboxEvent, None]:
        if not self.shared:
            return
        queue: asyncio.Queue[OutboxEvent] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.remove(queue)

    def _pending(self) -> list[_Item]:
        return [kept for _, kept in sorted(self._items.items()) if kept.state is ItemState.PENDING]

    async def pending(self, lane: str | None = None, *, after: int = 0) -> list[OutboxItem]:
        self._raise_if_told("pending")
        return [
            self._copy(kept.item) for kept in self._pending() if kept.item.id > after and lane in (None, kept.item.lane)
        ]

    async def pending_ids(self, lane: str) -> list[int]:
        return [kept.item.id for kept in self._pending() if kept.item.lane == lane]

    async def item_state(self, item_id: int) -> tuple[ItemState, str] | None:
        kept = self._items.get(item_id)
        return None if kept is None else (kept.state, kept.error)

    async def pending_lanes(self) -> list[str]:
        return sorted({kept.item.lane for kept in self._pending()})

    async def record_attempt(self, item_id: int) -> None:
        if (kept := self._items.get(item_id)) is not None:
            kept.item.attempts += 1

    def _clear_mark(self, lane: str, item_id: int) -> None:
        if self._marks.get(lane, "").endswith(f"|{item_id}"):
            del self._marks[lane]

    async def delivered(self, item_id: int, *, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        self._raise_if_told("delivered")
        if card is not None:  # both or neither: a fault told for either fails the step before the item goes
            await self.save_card(card, keys)
        kept = self._items.pop(item_id, None)
        if kept is not None:
            self._clear_mark(kept.item.lane, item_id)
            self._publish(EventKind.DELIVERED, item_id, "")

    async def failed(self, item_id: int, *, error: str, now: float) -> None:
        kept = self._items.get(item_id)
        if kept is None:
            return
        self._clear_mark(kept.item.lane, item_id)
        self._publish(EventKind.FAILED, item_id, error)
        if kept.state is ItemState.PENDING:
            stored = failed_body(json.dumps(kept.item.body, ensure_ascii=False), MAX_FAILED_ITEM_BYTES)
            kept.item.body, kept.size = json.loads(stored), len(stored)
        kept.state, kept.error, kept.finished_at = ItemState.FAILED, error, now
        if sum(k.size for k in self._failed()) > MAX_FAILED_BYTES:  # over: well under it, as the other backends do
            self._fit_failed(int(MAX_FAILED_BYTES * FAILED_BYTES_KEPT_AFTER_DROP))

    def _failed(self) -> list[_Item]:
        return [kept for _, kept in sorted(self._items.items()) if kept.state is ItemState.FAILED]

    def _fit_failed(self, most: int) -> int:
        failed = self._failed()
        total, dropped = sum(kept.size for kept in failed), 0
        for kept in failed:  # oldest first
            if total <= most:
                break
            del self._items[kept.item.id]
            total -= kept.size
            dropped += 1
        return dropped

    async def outbox_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kept in self._items.values():
            counts[kept.state.value] = counts.get(kept.state.value, 0) + 1
        return counts

    async def failed_items(self, limit: int = 100) -> list[tuple[int, str, str]]:
        return [(kept.item.id, kept.item.lane, kept.error) for kept in reversed(self._failed())][: max(0, limit)]

    async def outbox_entries(
        self, state: ItemState, limit: int = 100, *, unreadable: list[str] | None = None
    ) -> list[OutboxEntry]:
        kept = self._pending() if state is ItemState.PENDING else list(reversed(self._failed()))
        return [OutboxEntry(self._copy(k.item), state, k.error, k.finished_at) for k in kept[: max(0, limit)]]

    @staticmethod
    def _copy(item: OutboxItem) -> OutboxItem:
        """What a read hands out: the caller's own, as rows read or bytes received are (the stored one changes as the
        store works, and must not change with what the caller does to its copy)."""
        return replace(item, body=json.loads(json.dumps(item.body)))

    async def retry_item(self, item_id: int, *, now: float) -> bool:
        kept = self._items.get(item_id)
        if kept is None or kept.state is not ItemState.FAILED:
            return False
        kept.state, kept.error, kept.finished_at, kept.size = ItemState.PENDING, "", None, 0
        kept.item.attempts, kept.item.created_at = 0, now
        self._publish(EventKind.QUEUED, item_id, kept.item.lane)
        return True

    async def drop_item(self, item_id: int) -> bool:
        return self._items.pop(item_id, None) is not None

    # Cards.

    def _channel_id(self, bot: str, target: str) -> str | None:
        return target if is_channel_id(target) else self._channel_names.get((bot, target))

    def _found(self, bot: str, target: str, keys: Sequence[str]) -> list[FoundCard]:
        channel_id = self._channel_id(bot, target) if keys else None
        if channel_id is None:
            return []
        found = []
        for position, key in enumerate(keys):
            card = self._cards.get(self._card_keys.get((bot, channel_id, key), 0))
            if card is not None:
                found.append(FoundCard(position, replace(card.record), tuple(card.keys)))
        return found

    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        self._raise_if_told("find_card")
        return strongest_card(keys, self._found(bot, target, keys))

    async def card_by_message(self, channel_id: str, ts: str) -> CardRecord | None:
        for card in self._cards.values():
            if (card.record.channel_id, card.record.ts) == (channel_id, ts):
                return replace(card.record)
        return None

    async def save_card(self, record: CardRecord, keys: Sequence[str] = ()) -> None:
        self._raise_if_told("save_card")
        if not record.id:
            record.id = next(self._card_ids)
        card = self._cards.setdefault(record.id, _Card(record))
        card.record = replace(record)
        for key in keys:
            other = self._card_keys.get((record.bot, record.channel_id, key))
            if other is not None and other != record.id and other in self._cards:
                self._cards[other].keys = [k for k in self._cards[other].keys if k != key]
            self._card_keys[(record.bot, record.channel_id, key)] = record.id
            card.keys = [*(k for k in card.keys if k != key), key]
        if keys and record.target != record.channel_id:
            self._channel_names[(record.bot, record.target)] = record.channel_id

    # Repeats, secrets, leases, pacing.

    async def seen_recently(self, digest: str, window: float) -> bool:
        now = self._clock()
        seen = self._seen.get(digest)
        self._seen[digest] = (seen[0] if seen else 0, now + window)
        return seen is not None and seen[1] > now

    async def forget_seen(self, digest: str) -> None:
        self._seen.pop(digest, None)

    async def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        if name not in self._secrets:
            self._secrets[name] = make()
        return self._secrets[name]

    async def sync_secret(self, name: str, current: str) -> tuple[str, list[str]]:
        value = self._secrets.setdefault(name, current)
        known = self._all_secrets.setdefault(name, [])
        for secret in (current, value):
            if secret not in known:
                known.append(secret)
        return value, list(known)

    def _holder(self, name: str) -> str | None:
        held = self._leases.get(name)
        return held[0] if held is not None and held[1] > self._clock() else None

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        self._raise_if_told("acquire_lease")
        if not self.shared:
            return True
        if self._holder(name) not in (None, owner):
            return False
        self._leases[name] = (owner, self._clock() + ttl)
        return True

    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        return (await self.renew_leases([name], owner, ttl))[0]

    async def renew_leases(self, names: Sequence[str], owner: str, ttl: float) -> list[bool]:
        self._raise_if_told("renew_leases")
        if not self.shared:
            return [True for _ in names]
        held = [self._holder(name) == owner for name in names]
        for name, ours in zip(names, held, strict=True):
            if ours:
                self._leases[name] = (owner, self._clock() + ttl)
        return held

    async def begin_send(
        self, lane: str, owner: str, item_id: int, ttl: float, *, force: bool = False, cards: CardQuery | None = None
    ) -> SendGrant:
        self._raise_if_told("begin_send")
        return self._begin(lane, owner, item_id, ttl, force=force, cards=cards)

    def _begin(
        self, lane: str, owner: str, item_id: int, ttl: float, *, force: bool, cards: CardQuery | None
    ) -> SendGrant:
        found = () if cards is None else tuple(self._found(cards.bot, cards.target, cards.keys))
        if not self.shared:
            return SendGrant(SendOutcome.GO, cards=found)
        name = f"lane:{lane}"
        if self._holder(name) != owner:
            return SendGrant(SendOutcome.LOST)
        self._leases[name] = (owner, self._clock() + ttl)
        kept = self._items.get(item_id)
        if kept is None or kept.state is not ItemState.PENDING:
            return SendGrant(SendOutcome.SETTLED)
        mark = self._marks.get(lane)
        if mark and not mark.startswith(f"{owner}|") and not force:
            return SendGrant(SendOutcome.BUSY, mark)
        self._marks[lane] = f"{owner}|{item_id}"
        return SendGrant(SendOutcome.GO, cards=found)

    async def release_lease(self, name: str, owner: str, *, idle: bool = False) -> None:
        if self._holder(name) == owner:
            del self._leases[name]
        lane = name.removeprefix("lane:")
        if idle and self._marks.get(lane, "").startswith(f"{owner}|"):
            del self._marks[lane]

    async def lease_holder(self, name: str) -> str | None:
        return self._holder(name)

    async def take_slot(self, bucket: str, rate: float, burst: int) -> float:
        if not self.shared:
            return 0.0
        now = self._clock()
        state = self._buckets.setdefault(bucket, _Bucket(float(burst), now))
        if now < state.paused:
            return state.paused - now
        if now > state.stamp:
            state.tokens, state.stamp = min(float(burst), state.tokens + (now - state.stamp) * rate), now
        if state.tokens >= WHOLE_TOKEN:  # as bot.pacing.Pacer: a clock that does not move never waits ~1e-13 s
            state.tokens = max(0.0, state.tokens - 1)
            return 0.0
        return (1 - state.tokens) / rate

    async def pause_slot(self, bucket: str, seconds: float) -> None:
        if not self.shared:
            return
        now = self._clock()
        state = self._buckets.setdefault(bucket, _Bucket(0.0, now))
        state.paused = max(state.paused, now + seconds)
        state.tokens, state.stamp = 0.0, state.paused

    # Upkeep.

    def _raise_if_told(self, method: str) -> None:
        if method in self.failing:
            raise StoreError(f"the in-memory store is told to fail {method}")
        if method in self.fail_next:
            self.fail_next.remove(method)
            raise StoreError(f"the in-memory store was told to fail {method}")

    def describe(self) -> str:
        return "in memory" + (" (shared)" if self.shared else "")

    async def ping(self) -> bool:
        return True

    async def vanished(self) -> bool:
        return False

    async def reopen(self) -> None:
        return None

    async def prune(self, now: float) -> int:
        removed = 0
        for kept in self._failed():
            if kept.finished_at is not None and kept.finished_at < now - FAILED_ITEM_RETENTION_SECONDS:
                del self._items[kept.item.id]
                removed += 1
        failed = self._failed()
        for kept in failed[: max(0, len(failed) - MAX_FAILED_ITEMS)]:
            del self._items[kept.item.id]
            removed += 1
        removed += self._fit_failed(MAX_FAILED_BYTES)  # the cap may have been lowered since they failed
        before = len(self._audit)
        self._audit = [record for record in self._audit if record.at >= now - AUDIT_RETENTION_SECONDS]
        del self._audit[MAX_AUDIT_RECORDS:]  # likewise
        removed += before - len(self._audit)
        return removed + self._prune_cards(now) + self._prune_clock()

    def _prune_cards(self, now: float) -> int:
        """Cards past their retention (by ``updated_at``, the callers' time as ``now`` is), with their alert names,
        and channel names no card is in any more."""
        doomed = {
            card_id
            for card_id, card in self._cards.items()
            if card.record.updated_at < now - OPEN_CARD_RETENTION_SECONDS
            or (
                card.record.status is CardStatus.RESOLVED
                and card.record.updated_at < now - RESOLVED_CARD_RETENTION_SECONDS
            )
        }
        for card_id in doomed:
            del self._cards[card_id]
        self._card_keys = {name: card_id for name, card_id in self._card_keys.items() if card_id not in doomed}
        channels = {card.record.channel_id for card in self._cards.values()}
        self._channel_names = {name: channel for name, channel in self._channel_names.items() if channel in channels}
        return len(doomed)

    def _prune_clock(self) -> int:
        """What is timed by the store's own clock, cut by it too (not by ``prune``'s ``now``: the default clock is the
        event loop's, which is no epoch time): click claims past CLAIM_RETENTION_SECONDS since claimed or done, as
        Redis' keys expire, and repeat digests past their window."""
        cutoff = self._clock() - CLAIM_RETENTION_SECONDS
        claims = len(self._claims)
        self._claims = {
            key: claim
            for key, claim in self._claims.items()
            if (claim.at if claim.done is None else claim.done) >= cutoff
        }
        self._seen = {digest: seen for digest, seen in self._seen.items() if seen[1] > self._clock()}
        return claims - len(self._claims)

    async def close(self) -> None:
        return None


def _conforms(store: MemoryStore) -> Store:
    return store  # mypy checks here that the in-memory store is a whole ``Store``
