"""Traces end to end: Cloudforet's client's ``traceparent`` becomes the parent of the dispatch, its delivery and its
Slack calls (even through the outbox when Slack is down); a click's trace reaches the Cloudforet callback."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bot import tracing
from bot.logging_setup import handler_for
from bot.store import ItemState
from bot.tracing import TraceParent
from tests.cloudforet.client_venv import CloudforetClient
from tests.interactivity_support import click_stack, wait_for
from tests.process import ROOT
from tests.samples import TOKEN, alerting_message
from tests.support import CHANNEL_ID, dispatch_request, live_stack


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.export_to(exporter)
    yield exporter
    tracing.shutdown()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = handler_for("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # a posted dispatch's own line is at DEBUG (its card's line is at INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _hex(number: int, digits: int) -> str:
    return f"{number:0{digits}x}"


def _named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def _parent_id(span: ReadableSpan) -> str:
    assert span.parent is not None, f"{span.name} has no parent"
    return _hex(span.parent.span_id, 16)


def test_the_traceparent_cloudforet_sends_is_the_parent_of_everything_the_dispatch_does(
    tmp_path: Path, cloudforet_client: CloudforetClient, spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    params = {
        "options": {},
        "message": alerting_message(),
        "notification_type": "ERROR",
        "secret_data": {},
        "channel_data": {"token": TOKEN, "channel": "#alerts"},
    }
    with live_stack(tmp_path) as stack:
        answer = cloudforet_client.call(f"grpc://{stack.address}", "Notification.dispatch", params)
        assert answer["ok"], answer
        assert len(stack.posted()) == 1
    sent = answer["trace"]  # the span SpaceConnector.dispatch sent as traceparent, in the runner's trace
    finished = spans.get_finished_spans()
    [dispatch] = _named(finished, "Notification.dispatch")
    assert _hex(dispatch.context.trace_id, 32) == sent["trace_id"]
    assert _parent_id(dispatch) == sent["span_id"] and dispatch.parent is not None and dispatch.parent.is_remote
    assert dispatch.kind is SpanKind.SERVER and dispatch.attributes == {"rpc.system": "grpc"}
    [deliver] = _named(finished, "outbox.deliver")
    assert deliver.context.trace_id == dispatch.context.trace_id
    assert _parent_id(deliver) == _hex(dispatch.context.span_id, 16)  # through the item's body
    [post] = _named(finished, "slack chat.postMessage")
    assert post.context.trace_id == dispatch.context.trace_id and post.kind is SpanKind.CLIENT
    assert _parent_id(post) == _hex(deliver.context.span_id, 16)

    # and the log lines of that dispatch carry its trace: the card line ties it to the Slack message
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    [card] = [line for line in lines if line.get("event") == "card"]
    assert card["trace_id"] == sent["trace_id"] and card["channel"] == CHANNEL_ID and card["ts"]
    assert card["alert"] == "alert:alert-x1v2c3v456" and card["outcome"] == "posted"
    [answered] = [line for line in lines if line.get("event") == "dispatch"]
    assert answered["trace_id"] == sent["trace_id"] and answered["outcome"] == "posted"


def test_a_queued_notification_keeps_its_trace_in_the_store(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    parent = TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    with live_stack(tmp_path, dispatch_wait=0.3) as stack:
        stack.slack.outage(2.0)  # Slack is down: the dispatch is answered once the item is written down
        request = dispatch_request(alerting_message())
        stack.notification.dispatch(request, timeout=20, metadata=[("traceparent", parent.header())])
        [entry] = stack.loop.run(stack.runtime.store.outbox_entries(ItemState.PENDING))
        kept = TraceParent.parse(entry.item.body["traceparent"])
        assert kept is not None and kept.trace_id == parent.trace_id
        wait_for(lambda: len(stack.posted()) == 1, what="the card once Slack is back")
    finished = spans.get_finished_spans()
    [dispatch] = _named(finished, "Notification.dispatch")
    assert _hex(dispatch.context.span_id, 16) == kept.span_id and _parent_id(dispatch) == parent.span_id
    delivered = [s for s in _named(finished, "outbox.deliver") if s.status.is_ok]
    assert delivered and all(_parent_id(s) == kept.span_id for s in delivered)
    failed_posts = [s for s in _named(finished, "slack chat.postMessage") if not s.status.is_ok]
    assert failed_posts and all(s.context.trace_id == dispatch.context.trace_id for s in failed_posts)


def test_a_click_carries_its_trace_to_the_cloudforet_callback(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    with click_stack(tmp_path) as clicks:
        ts, _ = clicks.post_alert()
        assert clicks.click(clicks.payload(ts)).status == 200
        wait_for(lambda: clicks.cloudforet.requests, what="the callback")
        wait_for(lambda: _named(spans.get_finished_spans(), "slack.click"), what="the click's span")
        headers: dict[str, Any] = {k.lower(): v for k, v in clicks.cloudforet.requests[0].headers.items()}
    finished = spans.get_finished_spans()
    [click] = _named(finished, "slack.click")
    [callback] = _named(finished, "cloudforet.callback")
    assert click.parent is None and click.kind is SpanKind.SERVER  # Slack sends no trace: a click starts one
    assert callback.context.trace_id == click.context.trace_id and _parent_id(callback) == _hex(
        click.context.span_id, 16
    )
    assert callback.attributes is not None and callback.attributes["slack_chatops.outcome"] == "done"
    sent = TraceParent.parse(headers.get("traceparent"))
    assert sent == TraceParent(_hex(click.context.trace_id, 32), _hex(callback.context.span_id, 16))


_WITHOUT_OPENTELEMETRY = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NotInstalled())
"""
_RUN = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
import bot.cli, bot.runtime, bot.tracing
assert not bot.tracing.configure_from_env({})
with bot.tracing.span("dispatch") as span:
    assert bot.tracing.headers()["traceparent"].startswith("00-" + span.context.trace_id)
print("spans built:", sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk.trace")))
if "opentelemetry" not in sys.modules:
    assert not bot.tracing.configure_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
"""


@pytest.mark.parametrize("installed", [False, True])
def test_without_the_otel_extra_the_plugin_needs_and_builds_nothing_of_it(installed: bool) -> None:
    """Where OpenTelemetry is missing the plugin runs (trace ids and all), and an OTLP endpoint set anyway is one
    warning; where it is installed, nothing of its SDK's tracing is loaded until an endpoint is set."""
    code = _RUN if installed else _WITHOUT_OPENTELEMETRY + _RUN
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "spans built: []" in lines
    if not installed:
        assert lines[-1].startswith("an OTLP endpoint is set but OpenTelemetry is not installed")
