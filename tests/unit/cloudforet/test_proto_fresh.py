"""The generated modules in bot/cloudforet/_proto match the .proto files (regenerated with the pinned grpcio-tools),
and both wire contracts (1.x notification, 2.x alert manager) match Cloudforet's."""

import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2 as am_notification_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import protocol_pb2 as am_protocol_pb2
from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, protocol_pb2

ROOT = Path(__file__).resolve().parents[3]


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wire_contract_matches_cloudforet() -> None:
    """Package, services, messages and field numbers as Cloudforet defines them."""
    assert protocol_pb2.DESCRIPTOR.package == "spaceone.api.notification.plugin"
    proto = descriptor_pb2.FileDescriptorProto()
    protocol_pb2.DESCRIPTOR.CopyToProto(proto)
    methods = {m.name: (m.input_type, m.output_type) for m in proto.service[0].method}
    assert proto.service[0].name == "Protocol"
    assert methods == {
        "init": (".spaceone.api.notification.plugin.InitRequest", ".spaceone.api.notification.plugin.PluginInfo"),
        "verify": (".spaceone.api.notification.plugin.PluginVerifyRequest", ".google.protobuf.Empty"),
    }
    fields = {m.name: [(f.name, f.number) for f in m.field] for m in proto.message_type}
    assert fields == {
        "InitRequest": [("options", 1)],
        "PluginVerifyRequest": [("options", 1), ("secret_data", 2)],
        "PluginInfo": [("metadata", 1)],
    }
    dispatch = notification_pb2.DESCRIPTOR.services_by_name["Notification"].methods_by_name["dispatch"]
    assert dispatch.output_type.full_name == "google.protobuf.Empty"
    request = notification_pb2.PluginDispatchRequest.DESCRIPTOR
    assert [(f.name, f.number) for f in request.fields] == [
        ("options", 1),
        ("message", 2),
        ("notification_type", 3),
        ("secret_data", 4),
        ("channel_data", 5),
    ]
    enum = request.enum_types_by_name["NotificationType"]
    assert [(v.name, v.number) for v in enum.values] == [
        ("NOTIFICATION_TYPE_NONE", 0),
        ("INFO", 1),
        ("ERROR", 2),
        ("SUCCESS", 3),
        ("WARNING", 4),
    ]


def test_alert_manager_wire_contract_matches_cloudforet() -> None:
    """cloudforet-io/api, proto/spaceone/api/alert_manager/plugin/{protocol,notification}.proto: package, services,
    messages, field numbers, and the notification type's own numbering (not 1.x's)."""
    package = "spaceone.api.alert_manager.plugin"
    assert am_protocol_pb2.DESCRIPTOR.package == package == am_notification_pb2.DESCRIPTOR.package
    proto = descriptor_pb2.FileDescriptorProto()
    am_protocol_pb2.DESCRIPTOR.CopyToProto(proto)
    assert [s.name for s in proto.service] == ["Protocol"]
    methods = {m.name: (m.input_type, m.output_type) for m in proto.service[0].method}
    assert methods == {
        "init": (f".{package}.InitRequest", f".{package}.PluginInfo"),
        "verify": (f".{package}.VerifyRequest", ".google.protobuf.Empty"),
    }
    fields = {m.name: [(f.name, f.number) for f in m.field] for m in proto.message_type}
    assert fields == {
        "InitRequest": [("options", 1), ("domain_id", 21)],
        "VerifyRequest": [("options", 1), ("secret_data", 2), ("domain_id", 21)],
        "PluginInfo": [("metadata", 1)],
    }
    proto = descriptor_pb2.FileDescriptorProto()
    am_notification_pb2.DESCRIPTOR.CopyToProto(proto)
    [service] = proto.service
    assert service.name == "Notification"
    assert [(m.name, m.input_type, m.output_type) for m in service.method] == [
        ("dispatch", f".{package}.DispatchRequest", ".google.protobuf.Empty")
    ]
    typed = {m.name: [(f.name, f.number, f.type_name, f.label) for f in m.field] for m in proto.message_type}
    optional, repeated = (
        descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    struct = ".google.protobuf.Struct"
    assert typed == {
        "NotificationTag": [("key", 1, "", optional), ("value", 2, "", optional), ("options", 3, struct, optional)],
        "NotificationCallback": [
            ("label", 1, "", optional),
            ("url", 2, "", optional),
            ("options", 3, struct, optional),
        ],
        "NotificationMessage": [
            ("title", 1, "", optional),
            ("link", 2, "", optional),
            ("description", 3, "", optional),
            ("image_url", 4, "", optional),
            ("tags", 11, f".{package}.NotificationTag", repeated),
            ("callbacks", 12, f".{package}.NotificationCallback", repeated),
            ("occurred_at", 31, "", optional),
        ],
        "DispatchRequest": [
            ("options", 1, struct, optional),
            ("secret_data", 2, struct, optional),
            ("channel_data", 3, struct, optional),
            ("message", 4, f".{package}.NotificationMessage", optional),
            ("notification_type", 5, f".{package}.DispatchRequest.NotificationType", optional),
            ("domain_id", 21, "", optional),
        ],
    }
    enum = am_notification_pb2.DispatchRequest.DESCRIPTOR.enum_types_by_name["NotificationType"]
    assert [(v.name, v.number) for v in enum.values] == [
        ("NOTIFICATION_TYPE_NONE", 0),
        ("ERROR", 1),
        ("WARNING", 2),
        ("SUCCESS", 3),
        ("INFO", 4),
    ]
