"""Translation of Slack Web API failures into the plugin's coded errors, with operator hints."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.errors import BotError, ErrorCode

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
    "invalid_blocks": (ErrorCode.SLACK_REJECTED, "Slack rejected the card layout (invalid_blocks)"),
    "msg_blocks_too_long": (ErrorCode.SLACK_REJECTED, "Slack rejected the card as too long (msg_blocks_too_long)"),
    "msg_too_long": (ErrorCode.SLACK_REJECTED, "Slack rejected the message as too long (msg_too_long)"),
    "no_text": (ErrorCode.SLACK_REJECTED, "Slack rejected an empty message (no_text)"),
    "invalid_attachments": (ErrorCode.SLACK_REJECTED, "Slack rejected the card layout (invalid_attachments)"),
}


def slack_error_code(exc: SlackApiError) -> str:
    """Slack's ``error`` string of a failed call ('' when the answer carried none)."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "")
    return ""


def translate(exc: BaseException, *, channel: str = "the channel") -> BotError:
    """A failure of a Slack call as a coded error; messages name no token and no URL."""
    if isinstance(exc, BotError):
        return exc
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        error = slack_error_code(exc)
        if status == 429 or error in ("ratelimited", "rate_limited"):
            code, text = _HINTS["ratelimited"]
            return BotError(code, text.format(channel=channel), retryable=True)
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
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError | OSError):
        return BotError(ErrorCode.SLACK_UNAVAILABLE, f"could not reach Slack ({type(exc).__name__})", retryable=True)
    return BotError(ErrorCode.INTERNAL, f"unexpected failure talking to Slack ({type(exc).__name__})")
