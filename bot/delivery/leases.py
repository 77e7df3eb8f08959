"""Lane leases: with several replicas on one shared store, one process at a time delivers each lane.

A lease is taken in the store with an expiry. While the process holds it, a heartbeat (``renew``, every
``RENEW_EVERY_SECONDS``) extends every lease it holds in one round trip, whatever its lanes are doing: a Slack call
that takes 8 s, a 12 s Retry-After pause or a slow look-up never lets a lease run out under a working holder. A
process that dies or hangs stops extending, and another takes its lanes over once the leases run out.

Fencing, before every Slack call of a lane:
- the first call of an item asks the store (``begin``): the lease must still be this process's, and the item still
  pending; the lane is then marked as sending that item until it is settled. A process that finds another's mark
  (its send may have reached Slack, and it has not yet recorded it) waits for it to be settled, and sends anyway only
  once ``SENDING_GRACE_SECONDS`` have passed on its own clock (the other surely died);
- later calls of the same item check the lease locally: it is ours until the last extension Redis confirmed plus
  its life less a margin, measured on this process's monotonic clock (no two clocks compared).
A process whose lease was taken, or could not be confirmed in time, sends nothing more in that lane.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable

from bot.ports.slack import HTTP_TIMEOUT_SECONDS
from bot.ports.store import CardQuery, Coordination, SendGrant, SendOutcome

# How long a lease lasts unless extended: a dead replica's lanes are taken over within this plus one scan
# (TAKEOVER_SECONDS in the outbox), "within a few seconds"; long enough that a busy event loop never loses one.
LEASE_TTL_SECONDS = 6.0
# The heartbeat: three extensions a lease lifetime, so one late or failed round trip never loses a lease.
RENEW_EVERY_SECONDS = LEASE_TTL_SECONDS / 3
# Margin for a slow round trip and for Redis' expiry running ahead of this process's clock: a lease is trusted
# locally until (sent + ttl - margin), counted from when the extension was *sent*.
TRUST_MARGIN_SECONDS = 1.0
# How long a lane waits for another process's unsettled send before sending the item itself: that process's Slack
# call (HTTP_TIMEOUT_SECONDS at most) plus its store retries to record it; past this it is taken for dead (a send cut
# short by a crash may then reach Slack twice: at least once, never lost).
SENDING_GRACE_SECONDS = HTTP_TIMEOUT_SECONDS + 10.0


def process_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process in the same pod is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(
        self,
        store: Coordination,
        *,
        owner: str | None = None,
        ttl: float = LEASE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.owner = (owner or process_name()).replace("|", "/")  # '|' separates owner and item in a sending mark
        self._ttl = ttl
        self._clock = clock
        self._until: dict[str, float] = {}  # lane -> the time (self._clock) until which the lease is surely ours

    def _name(self, lane: str) -> str:
        return f"lane:{lane}"

    def _held(self, lane: str, sent: float) -> None:
        self._until[lane] = sent + self._ttl - TRUST_MARGIN_SECONDS

    async def take(self, lane: str) -> bool:
        """Take the lane's lease unless another process holds it. Raises ``StoreError``."""
        sent = self._clock()
        if await self._store.acquire_lease(self._name(lane), self.owner, self._ttl):
            self._held(lane, sent)
            return True
        return False

    def holds(self, lane: str) -> bool:
        """Whether the lease is surely still ours (the local fencing check: no store call)."""
        return self._until.get(lane, float("-inf")) > self._clock()

    def known(self, lane: str) -> bool:
        """Whether this process took the lane and has not seen it lost (its lease may be unconfirmed just now)."""
        return lane in self._until

    async def renew(self) -> list[str]:
        """The heartbeat: extend every lease held, in one round trip; return the lanes found lost (another process
        has them, or they ran out). Raises ``StoreError`` (nothing extended: the leases age until the next try)."""
        lanes = list(self._until)
        if not lanes:
            return []
        sent = self._clock()
        held = await self._store.renew_leases([self._name(lane) for lane in lanes], self.owner, self._ttl)
        lost = []
        for lane, ours in zip(lanes, held, strict=True):
            if ours and lane in self._until:
                self._held(lane, sent)
            elif not ours:
                self._until.pop(lane, None)
                lost.append(lane)
        return lost

    async def begin(self, lane: str, item_id: int, *, force: bool = False, cards: CardQuery | None = None) -> SendGrant:
        """The store's fencing check before an item's first Slack call (see the module docstring), reading the
        alert's ``cards`` in the same step when asked. Raises ``StoreError``."""
        sent = self._clock()
        grant = await self._store.begin_send(lane, self.owner, item_id, self._ttl, force=force, cards=cards)
        self.checked(lane, sent, grant)
        return grant

    @property
    def ttl(self) -> float:
        """How long a lease lasts unless extended (what a fencing check extends it by)."""
        return self._ttl

    def checked(self, lane: str, sent: float, grant: SendGrant) -> None:
        """What a fencing check made at ``sent`` (this clock) says of the lease: extended, or lost. For a check made
        with an item's write (``Store.enqueue_sending``) as for ``begin``."""
        if grant.outcome is SendOutcome.LOST:
            self._until.pop(lane, None)
        elif grant.outcome is not SendOutcome.SETTLED:
            self._held(lane, sent)

    async def release(self, lane: str, *, idle: bool) -> None:
        """Give the lane up (idle, or stopping): another process may deliver it at once. ``idle``: no Slack call of
        this lane is in flight, so its sending mark goes too."""
        if self._until.pop(lane, None) is not None:
            await self._store.release_lease(self._name(lane), self.owner, idle=idle)

    def forget(self, lanes: Iterable[str]) -> None:
        for lane in lanes:
            self._until.pop(lane, None)

    def held(self) -> list[str]:
        return list(self._until)
