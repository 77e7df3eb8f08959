"""The repeat filter on its own: a digest seen within the window is a repeat, memory follows the window."""

from __future__ import annotations

from bot.store.repeats import RepeatFilter

WINDOW = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_same_digest_within_the_window_is_a_repeat_and_after_it_is_not() -> None:
    clock = Clock()
    repeats = RepeatFilter(clock)
    assert not repeats.is_repeat("a", WINDOW)
    clock.now += WINDOW - 1
    assert repeats.is_repeat("a", WINDOW)
    assert not repeats.is_repeat("b", WINDOW)  # another dispatch is its own
    clock.now += WINDOW + 1
    assert not repeats.is_repeat("a", WINDOW)


def test_each_sighting_starts_the_window_again() -> None:
    clock = Clock()
    repeats = RepeatFilter(clock)
    repeats.is_repeat("a", WINDOW)
    clock.now += 40
    assert repeats.is_repeat("a", WINDOW)
    clock.now += 40  # 80 s after the first, 40 s after the last: still a retry storm
    assert repeats.is_repeat("a", WINDOW)


def test_digests_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    repeats = RepeatFilter(clock)
    for i in range(1000):
        repeats.is_repeat(f"d{i}", WINDOW)
    assert len(repeats) == 1000
    clock.now += WINDOW + 1
    repeats.is_repeat("late", WINDOW)
    assert len(repeats) == 1  # memory follows the last window, not every dispatch ever seen


def test_a_forgotten_digest_goes_through_again_at_once() -> None:
    repeats = RepeatFilter(Clock())
    repeats.is_repeat("a", WINDOW)
    repeats.forget("a")
    repeats.forget("never seen")  # harmless
    assert not repeats.is_repeat("a", WINDOW)
    assert repeats.is_repeat("a", WINDOW)
