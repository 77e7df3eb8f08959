"""No secret (bot token, callback URL, link with its access key) in any log line or error of a real run, in either
log format."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from bot.cloudforet._proto.spaceone.api.notification.plugin import (
    notification_pb2,
    notification_pb2_grpc,
    protocol_pb2,
    protocol_pb2_grpc,
)
from bot.cloudforet.servicers import dict_to_struct
from tests.fakes.slack import FakeSlack
from tests.process import server_process
from tests.samples import ACCESS_KEY, CALLBACK_URL, LINK, TOKEN, alerting_message
from tests.support import details_of


def _request(channel: str, token: str = TOKEN) -> notification_pb2.PluginDispatchRequest:
    return notification_pb2.PluginDispatchRequest(
        message=dict_to_struct(alerting_message(description=f"see {LINK}")),
        notification_type=notification_pb2.PluginDispatchRequest.ERROR,
        channel_data=dict_to_struct({"token": token, "channel": channel}),
        secret_data=dict_to_struct({"token": token}),
    )


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_in_logs_or_errors(tmp_path: Path, fake_slack: FakeSlack, log_format: str) -> None:
    bad_token = "xoxb-9999-8888-REVOKEDtoken"
    errors: list[str] = []
    with server_process(tmp_path, fake_slack.base_url, BOT_LOG_LEVEL="DEBUG", BOT_LOG_FORMAT=log_format) as server:
        with grpc.insecure_channel(server.endpoint) as channel:
            notification = notification_pb2_grpc.NotificationStub(channel)
            protocol = protocol_pb2_grpc.ProtocolStub(channel)
            notification.dispatch(_request("#alerts"), timeout=20)
            for request in (_request("#missing"), _request("#alerts", bad_token), _request("#old-alerts")):
                with pytest.raises(grpc.RpcError) as caught:
                    notification.dispatch(request, timeout=20)
                errors.append(details_of(caught.value))
            with pytest.raises(grpc.RpcError) as caught:
                protocol.verify(
                    protocol_pb2.PluginVerifyRequest(secret_data=dict_to_struct({"token": bad_token})), timeout=20
                )
            errors.append(details_of(caught.value))
    log = server.log()
    assert "Notification.dispatch failed: ERROR_SLACK_CHANNEL_NOT_FOUND" in log  # the log does say what failed
    if log_format == "json":  # one object per line, with the fields that say what failed
        lines = [json.loads(line) for line in log.splitlines()]
        failures = [line for line in lines if line.get("event") == "grpc_error"]
        assert {line["code"] for line in failures} >= {"ERROR_SLACK_CHANNEL_NOT_FOUND", "ERROR_SLACK_AUTH"}
        assert all(line["method"] and line["trace_id"] and line["duration_ms"] >= 0 for line in failures)
    else:
        assert not log.lstrip().startswith("{")
    assert len(fake_slack.messages["C0ALERTS01"]) == 1
    everything = log + "\n".join(errors)
    for secret in (TOKEN, bad_token, CALLBACK_URL, LINK, ACCESS_KEY, "REVOKEDtoken", "SECRETbottoken"):
        assert secret not in everything
    # and nothing channel members can read carries the callback URL or its access key
    posted = json.dumps(
        [m.blocks for m in fake_slack.messages["C0ALERTS01"]]
        + [m.attachments for m in fake_slack.messages["C0ALERTS01"]]
    )
    assert CALLBACK_URL not in posted
