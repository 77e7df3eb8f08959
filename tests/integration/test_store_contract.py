"""The store contract, one test per behaviour run over every backend (in tests/integration: the Redis runs need a
server): the in-memory store (the reference the unit suite runs on), the embedded SQLite store and Redis (a real
``redis-server``, the session's ``redis_server``, each test under its own key prefix). What one backend does, the
others do too: claims, the audit trail, app tokens, the outbox and its lanes, the operator's view of it, cards found by
any name of their alert, retention, repeat suppression, leases held and given up, shared secrets, upkeep. Then what
only a store of one process does (SQLite, memory unshared), what only a shared store does (Redis, memory shared: leases
with one holder, sending marks, pacing budgets, events), and what only Redis has (key expiry, prefixes, its errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis.exceptions import ResponseError

from bot.core.cards import CardStatus
from bot.core.compact import TRIMMED_KEY
from bot.core.lifecycle import alert_keys
from bot.core.models import Message
from bot.ports.store import (
    AUDIT_RETENTION_SECONDS,
    CLAIM_RETENTION_SECONDS,
    FAILED_BYTES_KEPT_AFTER_DROP,
    FAILED_ITEM_RETENTION_SECONDS,
    MAX_FAILED_BYTES,
    MAX_FAILED_ITEM_BYTES,
    OPEN_CARD_RETENTION_SECONDS,
    RESOLVED_CARD_RETENTION_SECONDS,
)
from bot.store import (
    AuditRecord,
    CardQuery,
    CardRecord,
    ClaimStatus,
    EventKind,
    ItemKind,
    ItemState,
    RedisStore,
    SendOutcome,
    SqliteStore,
    Store,
    StoreError,
    open_store,
    strongest_card,
)
from bot.store import memory as memory_store
from bot.store import redis as redis_store
from bot.store import sqlite as sqlite_store
from bot.store.memory import MemoryStore
from tests.redis_server import RedisServer
from tests.samples import alert_tags, alerting_message, card_record

NOW = 1_000_000_000.0


class Backend:
    """One store, and a way to open more clients of it (another replica's view of the same data).

    ``sqlite``: the embedded store, the first client its directory's owner; ``redis``: a real server, each client a
    connection under this test's prefix; ``memory``: the in-memory reference, shared (as replicas on one Redis), its
    clients all the one ``MemoryStore`` (its data lives in that object: a process's replicas share it by sharing it).

    The store's own clock: the embedded and in-memory stores' is the test's (``clock``, moved by ``advance``); Redis'
    is its own, so ``advance`` waits for real there."""

    def __init__(self, name: str, tmp_path: Path, redis_server: RedisServer | None) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.redis_server = redis_server
        self.prefix = f"test-{uuid.uuid4().hex[:12]}"
        # where the store's caps live (a test lowers one with monkeypatch)
        self.module: ModuleType = {"redis": redis_store, "sqlite": sqlite_store, "memory": memory_store}[name]
        self.clock = NOW
        self._opened: list[Store] = []
        self._memory: MemoryStore | None = None

    async def open(self) -> Store:
        store: Store
        if self.name == "redis":
            assert self.redis_server is not None
            store = await RedisStore.connect(self.redis_server.url, prefix=self.prefix)
        elif self.name == "memory":
            if self._memory is None:
                self._memory = MemoryStore(shared=True, clock=lambda: self.clock)
            return self._memory
        else:  # the first opens as the owner (the data-directory lock), the others beside it
            store = SqliteStore(self.tmp_path, lock_wait=0, owner=not self._opened, clock=lambda: self.clock)
        self._opened.append(store)
        return store

    async def failed_sizes(self, store: Store) -> dict[int, tuple[int, int]]:
        """What each failed item costs, measured beside the store: (bytes of its body as stored, bytes of the whole
        item: Redis' MEMORY USAGE of its hash, the embedded row's columns, or the in-memory record's fields as the
        embedded row would hold them)."""
        if isinstance(store, RedisStore):
            raw = store._redis
            ids = [int(i) for i in redis_store._texts(await raw.zrange(f"{store.prefix}:outbox:failed", 0, -1))]
            sizes = {}
            for item_id in ids:
                key = f"{store.prefix}:outbox:item:{item_id}"
                usage = await raw.memory_usage(key, samples=0)
                if usage is not None:  # None: the item is gone (its id is forgotten when pruning)
                    sizes[item_id] = (int(await raw.hstrlen(key, "body")), int(usage))
            return sizes
        if isinstance(store, MemoryStore):  # its records themselves, not the sizes it counted for them
            measured = {}
            for item_id, kept in store._items.items():
                if kept.state is ItemState.FAILED:
                    body = len(json.dumps(kept.item.body, ensure_ascii=False, separators=(",", ":")).encode())
                    other = sum(len(text.encode()) for text in (kept.item.lane, kept.item.token, kept.error))
                    measured[item_id] = (body, body + other + 64)
            return measured
        assert isinstance(store, SqliteStore)
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            rows = db.execute(
                "SELECT id, length(CAST(body AS BLOB)), length(CAST(body AS BLOB)) + length(CAST(lane AS BLOB)) + "
                "length(CAST(token AS BLOB)) + length(CAST(error AS BLOB)) + 64 FROM outbox WHERE state = 'failed'"
            ).fetchall()
        return {int(item_id): (int(body), int(whole)) for item_id, body, whole in rows}

    async def lease_holder(self, store: Store, name: str) -> str | None:
        """Who holds the lease ``name`` (shared stores only: the embedded one has no holders)."""
        assert isinstance(store, RedisStore | MemoryStore)
        return await store.lease_holder(name)

    async def lose_secret(self, store: Store, name: str) -> None:
        """The store forgets the shared secret ``name`` (Redis restarted empty, FLUSHALL), not what it had before."""
        if isinstance(store, RedisStore):
            await store._redis.delete(store._key("secret", name))
        else:
            assert isinstance(store, MemoryStore)
            del store._secrets[name]

    def now(self) -> float:
        """The store's time now."""
        return time.time() if self.name == "redis" else self.clock

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass by the store's clock."""
        if self.name == "redis":
            await asyncio.sleep(seconds)
        else:
            self.clock += seconds

    async def elapse(self, seconds: float) -> None:
        """Let ``seconds`` pass for whatever times a repeat window (``seen_recently``): Redis' clock, the embedded
        store's process (its ``RepeatFilter`` reads the monotonic clock, not the store's), the in-memory store's
        clock."""
        if self.name == "memory":
            self.clock += seconds
        else:
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        for store in reversed(self._opened):
            await store.close()
        if self._memory is not None:
            await self._memory.close()


BACKENDS = ["sqlite", "redis", "memory"]


async def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    server = request.getfixturevalue("redis_server") if request.param == "redis" else None
    opened = Backend(request.param, tmp_path, server)
    yield opened
    await opened.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async for opened in _backend(request, tmp_path):
        yield opened


@pytest.fixture(params=["redis", "memory"])
async def shared(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A store several processes use at once (``Store.shared``): Redis, or the in-memory reference made shared. What
    only such a store does (leases with one holder, sending marks, pacing budgets and repeats told apart by the store,
    events) is tested here; the embedded store belongs to one process and does none of it."""
    async for opened in _backend(request, tmp_path):
        yield opened


@pytest.fixture(params=["sqlite", "memory"])
async def one_process(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store that belongs to one process (``shared`` false): the embedded store, or the in-memory reference as
    the unit tests mostly use it."""
    store: Store = SqliteStore(tmp_path, lock_wait=0) if request.param == "sqlite" else MemoryStore()
    yield store
    await store.close()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    opened = await RedisStore.connect(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    yield opened
    await opened.close()


def _audit(ts: str, at: float = NOW) -> AuditRecord:
    return AuditRecord(at=at, actor="U1", action="Ack", channel="C1", message_ts=ts, target="alert-1", outcome="done")


# Clicks.


async def test_claims_are_exclusive_until_released_or_stale(backend: Backend, store: Store) -> None:
    first = await store.claim_action("k", "U1", stale_after=40)
    assert first.status is ClaimStatus.CLAIMED and first.at == pytest.approx(backend.now(), abs=1)
    second = await store.claim_action("k", "U2", stale_after=40)
    assert (second.status, second.actor, second.at) == (ClaimStatus.IN_PROGRESS, "U1", first.at)
    await store.finish_action("k", done=False)
    assert (await store.claim_action("k", "U2", stale_after=40)).status is ClaimStatus.CLAIMED
    await store.finish_action("k", done=True)
    finished_at = backend.now()
    done = await store.claim_action("k", "U4", stale_after=40)
    assert (done.status, done.actor) == (ClaimStatus.DONE, "U2") and done.at == pytest.approx(finished_at, abs=1)
    await store.finish_action("k", done=False)  # a done action is never released
    assert (await store.claim_action("k", "U5", stale_after=40)).status is ClaimStatus.DONE
    await store.finish_action("never-claimed", done=True)  # finishing nothing creates nothing
    assert (await store.claim_action("never-claimed", "U6", stale_after=40)).status is ClaimStatus.CLAIMED


async def test_a_claim_goes_stale_after_its_ttl_by_the_stores_clock(backend: Backend, store: Store) -> None:
    """An action claimed and never finished (its replica died mid-callback) may be taken again once ``stale_after``
    has passed by the store's clock; a done one never."""
    stale_after = 1.0
    first = await store.claim_action("k", "U1", stale_after=stale_after)
    assert first.status is ClaimStatus.CLAIMED
    await backend.advance(stale_after / 4)
    held = await store.claim_action("k", "U2", stale_after=stale_after)
    assert (held.status, held.actor, held.at) == (ClaimStatus.IN_PROGRESS, "U1", first.at)
    await backend.advance(stale_after + 0.25)
    again = await store.claim_action("k", "U3", stale_after=stale_after)
    assert (again.status, again.actor) == (ClaimStatus.CLAIMED, "U3") and again.at > first.at
    await store.finish_action("k", done=True)
    await backend.advance(stale_after + 0.25)
    assert (await store.claim_action("k", "U4", stale_after=stale_after)).actor == "U3"  # done: kept


async def test_one_claim_wins_among_concurrent_clicks_on_three_clients(backend: Backend) -> None:
    """20 clicks on the same button at once, through three clients (three replicas): exactly one carries it out."""
    clients = [await backend.open() for _ in range(3)]
    claims = await asyncio.gather(
        *(clients[i % 3].claim_action("alert:a-1:ACK", f"U{i}", stale_after=40) for i in range(20))
    )
    winners = [claim for claim in claims if claim.status is ClaimStatus.CLAIMED]
    assert len(winners) == 1
    assert {(c.status, c.actor) for c in claims if c is not winners[0]} == {(ClaimStatus.IN_PROGRESS, winners[0].actor)}


# Audit, app tokens, transactions.


async def test_audit_is_newest_first_and_bounded_by_cap_and_age(
    backend: Backend, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.add_audit(_audit("old", at=NOW - AUDIT_RETENTION_SECONDS - 1))
    for i in range(5):
        await store.add_audit(_audit(str(i)))
    assert [a.message_ts for a in await store.audit(limit=2)] == ["4", "3"]
    assert await store.audit(limit=0) == []
    assert (await store.audit())[0] == _audit("4")
    assert (await store.audit())[-1].message_ts == "old"
    await store.prune(NOW)
    assert [a.message_ts for a in await store.audit()] == ["4", "3", "2", "1", "0"]  # past its age: gone
    monkeypatch.setattr(backend.module, "MAX_AUDIT_RECORDS", 3)
    await store.add_audit(_audit("5"))  # the cap holds once pruned (Redis trims as it adds)
    await store.prune(NOW)
    assert [a.message_ts for a in await store.audit()] == ["5", "4", "3"]
    monkeypatch.setattr(backend.module, "MAX_AUDIT_RECORDS", 2)  # lowered since they were added: pruning applies it
    assert await store.prune(NOW) == 1
    assert [a.message_ts for a in await store.audit()] == ["5", "4"]


async def test_app_tokens_are_kept_oldest_first_and_forgotten(backend: Backend, store: Store) -> None:
    assert await store.remember_app_token("id-2", "sealed-2", now=2)
    assert await store.remember_app_token("id-1", "sealed-1", now=1)
    assert await store.remember_app_token("id-3", "sealed-3", now=2)  # same instant as id-2: after it
    assert not await store.remember_app_token("id-1", "sealed-again", now=3)
    assert await store.app_tokens() == ["sealed-1", "sealed-2", "sealed-3"]
    other = await backend.open()  # another replica, or the store reopened: the same tokens
    assert await other.app_tokens() == ["sealed-1", "sealed-2", "sealed-3"]
    assert await other.forget_app_token("id-2")
    assert not await other.forget_app_token("id-2")
    assert await store.app_tokens() == ["sealed-1", "sealed-3"]


async def test_a_transaction_can_group_writes(store: Store) -> None:
    async with store.transaction():
        first = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
        async with store.transaction():  # nested: harmless
            await store.add_audit(_audit("1"))
    assert [item.id for item in await store.pending()] == [first]
    assert len(await store.audit()) == 1


# The outbox.


async def test_the_outbox_keeps_items_in_order_per_lane(store: Store) -> None:
    body: dict[str, Any] = {"text": "Disk 95 % — ünïcode", "nested": {"list": [1, 2.5, None, True]}}
    a1 = await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body=body, token="tok-1", now=10.25)
    b1 = await store.enqueue(lane="bot:C2", kind=ItemKind.NOTE, body={"n": 2}, token="tok-2", now=11)
    a2 = await store.enqueue(lane="bot:C1", kind=ItemKind.NOTE, body={"n": 3}, token="tok-1", now=12)
    assert a1 < b1 < a2
    everything = await store.pending()
    assert [item.id for item in everything] == [a1, b1, a2]
    first = everything[0]
    assert (first.lane, first.kind, first.body, first.token, first.created_at, first.attempts) == (
        "bot:C1",
        ItemKind.DISPATCH,
        body,
        "tok-1",
        10.25,
        0,
    )
    assert [item.id for item in await store.pending("bot:C1")] == [a1, a2]
    assert [item.id for item in await store.pending("nobody")] == []
    assert sorted(await store.pending_lanes()) == ["bot:C1", "bot:C2"]
    await store.record_attempt(a1)
    await store.record_attempt(a1)
    await store.record_attempt(9_999_999)  # gone already: nothing happens
    assert (await store.pending("bot:C1"))[0].attempts == 2
    await store.delivered(b1)
    assert await store.pending_lanes() == ["bot:C1"]  # a lane with nothing left leaves the index
    assert await store.outbox_counts() == {"pending": 2}


async def test_delivered_items_are_forgotten_and_failed_ones_kept(store: Store) -> None:
    assert await store.outbox_counts() == {}
    ids = [await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": i}, token="t", now=i) for i in range(4)]
    await store.delivered(ids[0])
    await store.failed(ids[1], error="ERROR_SLACK_AUTH: no", now=5)
    await store.failed(ids[2], error="ERROR_SLACK_CHANNEL: gone", now=6)
    assert await store.outbox_counts() == {"pending": 1, "failed": 2}
    assert [item.id for item in await store.pending()] == [ids[3]]
    assert await store.failed_items() == [
        (ids[2], "l", "ERROR_SLACK_CHANNEL: gone"),
        (ids[1], "l", "ERROR_SLACK_AUTH: no"),
    ]
    assert await store.failed_items(limit=1) == [(ids[2], "l", "ERROR_SLACK_CHANNEL: gone")]
    await store.delivered(ids[3])
    assert await store.pending_lanes() == []
    assert await store.outbox_counts() == {"failed": 2}


async def test_a_lane_and_an_item_can_be_looked_at_cheaply(store: Store) -> None:
    """What a lane's holder and a replica waiting on another's delivery ask the store."""
    ids = [
        await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body={"n": i}, token="t", now=i) for i in range(3)
    ]
    other = await store.enqueue(lane="bot:C2", kind=ItemKind.DISPATCH, body={}, token="t", now=4)
    assert await store.pending_ids("bot:C1") == ids and await store.pending_ids("nobody") == []
    assert [item.id for item in await store.pending("bot:C1", after=ids[0])] == ids[1:]
    assert [item.id for item in await store.pending(after=ids[2])] == [other]
    assert await store.item_state(ids[0]) == (ItemState.PENDING, "")
    await store.delivered(ids[0])
    await store.failed(ids[1], error="ERROR_SLACK_AUTH: no", now=5)
    assert await store.item_state(ids[0]) is None  # delivered: forgotten
    assert await store.item_state(ids[1]) == (ItemState.FAILED, "ERROR_SLACK_AUTH: no")
    assert await store.pending_ids("bot:C1") == [ids[2]]


async def test_the_operator_sees_pending_items_in_order_and_failed_ones_newest_first(store: Store) -> None:
    ids = [
        await store.enqueue(lane=f"bot:C{i % 2}", kind=ItemKind.DISPATCH, body={"n": i}, token="t", now=100 + i)
        for i in range(5)
    ]
    await store.record_attempt(ids[0])
    await store.failed(ids[1], error="ERROR_SLACK_AUTH: revoked", now=200)
    await store.failed(ids[3], error="ERROR_SLACK_CHANNEL_NOT_FOUND: gone", now=201)
    await store.delivered(ids[4])
    pending = await store.outbox_entries(ItemState.PENDING)
    assert [(e.item.id, e.state, e.error, e.finished_at) for e in pending] == [
        (ids[0], ItemState.PENDING, "", None),
        (ids[2], ItemState.PENDING, "", None),
    ]
    first = pending[0].item
    assert (first.lane, first.kind, first.body, first.created_at, first.attempts) == (
        "bot:C0",
        ItemKind.DISPATCH,
        {"n": 0},
        100,
        1,
    )
    failed = await store.outbox_entries(ItemState.FAILED)
    assert [(e.item.id, e.error, e.finished_at) for e in failed] == [
        (ids[3], "ERROR_SLACK_CHANNEL_NOT_FOUND: gone", 201),
        (ids[1], "ERROR_SLACK_AUTH: revoked", 200),
    ]
    assert [e.item.id for e in await store.outbox_entries(ItemState.FAILED, limit=1)] == [ids[3]]
    assert await store.outbox_entries(ItemState.PENDING, limit=0) == []


async def test_a_failed_item_can_be_retried_and_any_item_dropped(backend: Backend, store: Store) -> None:
    ids = [
        await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body={"n": i}, token="t", now=i) for i in range(3)
    ]
    await store.record_attempt(ids[0])
    await store.failed(ids[0], error="ERROR_SLACK_AUTH: revoked", now=5)
    assert await store.pending_ids("bot:C1") == ids[1:]
    assert not await store.retry_item(ids[1], now=50)  # pending: nothing to retry
    assert not await store.retry_item(9_999_999, now=50)
    assert await store.retry_item(ids[0], now=50)
    assert not await store.retry_item(ids[0], now=51)  # once
    other = await backend.open()  # another replica (or the running plugin) sees it queued, in its lane's order
    assert await other.pending_ids("bot:C1") == ids
    assert await other.pending_lanes() == ["bot:C1"]
    again = (await other.pending("bot:C1"))[0]
    assert (again.id, again.attempts, again.created_at) == (ids[0], 0, 50)
    assert await other.item_state(ids[0]) == (ItemState.PENDING, "")
    assert await store.outbox_counts() == {"pending": 3}

    await store.failed(ids[1], error="ERROR_SLACK_AUTH: revoked", now=60)
    assert await store.drop_item(ids[1])  # failed
    assert await store.drop_item(ids[0])  # pending
    assert not await store.drop_item(ids[0])
    assert await store.item_state(ids[1]) is None and await store.outbox_entries(ItemState.FAILED) == []
    assert await other.pending_ids("bot:C1") == [ids[2]]
    assert await store.drop_item(ids[2])
    assert await store.pending_lanes() == []  # a lane with nothing left leaves the index
    assert await store.outbox_counts() == {}


async def test_ids_increase_in_the_order_items_are_accepted_across_clients(backend: Backend) -> None:
    clients = [await backend.open() for _ in range(3)]
    ids = await asyncio.gather(
        *(clients[i % 3].enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": i}, token="t", now=i) for i in range(30))
    )
    assert len(set(ids)) == 30
    pending = await clients[0].pending("l")
    assert [item.id for item in pending] == sorted(ids)


async def test_prune_drops_failed_items_past_their_age_and_the_cap(
    backend: Backend, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    await store.failed(old, error="old", now=NOW - FAILED_ITEM_RETENTION_SECONDS - 1)
    kept = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=2)
    await store.failed(kept, error="recent", now=NOW - 10)
    waiting = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=3)
    assert await store.prune(NOW) >= 1
    assert await store.failed_items() == [(kept, "l", "recent")]
    monkeypatch.setattr(backend.module, "MAX_FAILED_ITEMS", 2)
    newer = []
    for n in range(3):
        item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=4 + n)
        await store.failed(item, error=f"new {n}", now=NOW)
        newer.append(item)
    await store.prune(NOW)
    assert [item_id for item_id, _, _ in await store.failed_items()] == [newer[2], newer[1]]  # the newest kept
    assert [item.id for item in await store.pending()] == [waiting]  # pending items are never pruned


# jemalloc's size classes are at most a quarter apart, so Redis may hold a value in up to 5/4 of its bytes.
ALLOCATOR_SLACK = 5 / 4


def huge_dispatch(title: str = "[Alerting] Disk full on db-1") -> dict[str, Any]:
    """A ~3.85 MB dispatch body as the outbox keeps it (the one of issue 16): 235 tags of 4,096 emoji (the most
    a kept tag value holds), 11.6 MB once \\u-escaped."""
    tags = alert_tags() + [{"key": f"Detail {i}", "value": "\U0001f600" * 4096} for i in range(235)]
    return {"target": "#gone", "message": alerting_message(title=title, tags=tags), "notification_type": "ERROR"}


async def test_a_failed_item_keeps_at_most_its_bound_and_can_still_be_retried(backend: Backend, store: Store) -> None:
    big = huge_dispatch()
    assert len(json.dumps(big, ensure_ascii=False).encode()) > 3_800_000
    item = await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body=big, token="t", now=1)
    small_body = {"target": "#gone", "message": alerting_message(), "notification_type": "ERROR", "note": "ünï😀"}
    small = await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body=small_body, token="t", now=2)
    await store.failed(item, error="ERROR_SLACK_CHANNEL_NOT_FOUND: gone", now=NOW)
    await store.failed(small, error="ERROR_SLACK_CHANNEL_NOT_FOUND: gone", now=NOW)
    sizes = await backend.failed_sizes(store)
    body_bytes, whole = sizes[item]
    assert body_bytes <= MAX_FAILED_ITEM_BYTES  # was 11.6 MB (12.6 MB of Redis)
    assert whole <= MAX_FAILED_ITEM_BYTES * ALLOCATOR_SLACK + 4096
    assert sizes[small][0] == len(json.dumps(small_body, ensure_ascii=False, separators=(",", ":")).encode())
    entries = {e.item.id: e for e in await store.outbox_entries(ItemState.FAILED)}
    assert entries[small].item.body == small_body  # a real notification is kept whole
    kept = entries[item].item.body
    assert kept[TRIMMED_KEY] == len(json.dumps(big, ensure_ascii=False, separators=(",", ":")).encode())
    assert (kept["target"], kept["notification_type"]) == ("#gone", "ERROR")
    message, original = Message.from_struct(kept["message"]), Message.from_struct(big["message"])
    assert message.title == original.title and alert_keys(message) == alert_keys(original)  # finds its card
    assert [t.key for t in message.tags[:3]] == ["Alert Number", "State", "Urgency"]
    assert message.tags[-1].value.endswith("…")  # cut, visibly
    assert entries[item].error == "ERROR_SLACK_CHANNEL_NOT_FOUND: gone"
    assert await store.retry_item(item, now=NOW + 1)  # what `slack-chatops outbox retry` does
    [again] = [i for i in await store.pending("bot:C1") if i.id == item]
    assert again.body == kept and again.attempts == 0
    assert item not in await backend.failed_sizes(store)


