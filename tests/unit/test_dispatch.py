"""The dispatch service on the engine (an outbox on the in-memory store, a scripted Slack port, virtual time): how
a dispatch is answered (posted, queued, repeat, failed), how long it waits, what is written down before a queued
answer, what is counted; and ``verify``'s time limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.models import DispatchOutcome
from bot.dispatch import VERIFY_TIMEOUT_SECONDS, DispatchService, dispatch_digest
from bot.slack.web_api import SlackSender
from bot.store.memory import MemoryStore
from tests.samples import APP_TOKEN
from tests.unit.engine_parts import ScriptedSlack, outbox, request, running, until
from tests.unit.metric_samples import sample
from tests.unit.virtual_time import START, run

WAIT = 2.0  # BOT_DISPATCH_WAIT
REPEAT_WINDOW = 300.0


class ScriptedVerifier(SlackSender):
    """Slack's ``auth.test``: ``answer`` after ``delay`` seconds, or never (``delay`` None). Its connection pool is
    never used."""

    def __init__(self, answer: dict[str, Any], delay: float | None = 0.0) -> None:
        super().__init__("https://slack.invalid/api/")
        self.answer, self.delay = answer, delay
        self.tokens: list[str] = []

    async def auth_test(self, token: str) -> dict[str, Any]:
        self.tokens.append(token)
        if self.delay is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay or 0.0)
        return self.answer


class Counts:
    """The dispatch metrics now, to compare with later."""

    def __init__(self) -> None:
        self.taken = self._read()

    @staticmethod
    def _read() -> dict[str, float]:
        read = {o.value: sample("slack_chatops_notifications_total", outcome=o.value) for o in DispatchOutcome}
        for outcome in DispatchOutcome:
            read[f"{outcome.value} timed"] = sample(
                "slack_chatops_dispatch_duration_seconds_count", outcome=outcome.value
            )
        for code in (ErrorCode.SLACK_CHANNEL_NOT_FOUND, ErrorCode.STORE_UNAVAILABLE):
            read[code.value] = sample("slack_chatops_notifications_failed_total", reason=code.value)
        return read

    def added(self) -> dict[str, float]:
        return {name: value - self.taken[name] for name, value in self._read().items() if value != self.taken[name]}


@asynccontextmanager
async def service(
    store: MemoryStore, slack: ScriptedSlack, **pace: Any
) -> AsyncIterator[tuple[DispatchService, list[str]]]:
    """A running dispatch service; the app-level tokens it was given."""
    box = outbox(store, slack, **pace)
    verifier = ScriptedVerifier({"ok": True})
    app_tokens: list[str] = []

    async def on_app_token(token: str) -> None:
        app_tokens.append(token)

    try:
        async with running(box):
            yield (
                DispatchService(box, verifier, wait=WAIT, repeat_window=REPEAT_WINDOW, on_app_token=on_app_token),
                app_tokens,
            )
    finally:
        await verifier.close()


def test_a_dispatch_is_answered_posted_once_its_card_is_in_slack_and_nothing_is_written_down() -> None:
    async def main() -> None:
        store, slack, counts = MemoryStore(), ScriptedSlack(), Counts()
        async with service(store, slack) as (dispatch, _):
            assert await dispatch.dispatch(request("disk full 1")) is DispatchOutcome.POSTED
            assert slack.posted() == ["1"]  # already, when the answer comes
            assert await store.outbox_counts() == {}  # a quiet channel costs no outbox write
        assert counts.added() == {"posted": 1, "posted timed": 1}

    run(main())


def test_a_slow_slack_is_waited_for_as_long_as_the_wait_then_the_dispatch_is_queued_durably() -> None:
    async def main() -> None:
        store, slack, counts = MemoryStore(), ScriptedSlack(), Counts()
        slack.faults.append(10.0)  # Slack takes 10 s to answer
        async with service(store, slack) as (dispatch, _):
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await dispatch.dispatch(request("slow 1")) is DispatchOutcome.QUEUED
            assert loop.time() - started == pytest.approx(WAIT, abs=0.01)
            assert await store.outbox_counts() == {"pending": 1}  # written down before the answer
            await until(lambda: slack.posted() == ["1"])
            await asyncio.sleep(30)
            assert "pending" not in await store.outbox_counts()  # recorded as delivered
        assert slack.posted() == ["1"]  # delivered once
        assert counts.added() == {"queued": 1, "queued timed": 1}

    run(main())


def test_a_dispatch_whose_turn_is_further_off_than_the_wait_is_queued_at_once() -> None:
    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        async with service(store, slack, post_rate=1.0, post_burst=1) as (dispatch, _):
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def answered(title: str) -> tuple[DispatchOutcome, float]:
                outcome = await dispatch.dispatch(request(title))
                return outcome, loop.time() - started

            answers = await asyncio.gather(*(answered(f"storm {n}") for n in range(5)))
            assert answers[0] == (DispatchOutcome.POSTED, 0.0)
            assert answers[-1] == (DispatchOutcome.QUEUED, 0.0)  # its turn is seconds away: no waiting for it
            assert all(took <= WAIT for _, took in answers)
            await until(lambda: len(slack.posted()) == 5)
        assert slack.posted() == [str(n) for n in range(5)]  # the queued ones went too, in order

    run(main())


def test_a_repeat_within_the_window_is_answered_without_a_second_post() -> None:
    async def main() -> None:
        store, slack, counts = MemoryStore(), ScriptedSlack(), Counts()
        async with service(store, slack) as (dispatch, _):
            assert await dispatch.dispatch(request("once 1")) is DispatchOutcome.POSTED
            assert await dispatch.dispatch(request("once 1")) is DispatchOutcome.REPEAT
            assert await dispatch.dispatch(request("once 1"), digest="another") is DispatchOutcome.POSTED
            await asyncio.sleep(REPEAT_WINDOW + 1)
            assert await dispatch.dispatch(request("once 1")) is DispatchOutcome.POSTED  # the window has passed
        assert slack.posted() == ["1", "1", "1"]
        assert counts.added() == {"posted": 3, "posted timed": 3, "repeat": 1, "repeat timed": 1}

    run(main())


def test_a_permanent_slack_error_comes_back_on_the_dispatch_that_meets_it_and_is_counted_once() -> None:
    async def main() -> None:
        store, slack, counts = MemoryStore(), ScriptedSlack(), Counts()
        slack.faults.append(BotError(ErrorCode.SLACK_CHANNEL_NOT_FOUND, "channel_not_found"))
        async with service(store, slack) as (dispatch, _):
            with pytest.raises(BotError) as raised:
                await dispatch.dispatch(request("to nowhere 1"))
            assert raised.value.code is ErrorCode.SLACK_CHANNEL_NOT_FOUND
            # failed for good: the same dispatch, once the channel exists, is no repeat
            assert await dispatch.dispatch(request("to nowhere 1")) is DispatchOutcome.POSTED
        assert counts.added() == {
            "failed": 1,
            "failed timed": 1,
            "posted": 1,
            "posted timed": 1,
            ErrorCode.SLACK_CHANNEL_NOT_FOUND.value: 1,
        }

    run(main())


def test_a_dispatch_the_shared_store_cannot_write_down_goes_straight_to_slack() -> None:
    async def main() -> None:
        store, slack, counts = MemoryStore(shared=True), ScriptedSlack(), Counts()
        async with service(store, slack) as (dispatch, _):
            store.failing.update({"enqueue", "find_card", "save_card"})  # the store is away
            assert await dispatch.dispatch(request("store away 1")) is DispatchOutcome.POSTED
            assert slack.posted() == ["1"] and await store.outbox_counts() == {}  # posted, nothing written down
            slack.faults.append(BotError(ErrorCode.SLACK_UNAVAILABLE, "503", retryable=True))
            with pytest.raises(BotError) as raised:  # neither the store nor Slack took it
                await dispatch.dispatch(request("nowhere to go 2"))
            assert raised.value.code is ErrorCode.STORE_UNAVAILABLE
            store.failing.clear()
            assert await dispatch.dispatch(request("nowhere to go 2")) is DispatchOutcome.POSTED  # not a repeat
        assert counts.added()[ErrorCode.STORE_UNAVAILABLE.value] == 1
        assert counts.added()["failed"] == 1
        assert slack.posted() == ["1", "2"]

    run(main())


def test_a_queued_dispatch_the_store_cannot_write_down_is_answered_by_its_delivery_or_refused() -> None:
    """Past the wait a dispatch must be written down before it is answered OK. When the store cannot take it, one
    whose post is already on its way is answered when that post lands; one still waiting in its lane is withdrawn
    (never posted) and refused."""

    async def main() -> None:
        store, slack = MemoryStore(), ScriptedSlack()
        slack.faults.append(12.0)  # Slack takes 12 s to answer the first post (within its HTTP timeout)
        async with service(store, slack) as (dispatch, _):
            loop = asyncio.get_running_loop()
            store.failing.add("enqueue")
            in_flight = asyncio.create_task(dispatch.dispatch(request("in flight 1")))
            await asyncio.sleep(0.1)
            with pytest.raises(BotError) as raised:
                await dispatch.dispatch(request("behind it 2"))
            assert raised.value.code is ErrorCode.STORE_UNAVAILABLE
            assert await in_flight is DispatchOutcome.QUEUED
            assert loop.time() >= START + 12 and slack.posted() == ["1"]  # answered once Slack had it
            store.failing.clear()
            await asyncio.sleep(30)
        assert slack.posted() == ["1"]

    run(main())


def test_an_app_level_token_in_the_channel_is_handed_on() -> None:
    async def main() -> None:
        async with service(MemoryStore(), ScriptedSlack()) as (dispatch, app_tokens):
            await dispatch.dispatch(request("plain 1"))
            assert app_tokens == []
            await dispatch.dispatch(request("socket mode 2", channel_data={"app_token": APP_TOKEN}))
            assert app_tokens == [APP_TOKEN]

    run(main())


def test_queued_and_failed_answers_are_logged_and_posted_ones_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        slack = ScriptedSlack()
        slack.faults.append(BotError(ErrorCode.SLACK_CHANNEL_NOT_FOUND, "channel_not_found"))
        async with service(MemoryStore(), slack) as (dispatch, _):
            with pytest.raises(BotError):
                await dispatch.dispatch(request("failed 1", alert="alert-1"))
            assert await dispatch.dispatch(request("posted 2")) is DispatchOutcome.POSTED
            slack.faults.append(10.0)
            assert await dispatch.dispatch(request("queued 3")) is DispatchOutcome.QUEUED

    with caplog.at_level(logging.INFO, logger="bot.dispatch"):
        run(main())
    answered = [r.__dict__ for r in caplog.records if r.__dict__.get("event") == "dispatch"]
    assert [(r["outcome"], r.get("code")) for r in answered] == [
        ("failed", ErrorCode.SLACK_CHANNEL_NOT_FOUND.value),
        ("queued", None),
    ]
    assert answered[0]["alert"] == "alert:alert-1" and answered[0]["channel"] == "alerts"
    assert answered[1]["alert"] == ""


def test_the_digest_names_what_makes_a_dispatch_the_same() -> None:
    same = dispatch_digest(request("disk full"))
    assert dispatch_digest(request("disk full")) == same
    assert dispatch_digest(request("disk full", channel="#other")) != same
    assert dispatch_digest(request("disk full", description="more")) != same
    other_bot = request("disk full", channel_data={"token": "xoxb-1111-3333-ANOTHERbottoken"})
    assert dispatch_digest(other_bot) != same
    assert len(same) == 64 and "SECRET" not in same


def test_verify_answers_what_slack_said_about_the_token() -> None:
    async def main() -> None:
        verifier = ScriptedVerifier({"ok": True, "team_id": "T1"}, delay=1.0)
        try:
            box = outbox(MemoryStore(), ScriptedSlack())
            verified = DispatchService(box, verifier, wait=WAIT, repeat_window=0)
            assert await verified.verify("xoxb-token") == {"ok": True, "team_id": "T1"}
            assert verifier.tokens == ["xoxb-token"]
        finally:
            await verifier.close()

    run(main())


def test_verify_gives_up_on_a_slack_that_does_not_answer() -> None:
    async def main() -> None:
        verifier = ScriptedVerifier({"ok": True}, delay=None)
        try:
            box = outbox(MemoryStore(), ScriptedSlack())
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(BotError) as raised:
                await DispatchService(box, verifier, wait=WAIT, repeat_window=0).verify("xoxb-token")
            assert raised.value.code is ErrorCode.TIMEOUT
            assert f"within {VERIFY_TIMEOUT_SECONDS} s" in raised.value.details
            assert loop.time() - started == pytest.approx(VERIFY_TIMEOUT_SECONDS)
        finally:
            await verifier.close()

    run(main())
