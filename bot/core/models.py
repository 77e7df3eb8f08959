"""Validated models of a dispatch request: the channel settings, the message and its notification type; and how
a dispatch was answered (``DispatchOutcome``).

Cloudforet sends ``message`` as a protobuf Struct: numbers arrive as floats, keys may be missing and unknown
keys appear. The message model is therefore lenient (any scalar becomes text, unknown keys are ignored);
only the channel settings, which the plugin cannot work without, are strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


def is_channel_id(value: str) -> bool:
    """Whether ``value`` is a Slack channel ID (``C…``, ``G…``, ``D…``) rather than a channel name."""
    return _CHANNEL_ID.fullmatch(value) is not None


# Where a message carries the Cloudforet domain its request named (2.x requests have a ``domain_id``; 1.x
# requests have none, and their servicer drops the key from the message Struct): kept, so the same alert id in
# two domains is two alerts (``bot.core.lifecycle.alert_keys``). Never shown on the card.
DOMAIN_ID_KEY = "domain_id"

# One entry of the channel form's ``mentions``: a user ID (``U…``, or ``W…`` on Enterprise Grid) bare or as Slack
# writes it (``<@U…>``), a user group ID (``S…``, or ``<!subteam^S…>``), a user group's handle (``@oncall``), or
# ``@here``/``@channel`` (or ``<!here>``/``<!channel>``). Slack's IDs are 9 to 11 characters today (20 leaves room);
# a handle is what people type after ``@`` (letters, digits, ``.``, ``_``, ``-``; 80 is a channel name's limit).
MENTION_ENTRY_PATTERN = (
    r"(?:<@[UW][A-Z0-9]{2,20}>|[UW][A-Z0-9]{2,20}|<!subteam\^S[A-Z0-9]{2,20}(?:\|[^<>\s]{0,81})?>|S[A-Z0-9]{2,20}"
    r"|<!(?:here|channel)>|@[A-Za-z0-9][A-Za-z0-9._-]{0,79})"
)
# The whole field: entries separated by commas or white space.
MENTIONS_PATTERN = rf"^[\s,]*(?:{MENTION_ENTRY_PATTERN}(?:[\s,]+{MENTION_ENTRY_PATTERN})*)?[\s,]*$"
# ``mention_on`` and ``mention_types`` the same way: MentionMoment's values; NotificationType's names.
_MOMENT = r"(?:first_post|escalation|resolved)"
MENTION_ON_PATTERN = rf"^[\s,]*{_MOMENT}(?:[\s,]+{_MOMENT})*[\s,]*$"
_TYPE = r"(?:ERROR|WARNING|SUCCESS|INFO|NONE|error|warning|success|info|none)"
MENTION_TYPES_PATTERN = rf"^[\s,]*{_TYPE}(?:[\s,]+{_TYPE})*[\s,]*$"
# At most this many entries: they make one line at the top of a card, and an on-call rotation is a few people and
# groups. (The line stays far inside a section's 3,000 characters: 21 entries of at most 81 characters.)
MAX_MENTIONS = 20
# What the form's assignee tag is by default: the tag Cloudforet's alert notifications carry the assignee in.
DEFAULT_ASSIGNEE_TAG = "Assigned to"
ASSIGNEE_TAG_OFF = "none"
MAX_TAG_KEY = 255
_SEPARATORS = re.compile(r"[\s,]+")
_USER_ID = re.compile(r"<@([UW][A-Z0-9]{2,20})>|([UW][A-Z0-9]{2,20})")
_GROUP_ID = re.compile(r"<!subteam\^(S[A-Z0-9]{2,20})(?:\|[^<>\s]{0,81})?>|(S[A-Z0-9]{2,20})")
_BROADCAST = re.compile(r"<!(here|channel)>|@(here|channel)", re.IGNORECASE)
_HANDLE = re.compile(r"@([A-Za-z0-9][A-Za-z0-9._-]{0,79})")
# Slack's own broadcast that notifies the whole workspace; it works only in #general, so it is not offered.
_EVERYONE = ("@everyone", "<!everyone>")


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


class MentionMoment(StrEnum):
    """When a card may notify the people it mentions (the channel form's ``mention_on``)."""

    FIRST_POST = "first_post"  # the alert's card is posted
    ESCALATION = "escalation"  # a repeat [Alerting] (its thread line notifies)
    RESOLVED = "resolved"  # the alert resolves (its thread line, or a resolved card posted new, notifies)


DEFAULT_MENTION_ON = frozenset({MentionMoment.FIRST_POST})
# Resolved (SUCCESS) and informational (INFO, NONE) notifications never notify anyone unless the channel says so.
DEFAULT_MENTION_TYPES = frozenset({NotificationType.ERROR, NotificationType.WARNING})


def _entries(value: object, field: str) -> list[str]:
    """A form value as its entries: a string split at commas and white space, or a list of strings."""
    if isinstance(value, str):
        return [e for e in _SEPARATORS.split(value) if e]
    if isinstance(value, list | tuple | frozenset | set) and all(isinstance(e, str) for e in value):
        return [e.strip() for e in value if e.strip()]
    raise ValueError(f"must be text ({field}), separated by commas")


def _quoted(entry: str) -> str:
    """A form entry as an error quotes it: at most 30 characters (an entry is short; a long one is not one)."""
    return repr(entry if len(entry) <= 30 else entry[:29] + "…")


def canonical_mention(entry: str) -> str:
    """One ``mentions`` entry as the plugin keeps it: ``U…``/``W…``, ``S…``, ``@here``, ``@channel`` or a handle
    ``@name`` in lower case (Slack's handles are). Raises ValueError, quoting at most 30 characters, otherwise."""
    if entry.lower() in _EVERYONE:
        raise ValueError("@everyone is not offered: it notifies the whole workspace (use @channel or @here)")
    if match := _USER_ID.fullmatch(entry):
        return match.group(1) or match.group(2)
    if match := _GROUP_ID.fullmatch(entry):
        return match.group(1) or match.group(2)
    if match := _BROADCAST.fullmatch(entry):
        return "@" + (match.group(1) or match.group(2)).lower()
    if match := _HANDLE.fullmatch(entry):
        return "@" + match.group(1).lower()
    raise ValueError(f"{_quoted(entry)} is not a user (U…), a user group (S… or @handle), @here or @channel")


def parse_mentions(value: object) -> tuple[str, ...]:
    """The ``mentions`` field: its entries, canonical (see ``canonical_mention``), each once, in order."""
    if value is None:
        return ()
    entries = _entries(value, "user IDs, user groups, @here or @channel")
    canonical = tuple(dict.fromkeys(canonical_mention(e) for e in entries))
    if len(canonical) > MAX_MENTIONS:
        raise ValueError(f"names {len(canonical)} users or groups; at most {MAX_MENTIONS} are allowed")
    return canonical


def parse_moments(value: object) -> frozenset[MentionMoment]:
    """The ``mention_on`` field: one or more of first_post, escalation, resolved."""
    if value is None:
        return DEFAULT_MENTION_ON
    names = ", ".join(m.value for m in MentionMoment)
    moments: set[MentionMoment] = set()
    for entry in _entries(value, names):
        try:
            moments.add(MentionMoment(entry.lower()))
        except ValueError:
            raise ValueError(f"{_quoted(entry)} is not one of {names}") from None
    if not moments:
        raise ValueError(f"must name at least one of {names}")
    return frozenset(moments)


def parse_types(value: object) -> frozenset[NotificationType]:
    """The ``mention_types`` field: notification types by name (ERROR, WARNING, SUCCESS, INFO, NONE)."""
    if value is None:
        return DEFAULT_MENTION_TYPES
    names = "ERROR, WARNING, SUCCESS, INFO, NONE"
    kinds: set[NotificationType] = set()
    for entry in _entries(value, names):
        name = entry.upper()
        if name == "NONE":
            name = NotificationType.NONE.value
        try:
            kinds.add(NotificationType(name))
        except ValueError:
            raise ValueError(f"{_quoted(entry)} is not one of {names}") from None
    if not kinds:
        raise ValueError(f"must name at least one of {names}")
    return frozenset(kinds)


def parse_assignee_tag(value: object) -> str | None:
    """The ``assignee_tag`` field: the key of the tag holding the assignee's e-mail; ``none`` turns it off."""
    if value is None:
        return DEFAULT_ASSIGNEE_TAG
    if not isinstance(value, str):
        raise ValueError("must be a tag key such as Assigned to, or none")
    key = " ".join(value.split())
    if len(key) > MAX_TAG_KEY:
        raise ValueError(f"must be at most {MAX_TAG_KEY} characters")
    if not key:
        return DEFAULT_ASSIGNEE_TAG
    return None if key.lower() == ASSIGNEE_TAG_OFF else key


@dataclass(frozen=True)
class MentionRules:
    """A channel's mentions and when they notify (see ``bot.core.mentions``). The default mentions nobody but an
    alert's assignee, on the first post of ERROR and WARNING notifications."""

    mentions: tuple[str, ...] = ()
    on: frozenset[MentionMoment] = DEFAULT_MENTION_ON
    types: frozenset[NotificationType] = DEFAULT_MENTION_TYPES
    assignee_tag: str | None = DEFAULT_ASSIGNEE_TAG

    def to_body(self) -> dict[str, Any] | None:
        """The rules as an outbox item keeps them (plain JSON); None for the default, which needs no room."""
        if self == MentionRules():
            return None
        return {
            "mentions": list(self.mentions),
            "on": sorted(m.value for m in self.on),
            "types": sorted(t.value for t in self.types),
            "assignee_tag": self.assignee_tag if self.assignee_tag is not None else ASSIGNEE_TAG_OFF,
        }

    @classmethod
    def from_body(cls, raw: object) -> MentionRules:
        """The rules an outbox item kept (``to_body``); the default when it kept none, or kept something unreadable
        (an item written by another version)."""
        if not isinstance(raw, dict):
            return cls()
        try:
            return cls(
                mentions=parse_mentions(raw.get("mentions")),
                on=parse_moments(raw.get("on")),
                types=parse_types(raw.get("types")),
                assignee_tag=parse_assignee_tag(raw.get("assignee_tag")),
            )
        except ValueError:
            return cls()


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
    # Who a card mentions and when (optional; see MentionRules).
    mentions: Annotated[tuple[str, ...], BeforeValidator(parse_mentions)] = ()
    mention_on: Annotated[frozenset[MentionMoment], BeforeValidator(parse_moments)] = DEFAULT_MENTION_ON
    mention_types: Annotated[frozenset[NotificationType], BeforeValidator(parse_types)] = DEFAULT_MENTION_TYPES
    assignee_tag: Annotated[str | None, BeforeValidator(parse_assignee_tag)] = DEFAULT_ASSIGNEE_TAG

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

    @property
    def mention_rules(self) -> MentionRules:
        return MentionRules(self.mentions, self.mention_on, self.mention_types, self.assignee_tag)


class DispatchRequest(BaseModel):
    """Everything one ``Notification.dispatch`` asks for, validated."""

    channel: ChannelData
    message: Message
    notification_type: NotificationType = NotificationType.NONE
    raw_message: dict[str, Any] = Field(default_factory=dict)  # as received, to re-render the card later


class DispatchOutcome(StrEnum):
    """How a dispatch was answered (also the ``outcome`` label of ``chatops_dispatch_total``)."""

    POSTED = "posted"  # the card is in Slack
    QUEUED = "queued"  # durably in the outbox; it goes out at Slack's pace or after an outage
    REPEAT = "repeat"  # the same dispatch was accepted within the repeat window: nothing more to do
    FAILED = "failed"  # metrics only: a permanent error was raised to the caller