async def test_failed_items_keep_at_most_the_byte_cap_oldest_dropped_first(
    backend: Backend, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted as each item fails (not only when pruning): 15 failed items of ~100 kB under a 1 MB cap."""
    cap = 1_000_000
    monkeypatch.setattr(backend.module, "MAX_FAILED_BYTES", cap)
    ids: list[int] = []
    sizes: dict[int, tuple[int, int]] = {}
    for n in range(15):
        body = {"target": "#gone", "message": {"title": f"[Alerting] {n}", "description": "x" * 100_000}}
        item = await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body=body, token="t", now=n)
        await store.failed(item, error="ERROR_SLACK_CHANNEL_NOT_FOUND: gone", now=NOW + n)
        ids.append(item)
        before, sizes = sizes, await backend.failed_sizes(store)
        assert sum(body for body, _ in sizes.values()) <= cap
        if len(sizes) <= len(before):  # some went: as far as 7/8 of the cap, so the next failure drops nothing
            assert sum(body for body, _ in sizes.values()) <= cap * FAILED_BYTES_KEPT_AFTER_DROP
        assert sum(whole for _, whole in sizes.values()) <= cap * ALLOCATOR_SLACK
        assert sorted(sizes) == ids[-len(sizes) :]  # the newest kept, the oldest dropped first
    assert len(sizes) >= 7  # dropped only as far as needed (to 7/8 of the cap)
    assert await store.outbox_counts() == {"failed": len(sizes)}
    assert [e.item.id for e in await store.outbox_entries(ItemState.FAILED)] == sorted(sizes, reverse=True)
    monkeypatch.setattr(backend.module, "MAX_FAILED_BYTES", cap // 2)  # lowered since: pruning applies it
    assert await store.prune(NOW) > 0
    assert sum(body for body, _ in (await backend.failed_sizes(store)).values()) <= cap // 2
    assert MAX_FAILED_BYTES >= 10_000 * 3 * 1024  # the real cap holds the count cap's worth of typical items


async def test_the_byte_cap_counts_what_is_there_whoever_took_items_away(
    backend: Backend, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item dropped or retried by the operator (another process, or another replica) frees its bytes: the next
    failure drops nothing it need not."""
    monkeypatch.setattr(backend.module, "MAX_FAILED_BYTES", 1_000_000)
    ids = []
    for n in range(4):  # 800 kB
        body = {"target": "#gone", "message": {"title": f"[Alerting] {n}", "description": "x" * 200_000}}
        ids.append(await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body=body, token="t", now=n))
        await store.failed(ids[-1], error="ERROR_SLACK_CHANNEL_NOT_FOUND: gone", now=NOW + n)
    operator = await backend.open()
    assert await operator.drop_item(ids[1]) and await operator.retry_item(ids[2], now=NOW + 5)
    for n in (4, 5):  # 400 kB in all now, 800 kB with these: under the cap
        body = {"target": "#gone", "message": {"title": f"[Alerting] {n}", "description": "x" * 200_000}}
        ids.append(await store.enqueue(lane="bot:C1", kind=ItemKind.DISPATCH, body=body, token="t", now=n))
        await store.failed(ids[-1], error="ERROR_SLACK_CHANNEL_NOT_FOUND: gone", now=NOW + n)
    assert sorted(await backend.failed_sizes(store)) == [ids[0], ids[3], ids[4], ids[5]]


