"""What the store keeps, as typed models with a layout version, read at the store's boundaries.

Stored data outlives a deploy, and during a rolling update on Redis two releases read the same records. So each
record that is a blob (an outbox item's body, in both stores; a card and a click claim on Redis, where they are
JSON or hash fields) carries a layout version ``v``, and each store carries one for its whole layout: SQLite's
``PRAGMA user_version`` (``bot.store.sqlite.SCHEMA_VERSION``), Redis' ``P:layout`` (``REDIS_LAYOUT``).

- Layout 1 is what the release before versioning wrote, byte for byte: a record with no ``v`` is layout 1 (its
  migration is the models' defaults), and layout-1 records are written without ``v``, so what this release writes
  the previous one still reads (a rollback by one release keeps the queue, the cards and the buttons).
- A record or a store of a newer layout than this release knows is refused with ``NewerLayout``
  (``ERROR_STORE_TOO_NEW``), naming both versions: a whole store at start-up (one line, exit 2), one outbox item at
  its delivery (it is failed with that reason, kept for the operator to retry after rolling forward; its lane goes
  on), a card or a claim where it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.core.cards import CardStatus
from bot.core.errors import BotError, ErrorCode
from bot.core.text import echo

# The layout versions this release reads and writes. Raise one (and teach the reader the older ones) when what a
# record keeps changes in a way the previous release could not read.
ITEM_LAYOUT = 1  # an outbox item's body (JSON, both stores)
CARD_LAYOUT = 1  # a card record (Redis: the JSON of ``P:card:<id>``; SQLite: columns, under its user_version)
CLAIM_LAYOUT = 1  # a click claim (Redis: the hash ``P:claim:<key>``; SQLite: a row, under its user_version)
REDIS_LAYOUT = 1  # the Redis key layout as a whole (``P:layout``, written at connect)
FIRST_LAYOUT = 1  # what a record without ``v`` is: written by the release before versioning
VERSION_FIELD = "v"


class NewerLayout(BotError):
    """Data written by a newer release than this one: ``what`` has layout ``found``, this release reads up to
    ``known``. Not retryable: only rolling forward (or data this release wrote) helps."""

    def __init__(self, what: str, found: int, known: int, *, remedy: str = "") -> None:
        self.what = what
        self.found = found
        self.known = known
        super().__init__(
            ErrorCode.STORE_TOO_NEW,
            f"{what} was written by a newer release: layout {found}, this release reads up to {known}; roll forward "
            f"to a release that reads layout {found}{remedy or ', or retry it with that release'}",
        )


class UnreadableRecord(ValueError):
    """A stored record that is not what any layout of it looks like (written by hand or by another program)."""


def version_of(fields: Mapping[str, Any], what: str) -> int:
    """The layout version a stored record says it has (``FIRST_LAYOUT`` when it says none)."""
    value = fields.get(VERSION_FIELD, FIRST_LAYOUT)
    if isinstance(value, str) and value.isdigit():  # a Redis hash field
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < FIRST_LAYOUT:
        raise UnreadableRecord(f"{what} has no readable layout version ({str(value)[:20]!r})")
    return value


def check_version(fields: Mapping[str, Any], what: str, known: int) -> int:
    """``version_of`` the record, or ``NewerLayout`` when it is newer than ``known``."""
    found = version_of(fields, what)
    if found > known:
        raise NewerLayout(what, found, known)
    return found


class _Stored(BaseModel):
    """A record as stored: its layout version, then its fields. ``dump`` writes layout 1 without ``v``."""

    model_config = ConfigDict(frozen=True)

    v: int = Field(default=FIRST_LAYOUT, ge=FIRST_LAYOUT)

    def dump(self) -> dict[str, Any]:
        fields = self.model_dump(mode="json", exclude_unset=True)  # what was read or given, in its order
        if self.v == FIRST_LAYOUT:
            fields.pop(VERSION_FIELD, None)
        return fields


class DispatchBody(_Stored):
    """An outbox item of kind ``dispatch``: a Cloudforet notification, compacted (``bot.delivery.cards``)."""

    model_config = ConfigDict(frozen=True, extra="allow")  # the trace context (``bot.tracing.stamp``) rides along

    target: str
    message: dict[str, Any]
    notification_type: str
    mentions: dict[str, Any] | None = None
    digest: str | None = None


class NoteBody(_Stored):
    """An outbox item of kind ``note``: a line for a card's thread."""

    model_config = ConfigDict(frozen=True, extra="allow")

    target: str = ""
    channel_id: str
    ts: str
    text: str


def read_body(body: Mapping[str, Any], *, kind: str, item_id: int) -> DispatchBody | NoteBody:
    """An outbox item's body as its model (``kind``: ``dispatch`` or ``note``); ``NewerLayout`` for a newer one,
    ``UnreadableRecord`` for one that is not an item's body."""
    what = f"outbox item {item_id}"
    check_version(body, what, ITEM_LAYOUT)
    model: type[DispatchBody | NoteBody] = NoteBody if kind == "note" else DispatchBody
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        raise UnreadableRecord(f"{what} is not a {kind} item ({exc.error_count()} fields unreadable)") from None


class StoredCard(_Stored):
    """A card as Redis keeps it (the JSON of ``P:card:<id>``; its id is the key's)."""

    bot: str
    channel_id: str
    ts: str
    target: str
    status: CardStatus
    notified: int
    token: str
    actor: str | None = None
    actor_name: str | None = None
    acted_at: float | None = None
    resolved_at: float | None = None
    updated_at: float = 0.0


def read_card(fields: Mapping[str, Any], *, card_id: str) -> StoredCard:
    what = f"card {card_id}"
    check_version(fields, what, CARD_LAYOUT)
    try:
        return StoredCard.model_validate(dict(fields))
    except ValidationError as exc:
        raise UnreadableRecord(f"{what} is not a card ({exc.error_count()} fields unreadable)") from None


def check_claim(version: object, *, key: str) -> None:
    """A click claim's layout (Redis' ``v`` field of ``P:claim:<key>``, None when absent) is one this release reads."""
    check_version(
        {} if version is None else {VERSION_FIELD: version}, f"the claim of button action {echo(key)!r}", CLAIM_LAYOUT
    )


def check_store(what: str, found: int, known: int, remedy: str) -> None:
    """A whole store's layout (``found``) is one this release reads; ``NewerLayout`` naming ``remedy`` otherwise."""
    if found > known:
        raise NewerLayout(what, found, known, remedy=remedy)
