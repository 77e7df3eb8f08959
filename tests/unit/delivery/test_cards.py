"""The card keeper in the engine (an outbox on the in-memory store, a scripted Slack port, virtual time): an alert's
card posted once, updated with a line in its thread, resolved, left alone by a late notification, posted anew when
deleted in Slack; a click's acknowledgement recorded and announced; items of a newer layout refused."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.button_keys import ButtonKeys
from bot.core.cards import CardStatus
from bot.core.errors import BotError, ErrorCode
from bot.delivery.cards import CardKeeper
from bot.delivery.outbox import lane_key
from bot.delivery.tokens import TokenVault
from bot.slack.web_api import Posted
from bot.store import ItemKind
from bot.store.memory import MemoryStore
from tests.unit.engine_parts import KEYS, TOKEN, ScriptedSlack, outbox, running, submit, until
from tests.unit.metric_samples import sample
from tests.unit.virtual_time import run

CHANNEL = "C0ALERTS"  # #alerts, as the scripted Slack names it
FIRST = "1.000100"  # the ts of the first message the scripted Slack posts
ACKED_AT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def cards_counted() -> dict[str, float]:
    return {action: sample("slack_chatops_cards_total", action=action) for action in ("posted", "updated", "ignored")}


def added(before: dict[str, float]) -> dict[str, float]:
    return {action: value - before[action] for action, value in cards_counted().items() if value != before[action]}


def test_an_alerts_card_is_posted_then_updated_with_thread_lines_until_resolved() -> None:
    async def main() -> None:
        store, slack, counted = MemoryStore(), ScriptedSlack(), cards_counted()
        box = outbox(store, slack)
        async with running(box):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await submit(box, "[Alerting] disk full", alert="alert-1")  # an escalation
            await submit(box, "[Resolved] disk full", alert="alert-1")
            await until(lambda: len(slack.calls) == 5)
        assert [(call.method, call.ts) for call in slack.calls] == [
            ("post", FIRST),
            ("update", FIRST),
            ("thread", FIRST),
            ("update", FIRST),
            ("thread", FIRST),
        ]
        escalated, resolved = (call.text for call in slack.calls if call.method == "thread")
        assert escalated == ":rotating_light: Escalated: notified 2×"
        assert resolved.startswith(":white_check_mark: Resolved at <!date^")
        record = await store.card_by_message(CHANNEL, FIRST)
        assert record is not None
        assert (record.status, record.notified, record.target) == (CardStatus.RESOLVED, 2, "alerts")
        assert record.resolved_at is not None
        assert added(counted) == {"posted": 1, "updated": 2}

    run(main())


def test_a_late_notification_for_a_resolved_alert_changes_nothing_in_slack() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            await submit(box, "[Resolved] disk full", alert="alert-1")  # a card posted already resolved
            await until(lambda: len(slack.calls) == 1)
            counted = cards_counted()
            late = await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(late.future.done)
            assert late.future.exception() is None  # delivered, as far as the caller is concerned
        assert [call.method for call in slack.calls] == ["post"]
        assert added(counted) == {"ignored": 1}
        record = await store.card_by_message(CHANNEL, FIRST)
        assert record is not None and (record.status, record.notified) == (CardStatus.RESOLVED, 1)

    run(main())


def test_a_notification_about_no_alert_is_posted_and_kept_no_card() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        keeper = CardKeeper(store, KEYS, TokenVault(KEYS))
        async with running(box := outbox(store, slack, keeper=keeper)):
            await submit(box, "backup finished")
            await submit(box, "backup finished")
            await until(lambda: len(slack.calls) == 2)
        assert [call.method for call in slack.calls] == ["post", "post"]  # nothing to update: each its own message
        assert await keeper.card_status(CHANNEL, FIRST) is None

    run(main())


def test_a_card_deleted_in_slack_is_posted_anew_and_updated_there_from_then_on() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        box = outbox(store, slack)
        async with running(box):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(lambda: len(slack.calls) == 1)
            slack.faults.append(BotError(ErrorCode.SLACK_MESSAGE_NOT_FOUND, "message_not_found"))
            await submit(box, "[Alerting] disk full", alert="alert-1")  # its update finds the card gone
            await until(lambda: len(slack.posted()) == 2)
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(lambda: len(slack.times("update")) == 1)
        second = "2.000100"
        assert [(call.method, call.ts) for call in slack.calls] == [
            ("post", FIRST),
            ("post", second),  # no thread line under a card nobody can see
            ("update", second),
            ("thread", second),
        ]
        assert await store.card_by_message(CHANNEL, FIRST) is None
        record = await store.card_by_message(CHANNEL, second)
        assert record is not None and record.notified == 3

    run(main())


class ThreadRefusingSlack(ScriptedSlack):
    """Slack refusing thread lines with ``refusals``, in order (then taking them)."""

    def __init__(self, *refusals: BotError) -> None:
        super().__init__()
        self.refusals = list(refusals)

    async def post(self, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        if thread_ts and self.refusals:
            raise self.refusals.pop(0)
        return await super().post(token, channel, payload, thread_ts=thread_ts)


def test_a_thread_line_slack_refuses_for_good_is_lost_but_the_card_is_updated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        store = MemoryStore()
        slack = ThreadRefusingSlack(BotError(ErrorCode.SLACK_MESSAGE_NOT_FOUND, "thread_not_found"))
        box = outbox(store, slack)
        async with running(box):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            escalation = await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(escalation.future.done)
            assert escalation.future.exception() is None
        assert [call.method for call in slack.calls] == ["post", "update"]
        record = await store.card_by_message(CHANNEL, FIRST)
        assert record is not None and record.notified == 2  # the card's state is kept all the same

    with caplog.at_level(logging.WARNING, logger="bot.delivery.cards"):
        run(main())
    assert [r.getMessage() for r in caplog.records if r.name == "bot.delivery.cards"] == [
        f"could not add a line to the thread of card {FIRST}: ERROR_SLACK_MESSAGE_NOT_FOUND: thread_not_found"
    ]


def test_a_thread_line_that_fails_for_now_is_tried_again_with_its_update() -> None:
    async def main() -> None:
        store = MemoryStore()
        slack = ThreadRefusingSlack(BotError(ErrorCode.SLACK_UNAVAILABLE, "503", retryable=True))
        box = outbox(store, slack)
        async with running(box):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(lambda: len(slack.times("thread")) == 1)
        assert [call.method for call in slack.calls] == ["post", "update", "update", "thread"]
        record = await store.card_by_message(CHANNEL, FIRST)
        assert record is not None and record.notified == 2  # counted once

    run(main())


def test_an_escalation_mentions_who_the_channel_says_in_its_thread_line() -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack)
        rules = {"mentions": "U0ONCALL1", "mention_on": "escalation"}
        async with running(box):
            await submit(box, "[Alerting] disk full", alert="alert-1", channel_data=rules)
            await submit(box, "[Alerting] disk full", alert="alert-1", channel_data=rules)
            await until(lambda: len(slack.times("thread")) == 1)
        [post, _, thread] = slack.calls
        assert "<@U0ONCALL1>" not in post.text  # not on the first post: the channel did not ask for that
        assert thread.text == ":rotating_light: Escalated: notified 2× <@U0ONCALL1>"

    run(main())


def test_a_card_cut_to_fit_slack_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        box = outbox(MemoryStore(), slack)
        async with running(box):
            await submit(box, "[Alerting] long", alert="alert-1", description="word " * 3000)
            await until(lambda: len(slack.calls) == 1)

    with caplog.at_level(logging.INFO, logger="bot.delivery.cards"):
        run(main())
    assert any(r.getMessage().startswith("card shortened to fit Slack: ") for r in caplog.records)


# The click service's card book.


def test_an_acknowledgement_is_recorded_on_the_card_and_announced_in_its_thread() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        keeper = CardKeeper(store, KEYS, TokenVault(KEYS))
        async with running(box := outbox(store, slack, keeper=keeper)):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(lambda: len(slack.calls) == 1)
            assert await keeper.card_status(CHANNEL, FIRST) is CardStatus.OPEN
            await keeper.record_ack(CHANNEL, FIRST, actor="U0ALICE", actor_name="alice", at=ACKED_AT)
            await until(lambda: len(slack.calls) == 2)
            assert await keeper.card_status(CHANNEL, FIRST) is CardStatus.ACKNOWLEDGED
            await submit(box, "[Alerting] disk full", alert="alert-1")  # escalated while acknowledged
            await until(lambda: len(slack.calls) == 4)
        acknowledged, escalated = (call for call in slack.calls if call.method == "thread")
        assert (acknowledged.ts, escalated.ts) == (FIRST, FIRST)
        assert acknowledged.text.startswith(f":eyes: Acknowledged by alice at <!date^{int(ACKED_AT.timestamp())}^")
        record = await store.card_by_message(CHANNEL, FIRST)
        assert record is not None
        assert (record.status, record.actor, record.actor_name, record.acted_at, record.notified) == (
            CardStatus.ACKNOWLEDGED,  # an escalation does not undo it
            "U0ALICE",
            "alice",
            ACKED_AT.timestamp(),
            2,
        )

    run(main())


def test_an_acknowledgement_of_no_card_or_of_a_resolved_one_changes_nothing() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        keeper = CardKeeper(store, KEYS, TokenVault(KEYS))
        async with running(box := outbox(store, slack, keeper=keeper)):
            await keeper.record_ack(CHANNEL, "9.9", actor="U0ALICE", actor_name="alice", at=ACKED_AT)
            await submit(box, "[Resolved] disk full", alert="alert-1")
            await until(lambda: len(slack.calls) == 1)
            await keeper.record_ack(CHANNEL, FIRST, actor="U0ALICE", actor_name="alice", at=ACKED_AT)
            await asyncio.sleep(5)
            assert await store.outbox_counts() == {}  # no thread line queued
        assert [call.method for call in slack.calls] == ["post"]
        record = await store.card_by_message(CHANNEL, FIRST)
        assert record is not None and (record.status, record.actor) == (CardStatus.RESOLVED, None)

    run(main())


def test_an_acknowledgement_of_a_card_whose_token_no_key_opens_is_recorded_without_a_thread_line() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        async with running(box := outbox(store, slack)):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(lambda: len(slack.calls) == 1)
        rotated = ButtonKeys(["a-new-key-altogether"], Path("/nonexistent"))  # the keys changed since
        keeper = CardKeeper(store, rotated, TokenVault(rotated))  # no outbox either: nothing is queued
        await keeper.record_ack(CHANNEL, FIRST, actor="U0ALICE", actor_name="alice", at=ACKED_AT)
        assert await keeper.card_status(CHANNEL, FIRST) is CardStatus.ACKNOWLEDGED
        assert await store.outbox_counts() == {}

    run(main())


def test_a_keeper_without_an_outbox_cannot_announce_an_acknowledgement() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        async with running(box := outbox(store, slack)):
            await submit(box, "[Alerting] disk full", alert="alert-1")
            await until(lambda: len(slack.calls) == 1)
        with pytest.raises(RuntimeError, match="no outbox"):
            await CardKeeper(store, KEYS, TokenVault(KEYS)).record_ack(
                CHANNEL, FIRST, actor="U0ALICE", actor_name="alice", at=ACKED_AT
            )

    run(main())


# Stored items the keeper cannot read.


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"v": 2, "target": "#alerts", "message": {"title": "from the future"}, "notification_type": "ERROR"},
            "ERROR_STORE_TOO_NEW: outbox item 1 was written by a newer release: layout 2, this release reads up to 1",
        ),
        ({"message": {"title": "no target"}}, "ERROR_INTERNAL: outbox item 1 is not a dispatch item"),
    ],
)
def test_an_item_the_keeper_cannot_read_fails_with_its_reason_and_the_lane_goes_on(
    body: dict[str, Any], reason: str
) -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        await store.enqueue(
            lane=lane_key(TOKEN, "#alerts"),
            kind=ItemKind.DISPATCH,
            body=body,
            token=TokenVault(KEYS).seal(TOKEN),
            now=1_700_000_000.0,
        )
        async with running(box := outbox(store, slack)):
            await submit(box, "after it 1")
            await until(lambda: len(slack.calls) == 1)
        assert slack.posted() == ["1"]
        [(item_id, _, failed)] = await store.failed_items()
        assert item_id == 1 and failed.startswith(reason)

    run(main())
