"""Mentions, the pure part: the channel form's settings (bot/core/models.py), which mentions a card gets for a
notification and where (bot/core/mentions.py), how the card shows them (bot/core/cards.py), and the responder."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from bot.cloudforet.channel_schema import CHANNEL_SCHEMA
from bot.core.cards import MENTIONS_BLOCK_ID, CardState, CardStatus, render_card
from bot.core.errors import BotError, ErrorCode
from bot.core.lifecycle import AlertPhase, CardAction, Transition, next_transition, phase_of
from bot.core.mentions import (
    NO_MENTIONS,
    CardMentions,
    Lookups,
    MentionPlan,
    Resolved,
    assignee_of,
    card_mentions,
    lookups_for,
    moment_of,
    plan_mentions,
    responder_text,
)
from bot.core.models import (
    DEFAULT_MENTION_ON,
    DEFAULT_MENTION_TYPES,
    MAX_MENTIONS,
    MENTION_ON_PATTERN,
    MENTION_TYPES_PATTERN,
    MENTIONS_PATTERN,
    MentionMoment,
    MentionRules,
    Message,
    NotificationType,
)
from bot.core.requests import parse_channel
from tests.fakes.slack import validate_blocks
from tests.samples import alerting_message, resolved_message

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
ERROR, WARNING, INFO, SUCCESS = (
    NotificationType.ERROR,
    NotificationType.WARNING,
    NotificationType.INFO,
    NotificationType.SUCCESS,
)


def channel(**fields: Any) -> MentionRules:
    return parse_channel({"token": "xoxb-1", "channel": "#alerts", **fields}).mention_rules


def refusal(**fields: Any) -> str:
    with pytest.raises(BotError) as caught:
        parse_channel({"token": "xoxb-1", "channel": "#alerts", **fields})
    assert caught.value.code is ErrorCode.INVALID_CHANNEL_DATA
    return caught.value.details


def assigned(email: str, **extra: Any) -> Message:
    tags = [{"key": "Alert Number", "value": "#1"}, {"key": "Assigned to", "value": email}]
    return Message.from_struct(alerting_message(tags=tags, **extra))


# -- the channel form -----------------------------------------------------------------------------------------------


def test_a_channel_without_mention_settings_mentions_only_the_assignee_on_first_posts_of_errors_and_warnings() -> None:
    rules = channel()
    assert rules == MentionRules()
    assert (rules.mentions, rules.on, rules.types, rules.assignee_tag) == (
        (),
        frozenset({MentionMoment.FIRST_POST}),
        frozenset({ERROR, WARNING}),
        "Assigned to",
    )
    assert rules.to_body() is None  # nothing extra kept in the outbox for the default


def test_every_way_of_writing_a_mention_is_kept_in_one_form_each_once_in_order() -> None:
    rules = channel(mentions="<@U0ALICE>, W0BOB S0ONCALL,<!subteam^S0DBA|@dba> @OnCall @Here <!channel> U0ALICE")
    assert rules.mentions == ("U0ALICE", "W0BOB", "S0ONCALL", "S0DBA", "@oncall", "@here", "@channel")
    assert channel(mentions=["U0ALICE", " @ops "]).mentions == ("U0ALICE", "@ops")  # a list, from the API


def test_when_and_for_which_types_are_read_in_any_case_with_commas_or_spaces() -> None:
    rules = channel(mention_on="first_post, ESCALATION resolved", mention_types="error,Info none")
    assert rules.on == frozenset(MentionMoment)
    assert rules.types == frozenset({ERROR, INFO, NotificationType.NONE})
    assert channel(assignee_tag="  Owner   e-mail ").assignee_tag == "Owner e-mail"
    assert channel(assignee_tag="None").assignee_tag is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"mentions": "hello"}, "channel_data.mentions 'hello' is not a user (U…), a user group (S… or @handle)"),
        ({"mentions": "@everyone"}, "channel_data.mentions @everyone is not offered"),
        ({"mentions": "<!everyone>"}, "channel_data.mentions @everyone is not offered"),
        ({"mentions": 7}, "channel_data.mentions must be text"),
        (
            {"mentions": " ".join(f"U0{i:06d}" for i in range(MAX_MENTIONS + 1))},
            f"names {MAX_MENTIONS + 1} users or groups; at most {MAX_MENTIONS} are allowed",
        ),
        ({"mention_on": "always"}, "channel_data.mention_on 'always' is not one of first_post, escalation, resolved"),
        ({"mention_on": ","}, "channel_data.mention_on must name at least one of"),
        ({"mention_types": "CRITICAL"}, "channel_data.mention_types 'CRITICAL' is not one of ERROR, WARNING"),
        ({"assignee_tag": 3}, "channel_data.assignee_tag must be a tag key"),
        ({"assignee_tag": "k" * 256}, "channel_data.assignee_tag must be at most 255 characters"),
    ],
)
def test_bad_mention_settings_are_a_coded_error_naming_the_field(fields: dict[str, Any], expected: str) -> None:
    details = refusal(**fields)
    assert details.startswith("ERROR_INVALID_CHANNEL_DATA: ") and expected in details


def test_a_long_bad_entry_is_quoted_short() -> None:
    details = refusal(mentions="@ok " + "x" * 500)
    assert "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'" in details and len(details) < 200


def test_the_forms_patterns_accept_what_the_plugin_accepts_and_refuse_what_it_refuses() -> None:
    """The console checks the form with the schema's (ECMA-262) patterns before the plugin sees it; both must
    agree, or a setting the plugin takes could not be saved (or one it refuses could)."""
    validator = jsonschema.Draft7Validator(CHANNEL_SCHEMA)
    good = [
        {"mentions": "<@U0ALICE>, S0ONCALL @on-call.team <!here>", "mention_on": "first_post,escalation"},
        {"mentions": "<!subteam^S0DBA|@dba>", "mention_types": "ERROR, warning", "assignee_tag": "Owner"},
        {"mention_on": "resolved", "mention_types": "NONE"},
    ]
    bad = [{"mentions": "hello"}, {"mentions": "@"}, {"mention_on": "always"}, {"mention_types": "CRITICAL"}]
    for fields in good:
        form = {"token": "xoxb-1111-2222", "channel": "#alerts", **fields}
        assert list(validator.iter_errors(form)) == [], fields
        parse_channel(form)
    for fields in bad:
        form = {"token": "xoxb-1111-2222", "channel": "#alerts", **fields}
        assert list(validator.iter_errors(form)), fields
        refusal(**fields)
    for value in MentionMoment:
        assert re.fullmatch(MENTION_ON_PATTERN, value.value)
    for name in ("ERROR", "WARNING", "SUCCESS", "INFO", "NONE"):
        assert re.fullmatch(MENTION_TYPES_PATTERN, name)
    assert re.fullmatch(MENTIONS_PATTERN, "") and not re.fullmatch(MENTIONS_PATTERN, "U0A\nevil")


def test_rules_survive_the_outbox_and_anything_unreadable_there_is_the_default() -> None:
    rules = channel(mentions="@oncall U0ALICE", mention_on="escalation", mention_types="INFO", assignee_tag="none")
    body = rules.to_body()
    assert body == {"mentions": ["@oncall", "U0ALICE"], "on": ["escalation"], "types": ["INFO"], "assignee_tag": "none"}
    assert MentionRules.from_body(body) == rules
    assert MentionRules.from_body(None) == MentionRules()
    assert MentionRules.from_body({"mentions": "not a mention"}) == MentionRules()
    assert MentionRules.from_body(["junk"]) == MentionRules()
    assert (MentionRules().on, MentionRules().types) == (DEFAULT_MENTION_ON, DEFAULT_MENTION_TYPES)


# -- when a notification notifies, and where its mentions go ----------------------------------------------------


def _transition(current: CardState | None, message: Message) -> Transition:
    return next_transition(current, phase_of(message), message, NOW)


ALERTING = Message.from_struct(alerting_message())
RESOLVED = Message.from_struct(resolved_message())
PLAIN = Message.from_struct({"title": "Budget report"})


@pytest.mark.parametrize(
    ("current", "message", "moment"),
    [
        (None, ALERTING, MentionMoment.FIRST_POST),
        (None, PLAIN, MentionMoment.FIRST_POST),
        (None, RESOLVED, MentionMoment.RESOLVED),  # a resolved card posted new
        (CardState(), ALERTING, MentionMoment.ESCALATION),
        (CardState(), RESOLVED, MentionMoment.RESOLVED),
        (CardState(), PLAIN, None),  # an informational update of an alert's card
        (CardState(status=CardStatus.RESOLVED), ALERTING, None),  # ignored
    ],
)
def test_the_moment_of_a_notification(current: CardState | None, message: Message, moment: MentionMoment) -> None:
    assert moment_of(_transition(current, message), phase_of(message)) is moment


@pytest.mark.parametrize(
    ("current", "message", "kind", "plan"),
    [
        (None, ALERTING, ERROR, MentionPlan(MentionMoment.FIRST_POST, card=True)),
        (None, ALERTING, WARNING, MentionPlan(MentionMoment.FIRST_POST, card=True)),
        (None, ALERTING, INFO, MentionPlan(MentionMoment.FIRST_POST)),  # informational: never by default
        (None, PLAIN, NotificationType.NONE, MentionPlan(MentionMoment.FIRST_POST)),
        (None, RESOLVED, ERROR, MentionPlan(MentionMoment.RESOLVED)),  # resolved: never by default
        (None, RESOLVED, SUCCESS, MentionPlan(MentionMoment.RESOLVED)),
        # escalations are edits: the card keeps its mentions, the thread line does not notify them
        (CardState(), ALERTING, ERROR, MentionPlan(MentionMoment.ESCALATION, card=True)),
        (CardState(), ALERTING, INFO, MentionPlan(MentionMoment.ESCALATION)),
        (CardState(), RESOLVED, ERROR, MentionPlan(MentionMoment.RESOLVED)),  # a resolved card drops them
        (CardState(status=CardStatus.RESOLVED), ALERTING, ERROR, MentionPlan()),
    ],
)
def test_by_default_only_first_posts_of_errors_and_warnings_notify(
    current: CardState | None, message: Message, kind: NotificationType, plan: MentionPlan
) -> None:
    assert plan_mentions(MentionRules(), _transition(current, message), phase_of(message), kind) == plan


def test_configured_moments_and_types_notify_in_the_thread_of_an_update_and_on_a_new_card() -> None:
    rules = channel(mention_on="escalation resolved", mention_types="ERROR SUCCESS")
    escalation = plan_mentions(rules, _transition(CardState(), ALERTING), AlertPhase.ALERTING, ERROR)
    assert escalation == MentionPlan(MentionMoment.ESCALATION, card=True, thread=True)
    first = plan_mentions(rules, _transition(None, ALERTING), AlertPhase.ALERTING, ERROR)
    assert first == MentionPlan(MentionMoment.FIRST_POST)  # first_post is no longer among the moments
    resolved = plan_mentions(rules, _transition(CardState(), RESOLVED), AlertPhase.RESOLVED, SUCCESS)
    assert resolved == MentionPlan(MentionMoment.RESOLVED, card=False, thread=True)
    posted_resolved = plan_mentions(rules, _transition(None, RESOLVED), AlertPhase.RESOLVED, SUCCESS)
    assert posted_resolved == MentionPlan(MentionMoment.RESOLVED, card=True)
    warning = plan_mentions(rules, _transition(CardState(), ALERTING), AlertPhase.ALERTING, WARNING)
    assert not warning.any  # WARNING is not among the types any more


def test_an_update_without_a_thread_line_notifies_nobody() -> None:
    transition = Transition(CardAction.UPDATE, CardState(), thread_line=None)
    rules = channel(mention_on="escalation")
    assert plan_mentions(rules, transition, AlertPhase.ALERTING, ERROR) == MentionPlan(
        MentionMoment.ESCALATION, card=True, thread=False
    )


# -- the assignee and the look-ups ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  alice@example.com ", "alice@example.com"),
        ("admin", None),  # a Cloudforet user ID that is no address
        ("Alice <alice@example.com>", None),
        ("a@b", None),
        ("a@b@example.com", None),
        ("x" * 250 + "@example.com", None),  # past RFC 5321's 254
    ],
)
def test_an_assignee_is_an_address_in_the_assignee_tag(value: str, found: str | None) -> None:
    result = assignee_of(assigned(value), "assigned TO")  # the key compared without case
    assert (result[1] if result else None) == found
    assert assignee_of(assigned("alice@example.com"), None) is None  # turned off
    assert assignee_of(assigned("alice@example.com"), "Owner") is None


def test_only_a_notification_with_mentions_looks_anything_up() -> None:
    rules = channel(mentions="@oncall U0ALICE @dba")
    message = assigned("alice@example.com")
    assert lookups_for(rules, message, MentionPlan(card=True)) == Lookups(("oncall", "dba"), "alice@example.com")
    assert lookups_for(rules, message, MentionPlan(thread=True)) == Lookups(("oncall", "dba"), "alice@example.com")
    assert not lookups_for(rules, message, MentionPlan())
    assert not lookups_for(channel(mentions="U0ALICE"), Message.from_struct(alerting_message()), MentionPlan(card=True))


# -- what is written ----------------------------------------------------------------------------------------------


def test_mentions_are_written_the_way_slack_reads_them_and_unknown_ones_stay_plain_text() -> None:
    rules = channel(mentions="U0ALICE S0DBA @oncall @nosuch @here @channel U0ASSIGNEE")
    message = assigned("bob@example.com")
    resolved = Resolved(groups={"oncall": "S0ONCALL"}, assignee="U0ASSIGNEE")
    mentions = card_mentions(rules, message, MentionPlan(card=True), resolved)
    assert mentions.line == (
        "<@U0ALICE> <!subteam^S0DBA> <!subteam^S0ONCALL> @nosuch <!here> <!channel> <@U0ASSIGNEE>"
    )  # the assignee, also listed, is mentioned once
    assert mentions.tag_values == {1: "<@U0ASSIGNEE>"} and mentions.thread == ""
    unknown = card_mentions(MentionRules(), message, MentionPlan(card=True), Resolved())
    assert unknown == NO_MENTIONS  # an address Slack does not know stays plain text: nothing to mention


def test_an_update_that_notifies_puts_its_mentions_in_the_thread_line_only() -> None:
    rules = channel(mentions="U0ALICE")
    thread_only = card_mentions(rules, ALERTING, MentionPlan(thread=True), Resolved())
    assert thread_only == CardMentions(line="", tag_values={}, thread="<@U0ALICE>")
    assert thread_only.thread_line(":rotating_light: Escalated: notified 2×") == (
        ":rotating_light: Escalated: notified 2× <@U0ALICE>"
    )
    assert NO_MENTIONS.thread_line("Resolved") == "Resolved"
    assert card_mentions(rules, ALERTING, MentionPlan(), Resolved()) == NO_MENTIONS


def test_a_card_with_mentions_has_them_at_the_top_and_first_in_its_text_and_slack_accepts_it() -> None:
    message = assigned("bob@example.com")
    mentions = CardMentions(line="<!subteam^S0ONCALL> <@U0BOB>", tag_values={1: "<@U0BOB>"})
    card = render_card(message, ERROR, mention_line=mentions.line, tag_values=mentions.tag_values).payload()
    assert card["blocks"][1] == {
        "type": "section",
        "block_id": MENTIONS_BLOCK_ID,
        "text": {"type": "mrkdwn", "text": "<!subteam^S0ONCALL> <@U0BOB>"},
    }
    assert card["text"].startswith("<!subteam^S0ONCALL> <@U0BOB> :red_circle: [Alerting]")
    fields = str(card["attachments"][0]["blocks"])
    assert "*Assigned to*\\n<@U0BOB>" in fields and "bob@example.com" not in fields
    assert card["attachments"][0]["fallback"].startswith(":red_circle:")  # the fallback mentions nobody
    errors, _ = validate_blocks(card["blocks"], card["attachments"])
    assert errors == []


def test_a_card_without_mentions_is_exactly_the_card_it_always_was() -> None:
    message = assigned("bob@example.com")
    before = render_card(message, ERROR).payload()
    assert render_card(message, ERROR, mention_line="", tag_values={}).payload() == before
    assert len(before["blocks"]) == 1 and "bob@example.com" in str(before["attachments"])


def test_a_huge_card_with_mentions_still_fits() -> None:
    tags = [{"key": f"k{i}", "value": "v" * 1900, "options": {"short": i % 2 == 0}} for i in range(80)]
    message = Message.from_struct(alerting_message(description="d" * 40_000, tags=tags))
    line = " ".join(f"<!subteam^S0{i:08d}>" for i in range(MAX_MENTIONS)) + " <@U0ASSIGNEE>"
    card = render_card(message, ERROR, mention_line=line).payload()
    errors, text_chars = validate_blocks(card["blocks"], card["attachments"])
    assert errors == [] and text_chars <= 12_000 and len(card["text"]) <= 4_000
    assert card["blocks"][1]["text"]["text"] == line


# -- who acted -----------------------------------------------------------------------------------------------------


def test_the_responder_is_the_clickers_email_when_slack_gives_it() -> None:
    assert responder_text("alice", "U123", "alice@example.com") == "alice@example.com (Slack U123)"
    assert responder_text("alice", "U123", None) == "alice (Slack U123)"
