"""The store interface the rest of the code uses; backends (embedded SQLite now, shared later) implement it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # the caller now carries out the action
    IN_PROGRESS = "in_progress"  # someone else is carrying it out right now
    DONE = "done"  # it was already carried out


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    actor: str  # who holds (or completed) the claim
    at: float  # when they claimed or completed it (epoch seconds)


@dataclass(frozen=True)
class AuditRecord:
    """Who did what, when, with what outcome. ``target`` never holds a secret (no URL, no token)."""

    at: float
    actor: str
    action: str
    channel: str
    message_ts: str
    target: str
    outcome: str
    detail: str = ""


@dataclass
class CardRecord:
    """The one card of an alert in a channel, and where its alert stands."""

    target: str  # the channel as configured (name or ID)
    alert_key: str
    channel_id: str
    ts: str
    status: str  # a CardStatus value
    notified: int
    token: str  # sealed bot token, for updates and thread lines
    actor: str | None = None
    actor_name: str | None = None
    acted_at: float | None = None
    resolved_at: float | None = None
    updated_at: float = 0.0


@dataclass
class OutboxItem:
    """Something accepted for delivery to Slack, kept until delivered or failed for good."""

    id: int
    lane: str  # delivery is in order within a lane (one bot token and channel)
    kind: str
    body: dict[str, Any]
    token: str  # sealed bot token
    created_at: float
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """Persistence for the plugin. Every method is quick and safe to call from the event loop; every write is
    durable (committed) when it returns."""

    def claim_action(self, key: str, actor: str, *, now: float, stale_after: float) -> Claim:
        """Atomically take the right to carry out the action ``key``, unless someone has it or it is done."""
        ...

    def finish_action(self, key: str, *, done: bool, now: float) -> None:
        """Mark a claimed action done for good, or release it after a failure so it can be tried again."""
        ...

    def add_audit(self, record: AuditRecord) -> None: ...

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        """The newest audit records first."""
        ...

    def remember_app_token(self, token_id: str, sealed_token: str, *, now: float) -> bool:
        """Keep an app-level token (Socket Mode, sealed) across restarts; True when ``token_id`` is new."""
        ...

    def app_tokens(self) -> list[str]:
        """The sealed app-level tokens, oldest first."""
        ...

    def forget_app_token(self, token_id: str) -> bool:
        """Drop a remembered app-level token (Slack refused it for good); True when it was there."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes so they land together or not at all."""
        ...

    def enqueue(self, *, lane: str, kind: str, body: dict[str, Any], token: str, now: float) -> int: ...

    def pending(self) -> Iterator[OutboxItem]:
        """Undelivered items, oldest first."""
        ...

    def record_attempt(self, item_id: int) -> None: ...

    def finish(self, item_id: int, *, state: str, error: str = "", now: float) -> None:
        """Mark an item ``done`` or ``failed`` (with its reason)."""
        ...

    def outbox_counts(self) -> dict[str, int]: ...

    def failed_items(self, limit: int = 100) -> list[tuple[int, str, str]]:
        """(id, lane, reason) of items that failed for good, newest first."""
        ...

    def card(self, target: str, alert_key: str) -> CardRecord | None: ...

    def card_by_message(self, channel_id: str, ts: str) -> CardRecord | None: ...

    def save_card(self, record: CardRecord) -> None: ...

    def close(self) -> None: ...
