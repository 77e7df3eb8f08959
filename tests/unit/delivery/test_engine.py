"""The delivery engine on a virtual clock: the outbox, the card keeper and the in-memory store, with a scripted
Slack port, in one event loop and no I/O (``tests/unit/virtual_time.py``). Minutes of pacing, Retry-After, backoff,
lease expiry and takeover run in milliseconds; two outboxes on one shared in-memory store stand for two replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

from bot.core.errors import BotError, ErrorCode
from bot.delivery.cards import dispatch_body
from bot.delivery.leases import LEASE_TTL_SECONDS
from bot.delivery.outbox import FIRST_BACKOFF_SECONDS, TAKEOVER_SECONDS, lane_key
from bot.delivery.tokens import TokenVault
from bot.pacing import SAFETY
from bot.ports.store import CardRecord, ItemKind, SendGrant
from bot.store.memory import MemoryStore
from tests.unit.engine_parts import KEYS, TOKEN, ScriptedSlack, outbox, request, running, submit, until
from tests.unit.virtual_time import run


def test_a_lane_delivers_in_order_at_slacks_pace_after_a_burst() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack, post_rate=1.0, post_burst=2)
        async with running(box):
            for n in range(6):
                await submit(box, f"alert {n}")
            await until(lambda: len(slack.posted()) == 6)
        assert slack.posted() == [f"{n}" for n in range(6)]
        times = slack.times()
        assert times[1] - times[0] < 0.01  # the burst goes at once
        gaps = [b - a for a, b in itertools.pairwise(times[1:])]
        assert all(gap >= 1 / SAFETY - 0.01 for gap in gaps), gaps  # then one a second (less a safety margin)
        assert all(gap < 1.2 for gap in gaps), gaps

    run(main())


def test_lanes_of_two_channels_do_not_wait_for_each_other() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        slack.faults.append(30.0)  # the first call (to #alerts) is slow
        box = outbox(MemoryStore(), slack)
        async with running(box):
            await submit(box, "slow one")
            await submit(box, "other channel", channel="#other")
            took = await until(lambda: any(call.channel == "C0OTHER" for call in slack.calls))
            assert took < 1.0

    run(main())


def test_a_retry_after_pauses_the_lane_for_as_long_as_slack_said() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack, post_rate=10.0, post_burst=10)
        async with running(box):
            await submit(box, "first 1")
            await until(lambda: len(slack.posted()) == 1)
            slack.faults.append(BotError(ErrorCode.SLACK_RATE_LIMITED, "429", retryable=True, retry_after=12))
            await submit(box, "second 2")
            await submit(box, "third 3")
            await until(lambda: len(slack.posted()) == 3)
        first, second, third = slack.times()
        assert second - first >= 12  # nothing went to the channel during the pause
        assert third - second < 1.0  # then the queue moves at the pace again
        assert slack.posted() == ["1", "2", "3"]

    run(main())


def test_a_retry_after_on_an_update_pauses_the_workspaces_updates() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack, post_rate=10.0, post_burst=10, update_rate=10.0, update_burst=10)
        async with running(box):
            await submit(box, "a", alert="alert-a")
            await submit(box, "b", alert="alert-b", channel="#other")
            await until(lambda: len(slack.posted()) == 2)
            slack.faults.append(BotError(ErrorCode.SLACK_RATE_LIMITED, "429", retryable=True, retry_after=20))
            await submit(box, "a again", alert="alert-a")  # its update meets the 429
            await asyncio.sleep(0.5)
            await submit(box, "b again", alert="alert-b", channel="#other")  # another channel, same workspace
            await until(lambda: len(slack.times("update")) == 2)
        first, second = slack.times("update")
        assert first - slack.times()[1] >= 20 and second - first < 1.0  # both waited out the pause

    run(main())


def test_an_outage_is_retried_with_a_doubling_backoff() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        down = BotError(ErrorCode.SLACK_UNAVAILABLE, "503", retryable=True)
        slack.faults.extend([down, down, down, down])
        box = outbox(MemoryStore(), slack)
        async with running(box):
            submission = await submit(box, "during an outage 1")
            took = await until(lambda: len(slack.posted()) == 1)
            await asyncio.wait_for(submission.future, 1)
        expected = sum(FIRST_BACKOFF_SECONDS * 2**n for n in range(4))  # 0.5 + 1 + 2 + 4
        assert expected <= took < expected + 1, took

    run(main())


def test_a_permanent_failure_is_recorded_and_the_lane_goes_on() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        slack.faults.append(BotError(ErrorCode.SLACK_CHANNEL_NOT_FOUND, "channel_not_found"))
        store = MemoryStore()
        box = outbox(store, slack)
        async with running(box):
            doomed = await submit(box, "to nowhere 1")
            await submit(box, "fine 2")
            await until(lambda: len(slack.posted()) == 1)
            assert isinstance(doomed.future.exception(), BotError)
        assert slack.posted() == ["2"]
        [(_, _, reason)] = await store.failed_items()
        assert reason.startswith("ERROR_SLACK_CHANNEL_NOT_FOUND")

    run(main())


def test_draining_delivers_what_fits_and_keeps_the_rest_in_the_outbox() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        store = MemoryStore()
        box = outbox(store, slack, post_rate=1.0, post_burst=1)
        await box.start()
        for n in range(6):
            await box.persist((await submit(box, f"queued {n}")).job)  # written down: their dispatches answered
        await box.drain(2.5)
        delivered = len(slack.posted())
        assert 2 <= delivered <= 4
        assert (await store.outbox_counts()).get("pending") == 6 - delivered
        again = outbox(store, slack, post_rate=10.0, post_burst=10)  # the next start delivers the rest
        async with running(again):
            await until(lambda: len(slack.posted()) == 6)
        assert slack.posted() == [f"{n}" for n in range(6)]

    run(main())


def test_idle_lanes_are_forgotten() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack)
        async with running(box):
            for channel in ("#alerts", "#other"):
                await submit(box, "x", channel=channel)
            await until(lambda: len(slack.posted()) == 2)
            assert box.lane_count() == 2
            took = await until(lambda: box.lane_count() == 0, step=1.0)
            assert 55 <= took <= 65  # LANE_IDLE_SECONDS

    run(main())


def test_a_card_is_posted_once_and_then_updated() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack)
        async with running(box):
            for n in range(3):
                await submit(box, f"escalated {n}", alert="alert-1")
            await until(lambda: len(slack.times("update")) == 2)
        assert len(slack.posted()) == 1

    run(main())


# Two replicas: two outboxes on one shared in-memory store.


def _lane(store: MemoryStore) -> str:
    [name] = [name for name in store._leases if name.startswith("lane:")]
    return name


def test_a_holder_keeps_its_lane_through_a_call_longer_than_a_lease() -> None:
    async def main() -> None:
        store, slack = MemoryStore(shared=True), ScriptedSlack(slow=20.0)  # each call outlasts the 6 s lease
        a, b = outbox(store, slack), outbox(store, slack)
        async with running(a, b):
            for n in range(3):
                await submit(a if n % 2 == 0 else b, f"alert {n}")
            await until(lambda: len(slack.posted()) == 3)
            await asyncio.sleep(30)
        assert slack.posted() == ["0", "1", "2"]  # each once, in order

    run(main())


def test_a_lease_lost_mid_item_sends_nothing_twice() -> None:
    async def main() -> None:
        store, slack = MemoryStore(shared=True), ScriptedSlack()
        a, b = outbox(store, slack), outbox(store, slack)
        async with running(a, b):
            await submit(a, "warm-up 0")
            await until(lambda: len(slack.posted()) == 1)
            slack.faults.append(30.0)  # a's next post hangs for 30 s ...
            for n in (1, 2, 3):
                await submit(a, f"alert {n}")
            await asyncio.sleep(0.1)
            store.failing.add("renew_leases")  # ... and meanwhile a cannot reach the store for its heartbeat
            await asyncio.sleep(LEASE_TTL_SECONDS + TAKEOVER_SECONDS + 1)
            assert store._leases[_lane(store)][0] == b._leases.owner if b._leases else False  # b took the lane
            await until(lambda: len(slack.posted()) == 4)
            store.failing.clear()
            await asyncio.sleep(30)
        assert slack.posted() == ["0", "1", "2", "3"]  # a's post landed once; b waited for it, then went on

    run(main())


def test_a_dead_replicas_lane_is_taken_over() -> None:
    async def main() -> None:
        store, slack = MemoryStore(shared=True), ScriptedSlack()
        a, b = outbox(store, slack, post_rate=1.0, post_burst=1), outbox(store, slack)
        await a.start()
        async with running(b):
            for n in range(5):
                await a.persist((await submit(a, f"alert {n}")).job)
            await until(lambda: len(slack.posted()) == 1)
            for task in asyncio.all_tasks():  # a dies: its tasks stop, its leases are never released
                if task.get_name().startswith("lane ") or task in a._background:
                    task.cancel()
            took = await until(lambda: len(slack.posted()) == 5, step=0.25)
            assert took <= LEASE_TTL_SECONDS + TAKEOVER_SECONDS + 6  # taken over once the lease ran out
        with contextlib.suppress(Exception):
            await a.drain(0)
        assert slack.posted() == ["0", "1", "2", "3", "4"]

    run(main())


def test_a_dispatch_through_the_replica_not_holding_the_lane_is_answered_when_posted() -> None:
    async def main() -> None:
        store, slack = MemoryStore(shared=True), ScriptedSlack()
        a, b = outbox(store, slack), outbox(store, slack)
        async with running(a, b):
            await submit(a, "a holds the lane 0")
            await until(lambda: len(slack.posted()) == 1)
            through_b = await submit(b, "through b 1")
            await asyncio.wait_for(through_b.future, 2)  # b learnt it from the store's events
        assert slack.posted() == ["0", "1"]

    run(main())


def test_a_repeat_is_told_apart_and_a_dispatch_the_store_refused_goes_straight_to_slack() -> None:
    async def main() -> None:
        store, slack = MemoryStore(shared=True), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            store.fail_next.extend(["enqueue"] * 40)  # the store refuses the first dispatch until its deadline
            refused = await box.submit(request("straight 1"), digest="d1", window=300)
            assert refused is not None
            await asyncio.wait_for(refused.future, 5)  # delivered from this replica, never written down
            assert await store.outbox_counts() == {}
            store.fail_next.clear()
            assert await box.submit(request("once 2"), digest="d2", window=300) is not None
            assert await box.submit(request("once 2"), digest="d2", window=300) is None  # a repeat
            await until(lambda: len(slack.posted()) == 2)
        assert slack.posted() == ["1", "2"]

    run(main())


class _CountingStore(MemoryStore):
    """The shared in-memory store, counting the fencing checks made alone and with an item's write."""

    def __init__(self, *, trip: float = 0.0) -> None:
        super().__init__(shared=True)
        self.checks: list[str] = []
        self.trip = trip  # how long a write with its check takes to reach the store (a network's round trip)

    async def begin_send(self, *args: Any, **kwargs: Any) -> SendGrant:
        self.checks.append("begin_send")
        return await super().begin_send(*args, **kwargs)

    async def enqueue_sending(self, **kwargs: Any) -> tuple[int, SendGrant | None]:
        self.checks.append("enqueue_sending")
        await asyncio.sleep(self.trip)
        return await super().enqueue_sending(**kwargs)

    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        self.checks.append("find_card")
        return await super().find_card(bot, target, keys)


