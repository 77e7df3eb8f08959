"""The Web API client's retry loop against a scripted Slack on loopback: attempts, coded errors, ``retryable``.

A tiny aiohttp server answers each request with the next scripted step (the last one repeats): Slack's JSON,
an empty or HTML body from a proxy, 429 with every kind of ``Retry-After``, 5xx, or a dropped connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from enum import StrEnum
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.core.errors import BotError, ErrorCode
from bot.core.limits import DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS
from bot.pacing import MAX_PAUSE_SECONDS, Pacer
from bot.slack.errors import SlackCallError, parse_retry_after, translate
from bot.slack.web_api import SlackSender, default_retry_handlers
from tests.samples import TOKEN


class Drop(StrEnum):
    CLOSE = "close"  # the connection is closed without an answer
    RESET = "reset"  # the connection is reset (TCP RST)


@dataclass(frozen=True)
class Step:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: Drop | None = None


def ok() -> Step:
    return Step(body=b'{"ok":true,"channel":"C0ALERTS01","ts":"1700000000.000100"}')


def slack_error(name: str) -> Step:
    return Step(body=b'{"ok":false,"error":"%s"}' % name.encode())


def empty() -> Step:
    return Step(body=b"")


def html(status: int = 200) -> Step:
    return Step(status=status, body=b"<html><body>Bad gateway</body></html>", content_type="text/html")


def rate_limited(retry_after: str | None) -> Step:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return Step(status=429, body=b'{"ok":false,"error":"ratelimited"}', headers=headers)


class ScriptedSlack:
    """A Web API endpoint on 127.0.0.1 that answers request N with step N of its script (the last repeats)."""

    def __init__(self) -> None:
        self.script: list[Step] = [ok()]
        self.requests: list[tuple[str, str, bytes]] = []  # (path, Authorization, body)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def play(self, *steps: Step) -> None:
        self.script = list(steps)
        self.requests.clear()

    @property
    def attempts(self) -> int:
        return len(self.requests)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.path, request.headers.get("Authorization", ""), body))
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if step.drop is not None:
            transport = request.transport
            assert transport is not None
            if step.drop is Drop.RESET:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return web.Response()  # never reaches the client
        return web.Response(
            status=step.status, body=step.body, headers={"Content-Type": step.content_type, **step.headers}
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def slack() -> AsyncIterator[ScriptedSlack]:
    server = ScriptedSlack()
    await server.start()
    yield server
    await server.stop()


def fast_handlers(max_wait: float = 0.2) -> Any:
    """The default handlers (two retries each), without backoff or jitter so the tests run in milliseconds."""
    return default_retry_handlers(2, interval=FixedValueRetryIntervalCalculator(0.0), max_wait=max_wait, jitter=0.0)


@pytest.fixture
async def sender(slack: ScriptedSlack) -> AsyncIterator[SlackSender]:
    client = SlackSender(slack.url, retry_handlers=fast_handlers())
    yield client
    await client.close()


@pytest.fixture
async def bare_sender(slack: ScriptedSlack) -> AsyncIterator[SlackSender]:
    """As the outbox uses it: no retries inside the call (the outbox retries whatever is ``retryable``)."""
    client = SlackSender(slack.url, retry_handlers=[])
    yield client
    await client.close()


async def failure(call: Any) -> BotError:
    with pytest.raises(BotError) as caught:
        async with asyncio.timeout(10):
            await call
    return caught.value


# -- the loop ----------------------------------------------------------------------------------------------------


async def test_ok_is_one_attempt_with_the_token_as_bearer(slack: ScriptedSlack, sender: SlackSender) -> None:
    posted = await sender.post(TOKEN, "C0ALERTS01", {"text": "hi"})
    assert (posted.channel_id, posted.ts) == ("C0ALERTS01", "1700000000.000100")
    [(path, authorization, body)] = slack.requests
    assert path == "/api/chat.postMessage" and authorization == f"Bearer {TOKEN}" and b'"text":"hi"' in body


async def test_slack_error_is_permanent_and_not_retried(slack: ScriptedSlack, sender: SlackSender) -> None:
    slack.play(slack_error("channel_not_found"))
    error = await failure(sender.post(TOKEN, "#nowhere", {"text": "hi"}))
    assert slack.attempts == 1
    assert error.code is ErrorCode.SLACK_CHANNEL_NOT_FOUND and not error.retryable and "#nowhere" in error.message


@pytest.mark.parametrize(
    "answer",
    [empty(), html(), Step(body=b"{}"), Step(body=b"[1, 2]"), Step(body=b"\xff\xfe")],
    ids=["empty", "html", "empty-object", "list", "not-utf8"],
)
async def test_http_200_without_slacks_json_is_transient_and_retried(
    slack: ScriptedSlack, sender: SlackSender, answer: Step
) -> None:
    slack.play(answer)
    error = await failure(sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 3  # the first try and two retries
    assert error.code is ErrorCode.SLACK_UNAVAILABLE and error.retryable and "proxy" in error.message


@pytest.mark.parametrize("answer", [empty(), html()], ids=["empty", "html"])
async def test_http_200_without_slacks_json_is_transient_for_the_outbox(
    slack: ScriptedSlack, bare_sender: SlackSender, answer: Step
) -> None:
    """The regression: an accepted notification was failed for good (lost) on a proxy's empty 200."""
    slack.play(answer)
    error = await failure(bare_sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 1
    assert error.code is ErrorCode.SLACK_UNAVAILABLE and error.retryable


async def test_an_unreadable_answer_then_ok_succeeds(slack: ScriptedSlack, sender: SlackSender) -> None:
    slack.play(html(), empty(), ok())
    assert (await sender.auth_test(TOKEN))["ok"] is True
    assert slack.attempts == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_then_transient(slack: ScriptedSlack, sender: SlackSender, status: int) -> None:
    slack.play(html(status))
    error = await failure(sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 3
    assert error.code is ErrorCode.SLACK_UNAVAILABLE and error.retryable and str(status) in error.message


async def test_a_server_error_then_ok_succeeds(slack: ScriptedSlack, sender: SlackSender) -> None:
    slack.play(html(503), ok())
    await sender.post(TOKEN, "C0ALERTS01", {"text": "hi"})
    assert slack.attempts == 2


async def test_a_proxy_404_is_permanent(slack: ScriptedSlack, sender: SlackSender) -> None:
    slack.play(html(404))
    error = await failure(sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 1 and error.code is ErrorCode.SLACK_API and not error.retryable


@pytest.mark.parametrize("drop", list(Drop))
async def test_dropped_connections_are_retried_then_transient(
    slack: ScriptedSlack, sender: SlackSender, drop: Drop
) -> None:
    slack.play(Step(drop=drop))
    error = await failure(sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 3
    assert error.code is ErrorCode.SLACK_UNAVAILABLE and error.retryable and "could not reach Slack" in error.message


@pytest.mark.parametrize("drop", list(Drop))
async def test_a_dropped_connection_then_ok_succeeds(slack: ScriptedSlack, sender: SlackSender, drop: Drop) -> None:
    slack.play(Step(drop=drop), ok())
    await sender.post(TOKEN, "C0ALERTS01", {"text": "hi"})
    assert slack.attempts == 2


async def test_nothing_listening_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        client = SlackSender(f"http://127.0.0.1:{port}/api/", retry_handlers=fast_handlers())
        try:
            error = await failure(client.auth_test(TOKEN))
        finally:
            await client.close()
    assert error.code is ErrorCode.SLACK_UNAVAILABLE and error.retryable


# -- rate limits -------------------------------------------------------------------------------------------------


class HttpDate(str):
    """An HTTP date ``offset`` seconds from when the test runs (not from when the suite was collected)."""

    offset: float

    def __new__(cls, offset: float) -> HttpDate:
        made = super().__new__(cls, f"date{offset:+g}")
        made.offset = offset
        return made


def http_date(offset: float) -> HttpDate:
    return HttpDate(offset)


def header_value(header: str | None) -> str | None:
    if isinstance(header, HttpDate):
        return formatdate(time.time() + header.offset, usegmt=True)
    return header


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("0.05", 0.05),
        (http_date(-60), 0.0),  # a date in the past: go now
    ],
    ids=["zero", "fraction", "past-date"],
)
async def test_a_short_retry_after_is_waited_out_and_retried(
    slack: ScriptedSlack, sender: SlackSender, header: str, expected: float
) -> None:
    slack.play(rate_limited(header_value(header)))
    error = await failure(sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 3
    assert error.code is ErrorCode.SLACK_RATE_LIMITED and error.retryable
    assert error.retry_after == pytest.approx(expected, abs=1)


async def test_a_short_rate_limit_then_ok_succeeds(slack: ScriptedSlack, sender: SlackSender) -> None:
    slack.play(rate_limited("0.01"), ok())
    await sender.post(TOKEN, "C0ALERTS01", {"text": "hi"})
    assert slack.attempts == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1.5", 1.5),
        ("30", 30.0),
        (http_date(120), 120.0),
        ("1000000000", MAX_RETRY_AFTER_SECONDS),
        ("inf", MAX_RETRY_AFTER_SECONDS),
        ("1e400", MAX_RETRY_AFTER_SECONDS),
        ("abc", DEFAULT_RETRY_AFTER_SECONDS),
        ("nan", DEFAULT_RETRY_AFTER_SECONDS),
        ("", DEFAULT_RETRY_AFTER_SECONDS),
        (None, DEFAULT_RETRY_AFTER_SECONDS),
    ],
    ids=["fraction", "seconds", "date", "huge", "inf", "overflow", "junk", "nan", "blank", "missing"],
)
async def test_a_long_or_odd_retry_after_is_reported_bounded_for_the_caller(
    slack: ScriptedSlack, sender: SlackSender, header: str | None, expected: float
) -> None:
    slack.play(rate_limited(header_value(header)))
    error = await failure(sender.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert slack.attempts == 1  # longer than the call may wait: the caller (the outbox) pauses the lane
    assert error.code is ErrorCode.SLACK_RATE_LIMITED and error.retryable
    assert error.retry_after == pytest.approx(expected, abs=2)


@pytest.mark.parametrize(("header", "attempts"), [("1.5", 2), ("abc", 1), ("1000000000", 1)])
async def test_the_default_sender_never_raises_or_hangs_on_odd_retry_after(
    slack: ScriptedSlack, header: str, attempts: int
) -> None:
    """The regression: slack_sdk's handler ran ``int()`` on the header (ValueError on ``1.5``: verify answered
    INTERNAL) and slept for a billion seconds on ``1000000000``."""
    slack.play(rate_limited(header), ok())
    client = SlackSender(slack.url)  # as the runtime builds it for verify and user-group look-ups
    try:
        async with asyncio.timeout(8):
            if attempts == 1:
                error = await failure(client.auth_test(TOKEN))
                assert error.code is ErrorCode.SLACK_RATE_LIMITED and error.retryable
                assert error.retry_after in (DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS)
            else:
                assert (await client.auth_test(TOKEN))["ok"] is True  # waited 1.5 s (and jitter), then retried
    finally:
        await client.close()
    assert slack.attempts == attempts


async def test_a_user_group_look_up_on_an_odd_retry_after_is_a_coded_error(slack: ScriptedSlack) -> None:
    """A click with a user-group allow-list: the look-up fails as a BotError (the runtime then says the group
    could not be checked), never a ValueError that turned the click into a 404."""
    slack.play(rate_limited("abc"))
    client = SlackSender(slack.url)
    try:
        error = await failure(client.group_members(TOKEN, "S0ONCALL"))
    finally:
        await client.close()
    assert error.code is ErrorCode.SLACK_RATE_LIMITED
    assert slack.requests[0][0] == "/api/usergroups.users.list" and slack.requests[0][2] == b"usergroup=S0ONCALL"


async def test_slack_sdks_own_rate_limit_handler_cannot_break_the_call(slack: ScriptedSlack) -> None:
    slack.play(rate_limited("1.5"))
    client = SlackSender(slack.url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    try:
        error = await failure(client.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    finally:
        await client.close()
    assert slack.attempts == 1
    assert error.code is ErrorCode.SLACK_RATE_LIMITED and error.retry_after == pytest.approx(1.5)


# -- Retry-After and pauses, directly ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("9" * 5000, MAX_RETRY_AFTER_SECONDS),
        ("Infinity", MAX_RETRY_AFTER_SECONDS),
        ("NaN", DEFAULT_RETRY_AFTER_SECONDS),
        ("Mon, 99 Foo 2015", DEFAULT_RETRY_AFTER_SECONDS),
        ("\x00", DEFAULT_RETRY_AFTER_SECONDS),
        (None, DEFAULT_RETRY_AFTER_SECONDS),
    ],
)
def test_parse_retry_after(value: str | None, expected: float) -> None:
    assert parse_retry_after(value) == pytest.approx(expected)


def test_parse_retry_after_reads_an_http_date_relative_to_now() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == pytest.approx(90)
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:20", now=now - 10) == pytest.approx(10)  # no zone: GMT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seconds", [1e9, float("inf"), 1e308])
def test_a_pacer_pause_is_capped(seconds: float) -> None:
    clock = Clock()
    pacer = Pacer(rate=1.0, burst=1, clock=clock)
    pacer.pause(seconds)
    assert pacer.wait_time() == pytest.approx(MAX_PAUSE_SECONDS)
    clock.now += MAX_PAUSE_SECONDS
    assert pacer.wait_time() < 2  # the lane moves again, without a restart


@pytest.mark.parametrize(("seconds", "expected"), [(float("nan"), DEFAULT_RETRY_AFTER_SECONDS), (-5.0, 0.0)])
def test_a_pacer_pause_of_an_odd_value_is_sane(seconds: float, expected: float) -> None:
    clock = Clock()
    pacer = Pacer(rate=0, burst=1, clock=clock)
    pacer.pause(seconds)
    assert pacer.wait_time() == pytest.approx(expected)


@pytest.mark.parametrize(("status", "error"), [(429, "ratelimited"), (200, "rate_limited"), (429, "")])
def test_both_of_slacks_rate_limit_errors_are_rate_limits(status: int, error: str) -> None:
    """``ratelimited`` comes with HTTP 429; ``rate_limited`` is an error chat.postMessage documents (HTTP 200)."""
    translated = translate(SlackCallError("chat.postMessage", status, error, 2.0), channel="C0ALERTS01")
    assert translated.code is ErrorCode.SLACK_RATE_LIMITED and translated.retryable
    assert translated.retry_after == 2.0
    assert translated.message == "Slack kept rate-limiting posts to C0ALERTS01; try again later"


async def test_a_closed_sender_fails_as_unreachable_without_calling_slack(slack: ScriptedSlack) -> None:
    """Its connection pool is opened once, by the constructor, and stays closed after ``close`` (it used to be
    opened again by the next call, and then never closed)."""
    slack.play(ok())
    client = SlackSender(slack.url, retry_handlers=fast_handlers())
    await client.close()
    error = await failure(client.post(TOKEN, "C0ALERTS01", {"text": "hi"}))
    assert error.code is ErrorCode.SLACK_UNAVAILABLE and error.retryable
    assert slack.attempts == 0


# -- what errors quote ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: SlackCallError("chat.postMessage", 200, "channel_not_found"),
        lambda: SlackCallError("chat.postMessage", 429, "ratelimited", 1.0),
        lambda: SlackCallError("chat.postMessage", 200, "x" * 10_000),
    ],
)
def test_translate_quotes_a_bounded_channel_and_error(make: Callable[[], SlackCallError]) -> None:
    error = translate(make(), channel="C" + "A" * 10_000)
    assert len(error.details) < 400
    assert "CAAAA" in error.details or "Slack answered" in error.details
