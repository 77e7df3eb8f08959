"""Sealed button values: opaque, tamper-evident, and openable by any replica with the same key."""

from __future__ import annotations

import pytest

from bot.core.sealed import SealError, SealKey, seal, unseal
from tests.samples import ACCESS_KEY, CALLBACK_URL


def test_round_trip_and_opacity() -> None:
    key = SealKey.derive("signing-secret")
    value = seal({"u": CALLBACK_URL}, key)
    assert ACCESS_KEY not in value and "monitoring" not in value
    assert unseal(value, [SealKey.derive("signing-secret")]) == {"u": CALLBACK_URL}
    assert seal({"u": CALLBACK_URL}, key) != value  # fresh nonce each time


def test_other_keys_and_tampering_do_not_open() -> None:
    value = seal({"u": CALLBACK_URL}, SealKey.derive("a"))
    with pytest.raises(SealError):
        unseal(value, [SealKey.derive("b")])
    head, blob = value.rsplit(".", 1)
    flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]
    with pytest.raises(SealError):
        unseal(f"{head}.{flipped}", [SealKey.derive("a")])
    for junk in ("", "v1", "v1.x.!!", "v2.abc.def", CALLBACK_URL):
        with pytest.raises(SealError):
            unseal(junk, [SealKey.derive("a")])


def test_any_key_of_the_ring_opens() -> None:
    value = seal({"u": "x"}, SealKey.derive("old"))
    assert unseal(value, [SealKey.derive("new"), SealKey.derive("old")]) == {"u": "x"}
