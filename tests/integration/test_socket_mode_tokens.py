"""App-level tokens (Socket Mode) from any caller: checked with Slack before they are kept, capped, backed off on
transient failures, forgotten when Slack refuses them for good; and the start-up warning about open callbacks.

Everything runs against the fake Slack on loopback with slack_sdk's real Socket Mode client.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from bot.button_keys import ButtonKeys
from bot.core.sealed import seal
from bot.slack.socket_mode import MAX_APP_TOKENS, SocketModeConnections, TokenState
from bot.store import SqliteStore, StoreError
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import APP_TOKEN, SIGNING_SECRET, click_stack, wait_for
from tests.process import free_port, server_process
from tests.samples import TOKEN
from tests.support import Stack, live_stack

JUNK = "xapp-1-A0JUNK-1-notatoken"
OPEN = "apps.connections.open"


def _opens(slack: FakeSlack, token: str | None = None) -> int:
    return slack.call_count(OPEN, token)


def _dispatch_with(stack: Stack, app_token: str) -> None:
    stack.dispatch({"title": "hello"}, channel_data={"token": TOKEN, "channel": "alerts", "app_token": app_token})


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


async def _eventually(predicate: Callable[[], Any], timeout: float = 5, what: str = "condition") -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _bolt() -> AsyncApp:
    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id="T0001")

    return AsyncApp(authorize=authorize, request_verification_enabled=False, ssl_check_enabled=False)


class _Seen:
    """What the connections report back: tokens accepted (to remember) and refused for good (to forget)."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.refused: list[str] = []

    async def accept(self, token: str) -> None:
        self.accepted.append(token)

    async def refuse(self, token: str) -> None:
        self.refused.append(token)


def _connections(slack: FakeSlack, seen: _Seen, **kwargs: Any) -> SocketModeConnections:
    return SocketModeConnections(_bolt(), slack.base_url, on_accepted=seen.accept, on_refused=seen.refuse, **kwargs)


# -- through the whole plugin -------------------------------------------------------------------------------------


def test_a_refused_app_token_is_neither_stored_nor_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with live_stack(tmp_path) as stack:
        _dispatch_with(stack, JUNK)  # the dispatch itself goes through
        assert len(stack.posted()) == 1
        wait_for(lambda: stack.runtime.socket_mode.state(JUNK) in (None, TokenState.REFUSED), what="the refusal")
        assert stack.loop.run(stack.runtime.store.app_tokens()) == []
        for _ in range(3):  # the same token again: remembered as refused, Slack is not asked again
            _dispatch_with(stack, JUNK)
        time.sleep(1.5)
        assert _opens(stack.slack, JUNK) == 1
        assert stack.loop.run(stack.runtime.store.app_tokens()) == []
        assert stack.slack.socket_connections == 0
    assert len(_warnings(caplog, "refused")) == 1
    assert JUNK not in caplog.text and "Traceback" not in caplog.text


def test_an_accepted_app_token_is_stored_survives_a_restart_and_its_clicks_work(tmp_path: Path) -> None:
    with click_stack(tmp_path, signing_secret=None) as clicks:
        _dispatch_with(clicks.stack, APP_TOKEN)
        clicks.stack.loop.run(clicks.slack.wait_for_socket())
        wait_for((lambda: clicks.stack.loop.run(clicks.stack.runtime.store.app_tokens())), what="the token remembered")
        [stored] = clicks.stack.loop.run(clicks.stack.runtime.store.app_tokens())
        assert APP_TOKEN not in stored  # sealed at rest
        assert _opens(clicks.slack, APP_TOKEN) == 1  # the check's URL is the one connected with
    with click_stack(tmp_path, signing_secret=None) as restarted:  # same data dir, no dispatch yet
        restarted.stack.loop.run(restarted.slack.wait_for_socket())
        restarted.transport = "socket"
        ts, _ = restarted.post_alert()
        assert restarted.click(restarted.payload(ts)).status == 200
        wait_for(lambda: "Acknowledged" in restarted.card_text(ts), what="the card acknowledged")
        assert len(restarted.cloudforet.requests) == 1
        assert len(restarted.stack.loop.run(restarted.stack.runtime.store.app_tokens())) == 1


