"""Cloudforet's own client (SpaceConnector from spaceone-core, in its own venv) against the real server process.

It discovers our services through gRPC reflection and calls them exactly as Cloudforet's notification service
does; the fake Slack records what a channel would show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloudforet.client_venv import CloudforetClient
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack, validate_blocks
from tests.interactivity_support import SIGNING_SECRET, wait_for
from tests.process import ServerProcess, server_process
from tests.samples import CALLBACK_URL, TOKEN, alerting_message, resolved_message
from tests.support import CHANNEL_ID, BackgroundLoop

CHANNEL = {"token": TOKEN, "channel": "#alerts"}


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[ServerProcess]:
    with server_process(tmp_path, fake_slack.base_url) as running:
        yield running


def _dispatch(
    client: CloudforetClient,
    server: ServerProcess,
    message: dict[str, Any],
    notification_type: str = "ERROR",
    channel_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    params = {
        "options": {},
        "message": message,
        "notification_type": notification_type,
        "secret_data": {},
        "channel_data": channel_data or CHANNEL,
    }
    return client.call(f"grpc://{server.endpoint}", "Notification.dispatch", params)


def test_init_and_verify(cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack) -> None:
    endpoint = f"grpc://{server.endpoint}"
    answer = cloudforet_client.call(endpoint, "Protocol.init", {"options": {}})
    assert answer["ok"], answer
    metadata = answer["result"]["metadata"]
    assert metadata["data_type"] == "SECRET"
    assert set(metadata["data"]["schema"]["required"]) == {"token", "channel"}
    # What benchmarks ask: the same call, its result left out of the runner's answer.
    assert cloudforet_client.call(endpoint, "Protocol.init", {"options": {}}, discard=True)["result"] == {}
    answer = cloudforet_client.call(endpoint, "Protocol.verify", {"options": {}, "secret_data": {"token": TOKEN}})
    assert answer["ok"], answer
    assert [c.method for c in fake_slack.calls] == ["auth.test"]
    answer = cloudforet_client.call(
        endpoint, "Protocol.verify", {"options": {}, "secret_data": {"token": "xoxb-0-revoked"}}
    )
    assert not answer["ok"] and answer["status"] == "UNAUTHENTICATED"
    assert answer["details"].startswith("ERROR_SLACK_AUTH")


def test_alerting_then_resolved(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    assert _dispatch(cloudforet_client, server, alerting_message())["ok"]
    assert _dispatch(cloudforet_client, server, resolved_message(), "SUCCESS")["ok"]
    [card] = fake_slack.messages[CHANNEL_ID]  # one living card for the alert
    first = card.updates and fake_slack.calls[[c.method for c in fake_slack.calls].index("chat.postMessage")]
    assert first and first.params["blocks"][0]["text"]["text"] == (
        ":red_circle: [Alerting] Notification of access to the SpaceONE"
    )
    assert "Acknowledge Alerts" in json.dumps(first.params["attachments"])
    assert CALLBACK_URL not in json.dumps(first.params["attachments"])
    assert card.blocks and card.attachments
    assert card.blocks[0]["text"]["text"].startswith(":white_check_mark: [Resolved]")
    assert card.attachments[0]["color"] == "#2EB67D"
    assert "Acknowledge Alerts" not in json.dumps(card.attachments)
    assert [str(r.text).split(" at ")[0] for r in card.replies] == [":white_check_mark: Resolved"]


def test_forty_tags_and_a_long_description(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    tags = [{"key": f"Tag {i}", "value": f"value {i} " * 20, "options": {"short": i % 2 == 0}} for i in range(40)]
    answer = _dispatch(cloudforet_client, server, alerting_message(tags=tags, description="D" * 10_000))
    assert answer["ok"], answer
    [message] = fake_slack.messages[CHANNEL_ID]
    errors, total = validate_blocks(message.blocks, message.attachments)
    assert errors == [] and total <= 12_000
    shown = json.dumps(message.attachments)
    assert "Tag 0" in shown and "Shortened to fit Slack" in shown and "10,000 characters" in shown


def test_errors_reach_the_client_coded_and_are_not_retried(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    answer = _dispatch(cloudforet_client, server, alerting_message(), channel_data={"token": TOKEN, "channel": "#gone"})
    assert not answer["ok"]
    assert answer["status"] == "FAILED_PRECONDITION"
    assert answer["details"].startswith("ERROR_SLACK_CHANNEL_NOT_FOUND:")
    answer = _dispatch(cloudforet_client, server, {"title": "x"}, channel_data={"channel": "#alerts"})
    assert answer["status"] == "INVALID_ARGUMENT" and "channel_data.token is required" in answer["details"]
    posts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
    assert len(posts) == 1  # Cloudforet's client did not retry the coded error into a second attempt
    assert TOKEN not in json.dumps(answer)


def test_end_to_end_dispatch_click_callback_card(
    cloudforet_client: CloudforetClient,
    tmp_path: Path,
    background: BackgroundLoop,
    fake_slack: FakeSlack,
    fake_cloudforet: FakeCloudforet,
) -> None:
    """Cloudforet dispatches, Slack shows the card, someone clicks, Cloudforet records the ack, the card says so."""
    with server_process(tmp_path, fake_slack.base_url, SLACK_SIGNING_SECRET=SIGNING_SECRET) as server:
        url = fake_cloudforet.issue_key("alert-e2e")
        fake_cloudforet.slow(url, 1.0)
        assert _dispatch(cloudforet_client, server, alerting_message(callback_url=url))["ok"]
        [card] = fake_slack.messages[CHANNEL_ID]
        payload = fake_slack.block_actions_payload(CHANNEL_ID, card.ts, "callback_0", user_id="U0BOB", user_name="bob")
        events = f"http://127.0.0.1:{server.http_port}/slack/events"
        result = background.run(fake_slack.click(events, SIGNING_SECRET, payload))
        assert result.status == 200 and result.elapsed < 0.9  # acked before the 1 s callback finished
        wait_for(lambda: "*Acknowledged* by <@U0BOB>" in str(card.attachments), what="acknowledged card")
        [request] = fake_cloudforet.requests
        assert request.method == "POST" and request.json == {"responder": "bob (Slack U0BOB)"}
        assert fake_cloudforet.alerts["alert-e2e"]["state"] == "ACKNOWLEDGED"
        assert "callback_0" not in json.dumps(card.attachments)
    log = server.log()
    assert url not in log and TOKEN not in log and SIGNING_SECRET not in log


def test_huge_input_comes_back_as_a_short_coded_error(
    cloudforet_client: CloudforetClient, server: ServerProcess, fake_slack: FakeSlack
) -> None:
    """The regression: a 10,000-character channel ID went to Slack and was echoed whole into the details, past
    what a gRPC client with the default 8 KiB metadata limit accepts (RESOURCE_EXHAUSTED without ERROR_)."""
    for channel_data in (
        {"token": TOKEN, "channel": "#alerts", "channel_id": "C" + "A" * 9_999},
        {"token": TOKEN + "\n", "channel": "#" + "é" * 80},
    ):
        answer = _dispatch(cloudforet_client, server, {"title": "x"}, channel_data=channel_data)
        assert answer.get("status") == "INVALID_ARGUMENT", answer.get("status")
        assert answer["details"].startswith("ERROR_INVALID_CHANNEL_DATA:") and len(answer["details"]) < 300
    assert [c for c in fake_slack.calls if c.method == "chat.postMessage"] == []
