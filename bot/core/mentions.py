"""Who a card mentions, and when Slack notifies them. Pure: plain data in, plain data out.

A channel's ``MentionRules`` (``bot.core.models``) name users, user groups, ``@here``/``@channel``, and the tag that
holds an alert's assignee; a notification *notifies* them when its moment (the first post, an escalation, the
resolution) is one of the rules' ``on`` and its type one of their ``types`` (by default: first posts of ERROR and
WARNING notifications).

Slack notifies for mentions in a new message, not for those an edit adds. So:

* a new card (the first post, or a resolved card posted new) carries the mentions only when it notifies: at the
  start of its ``text`` (what notifications show) and in a line at the top of the card;
* an updated card (an edit, which never notifies) keeps showing them while its alert is open and its type is one
  of the rules' types, and drops them once the alert resolves;
* an update that notifies (``escalation``, ``resolved``) puts them in its thread line, a new message; other thread
  lines never mention anyone.

The assignee, an e-mail in the rules' tag, counts once Slack has found the address (``users.lookupByEmail``): the
tag then shows ``<@U…>`` wherever the card carries its mentions. Unknown addresses and handles stay plain text.
Handles (``@oncall``) become ``<!subteam^S…>`` once Slack's user group list has them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.cards import CardStatus
from bot.core.lifecycle import AlertPhase, CardAction, Transition
from bot.core.models import MentionMoment, MentionRules, Message, NotificationType
from bot.core.text import escape_mrkdwn

# An e-mail address as a tag value: one ``@``, a dot in the domain, no white space or angle brackets; at most 254
# characters (RFC 5321's limit on a path, less its brackets).
MAX_EMAIL = 254
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


class MentionKind(StrEnum):
    """What a canonical ``mentions`` entry names (see ``bot.core.models.canonical_mention``)."""

    USER = "user"  # U… / W…
    GROUP = "group"  # S…
    HANDLE = "handle"  # @oncall: a user group's handle, for Slack to resolve
    HERE = "here"
    CHANNEL = "channel"

    @classmethod
    def of(cls, entry: str) -> MentionKind:
        if entry == "@here":
            return cls.HERE
        if entry == "@channel":
            return cls.CHANNEL
        if entry.startswith("@"):
            return cls.HANDLE
        return cls.GROUP if entry.startswith("S") else cls.USER


@dataclass(frozen=True)
class MentionPlan:
    """Where a notification's mentions go: on its card (top line, ``text``, the assignee's tag), in its thread line."""

    moment: MentionMoment | None = None
    card: bool = False
    thread: bool = False

    @property
    def any(self) -> bool:
        return self.card or self.thread


NO_PLAN = MentionPlan()


def moment_of(transition: Transition, phase: AlertPhase) -> MentionMoment | None:
    """The moment of a card's life a notification is: None for one that cannot notify (a plain update, a late
    notification the card ignores)."""
    if transition.action is CardAction.IGNORE:
        return None
    if transition.state.status is CardStatus.RESOLVED:
        return MentionMoment.RESOLVED
    if transition.action is CardAction.POST:
        return MentionMoment.FIRST_POST
    return MentionMoment.ESCALATION if phase is AlertPhase.ALERTING else None


def plan_mentions(
    rules: MentionRules, transition: Transition, phase: AlertPhase, kind: NotificationType
) -> MentionPlan:
    """Where the mentions of a notification go (see the module's docstring)."""
    moment = moment_of(transition, phase)
    notifies = moment is not None and moment in rules.on and kind in rules.types
    if transition.action is CardAction.POST:
        return MentionPlan(moment, card=notifies)
    if transition.action is CardAction.UPDATE:
        open_card = transition.state.status is not CardStatus.RESOLVED and kind in rules.types
        return MentionPlan(moment, card=open_card, thread=notifies and transition.thread_line is not None)
    return NO_PLAN


def assignee_of(message: Message, tag_key: str | None) -> tuple[int, str] | None:
    """The index and e-mail address of the message's assignee tag (the first tag with that key, compared without
    case), when it holds one address."""
    if tag_key is None:
        return None
    wanted = tag_key.casefold()
    for index, tag in enumerate(message.tags):
        if " ".join(tag.key.split()).casefold() == wanted:
            value = tag.value.strip()
            return (index, value) if len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value) else None
    return None


@dataclass(frozen=True)
class Lookups:
    """What Slack must be asked before the mentions can be written: user group handles (without ``@``), and the
    assignee's e-mail address."""

    handles: tuple[str, ...] = ()
    email: str | None = None

    def __bool__(self) -> bool:
        return bool(self.handles) or self.email is not None


def lookups_for(rules: MentionRules, message: Message, plan: MentionPlan) -> Lookups:
    """The look-ups a notification's mentions need; none when it carries no mentions."""
    if not plan.any:
        return Lookups()
    handles = tuple(m[1:] for m in rules.mentions if MentionKind.of(m) is MentionKind.HANDLE)
    assignee = assignee_of(message, rules.assignee_tag)
    return Lookups(handles, assignee[1] if assignee else None)


@dataclass(frozen=True)
class Resolved:
    """What Slack answered: user group IDs by handle (those it has), and the assignee's user ID (when found)."""

    groups: Mapping[str, str] = field(default_factory=dict)
    assignee: str | None = None


@dataclass(frozen=True)
class CardMentions:
    """The mentions to write: ``line`` at the top of the card and the start of its ``text``; ``tag_values``, the
    tags (by index) shown as mentions instead of their value; ``thread``, what the thread line gets."""

    line: str = ""
    tag_values: Mapping[int, str] = field(default_factory=dict)
    thread: str = ""

    def thread_line(self, line: str) -> str:
        """An update's thread line, with the mentions when it notifies them."""
        return f"{line} {self.thread}" if self.thread else line


NO_MENTIONS = CardMentions()


def _written(entry: str, resolved: Resolved) -> str:
    kind = MentionKind.of(entry)
    if kind is MentionKind.USER:
        return f"<@{entry}>"
    if kind is MentionKind.GROUP:
        return f"<!subteam^{entry}>"
    if kind is MentionKind.HERE or kind is MentionKind.CHANNEL:
        return f"<!{kind.value}>"
    group = resolved.groups.get(entry[1:])
    return f"<!subteam^{group}>" if group else escape_mrkdwn(entry)  # unknown handle: plain text, notifies nobody


def card_mentions(rules: MentionRules, message: Message, plan: MentionPlan, resolved: Resolved) -> CardMentions:
    """The mentions of a notification, written the way Slack reads them, where its plan puts them."""
    if not plan.any:
        return NO_MENTIONS
    written = [_written(entry, resolved) for entry in rules.mentions]
    tag_values: dict[int, str] = {}
    assignee = assignee_of(message, rules.assignee_tag)
    if assignee is not None and resolved.assignee:
        tag_values[assignee[0]] = f"<@{resolved.assignee}>"
        written.append(f"<@{resolved.assignee}>")
    line = " ".join(dict.fromkeys(written))  # each once, in order
    if not line:
        return NO_MENTIONS
    return CardMentions(
        line=line if plan.card else "", tag_values=tag_values if plan.card else {}, thread=line if plan.thread else ""
    )


def responder_text(name: str, user_id: str, email: str | None) -> str:
    """Who acted, as Cloudforet records it (its callbacks' ``responder``): the clicker's e-mail when Slack gives it,
    else their Slack name, and their Slack user ID."""
    return f"{email or name} (Slack {user_id})"
