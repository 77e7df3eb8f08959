"""The generated modules in bot/cloudforet/_proto match the .proto files (regenerated with the pinned grpcio-tools),
and both wire contracts (1.x notification, 2.x alert manager) match Cloudforet's."""

import subprocess
import sys
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2 as am_notification_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import protocol_pb2 as am_protocol_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.v1 import alert_pb2 as am_alert_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.v1 import note_pb2 as am_note_pb2
from bot.cloudforet._proto.spaceone.api.monitoring.v1 import alert_pb2 as v1_alert_pb2
from bot.cloudforet._proto.spaceone.api.monitoring.v1 import note_pb2 as v1_note_pb2
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


def _fields(message: Any) -> list[tuple[str, int]]:
    return [(f.name, f.number) for f in message.DESCRIPTOR.fields]


def test_alert_api_subsets_match_cloudforet() -> None:
    """The two-way actions' subset of Cloudforet's alert APIs (cloudforet-io/api, proto/spaceone/api/monitoring/v1
    and alert_manager/v1, {alert,note}.proto): packages, rpcs, and the field numbers Cloudforet gives them."""
    assert v1_alert_pb2.DESCRIPTOR.package == v1_note_pb2.DESCRIPTOR.package == "spaceone.api.monitoring.v1"
    assert am_alert_pb2.DESCRIPTOR.package == am_note_pb2.DESCRIPTOR.package == "spaceone.api.alert_manager.v1"
    for module, service, methods in [
        (v1_alert_pb2, "Alert", {"update": ("UpdateAlertRequest", "AlertInfo"), "list": ("AlertQuery", "AlertsInfo")}),
        (v1_note_pb2, "Note", {"create": ("CreateNoteRequest", "NoteInfo")}),
        (
            am_alert_pb2,
            "Alert",
            {"update": ("AlertUpdateRequest", "AlertInfo"), "list": ("AlertSearchQuery", "AlertsInfo")},
        ),
        (am_note_pb2, "Note", {"create": ("NoteCreateRequest", "NoteInfo")}),
    ]:
        found = module.DESCRIPTOR.services_by_name[service].methods_by_name
        assert {n: (m.input_type.name, m.output_type.name) for n, m in found.items()} == methods
    assert _fields(v1_alert_pb2.UpdateAlertRequest) == [("alert_id", 1), ("state", 3), ("domain_id", 21)]
    assert _fields(v1_alert_pb2.AlertQuery) == [("alert_id", 3), ("domain_id", 15)]
    assert _fields(v1_alert_pb2.AlertInfo) == [("alert_id", 2), ("state", 4), ("domain_id", 25)]
    assert _fields(v1_alert_pb2.AlertsInfo) == [("results", 1), ("total_count", 2)]
    assert _fields(v1_note_pb2.CreateNoteRequest) == [("alert_id", 1), ("note", 2), ("domain_id", 11)]
    assert _fields(am_alert_pb2.AlertUpdateRequest) == [("alert_id", 1), ("status", 3)]
    assert _fields(am_alert_pb2.AlertSearchQuery) == [("alert_id", 2)]
    assert _fields(am_alert_pb2.AlertInfo) == [("alert_id", 1), ("status", 3), ("domain_id", 21)]
    assert _fields(am_alert_pb2.AlertsInfo) == [("results", 1), ("total_count", 2)]
    assert _fields(am_note_pb2.NoteCreateRequest) == [("alert_id", 1), ("note", 2)]
    states = am_alert_pb2.AlertUpdateRequest.DESCRIPTOR.enum_types_by_name["AlertStatus"]
    assert {v.name: v.number for v in states.values} == {
        "ALERT_STATE_NONE": 0,
        "TRIGGERED": 1,
        "ACKNOWLEDGED": 2,
        "RESOLVED": 3,
        "IGNORED": 4,
    }
