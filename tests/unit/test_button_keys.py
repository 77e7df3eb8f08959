"""The keys that seal and open button values: configured secrets first, else a random key made once and kept in the
data directory (or in the shared store), every key still opening what it sealed after a restart or a key change."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from bot.button_keys import KEY_FILE, ButtonKeys
from bot.core.sealed import SealError, seal, unseal

VALUE = {"u": "https://cf.example.test/monitoring/v1/alert/alert-1/key/ACKNOWLEDGED"}


def opens(keys: ButtonKeys, sealed: str) -> bool:
    try:
        return unseal(sealed, keys.opening_keys) == VALUE
    except SealError:
        return False


def test_a_configured_secret_seals_and_no_key_file_is_made(tmp_path: Path) -> None:
    keys = ButtonKeys(["", "first-secret", "second-secret"], tmp_path)  # an unset setting is skipped
    sealed = seal(VALUE, keys.sealing_key)
    assert opens(ButtonKeys(["first-secret"], tmp_path / "elsewhere"), sealed)
    assert not opens(ButtonKeys(["second-secret"], tmp_path / "elsewhere"), sealed)
    assert not (tmp_path / KEY_FILE).exists()


def test_without_a_secret_a_random_key_is_made_once_kept_private_and_found_after_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # made when needed
    sealed = seal(VALUE, ButtonKeys([], data_dir).sealing_key)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    restarted = ButtonKeys([], data_dir)
    assert opens(restarted, sealed)
    assert restarted.sealing_key == ButtonKeys([], data_dir).sealing_key
    assert not opens(ButtonKeys([], tmp_path / "another pod"), sealed)


def test_a_secret_configured_later_seals_while_the_kept_key_still_opens(tmp_path: Path) -> None:
    before = seal(VALUE, ButtonKeys([], tmp_path).sealing_key)
    keys = ButtonKeys(["BOT_BUTTON_KEY set since"], tmp_path)
    assert opens(keys, before)  # buttons already in Slack keep working
    after = seal(VALUE, keys.sealing_key)
    assert opens(ButtonKeys(["BOT_BUTTON_KEY set since"], tmp_path / "elsewhere"), after)


def test_a_data_directory_that_cannot_be_written_gives_a_key_for_this_run_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("")
    keys = ButtonKeys([], blocked / "data")
    with caplog.at_level(logging.WARNING, logger="bot.button_keys"):
        sealed = seal(VALUE, keys.sealing_key)
    assert unseal(sealed, [keys.sealing_key]) == VALUE  # this run still seals and opens
    [warning] = caplog.records
    assert "set BOT_BUTTON_KEY" in warning.getMessage() and "NotADirectoryError" in warning.getMessage()


def test_the_shared_stores_key_stands_in_for_the_data_directorys(tmp_path: Path) -> None:
    keys = ButtonKeys([], tmp_path, shared="the store's random key")
    sealed = seal(VALUE, keys.sealing_key)
    assert opens(ButtonKeys([], tmp_path / "another replica", shared="the store's random key"), sealed)
    assert not (tmp_path / KEY_FILE).exists()


def test_adopting_the_shared_key_seals_with_it_and_opens_with_every_one_it_had(tmp_path: Path) -> None:
    keys = ButtonKeys([], tmp_path, shared="first")
    by_first = seal(VALUE, keys.sealing_key)
    assert not keys.adopt("first", ["first"])  # nothing changed
    assert keys.generation == 0
    assert keys.adopt("second", ["first", "second"])  # the store lost its key; another replica made one
    assert keys.generation == 1 and keys.shared_secret == "second"
    by_second = seal(VALUE, keys.sealing_key)
    assert opens(ButtonKeys([], tmp_path, shared="second"), by_second)
    assert opens(keys, by_first) and opens(keys, by_second)
    assert not keys.adopt("second", ["second"])  # forgetting an older key changes no sealing
    assert not opens(keys, by_first)


def test_an_explicit_button_key_keeps_sealing_whatever_the_shared_store_adopts(tmp_path: Path) -> None:
    keys = ButtonKeys(["configured"], tmp_path, shared="first", explicit=True)
    sealing = keys.sealing_key
    assert keys.adopt("second", ["first", "second"])
    assert keys.generation == 0 and keys.sealing_key == sealing  # what is sealed with it stays the same


def test_on_a_shared_store_a_signing_secret_does_not_seal_so_replicas_configured_apart_open_each_others(
    tmp_path: Path,
) -> None:
    standalone = ButtonKeys(["its signing secret"], tmp_path / "standalone", shared="the store's key")
    supervisor_pod = ButtonKeys([], tmp_path / "pod", shared="the store's key")  # no signing secret there
    assert opens(supervisor_pod, seal(VALUE, standalone.sealing_key))
    assert opens(standalone, seal(VALUE, supervisor_pod.sealing_key))
    by_secret = seal(VALUE, ButtonKeys(["its signing secret"], tmp_path / "before").sealing_key)
    assert opens(standalone, by_secret)  # what the secret sealed before still opens where it is configured


def test_without_a_shared_store_there_is_nothing_to_adopt(tmp_path: Path) -> None:
    keys = ButtonKeys(["configured"], tmp_path)
    assert not keys.adopt("a store's key", ["a store's key"])
    assert keys.shared_secret is None and len(keys.opening_keys) == 1
