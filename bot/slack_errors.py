"""Translation of Slack Web API failures into the plugin's coded errors, with operator hints."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import BotError, ErrorCode
from bot.redact import redact

_AUTH = {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "no_permission",
         "not_allowed_token_type", "ekm_access_denied"}
_HINTS: dict[str, tuple[ErrorCode, str]] = {
    "channel_not_found": (ErrorCode.SLACK_CHANNEL_NOT_FOUND,
                          "Slack has no channel {channel} that this bot can see; check the channel name or ID, "
                          "and for a private channel invite the bot with /invite @<bot name>"),
    "not_in_channel": (ErrorCode.SLACK_NOT_IN_CHANNEL,
                       "the bot is not a member of {channel}; invite it with /invite @<bot name> in that channel"),
    "is_archived": (ErrorCode.SLACK_CHANNEL_ARCHIVED,
                    "channel {channel} is archived; unarchive it or point the Cloudforet channel elsewhere"),
    "missing_scope": (ErrorCode.SLACK_MISSING_SCOPE,
                      "the Slack app lacks a scope it needs (chat:write); add it and reinstall the app"),
    "ratelimited": (ErrorCode.SLACK_RATE_LIMITED, "Slack kept rate-limiting posts to {channel}; try again later"),
    "rate_limited": (ErrorCode.SLACK_RATE_LIMITED, "Slack kept rate-limiting posts to {channel}; try again later"),
    "message_not_found": (ErrorCode.SLACK_MESSAGE_NOT_FOUND, "the card is gone from {channel} (deleted in Slack)"),
    "invalid_blocks": (ErrorCode.SLACK_REJECTED, "Slack rejected the card layout (invalid_blocks)"),
    "msg_blocks_too_long": (ErrorCode.SLACK_REJECTED, "Slack rejected the card as too long (msg_blocks_too_long)"),
    "msg_too_long": (ErrorCode.SLACK_REJECTED, "Slack rejected the message as too long (msg_too_long)"),
    "no_text": (ErrorCode.SLACK_REJECTED, "Slack rejected an empty message (no_text)"),
    "invalid_attachments": (ErrorCode.SLACK_REJECTED, "Slack rejected the card layout (invalid_attachments)"),
}


@dataclass
class SlackCallError(Exception):
    """A Web API call that failed: HTTP status (0 when Slack was not reached) and Slack's ``error`` string."""

    method: str
    status: int
    error: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.method}: HTTP {self.status} {self.error}".strip()


def translate(exc: BaseException, *, channel: str = "the channel") -> BotError:
    """A failure of a Slack call as a coded error; messages name no token and no URL."""
    if isinstance(exc, BotError):
        return exc
    channel = redact(channel)
    if isinstance(exc, SlackCallError):
        status, error = exc.status, exc.error
        if status == 429 or error in ("ratelimited", "rate_limited"):
            code, text = _HINTS["ratelimited"]
            return BotError(code, text.format(channel=channel), retryable=True, retry_after=exc.retry_after)
        if status == 0:
            return BotError(ErrorCode.SLACK_UNAVAILABLE, f"could not reach Slack: {error}", retryable=True)
        if status >= 500:
            return BotError(ErrorCode.SLACK_UNAVAILABLE, f"Slack answered HTTP {status}", retryable=True)
        if error in _AUTH:
            return BotError(ErrorCode.SLACK_AUTH, f"Slack refused the bot token ({error}); check the token in the "
                                                  "Cloudforet channel")
        if error in _HINTS:
            code, text = _HINTS[error]
            return BotError(code, text.format(channel=channel))
        if error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            return BotError(ErrorCode.SLACK_UNAVAILABLE, f"Slack failed ({error})", retryable=True)
        return BotError(ErrorCode.SLACK_API, f"Slack answered {error or f'HTTP {status}'}")
    return BotError(ErrorCode.INTERNAL, f"unexpected failure talking to Slack ({type(exc).__name__})")
