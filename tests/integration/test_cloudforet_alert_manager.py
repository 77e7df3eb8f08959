"""Cloudforet 2.x's alert manager (``spaceone.api.alert_manager.plugin``), with Cloudforet's own client.

The plugin runs as users run it (``python -m bot serve`` with ``BOT_CLOUDFORET_API=alert-manager``); SpaceConnector
discovers its services through reflection and calls them as the alert manager does, with the typed message, the
2.x notification types and a ``domain_id``; the fake Slack records what the channel shows. It also shows why the API
is chosen per deployment: on one port serving both packages, the client reaches only 1.x's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2, protocol_pb2
from bot.cloudforet.apis import CloudforetApi
from bot.cloudforet.server import register_api
from bot.cloudforet.servicers import dict_to_struct
from tests.cloudforet.client_venv import CloudforetClient
from tests.fakes.slack import FakeSlack, validate_blocks
from tests.process import ROOT, ServerProcess, free_port, server_process
from tests.samples import ACCESS_KEY, TOKEN, alert_tags
from tests.support import CHANNEL_ID, Stack, details_of, live_stack

CHANNEL = {"token": TOKEN, "channel": "#alerts"}
DOMAIN = "domain-1a2b3c4d5e6f"
OTHER_DOMAIN = "domain-9f8e7d6c5b4a"
ALERT_ID = "alert-0a1b2c3d4e5f"
WEBHOOK = "https://alert-manager-webhook.example.test"
# The colour bar of each notification type's card (bot/core/cards.py), by the name Cloudforet sends.
COLOURS = {
    "ERROR": "#E01E5A",
    "WARNING": "#ECB22E",
    "SUCCESS": "#2EB67D",
    "INFO": "#1D9BD1",
    "NOTIFICATION_TYPE_NONE": "#9E9E9E",
}
EMOJI = {
    "ERROR": ":red_circle:",
    "WARNING": ":warning:",
    "SUCCESS": ":white_check_mark:",
    "INFO": ":large_blue_circle:",
    "NOTIFICATION_TYPE_NONE": ":white_circle:",
}


def callback_url(domain: str = DOMAIN, alert_id: str = ALERT_ID) -> str:
    """A 2.x acknowledge callback: the webhook URL names the domain and the alert."""
    return f"{WEBHOOK}/monitoring/v1/domain/{domain}/alert/{alert_id}/{ACCESS_KEY}/ACKNOWLEDGED"


def alerting(domain: str = DOMAIN, alert_id: str = ALERT_ID, **extra: Any) -> dict[str, Any]:
    """A 2.x ``NotificationMessage`` (only its typed fields) for an alert that fired."""
    message: dict[str, Any] = {
        "title": "[Alerting] CPU above 90% on web-1",
        "description": "CPU utilisation has been above 90% for 5 minutes.",
        "link": f"https://console.example.test/alert-manager/alert/{alert_id}",
        "tags": alert_tags(),
        "callbacks": [{"label": "Acknowledge Alerts", "url": callback_url(domain, alert_id)}],
        "occurred_at": "2025-03-04T05:06:07.000Z",
    }
    message.update(extra)
    return message


def resolved(alert_id: str = ALERT_ID) -> dict[str, Any]:
    return {
        "title": "[Resolved] CPU above 90% on web-1",
        "description": "Back to normal.",
        "link": f"https://console.example.test/alert-manager/alert/{alert_id}",
        "tags": alert_tags(state="RESOLVED"),
        "occurred_at": "2025-03-04T05:30:00.000Z",
    }


def params(
    message: dict[str, Any],
    notification_type: str = "ERROR",
    *,
    domain_id: str = DOMAIN,
    channel_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``Notification.dispatch`` as the alert manager calls it."""
    return {
        "options": {},
        "secret_data": {},
        "channel_data": CHANNEL if channel_data is None else channel_data,
        "message": message,
        "notification_type": notification_type,
        "domain_id": domain_id,
    }


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[ServerProcess]:
    with server_process(tmp_path, fake_slack.base_url, BOT_CLOUDFORET_API="alert-manager") as running:
        yield running