# Cards.


async def test_a_card_is_found_by_any_name_of_its_alert(backend: Backend, store: Store) -> None:
    card = card_record()
    await store.save_card(card, ["alert:alert-1", "number:acme:#7"])
    assert card.id
    # a [Resolved] message names the alert only by its number (no callback), or only by its id (from the link)
    assert await store.find_card("bot-a", "alerts", ["number:acme:#7"]) == card
    assert await store.find_card("bot-a", "C0ALERTS01", ["alert:alert-1"]) == card
    assert await store.card_by_message("C0ALERTS01", "1.0") == card
    card.notified = 2
    card.status = CardStatus.ACKNOWLEDGED
    card.actor, card.actor_name, card.acted_at = "U1", "Ada", 12.5
    await store.save_card(card, ["alert:alert-1", "number:acme:#7-later"])  # a name learnt later is kept too
    found = await (await backend.open()).find_card("bot-a", "alerts", ["number:acme:#7-later"])
    assert found == card and found.id == card.id
    assert await store.find_card("bot-a", "alerts", ["alert:alert-2"]) is None
    assert await store.find_card("bot-a", "alerts", []) is None
    assert await store.find_card("bot-a", "other-channel", ["alert:alert-1"]) is None  # a name never learnt
    assert await store.card_by_message("C0ALERTS01", "9.9") is None


