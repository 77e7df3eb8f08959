"""Lane leases: the heartbeat keeps them through long work, fencing refuses a lost lane, a send another holder left
unsettled is waited for. A small in-memory lease store with its own clock stands in for Redis' semantics."""

from __future__ import annotations

from collections.abc import Sequence

from bot.delivery.leases import LEASE_TTL_SECONDS, RENEW_EVERY_SECONDS, Leases
from bot.store import CardQuery, SendGrant, SendOutcome


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LeaseStore:
    """Leases that expire on the store's clock, sending marks, pending items: what ``Leases`` asks of a store."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.leases: dict[str, tuple[str, float]] = {}  # name -> (owner, expires)
        self.marks: dict[str, str] = {}  # lane -> owner|item
        self.pending: set[int] = set()

    def _holder(self, name: str) -> str | None:
        held = self.leases.get(name)
        return held[0] if held and held[1] > self._clock() else None

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        if self._holder(name) not in (None, owner):
            return False
        self.leases[name] = (owner, self._clock() + ttl)
        return True

    async def renew_leases(self, names: Sequence[str], owner: str, ttl: float) -> list[bool]:
        held = [self._holder(name) == owner for name in names]
        for name, ours in zip(names, held, strict=True):
            if ours:
                self.leases[name] = (owner, self._clock() + ttl)
        return held

    async def begin_send(
        self, lane: str, owner: str, item_id: int, ttl: float, *, force: bool = False, cards: CardQuery | None = None
    ) -> SendGrant:
        if self._holder(f"lane:{lane}") != owner:
            return SendGrant(SendOutcome.LOST)
        self.leases[f"lane:{lane}"] = (owner, self._clock() + ttl)
        if item_id not in self.pending:
            return SendGrant(SendOutcome.SETTLED)
        mark = self.marks.get(lane)
        if mark and not mark.startswith(f"{owner}|") and not force:
            return SendGrant(SendOutcome.BUSY, mark)
        self.marks[lane] = f"{owner}|{item_id}"
        return SendGrant(SendOutcome.GO)

    async def release_lease(self, name: str, owner: str, *, idle: bool = False) -> None:
        if self._holder(name) == owner:
            del self.leases[name]
        lane = name.removeprefix("lane:")
        if idle and self.marks.get(lane, "").startswith(f"{owner}|"):
            del self.marks[lane]


def _pair() -> tuple[Clock, LeaseStore, Leases, Leases]:
    clock = Clock()
    store = LeaseStore(clock)
    a = Leases(store, owner="a", clock=clock)  # type: ignore[arg-type]
    b = Leases(store, owner="b", clock=clock)  # type: ignore[arg-type]
    return clock, store, a, b


async def test_the_heartbeat_keeps_a_lease_through_work_longer_than_its_life() -> None:
    clock, _store, a, b = _pair()
    assert await a.take("lane-1")
    for _ in range(10):  # 20 s of one Slack call, a Retry-After pause, slow look-ups
        clock.now += RENEW_EVERY_SECONDS
        assert await a.renew() == []
        assert not await b.take("lane-1")
    assert a.holds("lane-1")


async def test_without_the_heartbeat_the_lease_runs_out_and_fencing_stops_the_old_holder() -> None:
    clock, store, a, b = _pair()
    store.pending.add(7)
    assert await a.take("lane-1")
    clock.now += LEASE_TTL_SECONDS + 0.1  # the store did not answer the heartbeat meanwhile
    assert not a.holds("lane-1")  # the local check already says no before the store does
    assert await b.take("lane-1")
    assert (await a.begin("lane-1", 7)).outcome is SendOutcome.LOST
    assert await a.renew() == [] and not a.known("lane-1")  # forgotten as lost


async def test_a_send_left_unsettled_by_the_old_holder_is_waited_for_then_skipped_once_settled() -> None:
    clock, store, a, b = _pair()
    store.pending.add(7)
    assert await a.take("lane-1")
    assert (await a.begin("lane-1", 7)).outcome is SendOutcome.GO  # a's post is in flight
    clock.now += LEASE_TTL_SECONDS + 0.1  # ... and a could not reach the store for a while
    assert await b.take("lane-1")
    busy = await b.begin("lane-1", 7)
    assert busy.outcome is SendOutcome.BUSY and busy.mark == "a|7"
    store.pending.discard(7)  # a recorded its post as delivered
    store.marks.pop("lane-1")
    assert (await b.begin("lane-1", 7)).outcome is SendOutcome.SETTLED  # b does not post it again


async def test_a_stale_mark_is_overridden_only_when_forced() -> None:
    clock, store, a, b = _pair()
    store.pending.add(7)
    await a.take("lane-1")
    await a.begin("lane-1", 7)
    clock.now += LEASE_TTL_SECONDS + 0.1  # a died mid-send
    await b.take("lane-1")
    assert (await b.begin("lane-1", 7)).outcome is SendOutcome.BUSY
    assert (await b.begin("lane-1", 7, force=True)).outcome is SendOutcome.GO
    assert store.marks["lane-1"] == "b|7"


async def test_an_idle_release_clears_the_holders_own_mark() -> None:
    _clock, store, a, b = _pair()
    store.pending.add(7)
    await a.take("lane-1")
    await a.begin("lane-1", 7)
    await a.release("lane-1", idle=True)
    assert "lane-1" not in store.marks and await b.take("lane-1")
    assert (await b.begin("lane-1", 7)).outcome is SendOutcome.GO  # nothing to wait for