def test_a_start_that_cannot_read_the_remembered_tokens_serves_and_connects_them_once_the_store_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The store answered when the plugin opened it, then not when the start read the remembered app-level tokens
    (Redis hung just then): the plugin starts anyway, serving, and connects them once the store answers."""
    with click_stack(tmp_path, signing_secret=None) as clicks:
        _dispatch_with(clicks.stack, APP_TOKEN)
        clicks.stack.loop.run(clicks.slack.wait_for_socket())
        wait_for((lambda: clicks.stack.loop.run(clicks.stack.runtime.store.app_tokens())), what="the token remembered")
    read = SqliteStore.app_tokens
    unanswered = [StoreError("the store does not answer")]

    async def hung_once(self: SqliteStore) -> list[str]:
        if unanswered:
            raise unanswered.pop()
        return await read(self)

    monkeypatch.setattr(SqliteStore, "app_tokens", hung_once)
    with caplog.at_level(logging.WARNING), click_stack(tmp_path, signing_secret=None) as restarted:  # it started
        assert not unanswered  # the start asked, and was not answered
        restarted.stack.loop.run(restarted.slack.wait_for_socket())  # connected a moment later
        restarted.transport = "socket"
        ts, _ = restarted.post_alert()
        assert restarted.click(restarted.payload(ts)).status == 200
        wait_for(lambda: "Acknowledged" in restarted.card_text(ts), what="the card acknowledged")
    assert _warnings(caplog, "cannot read the remembered app-level tokens yet")


def test_at_most_max_app_tokens_are_connected_and_slack_app_token_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    slack = FakeSlack()
    tokens = [f"xapp-1-A0MANY-{i}-valid" for i in range(MAX_APP_TOKENS + 3)]
    for token in tokens:
        slack.add_app_token(token)
    with live_stack(tmp_path, slack, app_token=APP_TOKEN) as stack:
        stack.loop.run(slack.wait_for_socket())
        for token in tokens:
            _dispatch_with(stack, token)
        wait_for(lambda: slack.socket_connections == MAX_APP_TOKENS, what="the connections")
        time.sleep(0.5)
        assert slack.socket_connections == MAX_APP_TOKENS
        assert slack.socket_connections_for(APP_TOKEN) == 1
        assert len(stack.loop.run(stack.runtime.store.app_tokens())) == MAX_APP_TOKENS - 1
        assert sum(_opens(slack, t) for t in tokens) == MAX_APP_TOKENS - 1  # past the cap: not even checked
        assert len(_warnings(caplog, f"at most {MAX_APP_TOKENS}")) == 1

        # One of them is revoked: it is closed and forgotten, and its place is free for another.
        revoked, waiting = tokens[0], tokens[-1]
        stack.loop.run(slack.revoke_app_token(revoked))
        wait_for(lambda: not stack.runtime.socket_mode.has(revoked), what="the revoked token dropped")
        _dispatch_with(stack, waiting)
        wait_for(lambda: slack.socket_connections_for(waiting) == 1, what="the waiting token connected")
        assert slack.socket_connections == MAX_APP_TOKENS
        assert len(stack.loop.run(stack.runtime.store.app_tokens())) == MAX_APP_TOKENS - 1


def test_a_connected_token_that_slack_later_revokes_is_closed_and_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other = "xapp-1-A0OTHER-1-valid"
    slack = FakeSlack()
    slack.add_app_token(other)
    with live_stack(tmp_path, slack) as stack:
        _dispatch_with(stack, other)
        wait_for(
            lambda: slack.socket_connections_for(other) == 1 and stack.loop.run(stack.runtime.store.app_tokens()),
            what="connected and remembered",
        )
        stack.loop.run(slack.revoke_app_token(other))
        wait_for(lambda: stack.loop.run(stack.runtime.store.app_tokens()) == [], what="the token forgotten")
        assert _opens(slack, other) == 2  # the first check, and one try after the connection closed
        _dispatch_with(stack, other)  # brought again: not tried again
        time.sleep(1.5)
        assert _opens(slack, other) == 2
        assert slack.socket_connections_for(other) == 0
        assert not stack.runtime.socket_mode.has(other)
    assert len(_warnings(caplog, "refused")) == 1
    assert other not in caplog.text


def test_a_restart_with_50_junk_tokens_in_the_store_asks_slack_once_for_each(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    data_dir = tmp_path / "data"
    keys = ButtonKeys([], data_dir)  # the random key kept in the data dir, as the server will find it
    store = SqliteStore(data_dir)
    junk = [f"xapp-1-A0JUNK-{i}-notatoken" for i in range(50)]
    for token in junk:  # as an older version kept them: every app token any dispatch carried
        asyncio.run(
            store.remember_app_token(
                hashlib.sha256(token.encode()).hexdigest(), seal({"t": token}, keys.sealing_key), now=time.time()
            )
        )
    asyncio.run(store.close())
    with server_process(data_dir, fake_slack.base_url) as server:
        wait_for(lambda: _opens(fake_slack) >= len(junk), timeout=15, what="the checks")
        reopened = SqliteStore(data_dir, owner=False)  # beside the running server, as an operator tool would
        try:
            wait_for(lambda: asyncio.run(reopened.app_tokens()) == [], what="the junk forgotten")
        finally:
            asyncio.run(reopened.close())
        time.sleep(1.5)
        assert _opens(fake_slack) == len(junk)
        assert sorted(c.token or "" for c in fake_slack.calls if c.method == OPEN) == sorted(junk)
    log = server.log()
    assert not any(token in log for token in junk)
    assert "Traceback" not in log
    assert log.count("refused app-level token") == len(junk)
    assert log.count("BOT_CALLBACK_ALLOWED_HOSTS is unset") == 1  # remembered tokens: clicks were possible


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"signing_secret": SIGNING_SECRET}, True),
        ({"app_token": APP_TOKEN}, True),
        ({"signing_secret": SIGNING_SECRET, "callback_allowed_hosts": ["cloudforet.example.test"]}, False),
        ({}, False),
    ],
)
def test_start_warns_when_clicks_can_call_any_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, settings: dict[str, Any], warned: bool
) -> None:
    caplog.set_level(logging.INFO)
    with live_stack(tmp_path, **settings):
        pass
    lines = _warnings(caplog, "BOT_CALLBACK_ALLOWED_HOSTS is unset")
    assert len(lines) == (1 if warned else 0)
    assert all("link-local" in line for line in lines)


def test_the_warning_comes_once_a_channel_app_token_makes_clicks_possible(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with live_stack(tmp_path) as stack:
        assert _warnings(caplog, "BOT_CALLBACK_ALLOWED_HOSTS is unset") == []
        _dispatch_with(stack, APP_TOKEN)
        _dispatch_with(stack, APP_TOKEN)
        stack.loop.run(stack.slack.wait_for_socket())
        wait_for(lambda: _warnings(caplog, "BOT_CALLBACK_ALLOWED_HOSTS is unset"), what="the warning")
    assert len(_warnings(caplog, "BOT_CALLBACK_ALLOWED_HOSTS is unset")) == 1


# -- the connections on their own, with short back-off -------------------------------------------------------------


async def test_transient_failures_back_off_then_connect() -> None:
    async with FakeSlack() as slack:
        slack.add_app_token(APP_TOKEN)
        seen = _Seen()
        connections = _connections(slack, seen, backoff_first=0.1, backoff_max=0.4)
        try:
            slack.outage(1.5, 503)
            connections.ensure(APP_TOKEN)
            await slack.wait_for_socket(timeout=5)
            # ~1.5 s of outage at 0.05–0.1, 0.1–0.2, then at most 0.4 s apart: a handful of calls, not a tight loop
            assert 3 <= _opens(slack, APP_TOKEN) <= 12
            assert seen.accepted == [APP_TOKEN] and seen.refused == []
            assert connections.state(APP_TOKEN) is TokenState.CONNECTED
        finally:
            await connections.close()
        assert slack.socket_connections == 0


async def test_rate_limited_checks_wait_for_retry_after() -> None:
    async with FakeSlack() as slack:
        slack.add_app_token(APP_TOKEN)
        seen = _Seen()
        connections = _connections(slack, seen, backoff_first=0.05, backoff_max=0.1)
        try:
            slack.outage(0.8, 429)  # answered with Retry-After: 1
            connections.ensure(APP_TOKEN)
            await slack.wait_for_socket(timeout=5)
            assert _opens(slack, APP_TOKEN) == 2
        finally:
            await connections.close()


async def test_a_connection_lost_with_slack_down_is_retried_with_back_off() -> None:
    async with FakeSlack() as slack:
        slack.add_app_token(APP_TOKEN)
        seen = _Seen()
        connections = _connections(slack, seen, backoff_first=0.1, backoff_max=0.4)
        try:
            connections.ensure(APP_TOKEN)
            await slack.wait_for_socket(timeout=5)
            slack.outage(1.5, 503)
            await slack.socket_disconnect()  # Slack asks for a reconnect while its API is down
            await asyncio.sleep(1.5)
            assert 3 <= _opens(slack, APP_TOKEN) <= 13
            await slack.wait_for_socket(timeout=5)
            assert seen.accepted == [APP_TOKEN] and seen.refused == []
        finally:
            await connections.close()


async def test_a_token_that_cannot_even_be_sent_is_refused_once() -> None:
    """A trailing newline: aiohttp refuses to put it in a header; it must not be retried every 10 s forever."""
    async with FakeSlack() as slack:
        slack.add_app_token(APP_TOKEN)
        seen = _Seen()
        connections = _connections(slack, seen, backoff_first=0.05, backoff_max=0.1)
        try:
            broken = APP_TOKEN + "\n"
            connections.ensure(broken)
            await _eventually(lambda: seen.refused, what="the refusal")
            connections.ensure(broken)
            await asyncio.sleep(0.5)
            assert seen.refused == [broken] and seen.accepted == []
            assert not connections.has(broken)
            assert _opens(slack) == 0
        finally:
            await connections.close()


async def test_refused_tokens_are_tried_again_only_after_a_while() -> None:
    async with FakeSlack() as slack:
        seen = _Seen()
        connections = _connections(slack, seen, refused_for=0.5)
        try:
            connections.ensure(JUNK)
            await _eventually(lambda: seen.refused, what="the refusal")
            connections.ensure(JUNK)
            assert _opens(slack, JUNK) == 1
            await asyncio.sleep(0.6)
            connections.ensure(JUNK)
            await _eventually(lambda: len(seen.refused) == 2, what="the second refusal")
            assert _opens(slack, JUNK) == 2
        finally:
            await connections.close()


async def test_slack_app_token_from_the_environment_is_never_forgotten() -> None:
    async with FakeSlack() as slack:
        seen = _Seen()
        connections = _connections(slack, seen, backoff_first=0.05, backoff_max=0.1)
        try:
            connections.ensure(JUNK, pinned=True)
            await _eventually(lambda: connections.state(JUNK) is TokenState.REFUSED, what="the refusal")
            await asyncio.sleep(0.3)
            assert seen.refused == [] and seen.accepted == []  # not forgotten (it was never stored either)
            assert connections.has(JUNK)  # still holds its place under the cap
            assert _opens(slack, JUNK) == 1
        finally:
            await connections.close()


async def test_a_websocket_that_will_not_open_is_retried_with_back_off_and_fresh_urls() -> None:
    async with FakeSlack() as slack:
        slack.add_app_token(APP_TOKEN)
        slack.socket_url_base = f"ws://127.0.0.1:{free_port()}"  # the API answers, the WebSocket is blocked
        seen = _Seen()
        connections = _connections(
            slack, seen, backoff_first=0.2, backoff_max=0.4, ping_interval=0.5, connect_timeout=0.3
        )
        try:
            connections.ensure(APP_TOKEN)
            await asyncio.sleep(1.5)
            # each try: one URL, one handshake cut off at 0.3 s, then 0.1–0.4 s of back-off
            assert 2 <= _opens(slack, APP_TOKEN) <= 6
            assert seen.accepted == [APP_TOKEN]  # Slack accepted the token; only the network is in the way
            slack.socket_url_base = None
            await slack.wait_for_socket(timeout=5)
            assert connections.state(APP_TOKEN) is TokenState.CONNECTED
        finally:
            await connections.close()


async def test_the_store_forgets_an_app_token_and_keeps_the_others(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.remember_app_token("id-1", "sealed-1", now=1)
    await store.remember_app_token("id-2", "sealed-2", now=2)
    assert await store.forget_app_token("id-1")
    assert not await store.forget_app_token("id-1")
    await store.close()
    reopened = SqliteStore(tmp_path)
    assert await reopened.app_tokens() == ["sealed-2"]
    await reopened.close()