async def test_a_reused_alert_number_does_not_join_two_alerts(store: Store) -> None:
    await store.save_card(card_record(), ["alert:alert-1", "number:acme:#7"])
    assert await store.find_card("bot-a", "alerts", ["alert:alert-2", "number:acme:#7"]) is None  # another alert
    assert await store.find_card("bot-a", "alerts", ["number:acme:#7"]) is not None  # nothing says it is another
    # the number passes to the new alert's card: the old card no longer claims it
    newer = card_record(ts="2.0")
    await store.save_card(newer, ["alert:alert-2", "number:acme:#7"])
    found = await store.find_card("bot-a", "alerts", ["number:acme:#7"])
    assert found is not None and found.id == newer.id
    assert await store.find_card("bot-a", "alerts", ["alert:alert-3", "number:acme:#7"]) is None
    old = await store.find_card("bot-a", "alerts", ["alert:alert-1", "number:acme:#7"])
    assert old is not None and old.ts == "1.0"


async def test_cards_belong_to_their_bot_and_channel_id(store: Store) -> None:
    """Two workspaces (two bots) with a channel of the same name each get their own card of the same alert."""
    await store.save_card(card_record(bot="bot-a", channel_id="C0AAAAAAA1", ts="1.0"), ["alert:alert-1"])
    assert await store.find_card("bot-b", "alerts", ["alert:alert-1"]) is None
    await store.save_card(card_record(bot="bot-b", channel_id="C0BBBBBBB1", ts="2.0"), ["alert:alert-1"])
    a = await store.find_card("bot-a", "alerts", ["alert:alert-1"])
    b = await store.find_card("bot-b", "alerts", ["alert:alert-1"])
    assert a is not None and b is not None and (a.channel_id, b.channel_id) == ("C0AAAAAAA1", "C0BBBBBBB1")
    assert a.id != b.id


