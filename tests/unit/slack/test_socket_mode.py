"""Socket Mode's supervisor uses the one rules: Slack's Retry-After through ``bot.slack.errors``, the one auth-error
set for tokens refused for good, and the one back-off. Driven through ``_open`` and ``_delay`` with slack_sdk's own
error and response types; no socket is opened."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.backoff import Backoff
from bot.core.limits import DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS
from bot.slack.errors import AUTH_ERRORS
from bot.slack.socket_mode import REFUSED_FOR_GOOD, SocketModeConnections, _Connection, _Refused, app_token_id

TOKEN = "xapp-1-A0UNIT-1-unit"


async def _nothing(_: str) -> None:
    return None


def _bolt() -> AsyncApp:
    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id="T0001")

    return AsyncApp(authorize=authorize, request_verification_enabled=False, ssl_check_enabled=False)


class _Answers:
    """Stands in for the Web API client: ``apps_connections_open`` fails with Slack's answer."""

    def __init__(self, status: int, data: dict[str, Any], headers: dict[str, Any]) -> None:
        self.status, self.data, self.headers = status, data, headers

    async def apps_connections_open(self, *, app_token: str) -> AsyncSlackResponse:
        response = AsyncSlackResponse(
            client=None,
            http_verb="POST",
            api_url="http://127.0.0.1:9/api/apps.connections.open",
            req_args={},
            data=self.data,
            headers=self.headers,
            status_code=self.status,
        )
        raise SlackApiError("refused", response)  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated


def _connections(answers: _Answers, **kwargs: Any) -> SocketModeConnections:
    connections = SocketModeConnections(
        _bolt(), "http://127.0.0.1:9/api/", on_accepted=_nothing, on_refused=_nothing, **kwargs
    )
    connections._web = answers  # type: ignore[assignment]
    return connections


def _connection() -> _Connection:
    return _Connection(TOKEN, app_token_id(TOKEN), pinned=False, stored=False)


@pytest.mark.parametrize(
    ("headers", "waited"),
    [
        ({"Retry-After": ["20"]}, 20.0),
        ({"retry-after": "2.5"}, 2.5),
        ({}, DEFAULT_RETRY_AFTER_SECONDS),  # was 0: the next call came after a second's back-off, into a Tier 1 limit
        ({"Retry-After": "86400"}, MAX_RETRY_AFTER_SECONDS),  # was a day: the token stalled until a restart
    ],
)
async def test_a_429_waits_what_the_one_reading_says(headers: dict[str, Any], waited: float) -> None:
    connections = _connections(_Answers(429, {"ok": False, "error": "ratelimited"}, headers))
    conn = _connection()
    assert await connections._open(conn) is None
    assert conn.retry_after == waited and conn.failures == 1
    assert connections._delay(conn) == waited  # longer than the first back-off, and used once
    assert conn.retry_after == 0.0


@pytest.mark.parametrize("error", sorted(AUTH_ERRORS | {"missing_scope"}))
async def test_every_auth_error_refuses_the_token_for_good(error: str) -> None:
    connections = _connections(_Answers(200, {"ok": False, "error": error}, {}))
    with pytest.raises(_Refused) as refused:
        await connections._open(_connection())
    assert refused.value.reason == error


def test_refused_for_good_is_the_one_auth_set_and_a_missing_connections_write() -> None:
    assert AUTH_ERRORS | {"missing_scope"} == REFUSED_FOR_GOOD


async def test_a_server_error_is_transient() -> None:
    connections = _connections(_Answers(503, {"ok": False, "error": "service_unavailable"}, {}))
    conn = _connection()
    assert await connections._open(conn) is None
    assert (conn.failures, conn.retry_after) == (1, 0.0)


def test_back_off_doubles_to_the_cap_jittered_down_to_half() -> None:
    connections = _connections(_Answers(503, {}, {}), backoff_first=1.0, backoff_max=300.0)
    assert connections._backoff == Backoff(first=1.0, cap=300.0, jitter=0.5)
    conn = _connection()
    for failures, ceiling in ((1, 1.0), (4, 8.0), (9, 256.0), (50, 300.0)):
        conn.failures = failures
        waits = [connections._delay(conn) for _ in range(100)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), failures
