"""Translation of Slack Web API failures into the plugin's coded errors, with operator hints.

Also the one reading of HTTP ``Retry-After`` (``parse_retry_after``, ``retry_after_header`` for a response's
headers): whatever a 429 carries, a number of seconds within bounds comes out, and nothing raises; and the one set of
Slack errors saying a token is refused (``AUTH_ERRORS``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from bot.core.errors import BotError, ErrorCode
from bot.core.limits import DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS
from bot.core.text import echo
from bot.redact import redact

# Slack's two ways of saying "too many calls": ``ratelimited`` with HTTP 429 (any method, with a Retry-After:
# https://api.slack.com/apis/rate-limits), and ``rate_limited`` with HTTP 200 ("Application has posted too many
# messages", an error chat.postMessage documents: https://api.slack.com/methods/chat.postMessage#errors).
RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited"})
_RATE_LIMITED_HINT = "Slack kept rate-limiting posts to {channel}; try again later"

# Slack's errors saying the token itself is refused: wrong, revoked, expired, of the wrong kind, or its workspace,
# user or organisation shut it out. Slack lists them among the errors of every method (e.g.
# https://api.slack.com/methods/chat.postMessage#errors, https://api.slack.com/methods/apps.connections.open#errors).
# Asking again with the same token gets the same answer, so none is retried: a bot token's call fails with
# ERROR_SLACK_AUTH, an app-level token is given up on (bot.slack.socket_mode).
AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "not_allowed_token_type",
        "access_denied",
        "ekm_access_denied",
        "team_access_not_granted",
        "enterprise_is_restricted",
        "org_login_required",
        "two_factor_setup_required",
        "is_bot",
    }
)
_HINTS: dict[str, tuple[ErrorCode, str]] = {
    "channel_not_found": (
        ErrorCode.SLACK_CHANNEL_NOT_FOUND,
        "Slack has no channel {channel} that this bot can see; check the channel name or ID, "
        "and for a private channel invite the bot with /invite @<bot name>",
    ),
    "not_in_channel": (
        ErrorCode.SLACK_NOT_IN_CHANNEL,
        "the bot is not a member of {channel}; invite it with /invite @<bot name> in that channel",
    ),
    "is_archived": (
        ErrorCode.SLACK_CHANNEL_ARCHIVED,
        "channel {channel} is archived; unarchive it or point the Cloudforet channel elsewhere",
    ),
    "missing_scope": (
        ErrorCode.SLACK_MISSING_SCOPE,
        "the Slack app lacks a scope it needs (chat:write); add it and reinstall the app",
    ),
    "message_not_found": (ErrorCode.SLACK_MESSAGE_NOT_FOUND, "the card is gone from {channel} (deleted in Slack)"),
    "invalid_blocks": (ErrorCode.SLACK_REJECTED, "Slack rejected the card layout (invalid_blocks)"),
    "msg_blocks_too_long": (ErrorCode.SLACK_REJECTED, "Slack rejected the card as too long (msg_blocks_too_long)"),
    "msg_too_long": (ErrorCode.SLACK_REJECTED, "Slack rejected the message as too long (msg_too_long)"),
    "no_text": (ErrorCode.SLACK_REJECTED, "Slack rejected an empty message (no_text)"),
    "invalid_attachments": (ErrorCode.SLACK_REJECTED, "Slack rejected the card layout (invalid_attachments)"),
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header value; never raises.

    Seconds (``30``, ``1.5``) or an HTTP date (RFC 9110 section 10.2.3) are honoured within
    ``[0, MAX_RETRY_AFTER_SECONDS]``; a missing or unreadable value (``abc``, ``nan``) gives
    ``DEFAULT_RETRY_AFTER_SECONDS``.
    """
    if value is None:
        return DEFAULT_RETRY_AFTER_SECONDS
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return DEFAULT_RETRY_AFTER_SECONDS
        if moment.tzinfo is None:  # an HTTP date is always GMT
            moment = moment.replace(tzinfo=UTC)
        try:
            seconds = moment.timestamp() - (time.time() if now is None else now)
        except (OverflowError, OSError, ValueError):
            return DEFAULT_RETRY_AFTER_SECONDS
    if math.isnan(seconds):
        return DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def retry_after_header(headers: Mapping[str, object]) -> float:
    """Seconds to wait from a response's headers (any case; a value or a list of values, as aiohttp and slack_sdk
    give them), read by ``parse_retry_after``."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return parse_retry_after(None if value is None else str(value))
    return parse_retry_after(None)


@dataclass
class SlackCallError(Exception):
    """A Web API call that failed: HTTP status (0 when Slack was not reached) and Slack's ``error`` string.

    HTTP 200 with an empty ``error`` means the answer could not be read (not JSON, or empty: typically a proxy
    in between); whether Slack took the call is unknown, so it counts as transient.
    """

    method: str
    status: int
    error: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.method}: HTTP {self.status} {self.error}".strip()


def translate(exc: BaseException, *, channel: str = "the channel") -> BotError:
    """A failure of a Slack call as a coded error; messages name no token and no URL, and quote little."""
    if isinstance(exc, BotError):
        return exc
    channel = echo(redact(channel))
    if isinstance(exc, SlackCallError):
        status, error = exc.status, echo(redact(exc.error))
        if status == 429 or error in RATE_LIMIT_ERRORS:
            return BotError(
                ErrorCode.SLACK_RATE_LIMITED,
                _RATE_LIMITED_HINT.format(channel=channel),
                retryable=True,
                retry_after=exc.retry_after,
            )
        if status == 0:
            return BotError(ErrorCode.SLACK_UNAVAILABLE, f"could not reach Slack: {error}", retryable=True)
        if status >= 500:
            return BotError(ErrorCode.SLACK_UNAVAILABLE, f"Slack answered HTTP {status}", retryable=True)
        if status == 200 and not error:
            return BotError(
                ErrorCode.SLACK_UNAVAILABLE,
                "Slack's answer could not be read (HTTP 200 without a JSON body; is a proxy in between?)",
                retryable=True,
            )
        if error in AUTH_ERRORS:
            return BotError(
                ErrorCode.SLACK_AUTH,
                f"Slack refused the bot token ({error}); check the token in the Cloudforet channel",
            )
        if error in _HINTS:
            code, text = _HINTS[error]
            return BotError(code, text.format(channel=channel))
        if error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            return BotError(ErrorCode.SLACK_UNAVAILABLE, f"Slack failed ({error})", retryable=True)
        return BotError(ErrorCode.SLACK_API, f"Slack answered {error or f'HTTP {status}'}")
    return BotError(ErrorCode.INTERNAL, f"unexpected failure talking to Slack ({type(exc).__name__})")
