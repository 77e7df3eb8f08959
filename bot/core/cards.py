"""The card renderer: a dispatch message (plus the card's state) as a Slack Block Kit payload.

Pure: plain data in, plain data out. The card always fits Slack's limits (see ``limits``); whatever had to be
shortened is cut visibly, with an ellipsis and a note on the card, and listed in ``Card.truncated``.

Layout: a header block with the type's emoji and the title at the top level (and below it the mentions line, when
the card mentions anyone: see ``bot.core.mentions``), then one attachment whose colour bar shows the notification
type and which holds the body: description, image, tags as fields, a context line (occurred at, domain, type), the
status line of a living card, the buttons, and a note when anything was cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core import limits
from bot.core.models import Message, NotificationType, Tag
from bot.core.text import escape_mrkdwn, html_to_text, is_web_url, truncate

# Action ids: the Bolt app routes clicks by these; callback buttons carry their index.
LINK_ACTION_ID = "open_link"
CALLBACK_ACTION_PREFIX = "callback_"
# Two-way actions through Cloudforet's alert API (issue 19): shown only when the runtime has an App key.
RESOLVE_ACTION_ID = "alert_resolve"
RESOLVE_BUTTON_TEXT = "Resolve"
RESOLVED_LABEL = "Resolved"  # the action label of a resolution from Slack
NOTE_ACTION_ID = "alert_add_note"
NOTE_BUTTON_TEXT = "Add note"
ACTIONS_BLOCK_ID = "actions"
STATUS_BLOCK_ID = "status"
NOTE_BLOCK_ID = "truncated"
MENTIONS_BLOCK_ID = "mentions"
LINK_BUTTON_TEXT = "Open in Cloudforet"
# Room kept in the text budget for the status line, the notes and rounding.
_RESERVED_TEXT = 600
_MIN_DESCRIPTION = 500


@dataclass(frozen=True)
class TypeStyle:
    emoji: str
    color: str


STYLES: dict[NotificationType, TypeStyle] = {
    NotificationType.ERROR: TypeStyle(":red_circle:", "#E01E5A"),
    NotificationType.WARNING: TypeStyle(":warning:", "#ECB22E"),
    NotificationType.SUCCESS: TypeStyle(":white_check_mark:", "#2EB67D"),
    NotificationType.INFO: TypeStyle(":large_blue_circle:", "#1D9BD1"),
    NotificationType.NONE: TypeStyle(":white_circle:", "#9E9E9E"),
}


class CardStatus(StrEnum):
    """Where the alert behind a card stands."""

    OPEN = "open"
    PENDING = "pending"  # a click is being carried out
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Colour of a card once its state overrides the notification type's.
STATUS_COLORS: dict[CardStatus, str] = {
    CardStatus.ACKNOWLEDGED: "#ECB22E",
    CardStatus.RESOLVED: "#2EB67D",
}


@dataclass(frozen=True)
class CardState:
    """What a living card shows beyond the message: who did what, when, and how often it was sent."""

    status: CardStatus = CardStatus.OPEN
    actor: str | None = None  # Slack user ID of who acted
    acted_at: datetime | None = None
    action_label: str | None = None
    notified: int = 1
    resolved_at: datetime | None = None


@dataclass
class Card:
    """A Slack message payload and what was shortened to build it."""

    text: str
    blocks: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    truncated: list[str] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks, "attachments": self.attachments}


def slack_date(moment: datetime, token: str = "{date_short_pretty} at {time}") -> str:
    """A ``<!date>`` that each reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC") if moment.utcoffset() is not None else moment.isoformat()
    return f"<!date^{int(moment.timestamp())}^{token}|{fallback}>"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def description_of(message: Message) -> str:
    """The body text: ``description``, else ``short_description``, else ``contents`` (HTML made plain)."""
    if message.description.strip():
        return message.description
    if message.short_description.strip():
        return message.short_description
    if message.content_type.upper() == "HTML":
        return html_to_text(message.contents)
    return message.contents


def text_length(value: Any) -> int:
    """Characters of text across blocks, the way Slack's aggregate ``msg_blocks_too_long`` cap counts them."""
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is list:
            pending.extend(item)
        elif type(item) is dict:
            kind = item.get("type")
            if kind == "plain_text" or kind == "mrkdwn":
                text = item.get("text")
                total += len(text) if type(text) is str else 0
                continue
            pending.extend(
                child
                for key, child in item.items()
                if key != "confirm" and (type(child) is dict or type(child) is list)
            )
    return total


def _tag_text(tag: Tag, limit: int, shown_as: str | None = None) -> tuple[str, bool]:
    """A tag's field text; ``shown_as`` (mrkdwn, such as a mention) replaces its value when given."""
    key = escape_mrkdwn(tag.key.strip())
    value = shown_as or escape_mrkdwn(tag.value) or " "
    text = f"*{key}*\n{value}" if key else value
    return truncate(text, limit)


