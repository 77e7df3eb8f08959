"""``/metrics`` of the plugin as users run it: every series at zero on start, then moving as a dispatch, a failure,
a 429 and a click happen; the formats a Prometheus server asks for."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2_grpc
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import SIGNING_SECRET, click_stack, wait_for
from tests.process import ServerProcess, server_process, wait_for_port
from tests.samples import TOKEN, alerting_message
from tests.support import CHANNEL_ID, BackgroundLoop, dispatch_request

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# Gauges that are not zero on a healthy idle plugin.
LIVE = {"slack_chatops_build_info", "slack_chatops_store_up"}


def scrape(server: ServerProcess, accept: str = "") -> tuple[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/metrics", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def samples(server: ServerProcess) -> Samples:
    _, text = scrape(server)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(served: Samples, name: str, **labels: str) -> float:
    return served[(name, tuple(sorted(labels.items())))]


def test_metrics_start_at_zero_and_move_with_what_happens(
    tmp_path: Path, background: BackgroundLoop, fake_slack: FakeSlack, fake_cloudforet: FakeCloudforet
) -> None:
    env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "BOT_DISPATCH_WAIT": "3", "BOT_SLACK_POST_RATE": "0"}
    with server_process(tmp_path, fake_slack.base_url, **env) as server:
        wait_for_port(server.http_port, process=server.process)
        start = samples(server)
        ours = {key: v for key, v in start.items() if key[0].startswith("slack_chatops_")}
        assert len(ours) > 300  # every label combination of every metric, bucket by bucket
        assert {key: v for key, v in ours.items() if v != 0 and key[0] not in LIVE} == {}
        assert value(start, "slack_chatops_store_up") == 1
        assert value(start, "process_resident_memory_bytes") > 0  # the client library's process metrics

        with grpc.insecure_channel(server.endpoint) as channel:
            notification = notification_pb2_grpc.NotificationStub(channel)
            # a dispatch, posted
            url = fake_cloudforet.issue_key("alert-m1")
            notification.dispatch(dispatch_request(alerting_message(callback_url=url)), timeout=20)
            # failures: Slack knows no such channel; no token at all
            for channel_data in ({"token": TOKEN, "channel": "#missing"}, {"channel": "#alerts"}):
                try:
                    notification.dispatch(dispatch_request(alerting_message(), channel_data=channel_data), timeout=20)
                except grpc.RpcError:
                    pass
                else:
                    raise AssertionError("the dispatch should have failed")
            # a 429: Slack rate-limits for a second; the outbox waits its Retry-After and delivers
            fake_slack.web_api.retry_after = 1
            fake_slack.outage(1.0, status=429)
            notification.dispatch(
                dispatch_request(alerting_message(callback_url=fake_cloudforet.issue_key("alert-m2"))), timeout=20
            )
        wait_for(lambda: len(fake_slack.messages[CHANNEL_ID]) == 2, what="the rate-limited card")

        # a click on the first card, and a forged one
        ts = fake_slack.messages[CHANNEL_ID][0].ts
        events = f"http://127.0.0.1:{server.http_port}/slack/events"
        payload = fake_slack.block_actions_payload(CHANNEL_ID, ts, "callback_0")
        assert background.run(fake_slack.click(events, SIGNING_SECRET, payload)).status == 200
        forged = background.run(fake_slack.click(events, SIGNING_SECRET, payload, signature="v0=" + "0" * 64))
        assert forged.status == 401
        wait_for(lambda: len(fake_cloudforet.requests) == 1, what="the callback")

        def moved(name: str, **labels: str) -> Callable[[], float]:
            return lambda: value(samples(server), name, **labels) - value(start, name, **labels)

        wait_for(lambda: moved("slack_chatops_clicks_total", outcome="done")() == 1, what="the click counted")
        end = samples(server)

    def delta(name: str, **labels: str) -> float:
        return value(end, name, **labels) - value(start, name, **labels)

    answered = sum(delta("slack_chatops_notifications_total", outcome=o) for o in ("posted", "queued"))
    assert answered == 2 and delta("slack_chatops_notifications_total", outcome="failed") == 2
    assert delta("slack_chatops_notifications_failed_total", reason="ERROR_SLACK_CHANNEL_NOT_FOUND") == 1
    assert delta("slack_chatops_notifications_failed_total", reason="ERROR_INVALID_CHANNEL_DATA") == 1
    assert delta("slack_chatops_dispatch_duration_seconds_count", outcome="failed") == 1  # the other never got there
    assert delta("slack_chatops_cards_total", action="posted") == 2
    assert delta("slack_chatops_notification_latency_seconds_count") == 2
    assert delta("slack_chatops_slack_rate_limited_total", method="chat.postMessage") >= 1
    assert delta("slack_chatops_slack_retry_after_seconds_total", method="chat.postMessage") >= 1
    assert delta("slack_chatops_slack_requests_failed_total", method="chat.postMessage", reason="rate_limited") >= 1
    assert delta("slack_chatops_slack_requests_failed_total", method="chat.postMessage", reason="api_error") == 1
    assert delta("slack_chatops_outbox_retries_total") >= 1
    assert delta("slack_chatops_slack_request_duration_seconds_count", method="chat.postMessage") >= 4
    assert delta("slack_chatops_click_ack_duration_seconds_count", transport="http") == 1
    assert delta("slack_chatops_callback_duration_seconds_count", outcome="done") == 1
    assert delta("slack_chatops_interactions_refused_total", transport="http", reason="signature") == 1
    assert value(end, "slack_chatops_outbox_depth") == 0 and value(end, "slack_chatops_outbox_lanes") >= 1


def test_the_openmetrics_format_when_the_scraper_asks_for_it(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with server_process(tmp_path, fake_slack.base_url) as server:
        wait_for_port(server.http_port, process=server.process)
        accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        content_type, text = scrape(server, accept)  # what Prometheus 2.x sends
        assert content_type.startswith("application/openmetrics-text; version=1.0.0")
        parsed = openmetrics_families(text)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
        names = {family.name for family in parsed}  # it parses (and so ends with # EOF)
        assert {"slack_chatops_notifications", "slack_chatops_clicks", "slack_chatops_outbox_depth"} <= names
        content_type, text = scrape(server)
        assert content_type == "text/plain; version=0.0.4; charset=utf-8" and "# EOF" not in text


def test_the_live_gauges_follow_the_running_plugin(tmp_path: Path) -> None:
    """Outbox depth, lanes and the oldest item's age while Slack is down; Socket Mode connected; the store up."""
    with click_stack(tmp_path, transport="socket", dispatch_wait=0.2) as clicks:
        stack = clicks.stack
        base = f"http://127.0.0.1:{stack.runtime.http_port}/metrics"

        def gauges() -> Samples:
            with urllib.request.urlopen(base, timeout=10) as answer:
                text = answer.read().decode()
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name.startswith(("slack_chatops_outbox_", "slack_chatops_socket_mode", "slack_chatops_store"))
            }

        idle = gauges()
        assert value(idle, "slack_chatops_socket_mode_connections", state="connected") == 1
        assert value(idle, "slack_chatops_store_up") == 1 and value(idle, "slack_chatops_outbox_depth") == 0
        stack.slack.outage(30.0)  # Slack is down: the notification waits in the outbox
        stack.dispatch(alerting_message())
        time.sleep(1.0)
        down = gauges()
        assert value(down, "slack_chatops_outbox_depth") == 1 and value(down, "slack_chatops_outbox_lanes") == 1
        assert value(down, "slack_chatops_outbox_oldest_item_age_seconds") >= 1
        stack.slack.outage(0)
