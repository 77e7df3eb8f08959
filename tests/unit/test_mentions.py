"""The mentions service (bot.mentions): a card's mentions and a clicker's e-mail, over an in-memory directory."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.core.lifecycle import Transition, next_transition, phase_of
from bot.core.mentions import Lookups, Resolved
from bot.core.models import MentionRules, Message, NotificationType
from bot.mentions import ClickerEmails, Directory, MentionResolver
from tests.samples import alerting_message

TOKEN = "xoxb-1111-reader"


class MemoryDirectory:
    """A directory that knows what it is told, and records what it was asked."""

    def __init__(self, *, groups: dict[str, str] | None = None, users: dict[str, str] | None = None) -> None:
        self.groups = groups or {}
        self.users = users or {}  # e-mail -> user ID
        self.asked: list[tuple[str, object]] = []
        self.broken = False

    async def resolve(self, token: str, lookups: Lookups) -> Resolved:
        self.asked.append((token, lookups))
        if self.broken:
            raise RuntimeError("a bug")
        groups = {h: self.groups[h] for h in lookups.handles if h in self.groups}
        return Resolved(groups=groups, assignee=self.users.get(lookups.email or ""))

    async def email_of(self, token: str, user_id: str) -> str | None:
        self.asked.append((token, user_id))
        if self.broken:
            raise RuntimeError("a bug")
        return next((email for email, user in self.users.items() if user == user_id), None)


def _card() -> tuple[Message, Transition]:
    message = Message.from_struct(alerting_message(tags=[{"key": "Assigned to", "value": "alice@example.com"}]))
    return message, next_transition(None, phase_of(message), message, datetime.now(UTC))


async def test_a_card_gets_its_mentions_with_what_the_directory_knows() -> None:
    directory = MemoryDirectory(groups={"oncall": "S0ONCALL"}, users={"alice@example.com": "U0ALICE"})
    rules = MentionRules(mentions=("@oncall",))
    message, transition = _card()
    resolver = MentionResolver(directory)
    mentions = await resolver.for_card(TOKEN, rules.to_body(), message, NotificationType.ERROR, transition)
    assert mentions.line == "<!subteam^S0ONCALL> <@U0ALICE>" and mentions.tag_values == {0: "<@U0ALICE>"}
    assert directory.asked == [(TOKEN, Lookups(handles=("oncall",), email="alice@example.com"))]


async def test_a_card_that_mentions_nobody_asks_the_directory_nothing() -> None:
    directory = MemoryDirectory()
    rules = MentionRules(mentions=("@oncall",))
    message, transition = _card()
    mentions = await MentionResolver(directory).for_card(
        TOKEN, rules.to_body(), message, NotificationType.INFO, transition
    )
    assert mentions.line == "" and directory.asked == []


async def test_without_a_directory_ids_are_mentioned_and_handles_stay_plain_text() -> None:
    rules = MentionRules(mentions=("U0LEAD", "@oncall", "@here"))
    message, transition = _card()
    mentions = await MentionResolver().for_card(TOKEN, rules.to_body(), message, NotificationType.ERROR, transition)
    assert (mentions.line, mentions.tag_values) == ("<@U0LEAD> @oncall <!here>", {})


async def test_a_failing_directory_costs_the_mentions_not_the_card(caplog: pytest.LogCaptureFixture) -> None:
    """Logged under the name these lines had before they moved out of bot.slack.directory (log filters match)."""
    directory = MemoryDirectory()
    directory.broken = True
    rules = MentionRules(mentions=("@oncall",))
    message, transition = _card()
    caplog.set_level(logging.ERROR)
    mentions = await MentionResolver(directory).for_card(
        TOKEN, rules.to_body(), message, NotificationType.ERROR, transition
    )
    assert mentions.line == ""
    assert [(r.name, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("bot.slack.directory", "could not work out a card's mentions")
    ]


async def test_a_clickers_email_is_asked_with_the_channels_bot(caplog: pytest.LogCaptureFixture) -> None:
    directory = MemoryDirectory(users={"alice@example.com": "U0ALICE"})
    tokens = {"C0ALERTS": TOKEN}
    emails = ClickerEmails(directory, tokens.get)
    assert await emails.email_of("U0ALICE", "C0ALERTS") == "alice@example.com"
    assert await emails.email_of("U0ALICE", "C0ELSEWHERE") is None  # no bot posted there: nothing to ask with
    assert await emails.email_of("", "C0ALERTS") is None
    assert directory.asked == [(TOKEN, "U0ALICE")]
    directory.broken = True
    caplog.set_level(logging.ERROR)
    assert await emails.email_of("U0ALICE", "C0ALERTS") is None  # never raises
    assert [r.name for r in caplog.records] == ["bot.slack.directory"]


def test_slacks_directory_is_a_directory() -> None:
    """The runtime gives the services Slack's directory through this port (mypy checks the assignment)."""
    from bot.slack.directory import SlackDirectory

    directory: type[Directory] = SlackDirectory
    assert directory is SlackDirectory
