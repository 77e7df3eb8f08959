"""``doctor``'s pure parts: which ``--channel`` values are IDs (the one rule, ``bot.core.models.is_channel_id``), and
the scope check against the one list (``bot.slack.scopes``)."""

from __future__ import annotations

import pytest

from bot.ops.doctor import Result, Status, _channel_id, _reason, check_scopes
from bot.slack.errors import SlackCallError
from bot.slack.scopes import OPTIONAL_SCOPES, SCOPE_NAMES


class _NoSlack:
    """A channel given by its ID is not looked up: any call is a failure."""

    async def channel_page(self, *_: object, **__: object) -> object:
        raise AssertionError("looked up by name")


@pytest.mark.parametrize("channel", ["C0123456789", "G0PRIVATE1", "D0123ABCDE"])
async def test_a_channel_id_is_taken_as_it_is(channel: str) -> None:
    assert await _channel_id(_NoSlack(), "xoxb-1", channel, frozenset()) == channel  # type: ignore[arg-type]


async def test_a_name_needs_a_scope_to_be_looked_up() -> None:
    found = await _channel_id(_NoSlack(), "xoxb-1", "d0123abcde", frozenset())  # type: ignore[arg-type]
    assert isinstance(found, Result) and found.status is Status.WARN and "channels:read" in found.detail


def test_all_scopes_of_the_one_list_pass() -> None:
    assert [r.status for r in check_scopes(frozenset(SCOPE_NAMES))] == [Status.PASS]


def test_each_missing_optional_scope_warns_and_chat_write_fails() -> None:
    results = check_scopes(frozenset({"channels:read"}))
    assert [(r.check, r.status) for r in results] == [("scopes", Status.FAIL)] + [
        (f"scope {scope}", Status.WARN) for scope in OPTIONAL_SCOPES
    ]
    assert "missing chat:write (posting and updating cards)" in results[0].detail


def test_no_scopes_header_warns() -> None:
    assert [r.status for r in check_scopes(None)] == [Status.WARN]


@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        (SlackCallError("auth.test", 200, "invalid_auth"), "token refused (invalid_auth)"),
        (
            SlackCallError("auth.test", 0, "connection failed (ClientConnectorError)"),
            "Slack unreachable (proxy? DNS? firewall?): ClientConnectorError",
        ),
        (SlackCallError("auth.test", 0, "proxy unreachable (ClientProxyConnectionError)"), "proxy unreachable ("),
        (SlackCallError("auth.test", 0, "proxy refused (HTTP 407)"), "proxy refused (HTTP 407)"),
        (SlackCallError("auth.test", 502, ""), "unreadable answer (HTTP 502)"),
        (SlackCallError("auth.test", 200, "x" * 500), "x" * 40),
    ],
)
def test_slacks_answer_as_the_operator_reads_it(failure: SlackCallError, shown: str) -> None:
    assert shown in _reason(failure) and len(_reason(failure)) <= 80


def test_a_proxy_that_does_not_answer_is_named_without_its_password() -> None:
    failure = SlackCallError("auth.test", 0, "proxy unreachable (ClientProxyConnectionError)")
    reason = _reason(failure, "http://alice:s3cret-pw@proxy.example.com:3128")
    assert reason == "proxy unreachable: nothing answers at proxy.example.com:3128 (with credentials, not shown)"
    assert "Slack unreachable" not in _reason(failure) and "token" not in reason
