"""The card renderer's output, byte for byte, for a set of rich messages: a refactoring changes no card.

The expected payloads in ``tests/data/rendered_cards.json`` were recorded from the renderer before it was split
into named steps. A deliberate change to the layout re-records them (``python -m tests.test_card_golden``), and
the diff of that file shows every card it changes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.cards import CardState, CardStatus, render_card
from bot.core.models import Message, NotificationType
from tests.samples import LINK, alerting_message, resolved_message

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "rendered_cards.json"
AT = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2024, 1, 2, 4, 0, 0, tzinfo=UTC)


def _many_tags(count: int, value: str, short_every: int) -> list[dict[str, Any]]:
    return [{"key": f"key {i}", "value": value, "options": {"short": i % short_every == 0}} for i in range(count)]


# name -> (message, notification type, callback values, state)
CASES: dict[str, tuple[dict[str, Any], NotificationType, list[str | None], CardState | None]] = {
    "alerting": (alerting_message(), NotificationType.ERROR, ["sealed-value"], None),
    "alerting_pending": (
        alerting_message(),
        NotificationType.ERROR,
        ["sealed-value"],
        CardState(status=CardStatus.PENDING, actor="U42", action_label="Acknowledge Alerts"),
    ),
    "alerting_pending_no_label": (
        alerting_message(),
        NotificationType.WARNING,
        ["v"],
        CardState(status=CardStatus.PENDING, actor="U42"),
    ),
    "acknowledged": (
        alerting_message(),
        NotificationType.ERROR,
        ["sealed-value"],
        CardState(status=CardStatus.ACKNOWLEDGED, actor="U42", acted_at=AT, notified=3),
    ),
    "acknowledged_labelled": (
        alerting_message(),
        NotificationType.ERROR,
        ["v"],
        CardState(status=CardStatus.ACKNOWLEDGED, actor="U42", acted_at=AT, action_label="Acked"),
    ),
    "resolved_after_ack": (
        resolved_message(),
        NotificationType.SUCCESS,
        [],
        CardState(
            status=CardStatus.RESOLVED,
            actor="U42",
            acted_at=AT,
            resolved_at=LATER,
            action_label="Acknowledged",
            notified=2,
        ),
    ),
    "resolved_plain": (resolved_message(), NotificationType.SUCCESS, [], CardState(status=CardStatus.RESOLVED)),
    "open_escalated": (alerting_message(), NotificationType.ERROR, ["v"], CardState(notified=5)),
    "huge": (
        {
            "title": "T" * 500,
            "description": "d" * 10_000,
            "tags": _many_tags(80, "v" * 2500, 2),
            "callbacks": [{"label": "L" * 100, "url": f"https://cb.example.test/{i}"} for i in range(40)],
            "link": "https://console.example.test/x",
        },
        NotificationType.WARNING,
        [f"v{i}" for i in range(40)],
        None,
    ),
    "many_short_tags": ({"title": "fields", "tags": _many_tags(45, "value", 1)}, NotificationType.INFO, [], None),
    "mixed_tags": (
        {"title": "mixed", "description": "x" * 2000, "tags": _many_tags(30, "w" * 300, 3)},
        NotificationType.INFO,
        [],
        None,
    ),
    "escaping": (
        {
            "title": "<!channel> & co",
            "description": "a <@U123> & <!here> b",
            "tags": [{"key": "<k>", "value": "<!everyone>"}, {"key": " ", "value": ""}],
            "domain_name": "<d>",
        },
        NotificationType.INFO,
        [],
        None,
    ),
    "html_contents": (
        {"title": "  spaced \n title  ", "contents": "<p>Hello</p><p>World &amp; all</p>", "content_type": "html"},
        NotificationType.NONE,
        [],
        None,
    ),
    "short_description": ({"short_description": "short", "occurred_at": "yesterday"}, NotificationType.INFO, [], None),
    "nothing": ({}, NotificationType.NONE, [], None),
    "image": ({"title": "t" * 3000, "image_url": "https://img.example.test/a.png"}, NotificationType.INFO, [], None),
    "bad_link_image_callbacks": (
        {
            "title": "t",
            "link": "javascript:alert(1)",
            "image_url": "ftp://img",
            "callbacks": [
                {"label": "Ack", "url": "ftp://x"},
                {"label": "", "url": "https://ok.test/a"},
                {"label": "Too long", "url": "https://ok.test/b"},
            ],
        },
        NotificationType.ERROR,
        [None, "fine", "x" * 2001],
        None,
    ),
    "too_long_link": (
        {"title": "t", "link": "https://console.example.test/" + "a" * 3000},
        NotificationType.WARNING,
        [],
        None,
    ),
    "description_near_budget": (
        {"title": "budget", "description": "&<>" * 1500, "tags": _many_tags(40, "&" * 1900, 4), "link": LINK},
        NotificationType.ERROR,
        [],
        None,
    ),
    "raw_epoch_and_domain": (
        {"title": "epoch", "occurred_at": 1700000000, "domain_name": " " + "d" * 300},
        NotificationType.SUCCESS,
        [],
        None,
    ),
    "fewer_values_than_callbacks": (
        alerting_message(
            callbacks=[
                {"label": "One", "url": "https://cb.example.test/1"},
                {"label": "Two", "url": "https://cb.example.test/2"},
            ]
        ),
        NotificationType.ERROR,
        ["only-one"],
        None,
    ),
}


def rendered(name: str) -> dict[str, Any]:
    message, kind, values, state = CASES[name]
    card = render_card(Message.from_struct(message), kind, callback_values=values, state=state)
    return {"payload": card.payload(), "truncated": card.truncated}


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_card_is_rendered_exactly_as_recorded(name: str) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert name in expected, f"no recorded card for {name}; re-record with python -m tests.test_card_golden"
    assert _canonical(rendered(name)) == _canonical(expected[name])


def test_every_recorded_card_has_a_case() -> None:
    assert sorted(json.loads(GOLDEN.read_text(encoding="utf-8"))) == sorted(CASES)


if __name__ == "__main__":  # re-record after a deliberate layout change
    GOLDEN.write_text(_canonical({name: rendered(name) for name in sorted(CASES)}) + "\n", encoding="utf-8")
