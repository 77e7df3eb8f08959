"""The token bucket that keeps calls to Slack within its limits (bot.pacing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.limits import DEFAULT_RETRY_AFTER_SECONDS
from bot.pacing import MAX_PAUSE_SECONDS, SAFETY, Pacer, pause_seconds

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


def test_reserving_gives_successive_turns_and_none_past_the_bound() -> None:
    """Look-ups that reserve at once (a storm's cards) are given one turn each at the pace, not all the same free
    moment; a turn past the bound is not given, and costs nothing."""
    clock = Clock()
    pacer = Pacer(rate=50 / 60, burst=5, clock=clock)  # users.lookupByEmail: Tier 3
    interval = 60 / 50 / SAFETY
    turns = [pacer.reserve(within=4.5) for _ in range(40)]
    assert turns[:5] == [0.0] * 5
    assert turns[5:8] == pytest.approx([interval, 2 * interval, 3 * interval])
    assert turns[8:] == [None] * 32  # 4 intervals is 4.95 s: past the bound
    clock.now += 3 * interval  # the reserved turns went by
    assert pacer.reserve(within=0.0) is None  # nothing came free meanwhile: the refused turns took nothing
    clock.now += interval
    assert pacer.reserve(within=0.0) == pytest.approx(0.0, abs=1e-9)


def test_a_pause_holds_reservations_too() -> None:
    clock = Clock()
    pacer = Pacer(rate=1.0, burst=3, clock=clock)
    pacer.pause(30)
    assert pacer.paused_for() == pytest.approx(30)
    assert pacer.reserve(within=5.0) is None
    assert pacer.reserve(within=40.0) == pytest.approx(30 + 1 / SAFETY)  # after the pause the bucket starts empty
    clock.now += 30
    assert pacer.paused_for() == 0
    assert Pacer(rate=0, burst=1, clock=clock).reserve(within=0.0) == 0.0  # unpaced: always now


@pytest.mark.parametrize(
    ("asked", "held"),
    [
        (12.0, 12.0),
        (-5.0, 0.0),
        (1e9, MAX_PAUSE_SECONDS),
        (float("inf"), MAX_PAUSE_SECONDS),
        (float("nan"), DEFAULT_RETRY_AFTER_SECONDS),
    ],
)
def test_a_pause_is_bounded_the_same_way_for_every_pacer(asked: float, held: float) -> None:
    """One rule for how long a Retry-After may pause (the local pacer and the store-shared one both use it)."""
    assert pause_seconds(asked) == held
