"""Text helpers: control characters made visible for a terminal (``escape_controls``)."""

from __future__ import annotations

import unicodedata

import pytest

from bot.core.text import escape_controls


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # OSC: retitles the window
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # CSI: clears the screen
        ("a\r\nb\tc", "a\\r\\nb\\tc"),  # forged lines, moved columns
        ("\x00\x7f", "\\x00\\x7f"),  # NUL, DEL
        ("\x9b31m\x9d0;t\x9c\x85", "\\x9b31m\\x9d0;t\\x9c\\x85"),  # C1: 8-bit CSI, OSC, ST; NEL
        ("\u202egnp.exe\u202c", "\\u202egnp.exe\\u202c"),  # a bidi override and its end
        ("\u2066x\u2069\u200e\u200f\u061c", "\\u2066x\\u2069\\u200e\\u200f\\u061c"),  # isolates, marks
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
    ],
)
def test_control_characters_are_shown_escaped(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_printable_text_is_left_as_it_is() -> None:
    text = "[Alerting] Disk full on db-1 · ünïcode 日本 🙂 👩\u200d💻 C:\\temp #alerts *bold*"
    assert escape_controls(text) == text


def test_no_control_character_is_left() -> None:
    every = "".join(chr(c) for c in range(0x3000))
    shown = escape_controls(every)
    assert [c for c in shown if unicodedata.category(c) in {"Cc", "Zl", "Zp"}] == []
    assert [c for c in shown if unicodedata.bidirectional(c) in {"LRE", "RLE", "LRO", "RLO", "PDF"}] == []
    assert [c for c in shown if unicodedata.bidirectional(c) in {"LRI", "RLI", "FSI", "PDI"}] == []
