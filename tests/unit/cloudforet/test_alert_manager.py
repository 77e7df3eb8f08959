"""The 2.x servicers' translation: the typed message becomes the 1.x Struct for the same content (so the same
card), and the notification type is read with 2.x's numbering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.button_keys import ButtonKeys
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2 as am_notification_pb2
from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2 as v1_notification_pb2
from bot.cloudforet.alert_manager import NOTIFICATION_TYPE_NAMES, message_to_struct
from bot.cloudforet.servicers import dict_to_struct
from bot.core.models import DOMAIN_ID_KEY, Message, NotificationType
from bot.core.requests import parse_dispatch
from bot.delivery.card_builder import build_card
from tests.samples import CALLBACK_URL, LINK, alert_tags

TAGS = alert_tags()


def typed_message() -> am_notification_pb2.NotificationMessage:
    return am_notification_pb2.NotificationMessage(
        title="[Alerting] Notification of access to the SpaceONE",
        link=LINK,
        description="SSH Access to spaceone-api from admin",
        image_url="https://console.example.test/graph.png",
        tags=[
            am_notification_pb2.NotificationTag(key=t["key"], value=t["value"], options=dict_to_struct(t["options"]))
            if "options" in t
            else am_notification_pb2.NotificationTag(key=t["key"], value=t["value"])
            for t in TAGS
        ],
        callbacks=[
            am_notification_pb2.NotificationCallback(
                label="Acknowledge Alerts", url=CALLBACK_URL, options=dict_to_struct({"kind": "ack"})
            )
        ],
        occurred_at="2022-06-27T09:22:57.967Z",
    )


def struct_message() -> dict[str, Any]:
    """The same content as a 1.x message Struct carries it."""
    return {
        "title": "[Alerting] Notification of access to the SpaceONE",
        "link": LINK,
        "description": "SSH Access to spaceone-api from admin",
        "image_url": "https://console.example.test/graph.png",
        "tags": TAGS,
        "callbacks": [{"label": "Acknowledge Alerts", "url": CALLBACK_URL}],
        "occurred_at": "2022-06-27T09:22:57.967Z",
    }


def _without_sealed_values(payload: Any) -> Any:
    """A card payload with the buttons' sealed values dropped (each seal has a fresh nonce)."""
    if isinstance(payload, dict):
        return {k: _without_sealed_values(v) for k, v in payload.items() if k != "value"}
    if isinstance(payload, list):
        return [_without_sealed_values(v) for v in payload]
    return payload


def test_the_typed_message_reads_as_the_1x_struct_with_the_same_content() -> None:
    from_2x = Message.from_struct(message_to_struct(typed_message(), "domain-a"))
    from_1x = Message.from_struct(struct_message())
    assert from_2x.domain_id == "domain-a" and from_1x.domain_id == ""
    assert from_2x.model_dump(exclude={"domain_id", "callbacks"}) == from_1x.model_dump(
        exclude={"domain_id", "callbacks"}
    )
    assert [(c.label, c.url) for c in from_2x.callbacks] == [(c.label, c.url) for c in from_1x.callbacks]
    assert [t.short for t in from_2x.tags] == [t.get("options", {}).get("short") is True for t in TAGS]


def test_the_same_card_from_either_api(tmp_path: Path) -> None:
    keys = ButtonKeys(["a key"], tmp_path)
    for kind in NotificationType:
        card_2x = build_card(Message.from_struct(message_to_struct(typed_message(), "domain-a")), kind, keys)
        card_1x = build_card(Message.from_struct(struct_message()), kind, keys)
        assert _without_sealed_values(card_2x.payload()) == _without_sealed_values(card_1x.payload())


def test_empty_fields_are_left_out_and_no_domain_adds_no_key() -> None:
    assert message_to_struct(am_notification_pb2.NotificationMessage()) == {}
    assert message_to_struct(am_notification_pb2.NotificationMessage(title="t"), "  ") == {"title": "t"}
    assert message_to_struct(am_notification_pb2.NotificationMessage(), " domain-a ") == {DOMAIN_ID_KEY: "domain-a"}


def test_notification_types_are_read_with_2x_numbering() -> None:
    assert NOTIFICATION_TYPE_NAMES == {
        0: "NOTIFICATION_TYPE_NONE",
        1: "ERROR",
        2: "WARNING",
        3: "SUCCESS",
        4: "INFO",
    }
    v1 = dict(v1_notification_pb2.PluginDispatchRequest.NotificationType.items())
    assert v1["INFO"] == 1 and v1["ERROR"] == 2  # the mix-up this guards against
    for number, name in NOTIFICATION_TYPE_NAMES.items():
        parsed = parse_dispatch(
            channel_data={"token": "xoxb-1-a", "channel": "#alerts"},
            secret_data={},
            message={},
            notification_type=NOTIFICATION_TYPE_NAMES.get(number, ""),
        )
        assert parsed.notification_type is NotificationType.parse(name)
    assert NotificationType.parse(NOTIFICATION_TYPE_NAMES.get(99, "")) is NotificationType.NONE