# One step for two (a network store's round trips): the fencing check reads the alert's cards, the delivery saves the
# card.


async def _granted(store: Store, item: int, bot: str, target: str, keys: list[str]) -> CardRecord | None:
    """The card the fencing check's grant names (as the outbox chooses it), checked against ``find_card``."""
    grant = await store.begin_send("l", "A", item, 5, cards=CardQuery(bot, target, tuple(keys)))
    assert grant.outcome is SendOutcome.GO
    chosen = strongest_card(keys, grant.cards)
    assert chosen == await store.find_card(bot, target, keys)
    return chosen


async def test_the_fencing_check_reads_the_alerts_card_as_find_card_does(store: Store) -> None:
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    assert await store.acquire_lease("lane:l", "A", 5)
    assert await _granted(store, item, "bot-a", "alerts", ["alert:alert-1"]) is None  # no channel name learnt yet
    card = card_record()
    await store.save_card(card, ["alert:alert-1", "number:acme:#7"])
    assert await _granted(store, item, "bot-a", "alerts", ["alert:alert-1"]) == card  # by the learnt channel name
    assert await _granted(store, item, "bot-a", "C0ALERTS01", ["number:acme:#7"]) == card  # by its ID, a weaker name
    assert await _granted(store, item, "bot-a", "alerts", ["alert:alert-2", "number:acme:#7"]) is None  # another alert
    assert await _granted(store, item, "bot-b", "alerts", ["alert:alert-1"]) is None  # another bot's
    newer = card_record(ts="2.0")
    await store.save_card(newer, ["alert:alert-2", "number:acme:#7"])  # the number passes to the newer alert
    old = await _granted(store, item, "bot-a", "alerts", ["alert:alert-1", "number:acme:#7"])
    assert old is not None and old.ts == "1.0"  # the strongest name wins
    plain = await store.begin_send("l", "A", item, 5)
    assert plain.outcome is SendOutcome.GO and plain.cards == ()  # not asked: nothing read


async def test_a_fenced_out_check_reads_no_card(shared: Backend) -> None:
    store = await shared.open()  # a shared store: the embedded one belongs to one process, always GO
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    await store.save_card(card_record(), ["alert:alert-1"])
    query = CardQuery("bot-a", "alerts", ("alert:alert-1",))
    lost = await store.begin_send("l", "A", item, 5, cards=query)  # nobody took the lease
    assert (lost.outcome, lost.cards) == (SendOutcome.LOST, ())
    assert await store.acquire_lease("lane:l", "A", 5)
    await store.delivered(item)
    settled = await store.begin_send("l", "A", item, 5, cards=query)
    assert (settled.outcome, settled.cards) == (SendOutcome.SETTLED, ())


async def test_an_item_written_with_its_fencing_check_is_kept_whatever_the_check_says(shared: Backend) -> None:
    """``enqueue_sending``: the item kept as ``enqueue`` keeps it, and the check made as ``begin_send`` makes it, with
    the alert's card read, in one step; a repeat keeps nothing and is checked for nothing."""
    store = await shared.open()  # (the embedded store's check always passes: the next test)
    card = card_record()
    await store.save_card(card, ["alert:alert-1"])
    query = CardQuery("bot-a", "alerts", ("alert:alert-1",))

    async def write(owner: str, digest: str | None = None) -> tuple[int, Any]:
        return await store.enqueue_sending(
            lane="l",
            kind=ItemKind.DISPATCH,
            body={"n": 1},
            token="t",
            now=1,
            digest=digest,
            window=5 if digest else 0,
            owner=owner,
            ttl=5,
            cards=query,
        )

    lost, grant = await write("A")  # nobody holds the lane: kept for its holder, nothing marked
    assert lost > 0 and grant is not None and (grant.outcome, grant.cards) == (SendOutcome.LOST, ())
    assert await store.acquire_lease("lane:l", "A", 5)
    first, grant = await write("A", digest="d")
    assert grant is not None and grant.outcome is SendOutcome.GO and strongest_card(query.keys, grant.cards) == card
    assert await store.item_state(first) == (ItemState.PENDING, "")
    assert await write("A", digest="d") == (-first, None)  # a repeat: nothing kept, nothing checked
    assert await store.acquire_lease("lane:l", "B", 5) is False  # the check extended A's lease
    await store.release_lease("lane:l", "A")  # not idle: A's mark stays (its send may be in flight)
    assert await store.acquire_lease("lane:l", "B", 5)
    busy, grant = await write("B")
    assert grant is not None and (grant.outcome, grant.mark) == (SendOutcome.BUSY, f"A|{first}")
    assert (await store.begin_send("l", "B", lost, 5)).outcome is SendOutcome.BUSY
    await store.delivered(first)  # settling the marked item clears the mark
    assert (await store.begin_send("l", "B", lost, 5)).outcome is SendOutcome.GO
    assert [item.id for item in await store.pending()] == [lost, busy]


async def test_a_write_takes_a_free_lease_only_for_its_lanes_only_item(shared: Backend) -> None:
    """``enqueue_sending(take=True)``: a cold lane's first item takes the lane's lease with its write and passes its
    check; a lane with an older item waiting (left by a replica that died) or held by another is not taken."""
    store = await shared.open()

    async def write(lane: str, owner: str) -> tuple[int, Any]:
        return await store.enqueue_sending(
            lane=lane, kind=ItemKind.DISPATCH, body={}, token="t", now=1, owner=owner, ttl=5, take=True
        )

    first, grant = await write("cold", "A")
    assert first > 0 and grant is not None and grant.outcome is SendOutcome.GO
    assert await store.acquire_lease("lane:cold", "B", 5) is False  # A's now
    _, grant = await write("cold", "B")  # held by another: kept for A, nothing taken
    assert grant is not None and grant.outcome is SendOutcome.LOST
    older = await store.enqueue(lane="left", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    newer, grant = await write("left", "A")  # an older item waits: the lane is taken as usual, then in order
    assert grant is not None and grant.outcome is SendOutcome.LOST
    assert await store.acquire_lease("lane:left", "B", 5)  # nobody took it
    assert [item.id for item in await store.pending("left")] == [older, newer]


async def test_a_one_process_store_passes_every_fencing_check_made_with_a_write(one_process: Store) -> None:
    """The embedded store's lanes are always its one process's: ``enqueue_sending`` keeps the item and says GO."""
    item, grant = await one_process.enqueue_sending(
        lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1, owner="A", ttl=5, cards=None
    )
    assert item > 0 and grant is not None and grant.outcome is SendOutcome.GO
    assert [kept.id for kept in await one_process.pending()] == [item]


async def test_delivered_saves_the_card_in_the_same_step(store: Store) -> None:
    first, second = [await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1) for _ in "ab"]
    assert await store.acquire_lease("lane:l", "A", 5)
    assert (await store.begin_send("l", "A", first, 5)).outcome is SendOutcome.GO  # the lane marked as sending it
    card = card_record()
    await store.delivered(first, card=card, keys=["alert:alert-1", "number:acme:#7"])
    assert card.id  # assigned, as save_card does
    assert [item.id for item in await store.pending()] == [second] and await store.item_state(first) is None
    assert await store.find_card("bot-a", "alerts", ["number:acme:#7"]) == card
    await store.release_lease("lane:l", "A")  # not idle: only settling the item cleared A's sending mark
    assert await store.acquire_lease("lane:l", "B", 5)
    assert (await store.begin_send("l", "B", second, 5)).outcome is SendOutcome.GO  # not BUSY: no mark left
    card.notified = 2
    await store.delivered(second, card=card, keys=["alert:alert-1"])  # an update: the same card, saved again
    found = await store.find_card("bot-a", "alerts", ["number:acme:#7"])
    assert found is not None and (found.id, found.notified) == (card.id, 2)
    assert await store.outbox_counts() == {}


