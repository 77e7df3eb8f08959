"""Text helpers: mrkdwn escaping, visible truncation, coercion of loosely typed values, bounded quoting of user
input in error messages, control characters made visible for a terminal, and URL splitting that never raises."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from urllib.parse import SplitResult, urlsplit

ELLIPSIS = "…"
# How much of a user-supplied value an error message quotes: enough to recognise it (Slack channel names are at
# most 80 characters: https://api.slack.com/methods/conversations.create#naming), little enough that an error
# stays one readable line and far inside gRPC's 8 KiB metadata limit.
MAX_ECHOED_CHARS = 80
# Characters a terminal acts on instead of showing: C0 controls (ESC starts every escape sequence; CR, LF and the
# rest move the cursor or forge lines), DEL, C1 controls (CSI and OSC on their own in 8 bits, NEL), the line and
# paragraph separators, and the bidirectional controls that reorder what follows (Unicode UAX #9: LRM, RLM, ALM,
# the embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` safe to print on a terminal: each control character (``CONTROL_CHARACTERS``) written as a visible
    Python-style escape (``\\x1b``, ``\\n``, ``\\u202e``), so what a value holds shows and nothing in it can move
    the cursor, start a new line, retitle the window or reorder the line. Everything else is left as it is."""
    return CONTROL_CHARACTERS.sub(_visible, text)


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


def echo(value: str, limit: int = MAX_ECHOED_CHARS) -> str:
    """A user-supplied value as an error message may quote it: at most ``limit`` characters, cut visibly."""
    return truncate(value, limit)[0]


def split_url(url: str) -> SplitResult | None:
    """``url`` split into its parts, or None where ``urlsplit`` would raise (``http://[oops``, a port of 99999)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        return None
    return parts


def web_url_parts(url: str, *, max_length: int | None = None) -> SplitResult | None:
    """``url`` split into its parts when it is a web address: http(s), a host, no white space, parts that can be
    read, and at most ``max_length`` characters when given; None otherwise. The one check of a web address."""
    if max_length is not None and len(url) > max_length:
        return None
    if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
        return None
    parts = split_url(url)
    return parts if parts is not None and parts.hostname else None


def is_web_url(url: str, *, max_length: int | None = None) -> bool:
    """Whether ``url`` is a web address (see ``web_url_parts``)."""
    return web_url_parts(url, max_length=max_length) is not None


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
