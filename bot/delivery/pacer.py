"""The outbox's shared budget: a pacer whose bucket lives in the shared store (``SharedPacer``).

The generic token bucket is ``bot.pacing.Pacer``, named here too because the outbox takes both from this module.
"""

from __future__ import annotations

import asyncio
import logging

from bot.pacing import SAFETY, Pacer, pause_seconds
from bot.ports.store import Coordination, StoreError

__all__ = ["Pacer", "SharedPacer"]

logger = logging.getLogger(__name__)


class SharedPacer:
    """A pacer whose bucket lives in the shared store, so every replica draws from one budget (Slack's
    per-workspace ``chat.update`` limit) and a ``Retry-After`` seen by one pauses them all."""

    def __init__(self, store: Coordination, bucket: str, rate: float, burst: int) -> None:
        self._store = store
        self._bucket = bucket
        self.rate = rate * SAFETY if rate > 0 else 0.0
        self.burst = max(1, burst)
        self._pauses: set[asyncio.Task[None]] = set()

    def eta(self, ahead: int) -> float:
        return ahead / self.rate if self.rate else 0.0

    def wait_time(self) -> float:
        return 0.0  # the store knows; nothing keeps a lane alive on this pacer's account

    async def acquire(self) -> None:
        """Raises ``StoreError`` when the store cannot be asked (the caller retries later)."""
        if not self.rate:
            return
        while (wait := await self._store.take_slot(self._bucket, self.rate, self.burst)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        seconds = pause_seconds(seconds)
        task = asyncio.get_running_loop().create_task(self._pause(seconds))
        self._pauses.add(task)
        task.add_done_callback(self._pauses.discard)

    async def _pause(self, seconds: float) -> None:
        try:
            await self._store.pause_slot(self._bucket, seconds)
        except StoreError as exc:
            logger.warning("could not share Slack's Retry-After with the other replicas: %s", exc)
