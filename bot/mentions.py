"""People in Slack's directory, as the services need them: a card's mentions, and the e-mail of whoever clicked.

A service of its own between the card keeper (``bot.delivery.cards``), the click service (``bot.clicks``) and
the directory they ask: the rules are the pure plan of ``bot.core.mentions``, the look-ups are a ``Directory``'s
(``bot.slack.directory.SlackDirectory`` in the running plugin, given by ``bot.runtime``). Neither part ever raises:
a card is never lost for its mentions, nor a click for its clicker's address.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import PurePath
from typing import Protocol

from bot.core.lifecycle import Transition, phase_of
from bot.core.mentions import NO_MENTIONS, CardMentions, Lookups, Resolved, card_mentions, lookups_for, plan_mentions
from bot.core.models import MentionRules, Message, NotificationType

# The name these lines were logged under before they moved here from bot.slack.directory: kept, so log filters and
# alerts on it keep matching.
logger = logging.getLogger("bot.slack.directory")


class Directory(Protocol):
    """The look-ups mentions and clicks need from Slack's directory, each bounded in time and never raising for
    Slack (``bot.slack.directory.SlackDirectory``)."""

    async def resolve(self, token: str, lookups: Lookups) -> Resolved:
        """The user groups and the assignee ``lookups`` names, as far as they are known in time."""
        ...

    async def email_of(self, token: str, user_id: str) -> str | None:
        """A user's e-mail address; None when Slack does not give it."""
        ...


def _where(exc: BaseException) -> str:
    """Where an exception was raised (file and line only: no values, so no secret, reach the log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{PurePath(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown place"


class MentionResolver:
    """The card keeper's mention step: which mentions a notification's card gets (``bot.core.mentions``), with
    the look-ups that needs. Without a directory, handles and assignees stay plain text. Never raises: a card is
    never lost for its mentions."""

    def __init__(self, directory: Directory | None = None) -> None:
        self._directory = directory

    async def for_card(
        self, token: str, rules: object, message: Message, kind: NotificationType, transition: Transition
    ) -> CardMentions:
        """The mentions for a notification's card; ``rules`` as its outbox item keeps them (``MentionRules``)."""
        try:
            parsed = MentionRules.from_body(rules)
            plan = plan_mentions(parsed, transition, phase_of(message), kind)
            if not plan.any:
                return NO_MENTIONS
            lookups = lookups_for(parsed, message, plan)
            resolved = Resolved()
            if lookups and self._directory is not None:
                resolved = await self._directory.resolve(token, lookups)
            return card_mentions(parsed, message, plan, resolved)
        except Exception as exc:  # a bug here must not cost the card: it goes out without mentions
            logger.error("could not work out a card's mentions: %s at %s", type(exc).__name__, _where(exc))
            return NO_MENTIONS


class ClickerEmails:
    """The click service's way to a clicker's e-mail, asked with the bot token that last posted in the click's
    channel (the click brings none). Never raises."""

    def __init__(self, directory: Directory, token_for_channel: Callable[[str], str | None]) -> None:
        self._directory = directory
        self._token_for_channel = token_for_channel

    async def email_of(self, user_id: str, channel_id: str) -> str | None:
        token = self._token_for_channel(channel_id)
        if token is None or not user_id:
            return None
        try:
            return await self._directory.email_of(token, user_id)
        except Exception as exc:
            logger.error("could not look up a clicker's e-mail: %s at %s", type(exc).__name__, _where(exc))
            return None
