"""The card renderer: layout, escaping, dates, colours, buttons, and Slack's limits under any content."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core import limits
from bot.core.cards import (
    CALLBACK_ACTION_PREFIX,
    LINK_ACTION_ID,
    STYLES,
    CardState,
    CardStatus,
    iter_buttons,
    render_card,
    status_block,
    text_length,
)
from bot.core.models import Message, NotificationType
from tests.samples import CALLBACK_URL, LINK, alerting_message


def body(card_payload: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = card_payload["attachments"][0]["blocks"]
    return blocks


def test_alert_card_layout() -> None:
    message = Message.from_struct(alerting_message())
    card = render_card(message, NotificationType.ERROR, callback_values=["sealed-value"])
    payload = card.payload()
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":red_circle: [Alerting] Notification of access to the SpaceONE",
            "emoji": True,
        },
    }
    assert payload["attachments"][0]["color"] == STYLES[NotificationType.ERROR].color
    blocks = body(payload)
    assert blocks[0]["text"]["text"] == "SSH Access to spaceone-api from admin"
    # four short tags become one two-column fields section, in order; long tags are full-width sections
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Alert Number*\n#108664",
        "*State*\nTRIGGERED",
        "*Urgency*\nHIGH",
        "*Triggered by*\nkubectl-webhook",
    ]
    assert [b["text"]["text"] for b in blocks[2:6]] == [
        "*Project*\nSpaceONE &gt; Project1",
        "*Resource*\nspaceone-api",
        "*Assigned to*\nadmin",
        "*Account*\n123456789012",
    ]
    context = blocks[6]["elements"][0]["text"]
    assert "<!date^1656321777^{date_short_pretty} at {time}|2022-06-27 09:22 UTC>" in context
    assert "acme" in context
    buttons = list(iter_buttons(payload))
    assert buttons[0] == {
        "type": "button",
        "action_id": LINK_ACTION_ID,
        "text": {"type": "plain_text", "text": "Open in Cloudforet", "emoji": True},
        "url": LINK,
    }
    assert buttons[1]["action_id"] == f"{CALLBACK_ACTION_PREFIX}0"
    assert buttons[1]["text"]["text"] == "Acknowledge Alerts"
    assert buttons[1]["value"] == "sealed-value"
    assert CALLBACK_URL not in json.dumps(payload)
    assert payload["text"].startswith(":red_circle: [Alerting] Notification")
    assert card.truncated == []


@pytest.mark.parametrize("kind", list(NotificationType))
def test_each_type_has_its_colour_and_emoji(kind: NotificationType) -> None:
    card = render_card(Message.from_struct({"title": "t"}), kind)
    assert card.attachments[0]["color"] == STYLES[kind].color
    assert card.blocks[0]["text"]["text"].startswith(STYLES[kind].emoji)
    assert len({s.color for s in STYLES.values()}) == len(STYLES)


def test_mrkdwn_is_escaped_everywhere() -> None:
    message = Message.from_struct(
        {
            "title": "<!channel> & co",
            "description": "a <@U123> & <!here> b",
            "tags": [{"key": "<k>", "value": "<!everyone>"}],
            "domain_name": "<d>",
        }
    )
    payload = render_card(message, NotificationType.INFO).payload()
    mrkdwn_texts = [t for t in _texts(body(payload))]
    assert all(
        "<!channel>" not in t and "<!here>" not in t and "<@U123>" not in t and "<!everyone>" not in t
        for t in mrkdwn_texts
    )
    assert body(payload)[0]["text"]["text"] == "a &lt;@U123&gt; &amp; &lt;!here&gt; b"
    assert "<!channel>" not in payload["text"]


def _texts(value: object) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            out.append(value["text"])
        for child in value.values():
            out += _texts(child)
    elif isinstance(value, list):
        for child in value:
            out += _texts(child)
    return out


def test_description_falls_back_to_short_description_then_html_contents() -> None:
    card = render_card(Message.from_struct({"short_description": "short"}), NotificationType.INFO)
    assert body(card.payload())[0]["text"]["text"] == "short"
    card = render_card(
        Message.from_struct({"contents": "<p>Hello</p><p>World &amp; all</p>", "content_type": "HTML"}),
        NotificationType.INFO,
    )
    assert body(card.payload())[0]["text"]["text"] == "Hello\nWorld &amp; all"


def test_image_url_becomes_an_image_block() -> None:
    card = render_card(
        Message.from_struct({"title": "t", "image_url": "https://img.example.test/a.png"}), NotificationType.INFO
    )
    images = [b for b in body(card.payload()) if b["type"] == "image"]
    assert images == [{"type": "image", "image_url": "https://img.example.test/a.png", "alt_text": "t"}]


def test_huge_content_is_truncated_visibly_within_every_limit() -> None:
    message = Message.from_struct(
        {
            "title": "T" * 500,
            "description": "d" * 10_000,
            "tags": [{"key": f"key {i}", "value": "v" * 2500, "options": {"short": i % 2 == 0}} for i in range(80)],
            "callbacks": [{"label": "L" * 100, "url": f"https://cb.example.test/{i}"} for i in range(40)],
            "link": "https://console.example.test/x",
        }
    )
    card = render_card(message, NotificationType.WARNING, callback_values=[f"v{i}" for i in range(40)])
    payload = card.payload()
    blocks = payload["blocks"] + body(payload)
    assert len(blocks) <= limits.MAX_BLOCKS
    assert text_length(payload) <= limits.MAX_TOTAL_BLOCK_TEXT
    assert len(payload["blocks"][0]["text"]["text"]) == limits.MAX_HEADER_TEXT
    assert payload["blocks"][0]["text"]["text"].endswith("…")
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= limits.MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= limits.MAX_SECTION_FIELDS
            assert all(len(f["text"]) <= limits.MAX_FIELD_TEXT for f in block.get("fields", []))
        if block["type"] == "actions":
            assert len(block["elements"]) <= limits.MAX_ACTIONS_ELEMENTS
            assert all(len(e["text"]["text"]) <= limits.MAX_BUTTON_TEXT for e in block["elements"])
    assert len(payload["text"]) <= limits.MAX_TOP_LEVEL_TEXT
    note = body(payload)[-1]["elements"][0]["text"]
    assert note.startswith(":scissors: Shortened to fit Slack")
    assert "the title" in note and "tags" in note and "description" in note and "button" in note
    assert card.truncated


def test_ten_thousand_character_description_keeps_as_much_as_fits() -> None:
    card = render_card(Message.from_struct({"title": "t", "description": "x" * 10_000}), NotificationType.INFO)
    text = body(card.payload())[0]["text"]["text"]
    assert len(text) == limits.MAX_SECTION_TEXT and text.endswith("…")
    assert any("description (10,000 characters" in n for n in card.truncated)


def test_tags_keep_their_order_across_short_and_long() -> None:
    tags = [{"key": f"k{i}", "value": str(i), "options": {"short": i in (0, 1, 3)}} for i in range(5)]
    card = render_card(Message.from_struct({"tags": tags}), NotificationType.INFO)
    seen: list[str] = []
    for block in body(card.payload()):
        for text in [f["text"] for f in block.get("fields", [])] + (
            [block["text"]["text"]] if "text" in block and block["type"] == "section" else []
        ):
            seen.append(text.split("\n")[0])
    assert seen == ["*k0*", "*k1*", "*k2*", "*k3*", "*k4*"]


def test_invalid_link_and_callback_are_left_out_with_a_note() -> None:
    message = Message.from_struct(
        {"title": "t", "link": "javascript:alert(1)", "callbacks": [{"label": "Ack", "url": "ftp://x"}]}
    )
    card = render_card(message, NotificationType.ERROR, callback_values=[None])
    assert list(iter_buttons(card.payload())) == []
    assert any("link" in n for n in card.truncated) and any("button" in n for n in card.truncated)


def test_acknowledged_state_removes_callbacks_and_names_the_clicker() -> None:
    message = Message.from_struct(alerting_message())
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    state = CardState(status=CardStatus.ACKNOWLEDGED, actor="U42", acted_at=at, notified=3)
    payload = render_card(message, NotificationType.ERROR, callback_values=["v"], state=state).payload()
    assert [b["action_id"] for b in iter_buttons(payload)] == [LINK_ACTION_ID]
    status = next(b for b in body(payload) if b.get("block_id") == "status")["elements"][0]["text"]
    assert "<@U42>" in status and f"<!date^{int(at.timestamp())}^" in status and "notified 3×" in status
    assert payload["attachments"][0]["color"] != STYLES[NotificationType.ERROR].color


def test_unparsable_occurred_at_is_shown_as_text() -> None:
    card = render_card(Message.from_struct({"title": "t", "occurred_at": "yesterday"}), NotificationType.INFO)
    assert "yesterday" in body(card.payload())[-1]["elements"][0]["text"]


@pytest.mark.parametrize("status", [CardStatus.PENDING, CardStatus.ACKNOWLEDGED, CardStatus.RESOLVED])
def test_a_button_label_in_the_status_line_is_escaped(status: CardStatus) -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    label = "*<!channel> ack* <@U0EVIL> & <https://evil.example|here>"
    state = CardState(status=status, actor="U42", acted_at=at, action_label=label)
    line = status_block(state)
    assert line is not None
    [text] = _texts(line)
    assert "<!channel>" not in text and "<@U0EVIL>" not in text and "<https://" not in text
    shown = text.lower()  # a resolved card names the action in lower case
    assert "&lt;!channel&gt;" in shown and "&lt;@u0evil&gt;" in shown and "&amp;" in shown
    assert "<@U42>" in text  # the clicker is still mentioned: that mention is the card's own
