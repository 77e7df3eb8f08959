"""``slack-chatops send``'s requests, built as Cloudforet builds them (no server: tests/integration/test_send.py
sends them to a running plugin)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from bot.cloudforet.alert_manager import message_to_struct
from bot.cloudforet.apis import CloudforetApi
from bot.cloudforet.servicers import struct_to_dict
from bot.core.lifecycle import AlertPhase, alert_keys, phase_of
from bot.core.models import Message, NotificationType
from bot.core.requests import parse_channel
from bot.ops import add_commands
from bot.ops.send import APIS, SAMPLE_DOMAIN, dispatch_request, sample_alert
from bot.startup import next_step

NOW = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
TOKEN = "xoxb-1-2-unit"


def _read(api: CloudforetApi, notification_type: NotificationType, resolved: bool = False) -> Message:
    """The message the plugin reads from the request ``send`` makes."""
    request = dispatch_request(APIS[api], sample_alert("#123", resolved, NOW), notification_type, "#alerts", TOKEN)
    assert parse_channel(struct_to_dict(request.channel_data)).channel == "#alerts"
    type_names = request.DESCRIPTOR.fields_by_name["notification_type"].enum_type.values_by_number
    assert type_names[request.notification_type].name == notification_type.value  # by name, in either API's numbers
    if api is CloudforetApi.ALERT_MANAGER:
        assert request.domain_id == SAMPLE_DOMAIN
        return Message.from_struct(message_to_struct(request.message, request.domain_id))
    return Message.from_struct(struct_to_dict(request.message))


@pytest.mark.parametrize("api", list(CloudforetApi))
def test_the_alert_and_its_resolution_are_one_alert_of_its_own_domain(api: CloudforetApi) -> None:
    alerting = _read(api, NotificationType.WARNING)
    resolved = _read(api, NotificationType.SUCCESS, resolved=True)
    assert phase_of(alerting) is AlertPhase.ALERTING and phase_of(resolved) is AlertPhase.RESOLVED
    assert alert_keys(alerting) == alert_keys(resolved) != []
    assert all(SAMPLE_DOMAIN in key for key in alert_keys(alerting))  # never a real alert's card
    assert alerting.occurred_at == NOW


def test_the_command_line_takes_every_notification_type_by_name() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    for kind in NotificationType:
        assert parser.parse_args(["send", "--channel", "C0X", "--type", kind.name.lower()]).type == kind.name
    args = parser.parse_args(["send", "--channel", "#alerts"])
    assert (args.type, args.resolve, args.endpoint) == ("ERROR", False, None)


@pytest.mark.parametrize(
    ("host", "port", "endpoint"),
    [
        ("[::]", 50051, ""),
        ("0.0.0.0", 50051, ""),
        ("127.0.0.1", 50052, " --endpoint 127.0.0.1:50052"),
        ("10.1.2.3", 50051, " --endpoint 10.1.2.3:50051"),
    ],
)
def test_serve_names_the_next_step_with_the_endpoint_when_send_would_not_find_it(
    host: str, port: int, endpoint: str
) -> None:
    line = next_step(host, port)
    assert line.startswith(f"sent nothing yet? try: slack-chatops send --channel '#…'{endpoint} --resolve")
