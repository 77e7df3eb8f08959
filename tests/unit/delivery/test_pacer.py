"""The pure lifecycle of an alert's card, and the pacer that keeps delivery within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.delivery.pacer import SAFETY, Pacer

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pacer_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(rate=1.0, burst=3, clock=clock)
    for _ in range(3):
        assert pacer.wait_time() == 0
        pacer._tokens -= 1
    assert pacer.wait_time() == pytest.approx(1 / SAFETY)
    clock.now += 1 / SAFETY
    assert pacer.wait_time() == pytest.approx(0, abs=1e-9)
    assert pacer.eta(9) == pytest.approx(9 / SAFETY)


def test_pacer_pause_honours_retry_after() -> None:
    clock = Clock()
    pacer = Pacer(rate=1.0, burst=3, clock=clock)
    pacer.pause(30)
    assert pacer.wait_time() == pytest.approx(30)
    clock.now += 30
    assert pacer.wait_time() == pytest.approx(1 / SAFETY)  # the bucket starts empty after a 429
    unpaced = Pacer(rate=0, burst=1, clock=clock)
    assert unpaced.wait_time() == 0 and unpaced.eta(1000) == 0
