"""The life of an alert's card: which notifications belong to one alert, and what each does to its card.

triggered (open) -> acknowledged -> resolved. A repeat ``[Alerting]`` (escalation) bumps the counter; ``[Resolved]``
resolves; nothing turns a resolved card back. Pure: plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.core.alerts import alert_id_from_url, domain_from_url
from bot.core.cards import CardState, CardStatus, slack_date
from bot.core.models import Message
from bot.core.text import escape_mrkdwn, truncate


class AlertPhase(StrEnum):
    ALERTING = "alerting"
    RESOLVED = "resolved"
    OTHER = "other"


class CardAction(StrEnum):
    POST = "post"  # a new card
    UPDATE = "update"  # chat.update the card, plus a thread line
    IGNORE = "ignore"  # nothing changes on Slack


@dataclass(frozen=True)
class Transition:
    action: CardAction
    state: CardState
    thread_line: str | None = None


def alert_keys(message: Message) -> list[str]:
    """Every name the message gives its alert, strongest first: the alert id (from a callback URL or the link,
    path or query) and the ``Alert Number`` tag with the domain. Empty when the message is not about an alert.

    Messages about one alert do not all carry the same names (a ``[Resolved]`` has no callback), so a card is
    found by any of them and remembers them all. A message from a request that named its domain (Cloudforet
    2.x's ``domain_id``) has every name scoped by it (``alert:<domain_id>/<alert id>``): the same alert id in two
    domains is two alerts. A 1.x request names none, and its names stay as they always were.
    """
    domain = message.domain_id.strip()
    scope = f"{domain}/" if domain else ""  # an alert id is one path segment: it never holds a "/" itself
    keys: list[str] = []
    for url in [c.url for c in message.callbacks] + [message.link]:
        alert_id = alert_id_from_url(url.strip()) if url else None
        if alert_id:
            keys.append(f"alert:{scope}{alert_id}")
            break
    for tag in message.tags:
        if tag.key.strip().lower() == "alert number" and tag.value.strip():
            keys.append(f"number:{scope}{message.domain_name.strip()}:{tag.value.strip()}")
            break
    return keys


@dataclass(frozen=True)
class AlertRef:
    """An alert Cloudforet's own API can act on: its id and the domain it lives in."""

    alert_id: str
    domain_id: str


def alert_ref(message: Message, default_domain: str = "") -> AlertRef | None:
    """The alert a message is about, when both its id (a callback URL or the link) and its domain are known: the
    request's ``domain_id``, else a 2.x callback URL's path, else ``default_domain`` (``BOT_CLOUDFORET_DOMAIN_ID``: a
    1.x request names no domain, and its callback URLs none either). None otherwise: no two-way action is offered."""
    urls = [c.url.strip() for c in message.callbacks] + [message.link.strip()]
    alert_id = next((found for url in urls if url and (found := alert_id_from_url(url))), None)
    domain = (
        message.domain_id.strip()
        or next((found for url in urls if url and (found := domain_from_url(url))), None)
        or default_domain.strip()
    )
    return AlertRef(alert_id, domain) if alert_id and domain else None


def same_alert(wanted: Sequence[str], known: Sequence[str]) -> bool:
    """Whether a card known by the names ``known`` can be the alert a message names ``wanted``: they share a
    name, and no kind of name (alert id, alert number) differs between them (a new alert may reuse a number)."""
    if not set(wanted) & set(known):
        return False
    kinds = {key.partition(":")[0]: key for key in known}
    return all(kinds.get(key.partition(":")[0], key) == key for key in wanted)


def alert_key(message: Message) -> str | None:
    """The strongest name of the message's alert (see ``alert_keys``), None when it is not about an alert."""
    keys = alert_keys(message)
    return keys[0] if keys else None


def phase_of(message: Message) -> AlertPhase:
    """Where the alert a message is about stands, from its title (``[Alerting]``, ``[Resolved]``) and its ``State``
    tag (the notification type says nothing about it)."""
    title = message.title.strip().lower()
    state = next((t.value.strip().upper() for t in message.tags if t.key.strip().lower() == "state"), "")
    if title.startswith("[resolved]") or state == "RESOLVED":
        return AlertPhase.RESOLVED
    if title.startswith("[alerting]"):
        return AlertPhase.ALERTING
    return AlertPhase.OTHER


def next_transition(current: CardState | None, phase: AlertPhase, message: Message, now: datetime) -> Transition:
    """What a new notification about an alert does to its card (``current`` None: no card yet)."""
    if current is None:
        if phase is AlertPhase.RESOLVED:
            return Transition(
                CardAction.POST, CardState(status=CardStatus.RESOLVED, resolved_at=message.occurred_at or now)
            )
        return Transition(CardAction.POST, CardState())
    if current.status is CardStatus.RESOLVED:
        return Transition(CardAction.IGNORE, current)
    if phase is AlertPhase.RESOLVED:
        resolved_at = message.occurred_at or now
        return Transition(
            CardAction.UPDATE,
            replace(current, status=CardStatus.RESOLVED, resolved_at=resolved_at),
            f":white_check_mark: Resolved at {slack_date(resolved_at)}",
        )
    if phase is AlertPhase.ALERTING:
        notified = current.notified + 1
        return Transition(
            CardAction.UPDATE, replace(current, notified=notified), f":rotating_light: Escalated: notified {notified}×"
        )
    title = truncate(escape_mrkdwn(" ".join(message.title.split())) or "Updated", 200)[0]
    return Transition(CardAction.UPDATE, current, f":information_source: {title}")


def resolved_line(actor_name: str, at: datetime) -> str:
    """The thread line for a resolution from Slack: a plain name, never an @-mention."""
    return f":white_check_mark: Resolved by {escape_mrkdwn(actor_name)} at {slack_date(at)}"


# How much of a note its thread line quotes (the whole note is in Cloudforet).
MAX_NOTE_QUOTE = 500


def noted_line(actor_name: str, at: datetime, note: str) -> str:
    """The thread line for a note added from Slack: a plain name, never an @-mention, and the note quoted (its
    first 500 characters, saying so when cut)."""
    quoted, cut = truncate(" ".join(note.split()), MAX_NOTE_QUOTE)
    return f":memo: Note added by {escape_mrkdwn(actor_name)} at {slack_date(at)}: {escape_mrkdwn(quoted)}" + (
        " (cut; the whole note is in Cloudforet)" if cut else ""
    )


def acknowledged_line(actor_name: str, at: datetime) -> str:
    """The thread line for an acknowledgement: a plain name, never an @-mention (no extra notification)."""
    return f":eyes: Acknowledged by {escape_mrkdwn(actor_name)} at {slack_date(at)}"
