"""The one table from Slack's answers to the plugin's coded errors: code, whether it is worth retrying, the hint."""

from __future__ import annotations

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.limits import DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS
from bot.slack.errors import (
    AUTH_ERRORS,
    SlackCallError,
    retry_after_header,
    translate,
)


@pytest.mark.parametrize(
    ("status", "error", "code", "retryable"),
    [
        (200, "invalid_auth", ErrorCode.SLACK_AUTH, False),
        (200, "token_revoked", ErrorCode.SLACK_AUTH, False),
        (200, "channel_not_found", ErrorCode.SLACK_CHANNEL_NOT_FOUND, False),
        (200, "not_in_channel", ErrorCode.SLACK_NOT_IN_CHANNEL, False),
        (200, "is_archived", ErrorCode.SLACK_CHANNEL_ARCHIVED, False),
        (200, "missing_scope", ErrorCode.SLACK_MISSING_SCOPE, False),
        (200, "message_not_found", ErrorCode.SLACK_MESSAGE_NOT_FOUND, False),
        (200, "invalid_blocks", ErrorCode.SLACK_REJECTED, False),
        (200, "msg_blocks_too_long", ErrorCode.SLACK_REJECTED, False),
        (200, "rate_limited", ErrorCode.SLACK_RATE_LIMITED, True),
        (429, "ratelimited", ErrorCode.SLACK_RATE_LIMITED, True),
        (200, "internal_error", ErrorCode.SLACK_UNAVAILABLE, True),
        (503, "", ErrorCode.SLACK_UNAVAILABLE, True),
        (0, "connection failed (ClientConnectorError)", ErrorCode.SLACK_UNAVAILABLE, True),
        (200, "something_new", ErrorCode.SLACK_API, False),
    ],
)
def test_each_slack_answer_has_its_code(status: int, error: str, code: ErrorCode, retryable: bool) -> None:
    translated = translate(SlackCallError("chat.postMessage", status, error), channel="#alerts")
    assert (translated.code, translated.retryable) == (code, retryable)
    assert translated.details.startswith(code.value + ": ")


def test_hints_name_the_channel_and_what_to_do() -> None:
    assert "/invite @" in translate(SlackCallError("chat.postMessage", 200, "not_in_channel"), channel="#ops").message
    assert "#ops" in translate(SlackCallError("chat.postMessage", 200, "is_archived"), channel="#ops").message


def test_a_rate_limit_carries_slacks_wait() -> None:
    translated = translate(SlackCallError("chat.postMessage", 429, "ratelimited", retry_after=7.0))
    assert translated.retry_after == 7.0


def test_nothing_secret_or_huge_is_echoed() -> None:
    channel = "xoxb-1-2-secret https://cf.example.test/alert/a/key/ACK " + "x" * 10_000
    translated = translate(SlackCallError("chat.postMessage", 200, "channel_not_found"), channel=channel)
    assert "secret" not in translated.details and "/key/" not in translated.details
    assert len(translated.details) < 400


def test_a_coded_error_passes_through_and_anything_else_is_internal() -> None:
    coded = BotError(ErrorCode.TIMEOUT, "slow")
    assert translate(coded) is coded
    assert translate(ValueError("boom")).code is ErrorCode.INTERNAL


@pytest.mark.parametrize("error", sorted(AUTH_ERRORS))
def test_every_refused_token_error_is_an_auth_error(error: str) -> None:
    """One set: what refuses an app-level token for good (Socket Mode) refuses a bot token's call too. Before it was
    one set, ``access_denied``, ``team_access_not_granted``, ``org_login_required``, … came out as ERROR_SLACK_API."""
    translated = translate(SlackCallError("chat.postMessage", 200, error))
    assert (translated.code, translated.retryable) == (ErrorCode.SLACK_AUTH, False)
    assert error in translated.message


def test_a_missing_scope_is_not_an_auth_error() -> None:
    """The token works; it lacks a scope: its own code and hint (reinstall with the scope)."""
    assert "missing_scope" not in AUTH_ERRORS
    assert translate(SlackCallError("chat.postMessage", 200, "missing_scope")).code is ErrorCode.SLACK_MISSING_SCOPE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": ["1.5"]}, 1.5),  # slack_sdk's HttpResponse: a list per header
        ({"RETRY-AFTER": ("12",)}, 12.0),
        ({"Retry-After": 3}, 3.0),
        ({"Retry-After": []}, DEFAULT_RETRY_AFTER_SECONDS),
        ({"Retry-After": "soon"}, DEFAULT_RETRY_AFTER_SECONDS),
        ({"Retry-After": "1e9"}, MAX_RETRY_AFTER_SECONDS),
        ({"Retry-After": "-5"}, 0.0),
        ({"Content-Type": "application/json"}, DEFAULT_RETRY_AFTER_SECONDS),
        ({}, DEFAULT_RETRY_AFTER_SECONDS),
    ],
)
def test_retry_after_header_is_the_one_reading(headers: dict[str, object], expected: float) -> None:
    assert retry_after_header(headers) == expected