def _posts(fake_slack: FakeSlack) -> int:
    return fake_slack.call_count("chat.postMessage")


# --------------------------------------------------------------------------------------------------------------------
# The real client against the 2.x package
# --------------------------------------------------------------------------------------------------------------------


def test_init_and_verify(cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack) -> None:
    endpoint = f"grpc://{server.endpoint}"
    answer = cloudforet_client.call(endpoint, "Protocol.init", {"options": {}, "domain_id": DOMAIN})
    assert answer["ok"], answer
    metadata = answer["result"]["metadata"]
    assert metadata["data_type"] == "SECRET"
    assert set(metadata["data"]["schema"]["required"]) == {"token", "channel"}
    verify = {"options": {}, "secret_data": {"token": TOKEN}, "domain_id": DOMAIN}
    answer = cloudforet_client.call(endpoint, "Protocol.verify", verify)
    assert answer["ok"], answer
    assert [c.method for c in fake_slack.calls] == ["auth.test"]
    verify["secret_data"] = {"token": "xoxb-0-revoked"}
    answer = cloudforet_client.call(endpoint, "Protocol.verify", verify)
    assert not answer["ok"] and answer["status"] == "UNAUTHENTICATED"
    assert answer["details"].startswith("ERROR_SLACK_AUTH")
    assert "spaceone.api.alert_manager.plugin" in server.log()


@pytest.mark.parametrize("notification_type", list(COLOURS))
def test_each_notification_type_gets_its_own_colour(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack, notification_type: str
) -> None:
    """The client sends 2.x's numbers (ERROR is 1 there, INFO in 1.x): an enum mix-up paints an error blue."""
    message = {"title": f"Disk check: {notification_type}", "description": "df -h /"}
    answer = cloudforet_client.call(
        f"grpc://{server.endpoint}", "Notification.dispatch", params(message, notification_type)
    )
    assert answer["ok"], answer
    [card] = fake_slack.messages[CHANNEL_ID]
    assert card.attachments and card.blocks
    assert card.attachments[0]["color"] == COLOURS[notification_type]
    assert card.blocks[0]["text"]["text"] == f"{EMOJI[notification_type]} Disk check: {notification_type}"


