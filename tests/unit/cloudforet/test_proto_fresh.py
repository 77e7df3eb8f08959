"""The generated modules in bot/cloudforet/_proto match the .proto files (regenerated with the pinned grpcio-tools)."""

import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

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
