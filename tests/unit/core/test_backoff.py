"""The one back-off rule: first wait, growth, cap, jitter within its band, and nonsense refused."""

from __future__ import annotations

import pytest

from bot.core.backoff import Backoff


def test_waits_double_from_the_first_up_to_the_cap() -> None:
    backoff = Backoff(first=0.5, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 10)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_no_failure_no_wait() -> None:
    assert Backoff(first=1.0, cap=5.0).delay(0) == 0.0
    assert Backoff(first=1.0, cap=5.0, jitter=0.5).delay(-3, draw=lambda: 0.0) == 0.0


def test_any_failure_count_stays_at_the_cap() -> None:
    assert Backoff(first=1.0, cap=300.0).delay(10**9) == 300.0
    assert Backoff(first=1.0, cap=300.0, factor=1e300).delay(5) == 300.0  # would overflow a float


def test_another_factor() -> None:
    backoff = Backoff(first=1.0, cap=100.0, factor=3.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 3.0, 9.0, 27.0, 81.0]
    assert Backoff(first=2.0, cap=10.0, factor=1.0).delay(50) == 2.0  # a constant wait


def test_jitter_draws_within_its_band_below_the_ceiling() -> None:
    backoff = Backoff(first=1.0, cap=300.0, jitter=0.5)
    assert backoff.delay(3, draw=lambda: 0.0) == 4.0  # the ceiling itself
    assert backoff.delay(3, draw=lambda: 0.999999) == pytest.approx(2.0, abs=1e-5)  # half of it, not less
    assert backoff.delay(20, draw=lambda: 0.5) == 225.0
    for _ in range(200):  # the default draw
        assert 150.0 <= backoff.delay(12) <= 300.0


@pytest.mark.parametrize(
    "arguments",
    [
        {"first": 0.0, "cap": 1.0},
        {"first": 2.0, "cap": 1.0},
        {"first": 1.0, "cap": 2.0, "factor": 0.5},
        {"first": 1.0, "cap": 2.0, "jitter": 1.5},
        {"first": 1.0, "cap": 2.0, "jitter": -0.1},
    ],
)
def test_nonsense_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(**arguments)
