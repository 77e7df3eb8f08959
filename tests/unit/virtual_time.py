"""An event loop on a virtual clock, for unit tests of code that waits: when nothing is ready to run, the clock jumps
to the next timer instead of sleeping, so minutes of backoff, pacing and lease expiry pass in milliseconds, in the
same order as they would in real time. Only for code that does no I/O (the unit suite has no network).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
START = 1_000.0  # an arbitrary origin, far from zero as a real monotonic clock is


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = START

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)  # the loop's own wake-up pipe: never wait for it
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("virtual time: every task waits for something nothing will ever do (a deadlock)")
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


class VirtualClock:
    """The engine's ``Clock`` on a virtual loop: its time, and an epoch that moves with it."""

    EPOCH = 1_700_000_000.0

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        return self.EPOCH + asyncio.get_running_loop().time() - START


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
