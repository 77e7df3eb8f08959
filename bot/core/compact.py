"""What is kept of a message while it waits in the outbox: only what its card can show, bounded; and what is kept
of an item that failed for good, bounded in bytes.

A dispatch may carry up to the gRPC limit (4 MiB) of message, and a storm keeps hundreds waiting for their turn
at Slack's pace of one post per second per channel. The card never shows more than Slack's ~12,000 characters of
text, so the outbox keeps the parsed message's fields, each cut to a bound that still leaves the renderer room to
do its own visible truncation; unknown keys and callback options (which no card reads) are dropped.

An item that failed for good is kept (a week) for the operator to read and retry (``slack-chatops outbox``): its
body as it is when it fits in its byte bound, encoded as UTF-8 rather than ``\\u``-escaped (an emoji costs 4 bytes,
not 12); otherwise cut further, visibly (``failed_body``), so that a retry still posts its card, with less text.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.limits import MAX_SECTION_TEXT
from bot.core.models import Message
from bot.core.text import ELLIPSIS, truncate

# Free text is cut here, five times Slack's ~12,000-character message cap: HTML ``contents`` shrink when their
# markup is stripped, and the renderer still sees that the text was too long and says so on the card.
MAX_KEPT_BODY_TEXT = 64 * 1024
# Titles, links, tag keys and values: a header holds 150 characters, a field 2,000, a section 3,000, a button URL 3,000
# (a longer link is not shown as a button either way).
MAX_KEPT_SHORT_TEXT = 4 * 1024
# A card shows at most 50 blocks of 10 fields and 25 buttons; past these counts nothing more can appear.
MAX_KEPT_TAGS = 500
MAX_KEPT_CALLBACKS = 50

_BODY_KEYS = ("description", "short_description", "contents")
_SHORT_KEYS = ("title", "content_type", "link", "image_url", "domain_name", "domain_id")


def compact_message(message: Message) -> tuple[dict[str, Any], bool]:
    """A Struct that ``Message.from_struct`` reads back into the same card (within the bounds above), and whether
    anything was cut to make it (if not, ``message`` itself still describes it exactly)."""
    kept: dict[str, Any] = {key: value for key in _BODY_KEYS if (value := getattr(message, key))}
    kept.update({key: value for key in _SHORT_KEYS if (value := getattr(message, key))})
    if message.occurred_at_raw:
        kept["occurred_at"] = message.occurred_at_raw
    cut = any(len(kept[key]) > MAX_KEPT_BODY_TEXT for key in _BODY_KEYS if key in kept) or any(
        len(value) > MAX_KEPT_SHORT_TEXT for key, value in kept.items() if key not in _BODY_KEYS
    )
    if cut:
        kept = {
            key: value[: MAX_KEPT_BODY_TEXT if key in _BODY_KEYS else MAX_KEPT_SHORT_TEXT]
            for key, value in kept.items()
        }
    if message.tags:
        cut = (
            cut
            or len(message.tags) > MAX_KEPT_TAGS
            or any(len(tag.key) > MAX_KEPT_SHORT_TEXT or len(tag.value) > MAX_KEPT_SHORT_TEXT for tag in message.tags)
        )
        kept["tags"] = [
            {
                "key": tag.key[:MAX_KEPT_SHORT_TEXT],
                "value": tag.value[:MAX_KEPT_SHORT_TEXT],
                "options": {"short": tag.short},
            }
            for tag in message.tags[:MAX_KEPT_TAGS]
        ]
    if message.callbacks:
        cut = (
            cut
            or len(message.callbacks) > MAX_KEPT_CALLBACKS
            or any(len(c.label) > MAX_KEPT_SHORT_TEXT or len(c.url) > MAX_KEPT_SHORT_TEXT for c in message.callbacks)
        )
        kept["callbacks"] = [
            {"label": c.label[:MAX_KEPT_SHORT_TEXT], "url": c.url[:MAX_KEPT_SHORT_TEXT]}
            for c in message.callbacks[:MAX_KEPT_CALLBACKS]
        ]
    return kept, cut


# The key a failed item's body gains when it was cut to fit its bound: how many bytes it had (the operator sees it).
TRIMMED_KEY = "trimmed_from_bytes"
# How a body too big to keep is cut, step by step until it fits: the longest text kept, and the most items kept of
# any list (and keys of any object). The first step loses nothing a card shows of a text (no Block Kit text holds
# more than MAX_SECTION_TEXT, 3,000 characters, and one longer is still seen to be longer) nor of a list (a card
# holds at most 50 blocks of 10 fields); the last one keeps at least 128 characters of each text, more than any
# channel name (81) or id a retry needs to find its channel and its alert's card.
TRIM_STEPS: tuple[tuple[int, int], ...] = (
    (MAX_SECTION_TEXT + 1, 500),
    (MAX_SECTION_TEXT + 1, 100),
    (1000, 100),
    (1000, 50),
    (300, 50),
    (128, 25),
)


def _encoded(value: Any) -> bytes:
    """Compact JSON as UTF-8 (not ``\\u``-escaped); escaped after all if the text holds what UTF-8 cannot
    encode (a lone surrogate)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _cut(value: Any, text_limit: int, list_limit: int) -> Any:
    """``value`` with every text cut to ``text_limit`` characters (ending in an ellipsis) and every list and object
    to its first ``list_limit`` items."""
    if isinstance(value, str):
        return truncate(value, text_limit)[0]
    if isinstance(value, list):
        return [_cut(item, text_limit, list_limit) for item in value[:list_limit]]
    if isinstance(value, dict):
        return {
            truncate(str(key), text_limit)[0]: _cut(item, text_limit, list_limit)
            for key, item in list(value.items())[:list_limit]
        }
    return value


def failed_body(stored: str | bytes, max_bytes: int) -> bytes:
    """The JSON (UTF-8) a failed item keeps of its body (``stored``, the JSON it was kept as while pending): the body
    itself when it fits in ``max_bytes``, else cut by ``TRIM_STEPS`` until it fits, with ``TRIMMED_KEY`` saying how
    big it was. Whatever the body holds, the result fits (at worst the message keeps its title alone, then the body
    its channel alone); a body that is not a JSON object (never written by this code) is kept as ``{}``."""
    try:
        body = json.loads(stored)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    whole = _encoded(body)
    if len(whole) <= max_bytes:
        return whole
    marker = {TRIMMED_KEY: len(whole)}
    for text_limit, list_limit in TRIM_STEPS:
        kept = _encoded({**_cut(body, text_limit, list_limit), **marker})
        if len(kept) <= max_bytes:
            return kept
    # A body of a shape no version writes (objects nested deep, many keys): its message's title, its channel.
    last_text, last_list = TRIM_STEPS[-1]
    message = body.get("message")
    title = message.get("title") if isinstance(message, dict) else None
    skeleton = {k: v for k, v in body.items() if k != "message" and isinstance(v, str | int | float | bool)}
    skeleton = _cut(skeleton, last_text, last_list)
    kept = _encoded({**skeleton, "message": {"title": _cut(title, last_text, 1)} if title else {}, **marker})
    if len(kept) <= max_bytes:
        return kept
    target = body.get("target")
    return _encoded({"target": truncate(target, last_text)[0] if isinstance(target, str) else ELLIPSIS, **marker})
