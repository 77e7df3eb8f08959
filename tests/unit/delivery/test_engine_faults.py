"""The delivery engine when its store fails or an item cannot be read, on a virtual clock (the companion of
``test_engine.py``, with its parts from ``tests/unit/engine_parts.py``): a store failing before a Slack call delays
the item, one failing after it never makes it send twice, and an item no key opens fails with its reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.button_keys import ButtonKeys
from bot.core.errors import ErrorCode
from bot.delivery.outbox import UNREADABLE_TOKEN, error_from_details, lane_key
from bot.delivery.tokens import TokenVault
from bot.store import ItemKind
from bot.store.memory import MemoryStore
from tests.unit.engine_parts import TOKEN, ScriptedSlack, outbox, running, submit, until
from tests.unit.virtual_time import VirtualClock, run


def test_a_store_failing_briefly_before_the_slack_call_delays_the_item_and_sends_it_once() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            store.fail_next.append("find_card")  # one failed look-up: waited out, not yet degraded mode
            submission = await submit(box, "disk full 1", alert="alert-1")
            await asyncio.wait_for(submission.future, 5)
            assert not box.degraded()
            await submit(box, "disk full 2", alert="alert-1")
            await until(lambda: len(slack.calls) == 3)
        assert [call.method for call in slack.calls] == ["post", "update", "thread"]  # its card found again

    run(main())


def test_a_store_that_is_down_does_not_hold_notifications_back_and_gets_their_cards_later() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            store.failing.update({"find_card", "save_card"})  # the store is down
            submission = await submit(box, "disk full 1", alert="alert-1")
            took = await until(submission.future.done)
            assert took < 2 and submission.future.exception() is None  # posted without its card's look-up
            assert box.degraded()
            await asyncio.sleep(10)
            assert len(slack.calls) == 1  # nothing posted twice while the store stays down
            store.failing.clear()
            await asyncio.sleep(3)  # the card posted meanwhile is written down as soon as the store answers
            assert not box.degraded()
            await submit(box, "disk full 2", alert="alert-1")
            await until(lambda: len(slack.calls) == 3)
        assert [call.method for call in slack.calls] == ["post", "update", "thread"]  # no second card

    run(main())


def test_a_store_failing_after_the_slack_call_never_makes_it_send_again() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            store.failing.add("save_card")  # Slack has the card; recording it fails for a while
            submission = await submit(box, "disk full 1", alert="alert-1")
            await asyncio.wait_for(submission.future, 5)  # answered once posted; its card kept in memory
            await asyncio.sleep(20)
            assert len(slack.calls) == 1
            store.failing.clear()
            await asyncio.sleep(3)
            await submit(box, "disk full 2", alert="alert-1")
            await until(lambda: len(slack.calls) == 3)
        assert [call.method for call in slack.calls] == ["post", "update", "thread"]  # posted once, then updated

    run(main())


def test_an_item_whose_token_no_key_opens_fails_with_that_reason_and_the_lane_goes_on() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        other_keys = ButtonKeys(["a key this process does not hold"], Path("/nonexistent"))
        await store.enqueue(
            lane=lane_key(TOKEN, "#alerts"),
            kind=ItemKind.DISPATCH,
            body={"target": "#alerts", "message": {"title": "sealed elsewhere"}, "notification_type": "ERROR"},
            token=TokenVault(other_keys).seal(TOKEN),
            now=VirtualClock.EPOCH,
        )
        async with running(box := outbox(store, slack)):
            await submit(box, "after it 1")
            await until(lambda: len(slack.calls) == 1)
        assert slack.posted() == ["1"]
        [(_, _, reason)] = await store.failed_items()
        assert reason == f"{ErrorCode.TOKEN_UNREADABLE.value}: {UNREADABLE_TOKEN}"

    run(main())


def test_the_backlog_and_the_oldest_item_follow_what_is_queued() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack, post_rate=1.0, post_burst=1)
        assert (box.backlog(), box.oldest()) == (0, None)
        async with running(box):
            for n in range(4):
                await submit(box, f"queued {n}")
            await asyncio.sleep(0)
            assert box.backlog() >= 3
            assert box.oldest() == VirtualClock.EPOCH
            await until(lambda: len(slack.posted()) == 4)
            assert (box.backlog(), box.oldest()) == (0, None)

    run(main())


def test_a_failure_recorded_by_another_replica_reads_back_as_its_coded_error() -> None:
    recorded = "ERROR_SLACK_CHANNEL_NOT_FOUND: channel_not_found"
    error = error_from_details(recorded)
    assert (error.code, error.details) == (ErrorCode.SLACK_CHANNEL_NOT_FOUND, recorded)
    older = error_from_details(UNREADABLE_TOKEN)  # recorded without a code by an older release
    assert older.code is ErrorCode.TOKEN_UNREADABLE
    assert error_from_details("something odd").code is ErrorCode.INTERNAL