def test_a_dispatch_reaching_its_idle_lane_is_checked_with_its_write_and_its_card_read_there() -> None:
    async def main() -> None:
        store, slack = _CountingStore(), ScriptedSlack()
        box = outbox(store, slack, post_burst=10)  # no post waits for its turn: each lane check reads the card too
        async with running(box):
            await submit(box, "first 0", alert="a-1")  # the lane is new: its lease taken and checked with the write
            await until(lambda: box.backlog() == 0)
            assert store.checks == ["enqueue_sending"]
            store.checks.clear()
            escalation = await submit(box, "again 1", alert="a-1")  # the lane is idle: checked with the write
            await asyncio.wait_for(escalation.future, 5)
            await until(lambda: box.backlog() == 0)
            assert store.checks == ["enqueue_sending"]  # nor a card look-up: read in the same step
            store.checks.clear()
            await submit(box, "other 2", alert="a-2")
            await submit(box, "behind 3", alert="a-3")  # the lane is not idle any more: it checks this one itself
            await until(lambda: box.backlog() == 0)
            assert store.checks == ["enqueue_sending", "begin_send"]
        assert [call.method for call in slack.calls] == ["post", "update", "thread", "post", "post"]  # the card found
        assert slack.posted() == ["0", "2", "3"]

    run(main())


