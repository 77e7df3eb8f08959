"""Turning the loosely typed parts of a Cloudforet request into validated models, or a clear coded error."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.core.errors import BotError, ErrorCode
from bot.core.models import ChannelData, DispatchRequest, Message, NotificationType
from bot.core.text import echo

_FIELD_HINTS = {
    "token": "the Slack bot token (xoxb-…)",
    "channel": "the Slack channel name or ID",
}


# The validation errors named in one message; the rest are counted. Four covers every field of the channel form.
MAX_DESCRIBED_ERRORS = 4
# A validator's message is ours or pydantic's, a sentence; a longer one would be quoting input.
MAX_ERROR_MESSAGE_CHARS = 120


def _describe(exc: ValidationError, prefix: str) -> str:
    """Validation errors as one line naming each field; never echoes the (possibly secret) input, and is short."""
    parts = []
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    for error in errors[:MAX_DESCRIBED_ERRORS]:
        where = echo(".".join(str(p) for p in error["loc"]) or "value")
        if error["type"] == "missing":
            hint = _FIELD_HINTS.get(str(error["loc"][0]), "a value")
            parts.append(f"{prefix}.{where} is required ({hint})")
        else:
            message = echo(str(error["msg"]).removeprefix("Value error, "), MAX_ERROR_MESSAGE_CHARS)
            parts.append(f"{prefix}.{where} {message}")
    if len(errors) > MAX_DESCRIBED_ERRORS:
        parts.append(f"and {len(errors) - MAX_DESCRIBED_ERRORS} more")
    return "; ".join(parts)


def parse_channel(channel_data: dict[str, Any], secret_data: dict[str, Any] | None = None) -> ChannelData:
    """The channel settings: ``channel_data``, with what it lacks taken from ``secret_data``.

    With ``data_type: SECRET`` Cloudforet may keep the whole channel form (token and channel) in the secret,
    so any key missing or empty in ``channel_data`` is looked up in ``secret_data``.
    """
    data = {k: v for k, v in (secret_data or {}).items() if v not in (None, "")}
    data.update({k: v for k, v in channel_data.items() if v not in (None, "")})
    for key in ("token", "app_token"):  # a non-string secret is a shape error, never echoed
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise BotError(ErrorCode.INVALID_CHANNEL_DATA, f"channel_data.{key} must be a string")
    try:
        return ChannelData.model_validate(data)
    except ValidationError as exc:
        raise BotError(ErrorCode.INVALID_CHANNEL_DATA, _describe(exc, "channel_data")) from None


def parse_dispatch(
    *,
    channel_data: dict[str, Any],
    secret_data: dict[str, Any],
    message: dict[str, Any],
    notification_type: str,
) -> DispatchRequest:
    """A whole dispatch request; raises ``BotError`` (INVALID_*) when it cannot be delivered."""
    channel = parse_channel(channel_data, secret_data)
    kind = NotificationType.parse(notification_type)
    try:
        parsed = Message.from_struct(message)
    except ValidationError as exc:  # defensive: the message model coerces every JSON value
        raise BotError(ErrorCode.INVALID_MESSAGE, _describe(exc, "message")) from None
    return DispatchRequest(channel=channel, message=parsed, notification_type=kind, raw_message=message)
