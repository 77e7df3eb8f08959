"""Lane leases: the heartbeat keeps them through long work, fencing refuses a lost lane, a send another holder left
unsettled is waited for. On the in-memory store (the reference backend), whose clock the test moves."""

from __future__ import annotations

from bot.delivery.leases import LEASE_TTL_SECONDS, RENEW_EVERY_SECONDS, Leases
from bot.store import ItemKind, SendOutcome
from bot.store.memory import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pair() -> tuple[Clock, MemoryStore, Leases, Leases]:
    """Two processes on one shared store (the in-memory reference backend), all on one clock."""
    clock = Clock()
    store = MemoryStore(shared=True, clock=clock)
    return clock, store, Leases(store, owner="a", clock=clock), Leases(store, owner="b", clock=clock)


async def _pending(store: MemoryStore) -> int:
    return await store.enqueue(lane="lane-1", kind=ItemKind.DISPATCH, body={}, token="t", now=0)


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
    item = await _pending(store)
    assert await a.take("lane-1")
    clock.now += LEASE_TTL_SECONDS + 0.1  # the store did not answer the heartbeat meanwhile
    assert not a.holds("lane-1")  # the local check already says no before the store does
    assert await b.take("lane-1")
    assert (await a.begin("lane-1", item)).outcome is SendOutcome.LOST
    assert await a.renew() == [] and not a.known("lane-1")  # forgotten as lost


async def test_a_send_left_unsettled_by_the_old_holder_is_waited_for_then_skipped_once_settled() -> None:
    clock, store, a, b = _pair()
    item = await _pending(store)
    assert await a.take("lane-1")
    assert (await a.begin("lane-1", item)).outcome is SendOutcome.GO  # a's post is in flight
    clock.now += LEASE_TTL_SECONDS + 0.1  # ... and a could not reach the store for a while
    assert await b.take("lane-1")
    busy = await b.begin("lane-1", item)
    assert busy.outcome is SendOutcome.BUSY and busy.mark == f"a|{item}"
    await store.delivered(item)  # a recorded its post (its mark goes with it)
    assert (await b.begin("lane-1", item)).outcome is SendOutcome.SETTLED  # b does not post it again


async def test_a_stale_mark_is_overridden_only_when_forced() -> None:
    clock, store, a, b = _pair()
    item = await _pending(store)
    await a.take("lane-1")
    await a.begin("lane-1", item)
    clock.now += LEASE_TTL_SECONDS + 0.1  # a died mid-send
    await b.take("lane-1")
    assert (await b.begin("lane-1", item)).outcome is SendOutcome.BUSY
    assert (await b.begin("lane-1", item, force=True)).outcome is SendOutcome.GO
    assert (await a.begin("lane-1", item)).outcome is SendOutcome.LOST  # and a, were it alive, may not send


async def test_an_idle_release_clears_the_holders_own_mark() -> None:
    _clock, store, a, b = _pair()
    item = await _pending(store)
    await a.take("lane-1")
    await a.begin("lane-1", item)
    await a.release("lane-1", idle=True)
    assert await b.take("lane-1")
    assert (await b.begin("lane-1", item)).outcome is SendOutcome.GO  # nothing to wait for