# Repeat suppression, shared secrets, upkeep.

WINDOW = 0.6  # seconds; the sleeps below leave a quarter second either side


async def test_repeats_are_seen_within_a_window_that_each_sighting_restarts(backend: Backend, store: Store) -> None:
    assert not await store.seen_recently("d1", WINDOW)
    assert await store.seen_recently("d1", WINDOW)
    assert not await store.seen_recently("d2", WINDOW)  # another dispatch is its own
    await backend.elapse(0.35)
    assert await store.seen_recently("d1", WINDOW)
    await backend.elapse(0.35)  # 0.7 s after the first, 0.35 s after the last sighting: still a repeat
    assert await store.seen_recently("d1", WINDOW)
    await store.forget_seen("d1")
    await store.forget_seen("never-seen")
    assert not await store.seen_recently("d1", WINDOW)  # forgotten: through again at once
    assert not await store.seen_recently("d3", 0.15)
    await backend.elapse(0.4)  # the window passed with no sighting: not a repeat
    assert not await store.seen_recently("d3", 0.15)


async def test_a_shared_secret_is_made_once(backend: Backend, store: Store) -> None:
    clients = [store, *[await backend.open() for _ in range(2)]]
    values = await asyncio.gather(*(client.shared_secret("button-key", lambda: uuid.uuid4().hex) for client in clients))
    assert len(set(values)) == 1 and len(values[0]) == 32
    assert await store.shared_secret("button-key", lambda: "another") == values[0]
    assert await store.shared_secret("other", lambda: "another") == "another"
    # what a replica that made or read it syncs: the store has that one, and no other was ever made
    assert await clients[1].sync_secret("button-key", values[0]) == (values[0], [values[0]])


async def test_a_lease_is_its_holders_to_keep_and_give_up(store: Store) -> None:
    """What a lane's holder sees on any store (a store of one process grants every lease, a shared one this one's)."""
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    assert await store.acquire_lease("lane:l", "A", 5)
    assert await store.acquire_lease("lane:l", "A", 5)  # already its own: extended
    assert await store.renew_lease("lane:l", "A", 5)
    assert await store.renew_leases(["lane:l"], "A", 5) == [True] and await store.renew_leases([], "A", 5) == []
    assert (await store.begin_send("l", "A", item, 5)).outcome is SendOutcome.GO
    assert (await store.begin_send("l", "A", item, 5)).outcome is SendOutcome.GO  # its own mark: not busy
    await store.release_lease("lane:l", "A", idle=True)  # nothing in flight: its mark goes too
    assert await store.acquire_lease("lane:l", "B", 5)  # given up: another may take it
    assert (await store.begin_send("l", "B", item, 5)).outcome is SendOutcome.GO
    assert await store.take_slot("update:bot", 1.0, 1) == 0  # a fresh budget has a slot, shared or not


async def test_a_fresh_store_answers_and_has_not_vanished(store: Store) -> None:
    assert await store.ping()
    assert not await store.vanished()
    assert await store.prune(time.time()) == 0
    assert store.describe() and "password" not in store.describe()


async def test_reopening_a_store_that_has_not_vanished_loses_nothing(store: Store) -> None:
    """``reopen`` starts afresh after ``vanished``; asked when nothing vanished, what the store held is still there."""
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": 1}, token="t", now=1)
    card = card_record()
    await store.save_card(card, ["alert:alert-1"])
    assert await store.remember_app_token("id-1", "sealed-1", now=1)
    await store.reopen()
    assert await store.ping() and not await store.vanished()
    assert [(i.id, i.body) for i in await store.pending()] == [(item, {"n": 1})]
    assert await store.find_card("bot-a", "alerts", ["alert:alert-1"]) == card
    assert await store.app_tokens() == ["sealed-1"]
    assert await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=2) > item


async def test_what_a_read_returns_is_the_callers_own(store: Store) -> None:
    """Items, entries and cards read are copies: changing one changes nothing stored, and what the store does next
    changes nothing already read (as with a store that sends bytes over a socket or reads rows)."""
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"tags": [1]}, token="t", now=1)
    [entry] = await store.outbox_entries(ItemState.PENDING)
    [pending] = await store.pending("l")
    entry.item.body["tags"].append(2)
    entry.item.attempts = 9
    pending.body["extra"] = True
    await store.record_attempt(item)
    assert pending.attempts == 0  # read before the attempt
    [again] = await store.outbox_entries(ItemState.PENDING)
    assert (again.item.body, again.item.attempts) == ({"tags": [1]}, 1)
    await store.failed(item, error="ERROR_SLACK_AUTH: no", now=2)
    [failed] = await store.outbox_entries(ItemState.FAILED)
    failed.item.body["tags"].append(3)
    assert (await store.outbox_entries(ItemState.FAILED))[0].item.body == {"tags": [1]}
    card = card_record()
    await store.save_card(card, ["alert:alert-1"])
    card.notified = 5  # the caller's record, changed after saving
    found = await store.find_card("bot-a", "alerts", ["alert:alert-1"])
    assert found is not None and found.notified == 1
    found.status = CardStatus.RESOLVED
    assert (await store.card_by_message("C0ALERTS01", "1.0")) == replace(card, notified=1)


# Retention by pruning: the stores whose prune forgets cards and click claims (Redis lets them expire instead, by
# their keys' TTLs: test_cards_expire_after_their_retention), on a clock the test moves.


