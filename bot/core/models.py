"""Validated models of a dispatch request: the channel settings, the message and its notification type.

Cloudforet sends ``message`` as a protobuf Struct: numbers arrive as floats, keys may be missing and unknown
keys appear. The message model is therefore lenient (any scalar becomes text, unknown keys are ignored);
only the channel settings, which the plugin cannot work without, are strict.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from bot.core.text import as_text

# Shared with the channel form's JSON Schema (ECMA-262 regular expressions, where ``$`` is the end of the text).
# Python's ``$`` also matches before a final newline, so Python checks the whole value with ``fullmatch``.
TOKEN_PATTERN = r"^xox[bp]-[0-9A-Za-z-]+$"
APP_TOKEN_PATTERN = r"^xapp-[0-9A-Za-z-]+$"
# A channel name (lowercase, no spaces, up to 80 characters, an optional leading '#') or an ID (C…/G…/D…).
CHANNEL_PATTERN = r"^(#?[^\s#,@<>]{1,80}|[CGD][A-Z0-9]{6,})$"
# Slack's IDs are 9 to 11 characters today; 80 (a channel name's limit) leaves them room to grow.
CHANNEL_ID_PATTERN = r"^[CGD][A-Z0-9]{6,79}$"
_TOKEN = re.compile(TOKEN_PATTERN)
_APP_TOKEN = re.compile(APP_TOKEN_PATTERN)
_CHANNEL = re.compile(CHANNEL_PATTERN)
_CHANNEL_ID = re.compile(CHANNEL_ID_PATTERN)
# Where a message carries the Cloudforet domain its request named (2.x requests have a ``domain_id``; 1.x
# requests have none, and their servicer drops the key from the message Struct): kept, so the same alert id in
# two domains is two alerts (``bot.core.lifecycle.alert_keys``). Never shown on the card.
DOMAIN_ID_KEY = "domain_id"


class NotificationType(StrEnum):
    """Cloudforet's ``PluginDispatchRequest.NotificationType``, by name."""

    NONE = "NOTIFICATION_TYPE_NONE"
    INFO = "INFO"
    ERROR = "ERROR"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"

    @classmethod
    def parse(cls, name: object) -> NotificationType:
        """The type named ``name``; NONE for anything else (a type Cloudforet added later, a missing value)."""
        if isinstance(name, str):
            try:
                return cls(name)
            except ValueError:
                pass
        return cls.NONE


Text = Annotated[str, BeforeValidator(as_text)]


class Tag(BaseModel):
    """One ``tags`` entry: shown as a field, two columns when ``short``."""

    model_config = ConfigDict(extra="ignore")

    key: Text = ""
    value: Text = ""
    short: bool = False

    @classmethod
    def parse(cls, raw: object) -> Tag:
        if not isinstance(raw, dict):
            return cls.model_construct(key="", value=as_text(raw), short=False)
        options = raw.get("options")
        short = options.get("short") is True if isinstance(options, dict) else False
        # Coerced by hand (hot path): every field gets its declared type, so no validation pass is needed.
        return cls.model_construct(key=as_text(raw.get("key")), value=as_text(raw.get("value")), short=short)


class Callback(BaseModel):
    """One ``callbacks`` entry: a button that calls ``url`` when clicked."""

    model_config = ConfigDict(extra="ignore")

    label: Text = ""
    url: Text = ""
    options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def parse(cls, raw: object) -> Callback:
        if not isinstance(raw, dict):
            return cls.model_construct(label="", url=as_text(raw), options={})
        options = raw.get("options")
        return cls.model_construct(
            label=as_text(raw.get("label")),
            url=as_text(raw.get("url")),
            options=options if isinstance(options, dict) else {},
        )


def _list_of(raw: object) -> list[object]:
    if raw is None:
        return []
    if isinstance(raw, list):
        return raw
    if isinstance(raw, dict):  # a mapping given where a list was expected: one entry per key
        return [{"key": k, "value": v} for k, v in raw.items()]
    return [raw]


def parse_timestamp(raw: object) -> datetime | None:
    """``occurred_at`` as an aware datetime: ISO-8601 (``Z`` or offset) or epoch seconds; None if unreadable."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        if isinstance(raw, int | float):
            return datetime.fromtimestamp(float(raw), tz=UTC)
        if isinstance(raw, str) and raw.strip():
            value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


class Message(BaseModel):
    """The ``message`` Struct of a dispatch, with every known key optional."""

    model_config = ConfigDict(extra="ignore")

    title: Text = ""
    description: Text = ""
    short_description: Text = ""
    contents: Text = ""
    content_type: Text = ""
    link: Text = ""
    image_url: Text = ""
    occurred_at_raw: Text = ""
    occurred_at: datetime | None = None
    domain_name: Text = ""
    domain_id: Text = ""  # the request's domain, for correlation only (see DOMAIN_ID_KEY)
    tags: list[Tag] = Field(default_factory=list)
    callbacks: list[Callback] = Field(default_factory=list)

    @classmethod
    def from_struct(cls, raw: dict[str, Any]) -> Message:
        """Build from a Struct as a dict; never raises for any JSON-like value."""
        known = {
            k: as_text(raw.get(k))
            for k in (
                "title",
                "description",
                "short_description",
                "contents",
                "content_type",
                "link",
                "image_url",
                "domain_name",
                DOMAIN_ID_KEY,
            )
        }
        occurred = raw.get("occurred_at")
        # Coerced by hand (hot path): every field gets its declared type, so no validation pass is needed.
        return cls.model_construct(
            None,  # _fields_set, pydantic's default: explicit, so a type checker cannot match ``**known`` to it
            **known,
            occurred_at_raw=as_text(occurred),
            occurred_at=parse_timestamp(occurred),
            tags=[Tag.parse(t) for t in _list_of(raw.get("tags"))],
            callbacks=[Callback.parse(c) for c in _list_of_callbacks(raw.get("callbacks"))],
        )


def _list_of_callbacks(raw: object) -> list[object]:
    if raw is None:
        return []
    if isinstance(raw, list):
        return raw
    return [raw]


class ChannelData(BaseModel):
    """The Slack settings of one Cloudforet channel (``channel_data``, token falling back to ``secret_data``)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    token: SecretStr
    channel: str = Field(min_length=1, max_length=81)
    channel_id: str | None = None
    app_token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("must be a Slack bot token (xoxb-…, with no spaces or line breaks)")
        return value

    @field_validator("app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _APP_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("must be a Slack app-level token (xapp-…, with no spaces or line breaks)")
        return value

    @field_validator("channel")
    @classmethod
    def _channel_shape(cls, value: str) -> str:
        value = value.strip()
        if not _CHANNEL.fullmatch(value):
            raise ValueError("must be a channel name such as #alerts or an ID such as C0123456789")
        return value

    @field_validator("channel_id", mode="before")
    @classmethod
    def _channel_id_shape(cls, value: object) -> str | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not _CHANNEL_ID.fullmatch(value.strip()):
            raise ValueError("must be a channel ID such as C0123456789")
        return value.strip()

    @property
    def target(self) -> str:
        """Where to post: the channel ID when known (immune to renames), else the name without '#'."""
        return self.channel_id or self.channel.lstrip("#")


class DispatchRequest(BaseModel):
    """Everything one ``Notification.dispatch`` asks for, validated."""

    channel: ChannelData
    message: Message
    notification_type: NotificationType = NotificationType.NONE
    raw_message: dict[str, Any] = Field(default_factory=dict)  # as received, to re-render the card later
