"""The engine's clock: monotonic time for deadlines and pacing, wall time for what is stored and shown.

Production reads the running event loop's clock (the same as ``time.monotonic``) and the system's wall clock. Unit
tests run the engine on an event loop whose clock is virtual (``tests/unit/virtual_time.py``): sleeps and timeouts
take no real time, and every deadline the engine keeps is read from the same clock, so a test of minutes of
backoff, pacing and lease expiry runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, pacing, leases)."""
        ...

    def time(self) -> float:
        """Epoch seconds (when an item was accepted, a card updated)."""
        ...


class LoopClock:
    """The running event loop's clock (what ``asyncio.sleep`` and timeouts follow) and the system's wall clock."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        return time.time()
