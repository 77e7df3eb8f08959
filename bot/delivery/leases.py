"""Lane leases: with several replicas on one shared store, one process at a time delivers each lane.

A lease is taken in the store with an expiry and extended while the lane is in use; a process that dies simply stops
extending it, and another takes the lane over once it runs out. Before each item the lane checks that its lease is
still its own (the fencing check), so two processes never deliver one lane at once; the check costs a store round
trip only when the lease is past a third of its life, since nobody else can take it before it runs out.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from bot.store import Store

# How long a lease lasts unless extended: a dead replica's lanes are taken over within this plus one scan
# (TAKEOVER_SECONDS in the outbox), "within a few seconds"; long enough that a busy event loop never loses one.
LEASE_TTL_SECONDS = 6.0
# Extend a lease once less than this is left (two thirds of its life): a few store calls a lease lifetime.
RENEW_BELOW_SECONDS = LEASE_TTL_SECONDS * 2 / 3
# Margin for clock drift between this process and the store when trusting a lease without asking.
TRUST_MARGIN_SECONDS = 1.0


def process_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process in the same pod is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self, store: Store, *, owner: str | None = None, ttl: float = LEASE_TTL_SECONDS) -> None:
        self._store = store
        self.owner = owner or process_name()
        self._ttl = ttl
        self._until: dict[str, float] = {}  # lane -> monotonic time until which the lease is surely ours

    def _held(self, lane: str, now: float) -> None:
        self._until[lane] = now + self._ttl - TRUST_MARGIN_SECONDS

    async def take(self, lane: str) -> bool:
        """Take the lane's lease unless another process holds it. Raises ``StoreError``."""
        now = time.monotonic()
        if await self._store.acquire_lease(f"lane:{lane}", self.owner, self._ttl):
            self._held(lane, now)
            return True
        return False

    async def keep(self, lane: str) -> bool:
        """Whether the lease is still ours (extending it when due); False once another process has it.
        Raises ``StoreError`` when the store cannot say."""
        now = time.monotonic()
        until = self._until.get(lane)
        if until is None:
            return False
        if until - now > self._ttl - RENEW_BELOW_SECONDS:
            return True  # extended recently: nobody else can have taken it
        if await self._store.renew_lease(f"lane:{lane}", self.owner, self._ttl):
            self._held(lane, now)
            return True
        self._until.pop(lane, None)
        return False

    async def release(self, lane: str) -> None:
        """Give the lane up (idle, or stopping): another process may deliver it at once."""
        if self._until.pop(lane, None) is not None:
            await self._store.release_lease(f"lane:{lane}", self.owner)

    def held(self) -> list[str]:
        return list(self._until)
