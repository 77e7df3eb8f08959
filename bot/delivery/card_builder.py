"""Builds a message's card with its callback buttons sealed by this deployment's key."""

from __future__ import annotations

import time

from bot.button_keys import ButtonKeys
from bot.core.cards import Card, CardState, render_card
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


def build_card(
    message: Message,
    notification_type: NotificationType,
    keys: ButtonKeys,
    state: CardState | None = None,
    mentions: CardMentions = NO_MENTIONS,
) -> Card:
    return render_card(
        message,
        notification_type,
        callback_values=callback_values(message, keys),
        state=state,
        mention_line=mentions.line,
        tag_values=mentions.tag_values,
    )
