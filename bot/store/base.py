"""The store interface the rest of the code uses; backends (embedded SQLite now, shared later) implement it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


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


class Store(Protocol):
    """Persistence for the plugin. Every method is quick and safe to call from the event loop."""

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

    def remember_app_token(self, token: str, *, now: float) -> bool:
        """Keep an app-level token (Socket Mode) across restarts; True when it is new."""
        ...

    def app_tokens(self) -> list[str]: ...

    def close(self) -> None: ...
