"""Pure and local parts of click handling: alert correlation, card updates, callback rules, the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.card_updates import apply_state
from bot.core.cards import (
    NOTE_ACTION_ID,
    RESOLVE_ACTION_ID,
    RESOLVED_LABEL,
    CardState,
    CardStatus,
    is_callback_button,
    iter_buttons,
    render_card,
)
from bot.core.models import Message, NotificationType
from tests.fakes.slack import validate_blocks
from tests.samples import alerting_message

V2 = "https://cf.example.test/monitoring/v1/domain/domain-1/alert/alert-123/key456/ACKNOWLEDGED"


def has_callback_buttons(payload: dict[str, Any]) -> bool:
    return any(is_callback_button(button) for button in iter_buttons(payload))


def _card() -> dict[str, Any]:
    card = render_card(Message.from_struct(alerting_message()), NotificationType.ERROR, callback_values=["sealed"])
    return card.payload()


def test_pending_and_acknowledged_cards_drop_the_callback_button_and_stay_valid() -> None:
    original = _card()
    pending = apply_state(original, CardState(status=CardStatus.PENDING, actor="U1", action_label="Acknowledge"))
    assert not has_callback_buttons(pending) and has_callback_buttons(original)
    assert "<@U1> clicked *Acknowledge*" in str(pending)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    done = apply_state(
        original, CardState(status=CardStatus.ACKNOWLEDGED, actor="U1", acted_at=at, action_label="Acknowledged")
    )
    assert [b["action_id"] for b in iter_buttons(done)] == ["open_link"]
    assert done["attachments"][0]["color"] != original["attachments"][0]["color"]
    assert f"*Acknowledged* by <@U1> at <!date^{int(at.timestamp())}" in str(done)
    for payload in (pending, done):
        assert validate_blocks(payload["blocks"], payload["attachments"])[0] == []
    restored = apply_state(pending, CardState())
    assert "clicked" not in str(restored)


def _two_way_card() -> dict[str, Any]:
    card = render_card(
        Message.from_struct(alerting_message()),
        NotificationType.ERROR,
        callback_values=["sealed"],
        resolve_value="sealed-resolve",
        note_value="sealed-note",
    )
    return card.payload()


def _action_ids(payload: dict[str, Any]) -> list[str]:
    return [str(b.get("action_id")) for b in iter_buttons(payload)]


def test_resolve_and_add_note_stay_once_acknowledged_and_go_once_resolved_or_pending() -> None:
    original = _two_way_card()
    assert _action_ids(original) == ["open_link", "callback_0", RESOLVE_ACTION_ID, NOTE_ACTION_ID]
    acked = apply_state(original, CardState(status=CardStatus.ACKNOWLEDGED, actor="U1"))
    assert _action_ids(acked) == ["open_link", RESOLVE_ACTION_ID, NOTE_ACTION_ID]
    pending = apply_state(original, CardState(status=CardStatus.PENDING, actor="U1", action_label="Resolve"))
    assert _action_ids(pending) == ["open_link"]
    at = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    resolved = apply_state(
        original, CardState(status=CardStatus.RESOLVED, actor="U1", action_label=RESOLVED_LABEL, resolved_at=at)
    )
    assert _action_ids(resolved) == ["open_link"]
    assert ":white_check_mark: *Resolved* by <@U1> at <!date^" in str(resolved)
    for payload in (acked, pending, resolved):
        assert validate_blocks(payload["blocks"], payload["attachments"])[0] == []
    # a failed click puts every button back
    assert _action_ids(apply_state(original, CardState())) == _action_ids(original)