def _tag_sections(
    tags: Sequence[Tag], max_blocks: int, max_text: int, tag_values: Mapping[int, str]
) -> tuple[list[dict[str, Any]], int, int, int]:
    """Tags in order: runs of short tags as two-column fields, others full width.

    Returns the blocks, how many tags they hold, how many tag texts were cut, and their characters of text.
    """
    blocks: list[dict[str, Any]] = []
    used = shown = cut = 0
    fields: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal fields
        if fields:
            blocks.append({"type": "section", "fields": fields})
            fields = []

    for index, tag in enumerate(tags):
        limit = limits.MAX_FIELD_TEXT if tag.short else limits.MAX_SECTION_TEXT
        text, was_cut = _tag_text(tag, min(limit, max(0, max_text - used)), tag_values.get(index))
        if not text or (len(blocks) + 1 > max_blocks) or (not tag.short and len(blocks) + 2 > max_blocks + 1):
            break
        if tag.short:
            if len(fields) == limits.MAX_SECTION_FIELDS:
                flush()
                if len(blocks) + 1 > max_blocks:
                    break
            fields.append(_mrkdwn(text))
        else:
            flush()
            if len(blocks) + 1 > max_blocks:
                break
            blocks.append({"type": "section", "text": _mrkdwn(text)})
        used += len(text)
        shown += 1
        cut += was_cut
    flush()
    return blocks, shown, cut, used


def _status_line(state: CardState) -> str | None:
    parts: list[str] = []
    # The label is a button's text, which Cloudforet's message chose: escaped like every field from a message, so
    # it cannot mention anyone (<!channel>) or link anywhere in the card's mrkdwn.
    label = escape_mrkdwn(state.action_label) if state.action_label else None
    if state.status is CardStatus.PENDING and state.actor:
        parts.append(f":hourglass_flowing_sand: <@{state.actor}> clicked *{label or 'a button'}*…")
    elif state.status is CardStatus.ACKNOWLEDGED:
        who = f" by <@{state.actor}>" if state.actor else ""
        when = f" at {slack_date(state.acted_at)}" if state.acted_at else ""
        parts.append(f":eyes: *{label or 'Acknowledged'}*{who}{when}")
    elif state.status is CardStatus.RESOLVED and state.actor and state.action_label == RESOLVED_LABEL:
        when = f" at {slack_date(state.resolved_at)}" if state.resolved_at else ""
        parts.append(f":white_check_mark: *Resolved* by <@{state.actor}>{when}")
    elif state.status is CardStatus.RESOLVED:
        when = f" at {slack_date(state.resolved_at)}" if state.resolved_at else ""
        parts.append(f":white_check_mark: *Resolved*{when}")
        if state.actor:
            acked = f" at {slack_date(state.acted_at)}" if state.acted_at else ""
            parts.append(f"{(label or 'acknowledged').lower()} by <@{state.actor}>{acked}")
    if state.notified > 1:
        parts.append(f"notified {state.notified}×")
    return " · ".join(parts) if parts else None


def status_block(state: CardState) -> dict[str, Any] | None:
    line = _status_line(state)
    if line is None:
        return None
    return {"type": "context", "block_id": STATUS_BLOCK_ID, "elements": [_mrkdwn(line)]}


