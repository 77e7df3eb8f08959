"""The card builder: sealed callback values, and the Resolve button of two-way actions (issue 19)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.button_keys import ButtonKeys
from bot.core.cards import NOTE_ACTION_ID, RESOLVE_ACTION_ID, iter_buttons
from bot.core.models import DOMAIN_ID_KEY, Message, NotificationType
from bot.core.sealed import SealError, unseal
from bot.delivery.card_builder import NOTE, RESOLVE, build_card, note_value, resolve_value
from tests.fakes.slack import validate_blocks
from tests.samples import ALERT_ID, alerting_message

V2_URL = f"https://cf.example.test/monitoring/v1/domain/domain-7/alert/{ALERT_ID}/key456/ACKNOWLEDGED"


def _keys(tmp_path: Path, secret: str = "a-button-key") -> ButtonKeys:
    return ButtonKeys([secret], tmp_path)


def _resolve_buttons(message: Message, keys: ButtonKeys, *, two_way: bool) -> list[dict[str, object]]:
    card = build_card(message, NotificationType.ERROR, keys, two_way=two_way)
    assert validate_blocks(card.blocks, card.attachments)[0] == []
    return [b for b in iter_buttons(card.payload()) if b.get("action_id") == RESOLVE_ACTION_ID]


def test_no_resolve_button_without_two_way_actions(tmp_path: Path) -> None:
    message = Message.from_struct(alerting_message(callback_url=V2_URL))
    assert _resolve_buttons(message, _keys(tmp_path), two_way=False) == []


def test_resolve_button_carries_the_alert_and_its_domain_sealed(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    [button] = _resolve_buttons(Message.from_struct(alerting_message(callback_url=V2_URL)), keys, two_way=True)
    value = str(button["value"])
    assert ALERT_ID not in value and "domain-7" not in value  # opaque to whoever reads the message JSON
    opened = unseal(value, keys.opening_keys)
    assert (opened["a"], opened["i"], opened["d"]) == (RESOLVE, ALERT_ID, "domain-7")
    with pytest.raises(SealError):
        unseal(value, _keys(tmp_path / "other", "another-deployment").opening_keys)


def test_the_request_domain_names_the_alert_domain(tmp_path: Path) -> None:
    # a 1.x-style callback URL names no domain; a 2.x request's domain_id does
    keys = _keys(tmp_path)
    message = Message.from_struct({**alerting_message(), DOMAIN_ID_KEY: "domain-9"})
    value = resolve_value(message, keys)
    assert value is not None and unseal(value, keys.opening_keys)["d"] == "domain-9"


def test_no_resolve_button_when_the_domain_is_unknown(tmp_path: Path) -> None:
    # 1.x: neither the request nor its callback URL names the domain, so Cloudforet's API cannot be asked
    message = Message.from_struct(alerting_message())
    assert resolve_value(message, _keys(tmp_path)) is None
    assert _resolve_buttons(message, _keys(tmp_path), two_way=True) == []


def test_no_resolve_button_on_a_message_about_no_alert(tmp_path: Path) -> None:
    message = Message.from_struct({"title": "hello", "description": "no alert here", DOMAIN_ID_KEY: "domain-1"})
    assert resolve_value(message, _keys(tmp_path)) is None


def test_add_note_button_is_sealed_like_resolve_and_only_with_two_way_actions(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    message = Message.from_struct(alerting_message(callback_url=V2_URL))
    card = build_card(message, NotificationType.ERROR, keys, two_way=True)
    assert validate_blocks(card.blocks, card.attachments)[0] == []
    [button] = [b for b in iter_buttons(card.payload()) if b.get("action_id") == NOTE_ACTION_ID]
    assert button["text"]["text"] == "Add note" and ALERT_ID not in str(button["value"])
    opened = unseal(str(button["value"]), keys.opening_keys)
    assert (opened["a"], opened["i"], opened["d"]) == (NOTE, ALERT_ID, "domain-7")
    plain = build_card(message, NotificationType.ERROR, keys, two_way=False)
    assert not [b for b in iter_buttons(plain.payload()) if b.get("action_id") == NOTE_ACTION_ID]
    assert note_value(Message.from_struct(alerting_message()), keys) is None  # no domain known: no button
