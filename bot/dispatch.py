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
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot import metrics
from bot.core.errors import BotError, ErrorCode
from bot.core.lifecycle import alert_key
from bot.core.models import DispatchOutcome, DispatchRequest
from bot.delivery.outbox import Outbox
from bot.ports.slack import Verifier

logger = logging.getLogger(__name__)
VERIFY_TIMEOUT_SECONDS = 30

AppTokenHook = Callable[[str], Awaitable[None]]


metrics.outcomes(metrics.NOTIFICATIONS, DispatchOutcome)
metrics.outcomes(metrics.DISPATCH_SECONDS, DispatchOutcome)


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
        verifier: Verifier,
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
        started = time.perf_counter()
        try:
            outcome = await self._dispatch(request, digest)
        except BotError as exc:
            self._answered(request, DispatchOutcome.FAILED, started, exc.code.value)
            raise
        self._answered(request, outcome, started)
        return outcome

    @staticmethod
    def _answered(request: DispatchRequest, outcome: DispatchOutcome, started: float, code: str = "") -> None:
        seconds = time.perf_counter() - started
        metrics.NOTIFICATIONS.labels(outcome.value).inc()
        metrics.DISPATCH_SECONDS.labels(outcome.value).observe(seconds)
        # Measured: the two log lines of a posted dispatch were ~7% of its CPU. A posted one is logged where its card
        # is (bot.delivery.cards, with the Slack ts); here only at DEBUG, while queued and failed ones stay at INFO.
        level = logging.DEBUG if outcome is DispatchOutcome.POSTED else logging.INFO
        if not logger.isEnabledFor(level):
            return
        fields: dict[str, Any] = {"event": "dispatch", "outcome": outcome.value, "channel": request.channel.target}
        fields.update(duration_ms=round(seconds * 1000, 1), alert=alert_key(request.message) or "")
        if code:
            fields["code"] = code
        logger.log(level, "dispatch answered %s in %.1f ms", outcome.value, seconds * 1000, extra=fields)

    async def _dispatch(self, request: DispatchRequest, digest: str | None) -> DispatchOutcome:
        if request.channel.app_token is not None and self._on_app_token is not None:
            await self._on_app_token(request.channel.app_token.get_secret_value())
        try:
            submission = await self._outbox.submit(
                request, digest=digest or dispatch_digest(request), window=self._repeat_window
            )
        except BotError as exc:  # never accepted: it fails here (later failures are counted by the outbox)
            metrics.NOTIFICATIONS_FAILED.labels(exc.code.value).inc()
            raise
        if submission is None:
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
        if outcome is DispatchOutcome.QUEUED:
            await self._outbox.persist(submission.job)  # durable before we answer OK
            submission.future.cancel()  # nobody waits for it any more (a replica watching the store stops)
        return outcome

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT_SECONDS):
                return await self._verifier.auth_test(token)
        except TimeoutError:
            raise BotError(
                ErrorCode.TIMEOUT, f"Slack did not answer auth.test within {VERIFY_TIMEOUT_SECONDS} s"
            ) from None