def _resolve_button(value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": RESOLVE_ACTION_ID, "text": _plain(RESOLVE_BUTTON_TEXT), "value": value}


def _note_button(value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": NOTE_ACTION_ID, "text": _plain(NOTE_BUTTON_TEXT), "value": value}


def _buttons(
    message: Message,
    callback_values: Sequence[str | None],
    state: CardState,
    notes: list[str],
    resolve_value: str | None = None,
    note_value: str | None = None,
) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    link = message.link.strip()
    if link:
        if is_web_url(link, max_length=limits.MAX_BUTTON_URL):
            elements.append(
                {"type": "button", "action_id": LINK_ACTION_ID, "text": _plain(LINK_BUTTON_TEXT), "url": link}
            )
        else:
            notes.append("the link is not a web address Slack accepts")
    resolve = resolve_value if resolve_value and len(resolve_value) <= limits.MAX_BUTTON_VALUE else None
    note = note_value if note_value and len(note_value) <= limits.MAX_BUTTON_VALUE else None
    if state.status is CardStatus.ACKNOWLEDGED and resolve:  # acknowledged, not yet resolved: Resolve stays
        elements.append(_resolve_button(resolve))
    if state.status is CardStatus.ACKNOWLEDGED and note:  # and so does Add note
        elements.append(_note_button(note))
    if state.status in (CardStatus.ACKNOWLEDGED, CardStatus.RESOLVED, CardStatus.PENDING):
        return elements
    skipped = 0
    for index, (callback, value) in enumerate(zip(message.callbacks, callback_values, strict=False)):
        if len(elements) >= limits.MAX_ACTIONS_ELEMENTS:
            skipped += len(message.callbacks) - index
            break
        if value is None or len(value) > limits.MAX_BUTTON_VALUE:
            skipped += 1
            continue
        label, _ = truncate(callback.label.strip() or "Run callback", limits.MAX_BUTTON_TEXT)
        button = {
            "type": "button",
            "action_id": f"{CALLBACK_ACTION_PREFIX}{index}",
            "text": _plain(label),
            "value": value,
        }
        if index == 0:
            button["style"] = "primary"
        elements.append(button)
    if resolve and len(elements) < limits.MAX_ACTIONS_ELEMENTS:
        elements.append(_resolve_button(resolve))
    if note and len(elements) < limits.MAX_ACTIONS_ELEMENTS:
        elements.append(_note_button(note))
    if skipped:
        notes.append(f"{skipped} button(s) could not be shown (invalid or too long callback URL)")
    return elements


@dataclass(frozen=True)
class _Room:
    """What the fixed blocks (header, image, context, status, actions) leave for the fields and the description:
    blocks, and characters of text (less ``_RESERVED_TEXT``)."""

    blocks: int
    text: int


def _header(title: str, style: TypeStyle, notes: list[str]) -> dict[str, Any]:
    """The header block: the type's emoji and the title."""
    text, cut = truncate(f"{style.emoji} {title}", limits.MAX_HEADER_TEXT)
    if cut:
        notes.append("the title")
    return {"type": "header", "text": _plain(text)}


def _image(message: Message, title: str, notes: list[str]) -> dict[str, Any] | None:
    """The image block, when the message has an image URL Slack accepts."""
    image_url = message.image_url.strip()
    if not image_url:
        return None
    if not is_web_url(image_url, max_length=limits.MAX_IMAGE_URL):
        notes.append("the image (not a web address Slack accepts)")
        return None
    alt, _ = truncate(title, limits.MAX_ALT_TEXT)
    return {"type": "image", "image_url": image_url, "alt_text": alt}


def _context_line(message: Message, notification_type: NotificationType, style: TypeStyle) -> dict[str, Any]:
    """The context block: occurred at, domain and type."""
    parts: list[str] = []
    if message.occurred_at is not None:
        parts.append(f":clock3: {slack_date(message.occurred_at)}")
    elif message.occurred_at_raw.strip():
        parts.append(f":clock3: {truncate(escape_mrkdwn(message.occurred_at_raw), 100)[0]}")
    if message.domain_name.strip():
        parts.append(truncate(escape_mrkdwn(message.domain_name.strip()), 150)[0])
    if notification_type is not NotificationType.NONE:
        parts.append(f"{style.emoji} {notification_type.value}")
    if not parts:
        parts.append("Cloudforet")
    return {"type": "context", "elements": [_mrkdwn(" · ".join(parts))]}


def _actions(
    message: Message,
    callback_values: Sequence[str | None],
    state: CardState,
    notes: list[str],
    resolve_value: str | None = None,
    note_value: str | None = None,
) -> dict[str, Any] | None:
    """The actions block: the link button and, while the card is open, the callback buttons (and Resolve and Add
    note, while the alert is open or acknowledged, when ``resolve_value`` and ``note_value`` are given)."""
    buttons = _buttons(message, callback_values, state, notes, resolve_value, note_value)
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons} if buttons else None


def _fields(
    tags: Sequence[Tag], room: _Room, description: str, notes: list[str], tag_values: Mapping[int, str]
) -> tuple[list[dict[str, Any]], int]:
    """The tags as field sections, in the room left after keeping a block for the description and one for the
    note, and some text for the description. Returns the blocks and their characters of text."""
    blocks = room.blocks - (1 if description else 0) - 1
    text = room.text - min(len(description), _MIN_DESCRIPTION)
    sections, shown, cut, used = _tag_sections(tags, blocks, text, tag_values)
    if shown < len(tags):
        notes.append(f"{len(tags) - shown} of {len(tags)} tags")
    if cut:
        notes.append(f"{cut} tag value(s)")
    return sections, used


def _description(description: str, room: int, notes: list[str]) -> dict[str, Any] | None:
    """The description section, in ``room`` characters (at least one, an ellipsis, when nothing is left)."""
    if not description:
        return None
    text, cut = truncate(description, min(limits.MAX_SECTION_TEXT, max(room, 1)))
    if cut:
        notes.append(f"the description ({len(description):,} characters, {len(text) - 1:,} shown)")
    return {"type": "section", "text": _mrkdwn(text)}


def _truncation_note(notes: list[str]) -> dict[str, Any] | None:
    """The note saying what was cut to fit, when anything was."""
    if not notes:
        return None
    note, _ = truncate(
        ":scissors: Shortened to fit Slack: " + "; ".join(notes) + ". Open it in Cloudforet for everything.",
        limits.MAX_SECTION_TEXT,
    )
    return {"type": "context", "block_id": NOTE_BLOCK_ID, "elements": [_mrkdwn(note)]}


def _mentions(line: str) -> dict[str, Any] | None:
    """The mentions line at the top of the card (``bot.core.mentions``: who the card notifies)."""
    if not line:
        return None
    return {
        "type": "section",
        "block_id": MENTIONS_BLOCK_ID,
        "text": _mrkdwn(truncate(line, limits.MAX_SECTION_TEXT)[0]),
    }


def render_card(
    message: Message,
    notification_type: NotificationType,
    *,
    callback_values: Sequence[str | None] = (),
    state: CardState | None = None,
    mention_line: str = "",
    tag_values: Mapping[int, str] | None = None,
    resolve_value: str | None = None,
    note_value: str | None = None,
) -> Card:
    """Render a message as a card that Slack accepts, whatever its size.

    ``callback_values`` holds, per entry of ``message.callbacks``, the opaque (sealed) button value, or None
    when that callback cannot be offered. ``mention_line`` (Slack mrkdwn mentions, ``bot.core.mentions``) goes at
    the top of the card and the start of its ``text``; ``tag_values`` shows tags (by index) as the mrkdwn given
    instead of their value; ``resolve_value`` (sealed: the alert and its domain) adds a Resolve button, and
    ``note_value`` (sealed alike) an Add note button.

    The blocks of known size come first (header, image, context, status, actions); the fields (tags) and the
    description share the room they leave; last, the note on what was cut. Each step adds what it had to cut to
    ``notes``, in the order the steps run.
    """
    state = state or CardState()
    style = STYLES[notification_type]
    notes: list[str] = []
    title = " ".join(message.title.split()) or "Notification"

    header = _header(title, style, notes)
    mentions = _mentions(mention_line)
    image = _image(message, title, notes)
    context = _context_line(message, notification_type, style)
    status = status_block(state)
    actions = _actions(message, callback_values, state, notes, resolve_value, note_value)
    fixed = [b for b in (header, mentions, image, context, status, actions) if b is not None]
    room = _Room(
        blocks=limits.MAX_BLOCKS - len(fixed), text=limits.TOTAL_BLOCK_TEXT_BUDGET - text_length(fixed) - _RESERVED_TEXT
    )

    description = escape_mrkdwn(description_of(message).strip())
    fields, fields_text = _fields(message.tags, room, description, notes, tag_values or {})
    description_block = _description(description, room.text - fields_text, notes)
    note = _truncation_note(notes)  # last: every step before has added what it cut
    body = [b for b in (description_block, image, *fields, context, status, actions, note) if b is not None]

    fallback = _fallback_text(title, description, style)
    return Card(
        text=truncate(f"{mentions['text']['text']} {fallback}", limits.MAX_TOP_LEVEL_TEXT)[0] if mentions else fallback,
        blocks=[header, mentions] if mentions else [header],
        attachments=[{"color": STATUS_COLORS.get(state.status, style.color), "blocks": body, "fallback": fallback}],
        truncated=notes,
    )


def _fallback_text(title: str, description: str, style: TypeStyle) -> str:
    """The top-level ``text``: what notifications and screen readers show."""
    text = f"{style.emoji} {escape_mrkdwn(title)}"
    if description:
        text += f"\n{description}"
    return truncate(text, min(limits.MAX_TOP_LEVEL_TEXT, 1000))[0]


def is_callback_button(element: dict[str, Any]) -> bool:
    """Whether a Block Kit element is one of the card's action buttons (a callback's, Resolve or Add note), by its
    action id."""
    action_id = str(element.get("action_id", ""))
    return action_id.startswith(CALLBACK_ACTION_PREFIX) or action_id in (RESOLVE_ACTION_ID, NOTE_ACTION_ID)


def is_resolve_button(element: dict[str, Any]) -> bool:
    """Resolve or Add note: the buttons that stay on an acknowledged card."""
    return str(element.get("action_id", "")) in (RESOLVE_ACTION_ID, NOTE_ACTION_ID)


def iter_buttons(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every button of a card payload (top level and inside attachments)."""
    block_lists = [payload.get("blocks") or []]
    block_lists += [a.get("blocks") or [] for a in payload.get("attachments") or [] if isinstance(a, dict)]
    for blocks in block_lists:
        for block in blocks:
            if block.get("type") == "actions":
                yield from (e for e in block.get("elements", []) if e.get("type") == "button")
