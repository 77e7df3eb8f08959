"""The token vault on its own: tokens sealed for the store and opened again, and the bot that serves a channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.button_keys import ButtonKeys
from bot.core.sealed import SealError, seal
from bot.delivery.tokens import TokenVault
from tests.samples import TOKEN

OTHER = "xoxb-9999-8888-anotherbot"


def _vault(tmp_path: Path, secret: str = "key-one", **options: int) -> TokenVault:
    return TokenVault(ButtonKeys([secret], tmp_path), **options)


def test_a_sealed_token_opens_again_and_shows_nothing_of_the_token(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    sealed = vault.seal(TOKEN)
    assert TOKEN not in sealed and "SECRET" not in sealed
    assert vault.open(sealed) == TOKEN
    assert _vault(tmp_path).open(sealed) == TOKEN  # another process with the same settings opens it too


def test_sealing_is_done_once_per_recent_token(tmp_path: Path) -> None:
    vault = _vault(tmp_path, limit=2)
    first = vault.seal(TOKEN)
    assert vault.seal(TOKEN) == first  # a storm of dispatches seals once
    vault.seal(OTHER)
    vault.seal("xoxb-third")  # the oldest is forgotten: memory stays bounded
    again = vault.seal(TOKEN)
    assert again != first and vault.open(again) == TOKEN


def test_what_other_keys_sealed_does_not_open(tmp_path: Path) -> None:
    sealed = _vault(tmp_path / "a", "key-one").seal(TOKEN)
    with pytest.raises(SealError):
        _vault(tmp_path / "b", "key-two").open(sealed)
    with pytest.raises(SealError):
        _vault(tmp_path / "a", "key-one").open(sealed[:-4] + "AAAA")  # altered


def test_a_sealed_value_that_holds_no_token_is_refused(tmp_path: Path) -> None:
    keys = ButtonKeys(["key-one"], tmp_path)
    button_value = seal({"u": "https://hook.example.test/x"}, keys.sealing_key)  # ours, but a button's
    with pytest.raises(SealError):
        TokenVault(keys).open(button_value)


def test_the_bot_that_last_posted_in_a_channel_is_remembered(tmp_path: Path) -> None:
    vault = _vault(tmp_path, limit=2)
    assert vault.token_for_channel("C1") is None
    vault.posted_in("C1", TOKEN)
    vault.posted_in("C2", TOKEN)
    vault.posted_in("C1", OTHER)  # the latest bot wins, and C1 is fresh again
    vault.posted_in("C3", TOKEN)  # C2 was the oldest: forgotten
    assert vault.token_for_channel("C1") == OTHER
    assert vault.token_for_channel("C2") is None
    assert vault.token_for_channel("C3") == TOKEN
