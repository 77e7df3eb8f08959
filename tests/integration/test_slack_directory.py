"""The Slack directory (bot/slack/directory.py) with the real sender against the fake Slack: look-ups answered,
cached (hits never reach Slack), shared, paced, bounded in time, and degraded to "unknown" when Slack cannot say,
with one log line for a missing scope."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.core.lifecycle import next_transition, phase_of
from bot.core.mentions import Lookups, Resolved
from bot.core.models import MentionRules, Message, NotificationType
from bot.mentions import MentionResolver
from bot.pacing import SAFETY
from bot.slack import directory as directory_module
from bot.slack.directory import FAILED_TTL_SECONDS, NOT_FOUND_TTL_SECONDS, SCOPE_RETRY_SECONDS, SlackDirectory
from bot.slack.web_api import SlackSender
from tests.fakes.slack import FakeSlack
from tests.samples import alerting_message

READER = "xoxb-1111-reader"
OTHER_BOT = "xoxb-2222-other"
NO_EMAIL = "xoxb-3333-no-email"
BARE = "xoxb-4444-bare"
ALL_SCOPES = ("chat:write", "users:read", "users:read.email", "usergroups:read")


class Clock:
    """A monotonic clock the test moves (the caches' TTLs), starting at the real one."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@dataclass
class Parts:
    slack: FakeSlack
    clock: Clock
    directory: SlackDirectory
    sender: SlackSender


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    slack = FakeSlack()
    slack.add_token(READER, scopes=ALL_SCOPES)
    slack.add_token(OTHER_BOT, scopes=ALL_SCOPES, bot_id="B0OTHER", user_id="U0OTHERBOT")
    slack.add_token(NO_EMAIL, scopes=("chat:write", "users:read", "usergroups:read"))
    slack.add_token(BARE)
    slack.add_user("U0ALICE", "alice", email="alice@example.com")
    slack.add_user("U0GONE", "gone", email="gone@example.com", deleted=True)
    for i in range(8):
        slack.add_user(f"U0USER{i}", f"user{i}", email=f"user{i}@example.com")
    slack.add_usergroup("S0ONCALL", ["U0ALICE"], handle="oncall")
    slack.add_usergroup("S0DBA", ["U0ALICE"], handle="dba")
    slack.add_usergroup("S0OLD", ["U0ALICE"], handle="old", disabled=True)
    await slack.start()
    sender = SlackSender(slack.base_url, retry_handlers=[])
    clock = Clock()
    try:
        yield Parts(slack, clock, SlackDirectory(sender, clock=clock), sender)
    finally:
        await sender.close()
        await slack.stop()


async def test_a_cached_answer_never_reaches_slack_again(parts: Parts) -> None:
    directory, slack = parts.directory, parts.slack
    assert await directory.user_by_email(READER, "alice@example.com") == "U0ALICE"
    assert await directory.user_by_email(READER, " Alice@Example.com ") == "U0ALICE"  # the same address
    assert await directory.email_of(READER, "U0ALICE") == "alice@example.com"
    assert await directory.email_of(READER, "U0ALICE") == "alice@example.com"
    assert await directory.group_ids(READER, ("oncall",)) == {"oncall": "S0ONCALL"}
    assert await directory.group_ids(READER, ("dba", "old", "nosuch")) == {"dba": "S0DBA"}  # one list for all
    counts = {m: slack.call_count(m) for m in ("users.lookupByEmail", "users.info", "usergroups.list")}
    assert counts == {"users.lookupByEmail": 1, "users.info": 1, "usergroups.list": 1}
    await directory.user_by_email(OTHER_BOT, "alice@example.com")  # another bot asks for itself
    assert slack.call_count("users.lookupByEmail") == 2
    parts.clock.now += 3601  # past every TTL
    await directory.user_by_email(READER, "alice@example.com")
    await directory.group_ids(READER, ("oncall",))
    assert (slack.call_count("users.lookupByEmail"), slack.call_count("usergroups.list")) == (3, 2)


async def test_an_unknown_or_deactivated_address_is_no_one_for_a_while(parts: Parts) -> None:
    directory, slack = parts.directory, parts.slack
    assert await directory.user_by_email(READER, "nobody@example.com") is None
    assert await directory.user_by_email(READER, "gone@example.com") is None
    assert await directory.user_by_email(READER, "nobody@example.com") is None
    assert await directory.user_by_email(READER, "gone@example.com") is None
    assert slack.call_count("users.lookupByEmail") == 2
    parts.clock.now += NOT_FOUND_TTL_SECONDS + 1  # a new colleague may have joined since
    slack.add_user("U0NEW", "newbie", email="nobody@example.com")
    assert await directory.user_by_email(READER, "nobody@example.com") == "U0NEW"
    assert await directory.email_of(READER, "U0NOSUCH") is None  # users.info: user_not_found


async def test_a_missing_scope_is_logged_once_and_not_asked_again_for_a_while(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    directory, slack = parts.directory, parts.slack
    caplog.set_level(logging.WARNING, logger="bot.slack.directory")
    for i in range(3):
        assert await directory.user_by_email(NO_EMAIL, f"user{i}@example.com") is None
    assert slack.call_count("users.lookupByEmail") == 1  # Slack said it once; the others did not ask
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "the Slack app lacks the users:read.email scope, so assignees stay plain text; add the scope to the app "
        "and reinstall it"
    ]
    parts.clock.now += SCOPE_RETRY_SECONDS + 1  # the app may have been reinstalled with the scope by now
    assert await directory.user_by_email(NO_EMAIL, "user0@example.com") is None
    assert slack.call_count("users.lookupByEmail") == 2 and len(caplog.records) == 1  # asked again, said once
    assert await directory.group_ids(BARE, ("oncall",)) == {}
    assert "lacks the usergroups:read scope, so user group handles stay plain text" in caplog.records[-1].getMessage()


async def test_without_users_read_email_a_user_has_no_email_and_that_is_said_once(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.directory")
    assert await parts.directory.email_of(NO_EMAIL, "U0ALICE") is None
    assert await parts.directory.email_of(NO_EMAIL, "U0USER1") is None
    assert [r.getMessage() for r in caplog.records] == [
        "Slack gave no e-mail for a user: responders are named by their Slack name (the app needs users:read.email)"
    ]
    assert await parts.directory.email_of(BARE, "U0ALICE") is None  # not even users:read
    assert "lacks the users:read scope, so responders are named by their Slack name" in caplog.records[-1].getMessage()


async def test_concurrent_look_ups_of_one_address_make_one_call(parts: Parts) -> None:
    parts.slack.delay = 0.1
    found = await asyncio.gather(*(parts.directory.user_by_email(READER, "alice@example.com") for _ in range(5)))
    assert found == ["U0ALICE"] * 5 and parts.slack.call_count("users.lookupByEmail") == 1


async def test_resolve_asks_for_what_a_card_needs_together(parts: Parts) -> None:
    resolved = await parts.directory.resolve(READER, Lookups(("oncall", "nosuch"), "alice@example.com"))
    assert resolved == Resolved(groups={"oncall": "S0ONCALL"}, assignee="U0ALICE")
    assert await parts.directory.resolve(READER, Lookups()) == Resolved()
    assert parts.slack.call_count("usergroups.list") == 1 and parts.slack.call_count("users.lookupByEmail") == 1


async def test_slack_failing_is_unknown_for_a_minute_and_names_no_token(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.directory")
    parts.slack.outage(60, 503)
    assert await parts.directory.user_by_email(READER, "alice@example.com") is None
    assert await parts.directory.user_by_email(READER, "alice@example.com") is None
    assert parts.slack.call_count("users.lookupByEmail") == 1
    assert "users.lookupByEmail look-up failed: ERROR_SLACK_UNAVAILABLE" in caplog.text
    assert READER not in caplog.text and "alice@example.com" not in caplog.text
    parts.slack.outage(0)
    parts.clock.now += FAILED_TTL_SECONDS + 1
    assert await parts.directory.user_by_email(READER, "alice@example.com") == "U0ALICE"


async def test_a_silent_slack_holds_a_look_up_only_briefly(parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory_module, "LOOKUP_TIMEOUT_SECONDS", 0.1)
    parts.slack.delay = 0.5
    started = time.monotonic()
    assert await parts.directory.user_by_email(READER, "alice@example.com") is None
    assert time.monotonic() - started < 0.4


async def test_look_ups_are_paced_at_the_methods_tier_and_a_429_pauses_them(parts: Parts) -> None:
    """users.lookupByEmail is Tier 3 (50+ per minute): a burst of 5, then about one every 1.2 s."""
    started = time.monotonic()
    for i in range(6):
        assert await parts.directory.user_by_email(READER, f"user{i}@example.com") == f"U0USER{i}"
    assert time.monotonic() - started >= 1.0
    parts.slack.web_api.retry_after = 30
    parts.slack.outage(30, 429)
    assert await parts.directory.user_by_email(OTHER_BOT, "user6@example.com") is None
    calls = parts.slack.call_count("users.lookupByEmail")
    assert await parts.directory.user_by_email(OTHER_BOT, "user7@example.com") is None  # paused: not even asked
    assert parts.slack.call_count("users.lookupByEmail") == calls


async def test_a_storm_of_distinct_addresses_waits_at_most_the_bound_pacing_included(parts: Parts) -> None:
    """40 cards at once, each with its own assignee: at Tier 3 (a burst of 5, then one every 1.24 s: 50 a minute
    at the pacer's margin) the 10th turn would come 6.19 s later, past the 5 s a card waits for its mentions. The
    first 9 are looked up (the later ones after waiting their turn), the other 31 are not asked about and stay plain
    text. The clock stands still and the waits are recorded (deterministic): every wait is within the bound."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    directory = SlackDirectory(parts.sender, clock=parts.clock, sleep=sleep)
    for i in range(40):
        parts.slack.add_user(f"U0STORM{i:02d}", f"storm{i}", email=f"storm{i}@example.com")
    found = await asyncio.gather(*(directory.resolve(READER, Lookups((), f"storm{i}@example.com")) for i in range(40)))
    interval = 60 / 50 / SAFETY
    turns = [n * interval for n in range(1, 5) if n * interval <= 5.0]  # after the burst of 5, within the bound
    assert len(turns) == 4
    assert [r.assignee for r in found] == [f"U0STORM{i:02d}" for i in range(9)] + [None] * 31
    assert parts.slack.call_count("users.lookupByEmail") == 9
    assert sorted(waits) == pytest.approx(turns, abs=0.01)
    assert max(waits) <= directory_module.LOOKUP_TIMEOUT_SECONDS
    parts.clock.now += 60  # a minute later the pace allows more: the skipped ones were not cached as unknown
    assert await directory.user_by_email(READER, "storm39@example.com") == "U0STORM39"


async def test_without_a_directory_ids_are_still_mentioned_and_the_rest_stays_plain_text() -> None:
    message = Message.from_struct(alerting_message(tags=[{"key": "Assigned to", "value": "alice@example.com"}]))
    rules = MentionRules(mentions=("U0LEAD", "@oncall", "@here")).to_body()
    transition = next_transition(None, phase_of(message), message, datetime.now(UTC))
    mentions = await MentionResolver().for_card(READER, rules, message, NotificationType.ERROR, transition)
    assert (mentions.line, mentions.tag_values) == ("<@U0LEAD> @oncall <!here>", {})


async def test_the_resolver_looks_up_only_what_a_card_that_mentions_anyone_needs(parts: Parts) -> None:
    message = Message.from_struct(alerting_message(tags=[{"key": "Assigned to", "value": "alice@example.com"}]))
    rules = MentionRules(mentions=("@oncall",)).to_body()
    resolver = MentionResolver(parts.directory)
    first = next_transition(None, phase_of(message), message, datetime.now(UTC))
    info = await resolver.for_card(READER, rules, message, NotificationType.INFO, first)
    assert info.line == "" and parts.slack.calls == []  # an INFO card mentions nobody: nothing looked up
    error = await resolver.for_card(READER, rules, message, NotificationType.ERROR, first)
    assert error.line == "<!subteam^S0ONCALL> <@U0ALICE>" and error.tag_values == {0: "<@U0ALICE>"}
    assert sorted(c.method for c in parts.slack.calls) == ["usergroups.list", "users.lookupByEmail"]
