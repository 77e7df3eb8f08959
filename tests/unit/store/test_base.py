"""The rule that picks an alert's card among those its names found (``bot.ports.store.strongest_card``): the one
place it lives, above every backend."""

from __future__ import annotations

from bot.ports.store import FoundCard, strongest_card
from tests.samples import card_record

KEYS = ["alert:alert-2", "number:acme:#7"]  # an alert's names, strongest first


def test_the_strongest_name_wins_whatever_the_cards_names_say() -> None:
    strong, weak = card_record(ts="1.0"), card_record(ts="2.0")
    found = [FoundCard(1, weak, ("number:acme:#7",)), FoundCard(0, strong, ())]  # in any order
    assert strongest_card(KEYS, found) is strong


def test_a_weaker_name_finds_a_card_only_when_no_name_contradicts_it() -> None:
    reused = card_record(ts="1.0")  # the number's card belongs to another alert: its id differs
    assert strongest_card(KEYS, [FoundCard(1, reused, ("alert:alert-1", "number:acme:#7"))]) is None
    same = card_record(ts="2.0")  # known by the number alone (a [Resolved] without a callback posted it)
    assert strongest_card(KEYS, [FoundCard(1, same, ("number:acme:#7",))]) is same
    assert (
        strongest_card(
            KEYS, [FoundCard(1, reused, ("alert:alert-1", "number:acme:#7")), FoundCard(1, same, ("number:acme:#7",))]
        )
        is same
    )


def test_nothing_found_is_no_card() -> None:
    assert strongest_card(KEYS, []) is None
