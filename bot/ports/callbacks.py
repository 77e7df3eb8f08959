"""What the click service asks of Cloudforet's callback URLs (``bot.cloudforet.callback_client.CallbackClient``
implements it): check a URL may be called at all, then call it and read what Cloudforet answered."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType, Protocol


class Outcome(StrEnum):
    DONE = "done"
    EXPIRED = "expired"
    FAILED = "failed"
    REFUSED = "refused"  # not called at all: host not allowed


@dataclass(frozen=True)
class CallbackResult:
    outcome: Outcome
    detail: str  # safe to show: names no URL and no key
    status: int | None = None
    elapsed: float = 0.0


class CallbackRefused(Exception):
    """The callback URL points somewhere it must not."""


# A callback URL that passed the one check (``Callbacks.check``): only such a URL is ever called.
CallbackUrl = NewType("CallbackUrl", str)


class Callbacks(Protocol):
    def check(self, url: str) -> CallbackUrl:
        """``url`` as a URL ``call`` may call; raises ``CallbackRefused`` when it may not be called."""
        ...

    async def call(self, url: CallbackUrl, responder: str) -> CallbackResult:
        """POST to a checked callback URL and read what Cloudforet answers; never raises."""
        ...
