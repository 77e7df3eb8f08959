"""gRPC servicers for Cloudforet 2.x's alert manager: ``spaceone.api.alert_manager.plugin``'s ``Protocol`` (init,
verify) and ``Notification`` (dispatch), served instead of 1.x's package when ``BOT_CLOUDFORET_API=alert-manager``.

Everything past the wire is shared with 1.x: the same init schema, the same verify, the same coded errors and the
same dispatch service, so the cards, buttons, living cards and delivery are the same. What differs is the request:

- the message is typed (``NotificationMessage``); it is turned into the Struct a 1.x request would carry for the
  same content, and read by the same ``Message.from_struct``, so both make the same card;
- the notification type's numbers are in another order (2.x: ERROR 1, WARNING 2, SUCCESS 3, INFO 4; 1.x: INFO 1,
  ERROR 2, SUCCESS 3, WARNING 4): they are read by name from 2.x's own enum, never by number;
- every request names its ``domain_id``, which the message keeps so that an alert id is an alert of its domain.
"""

from __future__ import annotations

from typing import Any

import grpc

from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2, protocol_pb2
from bot.cloudforet.servicers import Dispatcher, PluginApi, add_servicers, struct_to_dict
from bot.core.models import DOMAIN_ID_KEY

# The typed message's text fields, under the names a 1.x message Struct gives them.
_TEXT_FIELDS = ("title", "link", "description", "image_url", "occurred_at")


def message_to_struct(message: notification_pb2.NotificationMessage, domain_id: str = "") -> dict[str, Any]:
    """The typed 2.x message as the 1.x message Struct (a dict) with the same content, plus the request's domain.

    Fields proto3 leaves empty are left out, as a 1.x message leaves out what it does not have.
    """
    data: dict[str, Any] = {key: value for key in _TEXT_FIELDS if (value := getattr(message, key))}
    if message.tags:
        data["tags"] = [
            {"key": tag.key, "value": tag.value, "options": struct_to_dict(tag.options)} for tag in message.tags
        ]
    if message.callbacks:
        data["callbacks"] = [
            {"label": callback.label, "url": callback.url, "options": struct_to_dict(callback.options)}
            for callback in message.callbacks
        ]
    if domain_id.strip():
        data[DOMAIN_ID_KEY] = domain_id.strip()
    return data


def _read_message(request: notification_pb2.DispatchRequest) -> dict[str, Any]:
    return message_to_struct(request.message, request.domain_id)


ALERT_MANAGER_API = PluginApi(
    protocol_pb2=protocol_pb2,
    notification_pb2=notification_pb2,
    verify_request=protocol_pb2.VerifyRequest,
    dispatch_request=notification_pb2.DispatchRequest,
    read_message=_read_message,
)
# The notification type's name by its number in 2.x's own enum (not 1.x's: the same names, other numbers).
NOTIFICATION_TYPE_NAMES: dict[int, str] = ALERT_MANAGER_API.notification_type_names


def add_alert_manager_servicers(server: grpc.aio.Server, service: Dispatcher) -> tuple[str, ...]:
    """Register 2.x ``Protocol`` and ``Notification``; return their full service names."""
    return add_servicers(server, service, ALERT_MANAGER_API)