@pytest.fixture(params=["sqlite", "memory"])
async def pruned(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async for opened in _backend(request, tmp_path):
        yield opened


def _card_at(ts: str, updated_at: float, status: CardStatus = CardStatus.OPEN) -> CardRecord:
    return replace(card_record(ts=ts, status=status), updated_at=updated_at)


async def test_prune_forgets_cards_and_click_claims_past_their_retention(pruned: Backend) -> None:
    store = await pruned.open()
    cards = {
        "fresh": _card_at("1.0", NOW - 60),
        "stale": _card_at("2.0", NOW - OPEN_CARD_RETENTION_SECONDS - 1),
        "resolved-long-ago": _card_at("3.0", NOW - RESOLVED_CARD_RETENTION_SECONDS - 1, CardStatus.RESOLVED),
        "resolved-lately": _card_at("4.0", NOW - 60, CardStatus.RESOLVED),
    }
    for name, card in cards.items():
        await store.save_card(card, [f"alert:{name}"])
    pruned.clock = NOW - CLAIM_RETENTION_SECONDS - 1
    await store.claim_action("old-click", "U1", stale_after=40)
    await store.finish_action("old-click", done=True)
    pruned.clock = NOW
    await store.claim_action("new-click", "U2", stale_after=40)
    await store.finish_action("new-click", done=True)
    assert await store.prune(NOW) >= 3
    kept = {name for name in cards if await store.find_card("bot-a", "alerts", [f"alert:{name}"]) is not None}
    assert kept == {"fresh", "resolved-lately"}
    assert await store.card_by_message("C0ALERTS01", "2.0") is None
    assert await store.card_by_message("C0ALERTS01", "4.0") == cards["resolved-lately"]
    assert (await store.claim_action("old-click", "U3", stale_after=40)).status is ClaimStatus.CLAIMED  # forgotten
    assert (await store.claim_action("new-click", "U4", stale_after=40)).status is ClaimStatus.DONE
    assert await store.prune(NOW) == 0  # nothing left past its retention


# A store of one process (the embedded one, and the in-memory reference unshared).


async def test_a_store_of_one_process_owns_every_lease(one_process: Store) -> None:
    """Its one process is the only one delivering (the embedded store's data-directory lock): every lease is its
    own, every send may go, and it hears of nothing it did not do itself."""
    store = one_process
    assert not store.shared
    assert await store.acquire_lease("lane:x", "me", 1) and await store.acquire_lease("lane:x", "other", 1)
    assert await store.renew_lease("lane:x", "other", 1)
    assert await store.renew_leases(["lane:x", "lane:never-taken"], "third", 1) == [True, True]
    item = await store.enqueue(lane="x", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    assert (await store.begin_send("x", "me", item, 1)).outcome is SendOutcome.GO
    assert (await store.begin_send("x", "other", item, 1)).outcome is SendOutcome.GO  # no mark makes it busy
    assert [event async for event in store.events()] == []  # ends at once: nothing to hear
    # repeats are told apart in the process (seen_recently), not by the enqueue: a digest queues the item anyway
    again = await store.enqueue(lane="x", kind=ItemKind.DISPATCH, body={}, token="t", now=2, digest="d", window=5)
    assert (
        again > 0
        and (await store.enqueue(lane="x", kind=ItemKind.DISPATCH, body={}, token="t", now=3, digest="d", window=5))
        > again
    )


async def test_a_store_of_one_process_leaves_pacing_to_it(one_process: Store) -> None:
    store = one_process
    await store.pause_slot("update:bot", 30)
    assert [await store.take_slot("update:bot", 1.0, 1) for _ in range(3)] == [0.0, 0.0, 0.0]


# Only a shared store (Redis, and the in-memory reference made shared).


async def test_a_lease_has_one_holder_until_released_or_expired(shared: Backend) -> None:
    a, b = [await shared.open() for _ in range(2)]
    assert a.shared
    results = await asyncio.gather(*(client.acquire_lease("lane:x", name, 5) for client, name in ((a, "A"), (b, "B"))))
    assert sorted(results) == [False, True]
    holder, other = (a, "A"), (b, "B")
    if not results[0]:
        holder, other = other, holder
    assert await shared.lease_holder(a, "lane:x") == holder[1]
    assert await holder[0].acquire_lease("lane:x", holder[1], 5)  # already ours: extended
    assert not await other[0].renew_lease("lane:x", other[1], 5)  # a non-holder cannot renew
    await other[0].release_lease("lane:x", other[1])  # nor release
    assert await shared.lease_holder(a, "lane:x") == holder[1]
    await holder[0].release_lease("lane:x", holder[1])
    assert await shared.lease_holder(a, "lane:x") is None
    assert await other[0].acquire_lease("lane:x", other[1], 0.2)
    assert await other[0].renew_lease("lane:x", other[1], 0.2)
    await shared.advance(0.35)  # expired: handed over
    assert not await other[0].renew_lease("lane:x", other[1], 5)
    assert await holder[0].acquire_lease("lane:x", holder[1], 5)


async def test_a_pacing_budget_is_shared_by_every_replica(shared: Backend) -> None:
    """Slack's per-workspace chat.update budget: replicas draw from one bucket, and a Retry-After pauses them all."""
    a, b = [await shared.open() for _ in range(2)]
    assert await a.take_slot("update:bot", 2.0, 2) == 0
    assert await b.take_slot("update:bot", 2.0, 2) == 0  # the burst is spent by the two together
    wait = await a.take_slot("update:bot", 2.0, 2)
    assert 0.3 < wait <= 0.5
    assert await b.take_slot("update:other-bot", 2.0, 2) == 0  # another workspace, another budget
    await b.pause_slot("update:bot", 3.0)
    assert 2.5 < await a.take_slot("update:bot", 2.0, 2) <= 3.0  # the other replica waits it out too


async def test_a_repeat_is_told_apart_in_the_same_step_as_the_enqueue(shared: Backend) -> None:
    store = await shared.open()
    first = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1, digest="d", window=5)
    assert first > 0
    again = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=2, digest="d", window=5)
    assert again == -first  # a repeat names the item that had the digest, and queues nothing
    assert [item.id for item in await store.pending()] == [first]
    other = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=3, digest="e", window=0)
    assert other > first  # no window: no repeat suppression, the digest is not kept
    assert await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=4, digest="e", window=5) > 0


async def test_begin_send_fences_a_lane_and_marks_its_item_until_settled(shared: Backend) -> None:
    a, b = [await shared.open() for _ in range(2)]
    item = await a.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    assert (await b.begin_send("l", "B", item, 5)).outcome is SendOutcome.LOST  # no lease: nothing may be sent
    assert await a.acquire_lease("lane:l", "A", 0.3)
    assert (await a.begin_send("l", "A", item, 0.3)).outcome is SendOutcome.GO
    await shared.advance(0.4)  # A's lease ran out with its send unsettled
    assert await b.acquire_lease("lane:l", "B", 5)
    busy = await b.begin_send("l", "B", item, 5)
    assert busy.outcome is SendOutcome.BUSY and busy.mark == f"A|{item}"
    assert (await b.begin_send("l", "B", item, 5, force=True)).outcome is SendOutcome.GO
    await a.delivered(item)  # whoever settles it: the mark naming the item goes with it
    assert (await b.begin_send("l", "B", item, 5)).outcome is SendOutcome.SETTLED
    assert await b.renew_leases(["lane:l", "lane:other"], "B", 5) == [True, False]
    await b.release_lease("lane:l", "B", idle=True)
    assert await b.renew_leases(["lane:l"], "B", 5) == [False]


async def test_events_announce_items_queued_and_settled(shared: Backend) -> None:
    store = await shared.open()
    events = store.events()
    waiting = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.2)  # subscribed
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    queued = await asyncio.wait_for(waiting, 5)
    assert (queued.kind, queued.item_id, queued.detail) == (EventKind.QUEUED, item, "l")
    await store.failed(item, error="ERROR_SLACK_AUTH: refused", now=2)
    failed = await asyncio.wait_for(anext(events), 5)
    assert (failed.kind, failed.item_id, failed.detail) == (EventKind.FAILED, item, "ERROR_SLACK_AUTH: refused")
    assert await store.retry_item(item, now=3)  # the operator's retry: its lane's holder hears of it at once
    retried = await asyncio.wait_for(anext(events), 5)
    assert (retried.kind, retried.item_id, retried.detail) == (EventKind.QUEUED, item, "l")
    await events.aclose()


async def test_a_shared_secret_lost_by_the_store_is_put_back_and_every_one_kept(shared: Backend) -> None:
    store = await shared.open()
    first = await store.shared_secret("k", lambda: "one")
    assert await store.sync_secret("k", first) == ("one", ["one"])
    await shared.lose_secret(store, "k")  # the store forgot it (restarted empty, FLUSHALL)
    assert (await store.sync_secret("k", "one"))[0] == "one"  # put back by a replica that knew it
    await shared.lose_secret(store, "k")
    assert await store.shared_secret("k", lambda: "two") == "two"  # a new replica was first this time
    current, known = await store.sync_secret("k", "one")
    assert current == "two" and sorted(known) == ["one", "two"]  # the old one still opens what it sealed


