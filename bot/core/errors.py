"""Errors as values with a code: ``ERROR_<WHAT>: <human message>`` (``bot.cloudforet.status`` maps them to gRPC).

Cloudforet's client retries a bare ``UNAVAILABLE`` or ``DEADLINE_EXCEEDED`` (a duplicate post), but never an
error whose details start with ``ERROR_``; every error this plugin returns carries such details.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """What went wrong, as Cloudforet and the operator see it."""

    INVALID_CHANNEL_DATA = "ERROR_INVALID_CHANNEL_DATA"
    INVALID_MESSAGE = "ERROR_INVALID_MESSAGE"
    SLACK_AUTH = "ERROR_SLACK_AUTH"
    SLACK_MISSING_SCOPE = "ERROR_SLACK_MISSING_SCOPE"
    SLACK_CHANNEL_NOT_FOUND = "ERROR_SLACK_CHANNEL_NOT_FOUND"
    SLACK_NOT_IN_CHANNEL = "ERROR_SLACK_NOT_IN_CHANNEL"
    SLACK_CHANNEL_ARCHIVED = "ERROR_SLACK_CHANNEL_ARCHIVED"
    SLACK_RATE_LIMITED = "ERROR_SLACK_RATE_LIMITED"
    SLACK_MESSAGE_NOT_FOUND = "ERROR_SLACK_MESSAGE_NOT_FOUND"
    SLACK_UNAVAILABLE = "ERROR_SLACK_UNAVAILABLE"
    SLACK_REJECTED = "ERROR_SLACK_REJECTED"
    SLACK_API = "ERROR_SLACK_API"
    TIMEOUT = "ERROR_TIMEOUT"
    STORE_UNAVAILABLE = "ERROR_STORE_UNAVAILABLE"
    STORE_TOO_NEW = "ERROR_STORE_TOO_NEW"  # data written by a newer release (``bot.ports.schema``)
    TOKEN_UNREADABLE = "ERROR_TOKEN_UNREADABLE"
    INTERNAL = "ERROR_INTERNAL"


class BotError(Exception):
    """An error with a code and a message that is safe to show (no secrets)."""

    def __init__(
        self, code: ErrorCode, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after  # seconds Slack asked us to wait (HTTP 429), when it said

    @property
    def details(self) -> str:
        return f"{self.code.value}: {self.message}"
