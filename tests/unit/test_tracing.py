"""Trace context: W3C ``traceparent`` read and written, spans nested with and without OpenTelemetry."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bot import tracing
from bot.tracing import TraceParent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"  # the W3C specification's example
SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.export_to(exporter)
    yield exporter
    tracing.shutdown()


def test_a_valid_traceparent_is_read_and_written_back() -> None:
    parent = TraceParent.parse(f"00-{TRACE}-{SPAN}-01")
    assert parent == TraceParent(TRACE, SPAN, sampled=True)
    assert parent.header() == f"00-{TRACE}-{SPAN}-01"
    assert TraceParent.parse(f"00-{TRACE}-{SPAN}-00") == TraceParent(TRACE, SPAN, sampled=False)
    assert TraceParent.parse(f"00-{TRACE}-{SPAN}-03".encode()) == TraceParent(TRACE, SPAN, sampled=True)  # bytes
    # a later version may add fields; its first four are read as version 00's
    assert TraceParent.parse(f"cc-{TRACE}-{SPAN}-01-what-the-future-holds") == TraceParent(TRACE, SPAN, True)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"00-{TRACE}-{SPAN}",  # no flags
        f"00-{TRACE.upper()}-{SPAN}-01",  # upper case is not allowed
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{SPAN}-01",
        "xoxb-not-a-traceparent",
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str | None) -> None:
    assert TraceParent.parse(value) is None


def test_grpc_metadata_is_searched_for_it() -> None:
    metadata = [("token", "NO_TOKEN"), ("traceparent", f"00-{TRACE}-{SPAN}-01")]
    assert tracing.from_metadata(metadata) == TraceParent(TRACE, SPAN)
    assert tracing.from_metadata([("token", "x")]) is None and tracing.from_metadata(None) is None


def test_without_opentelemetry_spans_still_carry_the_trace() -> None:
    assert tracing.current() is None and tracing.headers() == {}
    with tracing.span("outer", parent=f"00-{TRACE}-{SPAN}-01") as outer:
        assert outer.context.trace_id == TRACE and outer.context.span_id != SPAN
        assert tracing.current() == outer.context
        with tracing.span("inner") as inner:
            assert inner.context.trace_id == TRACE and inner.context.span_id != outer.context.span_id
            body: dict[str, object] = {}
            tracing.stamp(body)
            assert body == {"traceparent": inner.context.header()}
            assert tracing.headers() == {"traceparent": inner.context.header()}
        assert tracing.current() == outer.context
    assert tracing.current() is None
    with tracing.span("root") as root:  # no parent: a new trace
        assert root.context.trace_id != TRACE and len(root.context.trace_id) == 32
        root.set("ignored", 1)
        root.fail("ERROR_X")  # nothing to mark without an exporter


def test_with_an_exporter_spans_nest_under_the_remote_parent(exported: InMemorySpanExporter) -> None:
    with tracing.span("Notification.dispatch", parent=f"00-{TRACE}-{SPAN}-01", kind=tracing.Kind.SERVER) as server:
        with tracing.span("slack chat.postMessage", kind=tracing.Kind.CLIENT, attributes={"slack.method": "x"}) as c:
            c.fail("channel_not_found")
        assert tracing.current() == server.context
    spans = {span.name: span for span in exported.get_finished_spans()}
    dispatch, call = spans["Notification.dispatch"], spans["slack chat.postMessage"]
    assert f"{dispatch.context.trace_id:032x}" == TRACE == f"{call.context.trace_id:032x}"
    assert dispatch.parent is not None and f"{dispatch.parent.span_id:016x}" == SPAN and dispatch.parent.is_remote
    assert call.parent is not None and call.parent.span_id == dispatch.context.span_id
    assert dispatch.kind is SpanKind.SERVER and call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.ERROR and call.status.description == "channel_not_found"
    assert call.attributes == {"slack.method": "x"}
    assert f"{dispatch.context.span_id:016x}" == server.context.span_id
    assert dispatch.resource.attributes["service.name"] == "slack-chatops"


def test_an_explicit_parent_wins_over_the_current_span(exported: InMemorySpanExporter) -> None:
    with tracing.span("lane"), tracing.span("outbox.deliver", parent=f"00-{TRACE}-{SPAN}-01"):
        pass
    deliver = next(s for s in exported.get_finished_spans() if s.name == "outbox.deliver")
    assert deliver.parent is not None and f"{deliver.parent.span_id:016x}" == SPAN


def test_an_exception_marks_the_span_and_passes_through(exported: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span("broken"):
        raise ValueError("boom")
    (broken,) = exported.get_finished_spans()
    assert broken.status.status_code is StatusCode.ERROR


def test_nothing_is_exported_without_an_endpoint_or_when_disabled() -> None:
    assert not tracing.configure_from_env({})
    assert not tracing.configure_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing.configure_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}
    )
    assert not tracing.exporting()


def test_an_endpoint_without_the_extra_installed_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    try:
        installed = importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:  # not even its parent package
        installed = False
    if installed:
        pytest.skip("the otel extra is installed here; the test is about its absence")
    with caplog.at_level(logging.WARNING, logger="bot.tracing"):
        assert not tracing.configure_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert "install slack-chatops[otel]" in caplog.text and not tracing.exporting()
