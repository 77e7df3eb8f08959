"""The dispatch service: a validated request is accepted into the outbox, and answered quickly.

It answers once the card is posted, or, when pacing or a Slack outage would make the caller wait longer than
``wait`` seconds, once the notification is durably in the outbox: Cloudforet never times out and so never retries
into a duplicate. Permanent Slack errors (bad token, unknown channel) still come back on the dispatch that meets
them. An identical dispatch repeated within the repeat window (a retry) is accepted without a second post.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from bot import metrics
from bot.core.errors import BotError, ErrorCode
from bot.core.models import DispatchRequest
from bot.delivery.outbox import Outbox
from bot.slack.web_api import SlackSender

logger = logging.getLogger(__name__)
VERIFY_TIMEOUT_SECONDS = 30

AppTokenHook = Callable[[str], Awaitable[None]]


class DispatchOutcome(StrEnum):
    """How a dispatch was answered (also the ``outcome`` label of ``chatops_dispatch_total``)."""

    POSTED = "posted"  # the card is in Slack
    QUEUED = "queued"  # durably in the outbox; it goes out at Slack's pace or after an outage
    REPEAT = "repeat"  # the same dispatch was accepted within the repeat window: nothing more to do
    FAILED = "failed"  # metrics only: a permanent error was raised to the caller


def dispatch_digest(request: DispatchRequest) -> str:
    """Identifies a dispatch by everything that makes it what it is (channel, token, message, type)."""
    token = request.channel.token.get_secret_value()
    canonical = json.dumps(
        [request.channel.target, token, request.notification_type.value, request.raw_message],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class DispatchService:
    def __init__(
        self,
        outbox: Outbox,
        verifier: SlackSender,
        *,
        wait: float,
        repeat_window: float,
        on_app_token: AppTokenHook | None = None,
    ) -> None:
        self._outbox = outbox
        self._verifier = verifier
        self._wait = wait
        self._repeat_window = repeat_window
        self._on_app_token = on_app_token

    async def dispatch(self, request: DispatchRequest, *, digest: str | None = None) -> DispatchOutcome:
        """Accept a notification; return ``POSTED``, ``QUEUED`` or ``REPEAT``, or raise a permanent error.

        ``digest`` identifies the request for repeat suppression (default: from its content).
        """
        if request.channel.app_token is not None and self._on_app_token is not None:
            await self._on_app_token(request.channel.app_token.get_secret_value())
        submission = await self._outbox.submit(
            request, digest=digest or dispatch_digest(request), window=self._repeat_window
        )
        if submission is None:
            metrics.inc("chatops_dispatch_total", outcome=DispatchOutcome.REPEAT.value)
            logger.info("ignored a repeat of a dispatch accepted within the last %g s", self._repeat_window)
            return DispatchOutcome.REPEAT
        outcome = DispatchOutcome.QUEUED
        if submission.eta <= self._wait:
            try:
                async with asyncio.timeout(self._wait):
                    await asyncio.shield(submission.future)
                outcome = DispatchOutcome.POSTED
            except TimeoutError:
                pass
            except BotError:
                metrics.inc("chatops_dispatch_total", outcome=DispatchOutcome.FAILED.value)
                raise
        if outcome is DispatchOutcome.QUEUED:
            await self._outbox.persist(submission.job)  # durable before we answer OK
            submission.future.cancel()  # nobody waits for it any more (a replica watching the store stops)
        metrics.inc("chatops_dispatch_total", outcome=outcome.value)
        return outcome

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT_SECONDS):
                return await self._verifier.auth_test(token)
        except TimeoutError:
            raise BotError(
                ErrorCode.TIMEOUT, f"Slack did not answer auth.test within {VERIFY_TIMEOUT_SECONDS} s"
            ) from None
