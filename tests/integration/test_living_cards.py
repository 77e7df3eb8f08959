"""One living card per alert, end to end: dispatches over gRPC, clicks signed like Slack's, the fake Slack's
record of what the channel shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.sealed import fingerprint
from tests.interactivity_support import ClickStack, click_stack, wait_for
from tests.samples import TOKEN, alerting_message, resolved_message


@pytest.fixture
def cards(tmp_path: Path) -> Iterator[ClickStack]:
    # repeat_window 0: the escalation repeats below are identical on purpose
    with click_stack(tmp_path, repeat_window=0) as stack:
        yield stack


def _replies(stack: ClickStack, ts: str) -> list[str]:
    return [r.text for r in stack.card(ts).replies]


def test_alert_lifecycle_is_one_card(cards: ClickStack) -> None:
    url = cards.cloudforet.issue_key("alert-x1v2c3v456")
    cards.stack.dispatch(alerting_message(callback_url=url))
    [card] = cards.stack.posted()
    cards.stack.dispatch(alerting_message(callback_url=url))  # escalation step
    wait_for(lambda: len(_replies(cards, card.ts)) == 1, what="escalation line")
    assert "notified 2×" in cards.card_text(card.ts)

    cards.click(cards.payload(card.ts))
    wait_for(lambda: len(_replies(cards, card.ts)) == 2, what="acknowledged line")

    cards.stack.dispatch(alerting_message(callback_url=url))  # escalation after the ack keeps "Acknowledged"
    wait_for(lambda: len(_replies(cards, card.ts)) == 3, what="second escalation line")
    text = cards.card_text(card.ts)
    assert "*Acknowledged* by <@U0CLICKER>" in text and "notified 3×" in text and "callback_0" not in text

    cards.stack.dispatch(resolved_message(), notification_type="SUCCESS")
    wait_for(lambda: len(_replies(cards, card.ts)) == 4, what="resolved line")
    cards.stack.dispatch(alerting_message(callback_url=url))  # late [Alerting]
    assert cards.stack.posted() == [card]  # still one top-level message
    final = cards.card(card.ts)
    assert final.blocks[0]["text"]["text"].startswith(":white_check_mark: [Resolved]")
    assert final.attachments[0]["color"] == "#2EB67D"
    assert "*Resolved* at <!date^" in cards.card_text(card.ts)
    assert "callback_0" not in json.dumps(final.attachments)
    lines = _replies(cards, card.ts)
    assert [line.split(":")[1] for line in lines] == ["rotating_light", "eyes", "rotating_light", "white_check_mark"]
    assert "Acknowledged by alice" in lines[1]
    assert all("<@" not in line for line in lines)  # thread lines never @-mention
    record = cards.stack.loop.run(
        cards.stack.runtime.store.find_card(fingerprint(TOKEN), "alerts", ["alert:alert-x1v2c3v456"])
    )
    assert record is not None and record.status == "resolved" and record.actor == "U0CLICKER"
    assert len(cards.cloudforet.requests) == 1
    assert "open_link" in json.dumps(final.attachments)  # the link button stays


def test_a_late_click_never_reopens_a_resolved_card(cards: ClickStack) -> None:
    url = cards.cloudforet.issue_key("alert-x1v2c3v456")
    cards.stack.dispatch(alerting_message(callback_url=url))
    [card] = cards.stack.posted()
    stale_click = cards.payload(card.ts)  # a client still showing the button
    cards.stack.dispatch(resolved_message(), notification_type="SUCCESS")
    wait_for(lambda: "Resolved" in cards.card_text(card.ts), what="resolved card")
    cards.click(stale_click)
    [text] = wait_for(cards.ephemerals_for, what="ephemeral")
    assert "already resolved" in text
    assert cards.cloudforet.requests == [] and "Resolved" in cards.card_text(card.ts)


def test_a_deleted_card_is_posted_again(cards: ClickStack) -> None:
    cards.stack.dispatch(alerting_message())
    [card] = cards.stack.posted()
    cards.card(card.ts).deleted = True
    cards.stack.dispatch(alerting_message())
    wait_for(lambda: len(cards.stack.posted()) == 2, what="a new card")
    new = cards.stack.posted()[1]
    assert "notified 2×" in str(new.attachments)
    record = cards.stack.loop.run(
        cards.stack.runtime.store.find_card(fingerprint(TOKEN), "alerts", ["alert:alert-x1v2c3v456"])
    )
    assert record is not None and record.ts == new.ts


def test_other_messages_are_one_card_each(cards: ClickStack) -> None:
    for i in range(3):
        cards.stack.dispatch({"title": f"Budget report {i}"}, notification_type="INFO")
    assert len(cards.stack.posted()) == 3
