"""Builds a message's card with its callback buttons sealed by this deployment's key."""

from __future__ import annotations

import time

from bot.button_keys import ButtonKeys
from bot.core.cards import Card, CardState, render_card
from bot.core.lifecycle import alert_ref
from bot.core.mentions import NO_MENTIONS, CardMentions
from bot.core.models import Message, NotificationType
from bot.core.sealed import seal
from bot.core.text import is_web_url


def callback_values(message: Message, keys: ButtonKeys) -> list[str | None]:
    """One sealed value per callback; None where the callback URL is not a web address that can be called."""
    values: list[str | None] = []
    for callback in message.callbacks:
        url = callback.url.strip()
        if not is_web_url(url):
            values.append(None)
            continue
        values.append(seal({"u": url, "l": callback.label, "t": str(int(time.time()))}, keys.sealing_key))
    return values


# What a sealed Resolve button holds: the action, the alert id, its domain id (and when it was sealed).
RESOLVE = "resolve"


# What a sealed Add note button holds: the same, with its own action.
NOTE = "note"


def _alert_action_value(action: str, message: Message, keys: ButtonKeys, default_domain: str) -> str | None:
    ref = alert_ref(message, default_domain)
    if ref is None:
        return None
    return seal({"a": action, "i": ref.alert_id, "d": ref.domain_id, "t": str(int(time.time()))}, keys.sealing_key)


def resolve_value(message: Message, keys: ButtonKeys, default_domain: str = "") -> str | None:
    """The sealed value of the card's Resolve button; None when the message names no alert with its domain."""
    return _alert_action_value(RESOLVE, message, keys, default_domain)


def note_value(message: Message, keys: ButtonKeys, default_domain: str = "") -> str | None:
    """The sealed value of the card's Add note button; None when the message names no alert with its domain."""
    return _alert_action_value(NOTE, message, keys, default_domain)


def build_card(
    message: Message,
    notification_type: NotificationType,
    keys: ButtonKeys,
    state: CardState | None = None,
    mentions: CardMentions = NO_MENTIONS,
    *,
    two_way: bool = False,
    default_domain: str = "",
) -> Card:
    """``two_way``: Cloudforet's alert API is set up (an endpoint and an App key), so the card offers Resolve and
    Add note."""
    return render_card(
        message,
        notification_type,
        callback_values=callback_values(message, keys),
        state=state,
        mention_line=mentions.line,
        tag_values=mentions.tag_values,
        resolve_value=resolve_value(message, keys, default_domain) if two_way else None,
        note_value=note_value(message, keys, default_domain) if two_way else None,
    )
