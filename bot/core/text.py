"""Text helpers for Slack: mrkdwn escaping, visible truncation, and coercion of loosely typed values."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

ELLIPSIS = "…"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` characters, ending in an ellipsis; say whether it was cut."""
    if len(text) <= limit:
        return text, False
    if limit <= 0:
        return "", True
    cut = text[: limit - 1]
    # Do not leave half an escape sequence (&amp; &lt; &gt;) at the end.
    amp = cut.rfind("&", max(0, len(cut) - 4))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS, True


def as_text(value: object) -> str:
    """Any Struct value as display text: numbers arrive as floats, lists and objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4"}:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment, keeping line breaks; never raises."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # malformed markup: fall back to unescaped text without tags
        return html.unescape(re.sub(r"<[^>]*>", "", markup))
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()
