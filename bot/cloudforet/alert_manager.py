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

import hashlib
from typing import Any

import grpc
from google.protobuf import empty_pb2

from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import (
    notification_pb2,
    notification_pb2_grpc,
    protocol_pb2,
    protocol_pb2_grpc,
)
from bot.cloudforet.channel_schema import plugin_metadata
from bot.cloudforet.servicers import (
    Dispatcher,
    ServiceHandlers,
    answer,
    dict_to_struct,
    parse_counted,
    register_services,
    struct_to_dict,
    unary_handler,
    verify_secret,
)
from bot.core.models import DOMAIN_ID_KEY

# The notification type's name by its number in 2.x's own enum (not 1.x's: the same names, other numbers). A
# number this code does not know has no name here, and ``parse_dispatch`` takes it for NONE.
NOTIFICATION_TYPE_NAMES: dict[int, str] = {
    number: name for name, number in notification_pb2.DispatchRequest.NotificationType.items()
}
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


class AlertManagerProtocolServicer(protocol_pb2_grpc.ProtocolServicer):
    def __init__(self, service: Dispatcher) -> None:
        self._service = service
        self._metadata = dict_to_struct(plugin_metadata())

    async def init(
        self,
        request: protocol_pb2.InitRequest,
        context: grpc.aio.ServicerContext[protocol_pb2.InitRequest, protocol_pb2.PluginInfo],
    ) -> protocol_pb2.PluginInfo:
        # The same channel form as 1.x; instant and offline.
        return protocol_pb2.PluginInfo(metadata=self._metadata)

    async def verify(
        self,
        request: protocol_pb2.VerifyRequest,
        context: grpc.aio.ServicerContext[protocol_pb2.VerifyRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        async def run() -> empty_pb2.Empty:
            await verify_secret(self._service, struct_to_dict(request.options), struct_to_dict(request.secret_data))
            return empty_pb2.Empty()

        return await answer(context, "Protocol.verify", run)


class AlertManagerNotificationServicer(notification_pb2_grpc.NotificationServicer):
    def __init__(self, service: Dispatcher) -> None:
        self._service = service

    async def dispatch(
        self,
        request: notification_pb2.DispatchRequest,
        context: grpc.aio.ServicerContext[notification_pb2.DispatchRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        async def run() -> empty_pb2.Empty:
            parsed = parse_counted(
                channel_data=struct_to_dict(request.channel_data),
                secret_data=struct_to_dict(request.secret_data),
                message=message_to_struct(request.message, request.domain_id),
                notification_type=NOTIFICATION_TYPE_NAMES.get(request.notification_type, ""),
            )
            # A retry from Cloudforet is byte-identical: that identifies repeats cheaply.
            digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
            await self._service.dispatch(parsed, digest=digest)
            return empty_pb2.Empty()

        return await answer(context, "Notification.dispatch", run)


def add_alert_manager_servicers(server: grpc.aio.Server, service: Dispatcher) -> tuple[str, ...]:
    """Register 2.x ``Protocol`` and ``Notification``, parsing leniently; return their full service names."""
    protocol, notification = AlertManagerProtocolServicer(service), AlertManagerNotificationServicer(service)
    services: ServiceHandlers = {
        protocol_pb2.DESCRIPTOR.services_by_name["Protocol"].full_name: {
            "init": unary_handler(protocol.init, protocol_pb2.InitRequest, protocol_pb2.PluginInfo),
            "verify": unary_handler(protocol.verify, protocol_pb2.VerifyRequest, empty_pb2.Empty),
        },
        notification_pb2.DESCRIPTOR.services_by_name["Notification"].full_name: {
            "dispatch": unary_handler(notification.dispatch, notification_pb2.DispatchRequest, empty_pb2.Empty),
        },
    }
    register_services(server, services)
    return tuple(services)
