"""What the click service asks of Cloudforet's own alert API for two-way actions (issue 19): acknowledge, resolve,
add a note, with an App's key (``bot.cloudforet.alerts_api.AlertsApi`` implements it for 1.x and 2.x); and what
``doctor`` asks to check the endpoint and the key.

Every call answers with a coded ``Outcome`` and never raises for what Cloudforet or the network did; the detail is
safe to show a clicker (no key, no endpoint credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    DONE = "done"
    REFUSED_KEY = "refused_key"  # UNAUTHENTICATED or PERMISSION_DENIED: the App's key, or its role
    NOT_FOUND = "not_found"  # Cloudforet no longer knows the alert
    UNAVAILABLE = "unavailable"  # unreachable (after the one retry)
    TIMEOUT = "timeout"  # no answer within the bounded time
    FAILED = "failed"  # any other answer (INVALID_ARGUMENT: an alert in a state it cannot leave, …)


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ADD_NOTE = "add_note"
    CHECK = "check"


@dataclass(frozen=True)
class AlertResult:
    outcome: Outcome
    action: AlertAction
    detail: str  # safe to show: names no key
    attempts: int = 1
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


class AlertApiError(Exception):
    """Two-way actions cannot be set up as configured (an endpoint that is not ``grpc://`` or ``grpc+ssl://`` host
    and port, a malformed per-domain key list); the message names the setting, never a key."""


class AlertActions(Protocol):
    async def acknowledge(self, alert_id: str, domain_id: str) -> AlertResult:
        """Set the alert's state to acknowledged."""
        ...

    async def resolve(self, alert_id: str, domain_id: str) -> AlertResult:
        """Set the alert's state to resolved."""
        ...

    async def add_note(self, alert_id: str, domain_id: str, note: str) -> AlertResult:
        """Add a note to the alert (the note names who acted in Slack: an App's key records no user)."""
        ...

    async def check(self, domain_id: str | None = None) -> AlertResult:
        """A harmless read with the key for ``domain_id`` (the default key when None): DONE when the endpoint
        answers and accepts the key."""
        ...

    async def close(self) -> None: ...