class _CallCountingStore(_CountingStore):
    """``_CountingStore``, also naming every lease taken and every look at a lane's pending items."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        self.calls.append("acquire_lease")
        return await super().acquire_lease(name, owner, ttl)

    async def pending_ids(self, lane: str) -> list[int]:
        self.calls.append("pending_ids")
        return await super().pending_ids(lane)


def test_a_cold_lanes_first_dispatch_takes_its_lease_with_its_write() -> None:
    """Sporadic alerts find their lane cold (released after a minute idle): the first dispatch takes the lane's
    lease, passes its fencing check and reads its card in the one step that writes it, and its lane, made then,
    has nothing older in the store to look for: no store call before its post."""

    async def main() -> None:
        store, slack = _CallCountingStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            await asyncio.sleep(2)  # the start's own looks are over
            store.calls.clear()
            first = await submit(box, "first 0", alert="a-1")
            await asyncio.wait_for(first.future, 5)
            assert (store.checks, store.calls) == (["enqueue_sending"], [])
            assert store._leases[_lane(store)][0] == box._leases.owner  # the lease is this replica's
        assert slack.posted() == ["0"]

    run(main())


def test_a_cold_lane_held_by_another_replica_is_left_to_it() -> None:
    async def main() -> None:
        store, slack = _CountingStore(), ScriptedSlack()
        a, b = outbox(store, slack), outbox(store, slack)
        async with running(a, b):
            await asyncio.wait_for((await submit(a, "first 0")).future, 5)  # a holds the lane now
            second = await submit(b, "second 1")  # cold at b: its write finds the lease a's, and a delivers it
            await asyncio.wait_for(second.future, 5)
            assert store._leases[_lane(store)][0] == a._leases.owner
        assert slack.posted() == ["0", "1"]

    run(main())


def test_a_cold_lane_with_an_older_item_waiting_delivers_that_one_first() -> None:
    """An item left pending by a replica that died (no lease on its lane): a new dispatch's write, before anyone
    took the lane over, does not take the lane's lease, so the lane, taken afterwards, looks at the store and
    delivers the older item first."""

    async def main() -> None:
        store, slack = _CountingStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            older = request("left 0")
            body, _ = dispatch_body(older)
            await store.enqueue(  # written down by a replica that died before its lane delivered it
                lane=lane_key(TOKEN, older.channel.target),
                kind=ItemKind.DISPATCH,
                body=body,
                token=TokenVault(KEYS).seal(TOKEN),
                now=0.0,
            )
            newer = await submit(box, "newer 1")  # before the next look for orphaned lanes
            await asyncio.wait_for(newer.future, 10)
            await until(lambda: len(slack.posted()) == 2)
        assert slack.posted() == ["0", "1"]

    run(main())


def test_a_check_made_with_a_write_is_not_trusted_once_the_lane_marked_another_item() -> None:
    async def main() -> None:
        store, slack = _CountingStore(trip=0.01), ScriptedSlack()
        box = outbox(store, slack, post_burst=10)
        async with running(box):
            await submit(box, "first 0")
            await until(lambda: box.backlog() == 0)
            store.checks.clear()
            # Two dispatches find the lane idle at once: both are checked with their writes, the second marking the
            # lane last; the first, sent first, is checked again by the lane (the mark must name what is in flight),
            # and then the second too (the lane marked the first since).
            await asyncio.gather(submit(box, "one 1"), submit(box, "two 2"))
            await until(lambda: box.backlog() == 0)
            assert store.checks == ["enqueue_sending", "enqueue_sending", "begin_send", "begin_send"]
            assert store._marks == {}  # each settled item cleared the mark naming it
        assert slack.posted() == ["0", "1", "2"]

    run(main())
