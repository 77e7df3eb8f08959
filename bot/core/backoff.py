"""Capped exponential back-off: how long to wait before the next try after ``attempt`` failures in a row.

One rule for every retry loop (Socket Mode's ``apps.connections.open``, the outbox's lanes and store retries): the
first wait is ``first``, each further failure multiplies it by ``factor``, no wait exceeds ``cap``, and ``jitter``
(a fraction) draws each wait from ``[(1 - jitter) × ceiling, ceiling]`` so that callers failing together do not
retry in step. Pure: the random draw is a parameter, so tests fix it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# The exponent stops growing here: any factor above 1 has reached any sane cap long before (2**64 seconds is past
# the age of the universe), and the float stays finite whatever the failure count.
MAX_EXPONENT = 64


@dataclass(frozen=True)
class Backoff:
    """``delay(1)`` is ``first``, ``delay(n)`` is ``first × factor**(n-1)`` up to ``cap``, jittered downwards."""

    first: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError("a back-off needs 0 < first <= cap")
        if self.factor < 1:
            raise ValueError("a back-off's factor is at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("a back-off's jitter is a fraction between 0 and 1")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after ``attempt`` failures in a row (0 after none)."""
        if attempt <= 0:
            return 0.0
        try:
            return min(self.cap, self.first * self.factor ** min(attempt - 1, MAX_EXPONENT))
        except OverflowError:  # a huge factor: past any cap
            return self.cap

    def delay(self, attempt: int, *, draw: Callable[[], float] = random.random) -> float:
        """The wait after ``attempt`` failures in a row; ``draw`` gives a number in ``[0, 1)`` for the jitter."""
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        return ceiling * (1.0 - self.jitter * draw())