# Only Redis: its keys and their expiry, its prefixes, its errors, picking it from the URL.


async def test_cards_expire_after_their_retention(redis: RedisStore) -> None:
    open_card = card_record(ts="1.0")
    await redis.save_card(open_card, ["alert:open"])
    resolved = card_record(ts="2.0", status=CardStatus.RESOLVED)
    await redis.save_card(resolved, ["alert:resolved"])
    raw = redis._redis  # the keys themselves (layout in the module docstring)

    async def ttls(card: CardRecord, key: str) -> set[float]:
        names = [
            f"card:{card.id}",
            f"card:{card.id}:keys",
            f"card-at:{card.channel_id}:{card.ts}",
            f"card-key:{card.bot}:{card.channel_id}:{key}",
        ]
        return {round(await raw.pttl(f"{redis.prefix}:{name}") / 1000 / 3600) for name in names}

    assert await ttls(open_card, "alert:open") == {round(OPEN_CARD_RETENTION_SECONDS / 3600)}
    assert await ttls(resolved, "alert:resolved") == {round(RESOLVED_CARD_RETENTION_SECONDS / 3600)}
    assert 0 < await raw.pttl(f"{redis.prefix}:channel:bot-a:alerts") <= OPEN_CARD_RETENTION_SECONDS * 1000
    open_card.status = CardStatus.RESOLVED  # resolving a card shortens what is left of it, names learnt before too
    await redis.save_card(open_card, [])
    assert await ttls(open_card, "alert:open") == {round(RESOLVED_CARD_RETENTION_SECONDS / 3600)}


async def test_failed_items_expire_after_their_retention_unless_retried(redis: RedisStore) -> None:
    """Failed items expire by themselves, as the embedded store prunes them (a Redis no replica prunes any more stays
    bounded); the ids an expired item leaves behind are forgotten when pruning, and its bytes no longer counted."""
    raw = redis._redis
    ids = [await redis.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": n}, token="t", now=n) for n in range(3)]
    for item_id in ids:
        await redis.failed(item_id, error="ERROR_SLACK_AUTH: revoked", now=time.time())
    ttl = await raw.pttl(f"{redis.prefix}:outbox:item:{ids[0]}")
    assert FAILED_ITEM_RETENTION_SECONDS * 1000 - 60_000 < ttl <= FAILED_ITEM_RETENTION_SECONDS * 1000
    assert await redis.retry_item(ids[0], now=time.time())
    assert await raw.pttl(f"{redis.prefix}:outbox:item:{ids[0]}") == -1  # pending again: kept until delivered
    await raw.delete(f"{redis.prefix}:outbox:item:{ids[1]}")  # what its expiry does, a week on
    assert [e.item.id for e in await redis.outbox_entries(ItemState.FAILED)] == [ids[2]]
    await redis.prune(time.time())
    assert await raw.zrange(f"{redis.prefix}:outbox:failed", 0, -1) == [str(ids[2])]
    assert await raw.zrange(f"{redis.prefix}:outbox:failed-at", 0, -1) == [str(ids[2])]
    assert await redis.outbox_counts() == {"pending": 1, "failed": 1}
    assert await raw.get(f"{redis.prefix}:outbox:failed-bytes") == str(len('{"n":2}'))


async def test_prefixes_keep_stores_apart(redis_server: RedisServer, redis: RedisStore) -> None:
    other = await RedisStore.connect(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    await redis.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    await redis.save_card(card_record(), ["alert:alert-1"])
    assert await other.outbox_counts() == {}
    assert await other.find_card("bot-a", "alerts", ["alert:alert-1"]) is None
    ours = [str(key) for key in await redis._redis.keys(f"{redis.prefix}*")]
    assert ours and all(key.startswith(f"{redis.prefix}:") for key in ours)
    # every key in this Redis is some test's prefixed key: nothing was written outside a prefix
    assert all(str(key).startswith("test-") for key in await redis._redis.keys("*"))
    assert await redis._redis.keys(f"{other.prefix}:*") == [f"{other.prefix}:layout"]  # what connecting writes
    await other.close()


async def test_open_store_picks_the_backend_from_the_url(tmp_path: Path, redis_server: RedisServer) -> None:
    embedded = await open_store(None, tmp_path / "a", lock_wait=0)
    assert isinstance(embedded, SqliteStore)
    await embedded.close()
    blank = await open_store("  ", tmp_path / "b", lock_wait=0)
    assert isinstance(blank, SqliteStore)
    await blank.close()
    shared = await open_store(redis_server.url, tmp_path / "c", lock_wait=0)
    assert isinstance(shared, RedisStore) and shared.prefix == "slack-chatops" and await shared.ping()
    assert await shared._redis.get("slack-chatops:layout") == "1"
    await shared._redis.delete("slack-chatops:layout")  # the session's Redis keeps only test-prefixed keys
    await shared.close()
    assert not (tmp_path / "c").exists()  # Redis alone: no data directory made
    for url in ("postgres://admin:pa55word@db:5432/x", "admin:pa55word@redis-host:6379", "http://x"):
        with pytest.raises(ValueError, match="BOT_STORE_URL") as refused:
            await open_store(url, tmp_path / "d", lock_wait=0)
        assert "pa55word" not in str(refused.value) and "admin" not in str(refused.value)


async def test_a_store_error_is_what_every_failure_becomes(redis_server: RedisServer) -> None:
    """A key holding something else than the layout expects (another program's data under our prefix) fails as a
    StoreError, like an outage, not as a crash of the caller."""
    store = await RedisStore.connect(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    await store._redis.set(f"{store.prefix}:outbox:lanes", "not a set")
    with pytest.raises(StoreError, match="WRONGTYPE"):
        await store.pending_lanes()
    with pytest.raises(StoreError, match="WRONGTYPE"):  # met by a command inside a script: the same
        await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    await store.close()


async def test_a_script_bug_is_told_apart_from_a_store_error(redis: RedisStore) -> None:
    """A script that does not compile or breaks is a bug (it leaves as Redis's error, to be fixed); a command inside
    a script meeting a condition of the data or the server (WRONGTYPE, OOM…) is a store error like any other."""
    verdicts = {}
    for name, source in {
        "runtime": "return nosuch.x",
        "compile": "this is not lua",
        "unknown command": "return redis.call('NOSUCHCMD')",
        "wrong type": "redis.call('SET', KEYS[1], 'v'); return redis.call('LPUSH', KEYS[1], 'x')",
    }.items():
        with pytest.raises(ResponseError) as raised:
            await redis._redis.register_script(source)(keys=[f"{redis.prefix}:probe"])
        verdicts[name] = redis_store._script_bug(raised.value)
    assert verdicts == {"runtime": True, "compile": True, "unknown command": True, "wrong type": False}


async def test_an_item_written_by_its_lanes_holder_with_a_passing_check_is_not_announced(redis: RedisStore) -> None:
    """The QUEUED event is for the lane's holder: one written by the holder itself (its check GO) is not announced;
    one written by another replica (its check LOST) is."""
    events = redis.events()
    waiting = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.2)  # subscribed
    assert await redis.acquire_lease("lane:l", "A", 5)

    async def write(owner: str) -> int:
        item, grant = await redis.enqueue_sending(
            lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1, owner=owner, ttl=5
        )
        assert grant is not None
        return item

    await write("A")  # the holder's: not announced
    elsewhere = await write("B")  # another replica's: announced for A to take in
    queued = await asyncio.wait_for(waiting, 5)
    assert (queued.kind, queued.item_id, queued.detail) == (EventKind.QUEUED, elsewhere, "l")
    await events.aclose()
