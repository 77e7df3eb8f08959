"""What the operator commands share: output that a terminal shows and never acts on (tables, JSON, errors)."""

from __future__ import annotations

import json

import pytest

from bot.ops.common import MAX_NAMED_UNREADABLE, USAGE, fail, json_text, report_unreadable, table, utc

HOSTILE = "\x1b[2J\r\nforged\x9b31m\u202e"


def test_table_escapes_cells_and_aligns_on_what_is_shown() -> None:
    lines = table([["id", "title"], ["1", HOSTILE], ["22", "ok"]]).splitlines()
    assert lines == ["id  title", "1   \\x1b[2J\\r\\nforged\\x9b31m\\u202e", "22  ok"]


def test_json_text_is_valid_json_of_the_same_values_with_nothing_raw() -> None:
    value = {"title": HOSTILE, "del": "\x7f", "plain": "日本 🙂", "list": [1, 2]}
    text = json_text(value)
    assert json.loads(text) == value
    assert "\\u009b31m\\u202e" in text and "\\u007f" in text and "日本 🙂" in text
    assert not any(c in text for c in "\x1b\r\x9b\u202e\x7f")


def test_fail_prints_one_escaped_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert fail(f"no store at /data/{HOSTILE}") == USAGE
    assert capsys.readouterr().err == "no store at /data/\\x1b[2J\\r\\nforged\\x9b31m\\u202e\n"


def test_unreadable_records_are_named_on_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    report_unreadable([])
    assert capsys.readouterr() == ("", "")
    report_unreadable(["outbox item 7"])
    assert capsys.readouterr() == ("", "1 record could not be read (left out): outbox item 7\n")
    report_unreadable([f"outbox item {i}" for i in range(MAX_NAMED_UNREADABLE + 5)] + ["outbox item \x1b[2J"])
    out, err = capsys.readouterr()
    named = ", ".join(f"outbox item {i}" for i in range(MAX_NAMED_UNREADABLE))
    assert out == "" and err == f"{MAX_NAMED_UNREADABLE + 6} records could not be read (left out): {named} and 6 more\n"


@pytest.mark.parametrize("epoch", [1e20, float("nan"), float("-inf")])
def test_a_time_no_date_can_show_is_shown_as_its_number(epoch: float) -> None:
    assert utc(epoch) == repr(epoch)
    assert utc(0) == "1970-01-01T00:00:00Z"
