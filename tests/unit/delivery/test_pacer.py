"""The shared pacer on a shared in-memory store, in virtual time: replicas draw from one budget (Slack's
per-workspace ``chat.update`` limit), a Retry-After seen by one pauses them all, and a store that cannot be asked
is reported to the caller (acquiring) or logged (pausing)."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from bot.delivery.pacer import SharedPacer
from bot.pacing import MAX_PAUSE_SECONDS, SAFETY
from bot.store import StoreError
from bot.store.memory import MemoryStore
from tests.unit.virtual_time import START, run

BUCKET = "updates:bot-a"


class AwayStore(MemoryStore):
    """A shared in-memory store whose pacing budgets cannot be reached while ``away``."""

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.away = False

    async def take_slot(self, bucket: str, rate: float, burst: int) -> float:
        if self.away:
            raise StoreError("the store is away")
        return await super().take_slot(bucket, rate, burst)

    async def pause_slot(self, bucket: str, seconds: float) -> None:
        if self.away:
            raise StoreError("the store is away")
        await super().pause_slot(bucket, seconds)


async def acquired_at(pacer: SharedPacer, times: list[float]) -> None:
    await pacer.acquire()
    times.append(asyncio.get_running_loop().time() - START)


def test_a_burst_goes_at_once_then_sends_go_at_the_rate_less_the_safety_margin() -> None:
    async def main() -> list[float]:
        pacer = SharedPacer(MemoryStore(shared=True), BUCKET, rate=2.0, burst=3)
        times: list[float] = []
        for _ in range(7):
            await acquired_at(pacer, times)
        return times

    times = run(main())
    assert times[:3] == [0.0, 0.0, 0.0]
    gaps = [b - a for a, b in itertools.pairwise(times[2:])]
    assert gaps == pytest.approx([1 / (2.0 * SAFETY)] * 4)


def test_two_replicas_draw_from_one_budget() -> None:
    async def main() -> list[float]:
        store = MemoryStore(shared=True)
        replicas = [SharedPacer(store, BUCKET, rate=1.0, burst=2) for _ in range(2)]
        times: list[float] = []
        await asyncio.gather(*(acquired_at(replicas[n % 2], times) for n in range(6)))
        return sorted(times)

    times = run(main())
    assert times[:2] == [0.0, 0.0]  # one burst between them, not one each
    assert times[-1] == pytest.approx(4 / SAFETY, abs=0.01)  # six sends at the shared rate, not twice it


def test_separate_buckets_do_not_wait_for_each_other() -> None:
    async def main() -> list[float]:
        store = MemoryStore(shared=True)
        times: list[float] = []
        for bucket in ("updates:bot-a", "updates:bot-b"):
            await acquired_at(SharedPacer(store, bucket, rate=1.0, burst=1), times)
        return times

    assert run(main()) == [0.0, 0.0]


def test_a_retry_after_seen_by_one_replica_pauses_the_others() -> None:
    async def main() -> list[float]:
        store = MemoryStore(shared=True)
        seen_it, other = (SharedPacer(store, BUCKET, rate=10.0, burst=10) for _ in range(2))
        seen_it.pause(12.0)
        await asyncio.sleep(0)  # the pause reaches the store
        times: list[float] = []
        await acquired_at(other, times)
        return times

    [at] = run(main())
    assert at == pytest.approx(12.0 + 1 / (10.0 * SAFETY))  # after the pause, the bucket starts empty


def test_a_pause_is_bounded() -> None:
    async def main() -> list[float]:
        store = MemoryStore(shared=True)
        pacer = SharedPacer(store, BUCKET, rate=10.0, burst=10)
        pacer.pause(10 * MAX_PAUSE_SECONDS)
        await asyncio.sleep(0)
        times: list[float] = []
        await acquired_at(pacer, times)
        return times

    [at] = run(main())
    assert at == pytest.approx(MAX_PAUSE_SECONDS + 1 / (10.0 * SAFETY))


def test_an_unpaced_bucket_never_asks_the_store() -> None:
    async def main() -> None:
        store = AwayStore()
        store.away = True
        pacer = SharedPacer(store, BUCKET, rate=0.0, burst=5)
        await pacer.acquire()  # would raise if it asked
        assert (pacer.eta(100), pacer.wait_time(), pacer.rate) == (0.0, 0.0, 0.0)

    run(main())


def test_the_eta_counts_the_sends_ahead_at_the_paced_rate() -> None:
    pacer = SharedPacer(MemoryStore(shared=True), BUCKET, rate=2.0, burst=0)
    assert pacer.eta(3) == pytest.approx(3 / (2.0 * SAFETY))
    assert pacer.burst == 1  # a burst of less than one send is one
    assert pacer.wait_time() == 0.0  # nothing keeps a lane alive on its account: the store knows


def test_a_store_that_cannot_be_asked_fails_the_acquire_and_a_lost_pause_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        store = AwayStore()
        pacer = SharedPacer(store, BUCKET, rate=1.0, burst=1)
        store.away = True
        with pytest.raises(StoreError):
            await pacer.acquire()
        pacer.pause(5.0)
        await asyncio.sleep(0)
        store.away = False
        loop = asyncio.get_running_loop()
        started = loop.time()
        await pacer.acquire()
        assert loop.time() == started  # the pause did not reach the store: nothing waits for it

    with caplog.at_level(logging.WARNING, logger="bot.delivery.pacer"):
        run(main())
    assert [r.getMessage() for r in caplog.records] == [
        "could not share Slack's Retry-After with the other replicas: the store is away"
    ]