def test_alerting_then_resolved_is_one_living_card(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    endpoint = f"grpc://{server.endpoint}"
    answer = cloudforet_client.call(endpoint, "Notification.dispatch", params(alerting()))
    assert answer["ok"], answer
    [card] = fake_slack.messages[CHANNEL_ID]
    assert card.attachments and card.blocks
    errors, _ = validate_blocks(card.blocks, card.attachments)
    assert errors == []
    shown = json.dumps(card.attachments)
    assert "Acknowledge Alerts" in shown and "Open in Cloudforet" in shown and "Alert Number" in shown
    assert callback_url() not in shown  # sealed into the button, as for 1.x
    answer = cloudforet_client.call(endpoint, "Notification.dispatch", params(resolved(), "SUCCESS"))
    assert answer["ok"], answer
    [card] = fake_slack.messages[CHANNEL_ID]  # updated, not a second card
    assert card.blocks and card.attachments
    assert card.blocks[0]["text"]["text"].startswith(":white_check_mark: [Resolved]")
    assert "Acknowledge Alerts" not in json.dumps(card.attachments)
    assert [str(r.text).split(" at ")[0] for r in card.replies] == [":white_check_mark: Resolved"]


def test_the_same_alert_id_in_two_domains_is_two_alerts(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    endpoint = f"grpc://{server.endpoint}"
    for domain in (DOMAIN, OTHER_DOMAIN):
        assert cloudforet_client.call(endpoint, "Notification.dispatch", params(alerting(domain), domain_id=domain))[
            "ok"
        ]
    first, second = fake_slack.messages[CHANNEL_ID]  # the second domain's alert did not update the first's card
    # The first domain's alert resolves: its card turns green, the other domain's stays open.
    assert cloudforet_client.call(endpoint, "Notification.dispatch", params(resolved(), "SUCCESS"))["ok"]
    assert len(fake_slack.messages[CHANNEL_ID]) == 2
    assert first.attachments and second.attachments
    assert first.attachments[0]["color"] == COLOURS["SUCCESS"] and first.replies
    assert second.attachments[0]["color"] == COLOURS["ERROR"] and not second.replies and not second.updates


def test_bad_channel_data_and_bad_token_come_back_coded_and_are_not_retried(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    endpoint = f"grpc://{server.endpoint}"
    answer = cloudforet_client.call(endpoint, "Notification.dispatch", params(alerting(), channel_data={}))
    assert not answer["ok"] and answer["status"] == "INVALID_ARGUMENT", answer
    assert (
        answer["details"].startswith("ERROR_INVALID_CHANNEL_DATA:")
        and "channel_data.token is required" in (answer["details"])
    )
    assert _posts(fake_slack) == 0
    answer = cloudforet_client.call(
        endpoint,
        "Notification.dispatch",
        params(alerting(), channel_data={"token": "xoxb-0-revoked", "channel": "#alerts"}),
    )
    assert not answer["ok"] and answer["status"] == "UNAUTHENTICATED", answer
    assert answer["details"].startswith("ERROR_SLACK_AUTH")
    assert _posts(fake_slack) == 1  # Cloudforet's client did not retry the coded error into a second attempt
    assert fake_slack.messages[CHANNEL_ID] == []
    log = server.log()
    assert TOKEN not in log and callback_url() not in log and ACCESS_KEY not in log


def test_one_port_cannot_serve_both_packages(cloudforet_client: CloudforetClient, tmp_path: Path) -> None:
    """Why the API is a setting: SpaceConnector binds services by short name, the last one reflection lists
    winning, and reflection lists them sorted, so with both packages on one port every call goes to 1.x's
    ``Notification`` and ``Protocol``, and the alert manager's requests (with ``domain_id``) cannot be sent."""
    with live_stack(tmp_path) as stack:
        server, port = stack.loop.run(_serve_both_packages(stack))
        try:
            endpoint = f"grpc://127.0.0.1:{port}"
            answer = cloudforet_client.call(endpoint, "Notification.dispatch", params(alerting()))
            assert not answer["ok"] and answer["origin"] == "client", answer
            assert 'PluginDispatchRequest" has no field named "domain_id"' in answer["error"]
            answer = cloudforet_client.call(endpoint, "Protocol.init", {"options": {}, "domain_id": DOMAIN})
            assert not answer["ok"] and "spaceone.api.notification.plugin.InitRequest" in answer["error"], answer
            assert _posts(stack.slack) == 0
        finally:
            stack.loop.run(server.stop(0))


async def _serve_both_packages(stack: Stack) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    names = register_api(server, stack.runtime.service, CloudforetApi.ALERT_MANAGER)
    names += register_api(server, stack.runtime.service, CloudforetApi.NOTIFICATION)
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


# --------------------------------------------------------------------------------------------------------------------
# The 2.x package in process, with a bare gRPC client: reflection, health, wire numbers, unreadable requests
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def am_stack(tmp_path: Path) -> Iterator[Stack]:
    with live_stack(tmp_path, cloudforet_api=CloudforetApi.ALERT_MANAGER) as running:
        yield running


def test_reflection_and_health_offer_only_the_alert_manager_package(am_stack: Stack) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(am_stack.channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services="")]
    [listed] = list(stub.ServerReflectionInfo(iter(requests), timeout=5))
    names = {s.name for s in listed.list_services_response.service}
    assert names == {
        "spaceone.api.alert_manager.plugin.Protocol",
        "spaceone.api.alert_manager.plugin.Notification",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    health = health_pb2_grpc.HealthStub(am_stack.channel)
    for service in ("", "spaceone.api.alert_manager.plugin.Notification", "spaceone.api.alert_manager.plugin.Protocol"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    init = am_stack.channel.unary_unary(
        "/spaceone.api.alert_manager.plugin.Protocol/init",
        request_serializer=protocol_pb2.InitRequest.SerializeToString,
        response_deserializer=protocol_pb2.PluginInfo.FromString,
    )
    info = init(protocol_pb2.InitRequest(options=dict_to_struct({}), domain_id=DOMAIN), timeout=5)
    assert json_format.MessageToDict(info.metadata)["data_type"] == "SECRET"
    with pytest.raises(grpc.RpcError) as caught:  # 1.x's package is not served here
        _raw_call(am_stack, "/spaceone.api.notification.plugin.Protocol/init")(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_type_numbers_on_the_wire_are_read_with_2x_numbering(am_stack: Stack) -> None:
    """Number 1 is ERROR in 2.x (INFO in 1.x), 4 is INFO (WARNING in 1.x); an unknown number is NONE."""
    dispatch = _dispatch_stub(am_stack)
    for number, colour in ((1, COLOURS["ERROR"]), (4, COLOURS["INFO"]), (2, COLOURS["WARNING"]), (77, "#9E9E9E")):
        request = notification_pb2.DispatchRequest(
            options=dict_to_struct({}),
            secret_data=dict_to_struct({}),
            channel_data=dict_to_struct(CHANNEL),
            message=notification_pb2.NotificationMessage(title=f"type {number}"),
            notification_type=cast(notification_pb2.DispatchRequest.NotificationType, number),  # proto3: open enums
            domain_id=DOMAIN,
        )
        dispatch(request, timeout=30)
        card = am_stack.posted()[-1]
        assert card.attachments[0]["color"] == colour, number


def test_an_unreadable_request_is_a_coded_error(am_stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _raw_call(am_stack, "/spaceone.api.alert_manager.plugin.Notification/dispatch")(b"\xff\xff\xff", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(caught.value).startswith("ERROR_INVALID_MESSAGE:")
    assert am_stack.posted() == []


def _same(raw: bytes) -> bytes:
    return raw


def _raw_call(stack: Stack, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
    """A unary call that sends and returns bytes as they are."""
    return stack.channel.unary_unary(method, request_serializer=_same, response_deserializer=_same)


def _dispatch_stub(stack: Stack) -> grpc.UnaryUnaryMultiCallable[notification_pb2.DispatchRequest, bytes]:
    return stack.channel.unary_unary(
        "/spaceone.api.alert_manager.plugin.Notification/dispatch",
        request_serializer=notification_pb2.DispatchRequest.SerializeToString,
        response_deserializer=_same,
    )


def test_a_1x_message_naming_a_domain_id_keeps_its_1x_card_keys(stack: Stack) -> None:
    """1.x requests name no domain: a ``domain_id`` key inside a 1.x message Struct is ignored, so its
    ``[Resolved]`` (without it) still finds the card its ``[Alerting]`` posted."""
    stack.dispatch(alerting(callbacks=[{"label": "Acknowledge Alerts", "url": callback_url()}], domain_id=DOMAIN))
    stack.dispatch(resolved(), notification_type="SUCCESS")
    [card] = stack.posted()
    assert card.attachments and card.attachments[0]["color"] == COLOURS["SUCCESS"]


# --------------------------------------------------------------------------------------------------------------------
# The setting
# --------------------------------------------------------------------------------------------------------------------


def test_a_bad_api_setting_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "BOT_CLOUDFORET_API": "alert_manager_v2",
        "BOT_GRPC_PORT": str(free_port()),
        "BOT_GRPC_HOST": "127.0.0.1",
        "BOT_HTTP_PORT": "0",
        "BOT_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "invalid settings" in done.stderr and "BOT_CLOUDFORET_API" in done.stderr
    assert "Traceback" not in done.stderr
