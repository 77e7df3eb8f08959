"""What is kept of a message while it waits in the outbox: only what its card can show, bounded.

A dispatch may carry up to the gRPC limit (4 MiB) of message, and a storm keeps hundreds waiting for their turn
at Slack's pace of one post per second per channel. The card never shows more than Slack's ~12,000 characters of
text, so the outbox keeps the parsed message's fields, each cut to a bound that still leaves the renderer room to
do its own visible truncation; unknown keys and callback options (which no card reads) are dropped.
"""

from __future__ import annotations

from typing import Any

from bot.core.models import Message

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
