"""The gRPC plugin API over a real socket: init, verify, dispatch, reflection, health and error mapping."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bot.cloudforet._proto.spaceone.api.notification.plugin import protocol_pb2
from bot.cloudforet.servicers import dict_to_struct
from tests.fakes.slack import FakeSlack, validate_blocks
from tests.interactivity_support import wait_for
from tests.samples import ACCESS_KEY, CALLBACK_URL, LINK, TOKEN, alerting_message
from tests.support import CHANNEL_ID, Stack, details_of, dispatch_request, live_stack, notification_type_number


def test_init_returns_the_channel_schema_without_calling_slack(stack: Stack) -> None:
    info = stack.protocol.init(protocol_pb2.InitRequest(options=dict_to_struct({})), timeout=5)
    metadata = json_format.MessageToDict(info.metadata)
    assert metadata["data_type"] == "SECRET"
    schema = metadata["data"]["schema"]
    assert schema["required"] == ["token", "channel"]
    assert {"token", "channel", "channel_id"} <= set(schema["properties"])
    assert all(prop.get("title") for prop in schema["properties"].values())
    assert schema["properties"]["token"]["pattern"].startswith("^xox")
    assert stack.slack.calls == []


def test_reflection_lists_and_describes_the_plugin_services(stack: Stack) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(stack.channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="spaceone.api.notification.plugin.Notification"),
    ]
    answers = list(stub.ServerReflectionInfo(iter(requests), timeout=5))
    names = {s.name for s in answers[0].list_services_response.service}
    assert {
        "spaceone.api.notification.plugin.Protocol",
        "spaceone.api.notification.plugin.Notification",
        "grpc.health.v1.Health",
    } <= names
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in answers[1].file_descriptor_response.file_descriptor_proto
    ]
    assert "spaceone/api/notification/plugin/notification.proto" in {f.name for f in files}


def test_health_is_serving(stack: Stack) -> None:
    stub = health_pb2_grpc.HealthStub(stack.channel)
    for service in ("", "spaceone.api.notification.plugin.Notification"):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_dispatch_posts_a_card_slack_accepts(stack: Stack) -> None:
    stack.dispatch(alerting_message())
    [message] = stack.posted()
    assert message.blocks[0]["text"]["text"].endswith("[Alerting] Notification of access to the SpaceONE")
    assert message.attachments[0]["color"] == "#E01E5A"
    errors, _ = validate_blocks(message.blocks, message.attachments)
    assert errors == []
    recorded = json.dumps([message.text, message.blocks, message.attachments])
    assert CALLBACK_URL not in recorded and ACCESS_KEY in LINK  # the link button carries the link, by design
    buttons = message.attachments[0]["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open in Cloudforet", "Acknowledge Alerts"]
    assert buttons[1]["value"].startswith("v1.")


def test_dispatch_by_channel_id_and_token_from_secret_data(stack: Stack) -> None:
    stack.dispatch(
        {"title": "hello"},
        channel_data={"channel": "whatever", "channel_id": CHANNEL_ID},
        secret_data={"token": TOKEN},
        notification_type="INFO",
    )
    [message] = stack.posted()
    assert message.attachments[0]["color"] == "#1D9BD1"


def test_a_notification_type_number_this_plugin_does_not_know_is_none(stack: Stack) -> None:
    request = dispatch_request({"title": "hello"})
    request.notification_type = notification_type_number(9)  # a type Cloudforet might add later
    stack.notification.dispatch(request, timeout=30)
    [message] = stack.posted()
    assert message.attachments[0]["color"] == "#9E9E9E" and message.blocks[0]["text"]["text"] == ":white_circle: hello"


def _error(stack: Stack, message: dict[str, Any], **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stack.dispatch(message, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("channel_data", "status", "details"),
    [
        ({}, grpc.StatusCode.INVALID_ARGUMENT, "ERROR_INVALID_CHANNEL_DATA: channel_data.token is required"),
        ({"token": TOKEN}, grpc.StatusCode.INVALID_ARGUMENT, "ERROR_INVALID_CHANNEL_DATA: channel_data.channel is"),
        ({"token": "xoxb-unknown-1", "channel": "alerts"}, grpc.StatusCode.UNAUTHENTICATED, "ERROR_SLACK_AUTH:"),
        ({"token": "xoxb-inactive-1", "channel": "alerts"}, grpc.StatusCode.UNAUTHENTICATED, "account_inactive"),
        ({"token": TOKEN, "channel": "#nope"}, grpc.StatusCode.FAILED_PRECONDITION, "ERROR_SLACK_CHANNEL_NOT_FOUND:"),
        ({"token": TOKEN, "channel": "secret-ops"}, grpc.StatusCode.FAILED_PRECONDITION, "/invite @"),
        (
            {"token": TOKEN, "channel": "old-alerts"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "ERROR_SLACK_CHANNEL_ARCHIVED",
        ),
    ],
)
def test_errors_are_typed_and_coded(
    stack: Stack, channel_data: dict[str, Any], status: grpc.StatusCode, details: str
) -> None:
    error = _error(stack, alerting_message(), channel_data=channel_data)
    assert error.code() == status
    answered = details_of(error)
    assert details in answered
    assert answered.startswith("ERROR_")
    assert TOKEN not in answered and CALLBACK_URL not in answered
    assert stack.posted() == []
    if status is not grpc.StatusCode.INVALID_ARGUMENT:  # it reached delivery: recorded with its reason
        [(_, _, reason)] = stack.loop.run(stack.runtime.store.failed_items())
        assert reason == answered


def test_not_in_channel_hint(stack: Stack) -> None:
    stack.slack.add_channel("quiet", "C0QUIET001", bot_member=False)
    error = _error(stack, {"title": "x"}, channel_data={"token": TOKEN, "channel": "quiet"})
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(error).startswith("ERROR_SLACK_NOT_IN_CHANNEL") and "/invite @" in details_of(error)


def test_slack_outage_is_queued_and_delivered_after(tmp_path: Path) -> None:
    with live_stack(tmp_path, dispatch_wait=0.5) as stack:
        stack.slack.outage(1.5)
        started = time.monotonic()
        stack.dispatch({"title": "during the outage"})  # answered OK once durably queued
        assert time.monotonic() - started < 2 and stack.posted() == []
        assert stack.loop.run(stack.runtime.store.outbox_counts()) == {"pending": 1}  # written down before the answer
        wait_for(lambda: len(stack.posted()) == 1, what="delivery after the outage")
        wait_for(lambda: stack.loop.run(stack.runtime.store.outbox_counts()) == {}, what="delivered items forgotten")
        attempts = [c.status for c in stack.slack.calls if c.method == "chat.postMessage"]
        assert attempts[0] == 503 and attempts[-1] == 200


def test_rate_limit_is_honoured_and_nothing_is_lost(tmp_path: Path) -> None:
    fake = FakeSlack(post_rate_per_channel=0.5, post_burst=1, retry_after=1)
    with live_stack(tmp_path, fake, dispatch_wait=3) as stack:
        stack.dispatch({"title": "first"})
        stack.dispatch({"title": "second"})  # Slack says 429 + Retry-After: 1; we wait and send again
        wait_for(lambda: len(stack.posted()) == 2, what="both posted")
        attempts = [c.status for c in stack.slack.calls if c.method == "chat.postMessage"]
        assert attempts.count(200) == 2 and 1 <= attempts.count(429) <= 2
        assert [m.blocks[0]["text"]["text"][-6:] for m in stack.posted()] == [" first", "second"]


def test_slow_slack_never_holds_the_dispatch_past_the_wait(tmp_path: Path) -> None:
    with live_stack(tmp_path, dispatch_wait=0.3) as stack:
        stack.slack.delay = 1.0
        started = time.monotonic()
        stack.dispatch({"title": "x"})
        assert time.monotonic() - started < 0.9
        wait_for(lambda: len(stack.posted()) == 1, what="delivery")


def test_identical_dispatch_repeated_is_posted_once(stack: Stack) -> None:
    stack.dispatch(alerting_message())
    stack.dispatch(alerting_message())
    stack.dispatch({"title": "different"})
    assert len(stack.posted()) == 2


def test_a_failed_dispatch_can_be_sent_again_once_fixed(stack: Stack) -> None:
    channel = {"token": TOKEN, "channel": "#late-channel"}
    with pytest.raises(grpc.RpcError):
        stack.dispatch({"title": "x"}, channel_data=channel)
    stack.slack.add_channel("late-channel", "C0LATE0001")  # the operator fixes the cause
    stack.dispatch({"title": "x"}, channel_data=channel)  # the same dispatch again is not taken for a repeat
    assert len(stack.posted("C0LATE0001")) == 1


def test_verify_calls_auth_test(stack: Stack) -> None:
    stack.protocol.verify(
        protocol_pb2.PluginVerifyRequest(options=dict_to_struct({}), secret_data=dict_to_struct({"token": TOKEN})),
        timeout=5,
    )
    assert [c.method for c in stack.slack.calls] == ["auth.test"]
    with pytest.raises(grpc.RpcError) as caught:
        stack.protocol.verify(
            protocol_pb2.PluginVerifyRequest(secret_data=dict_to_struct({"token": "xoxb-revoked-9"})), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details_of(caught.value).startswith("ERROR_SLACK_AUTH")
    with pytest.raises(grpc.RpcError) as caught:
        stack.protocol.verify(
            protocol_pb2.PluginVerifyRequest(secret_data=dict_to_struct({"token": "nope"})), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_verify_without_a_token_has_nothing_to_check(stack: Stack) -> None:
    stack.protocol.verify(protocol_pb2.PluginVerifyRequest(), timeout=5)
    assert stack.slack.calls == []
