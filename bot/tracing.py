"""Traces: the W3C trace context (``traceparent``) carried through the plugin, and spans when OpenTelemetry is on.

A dispatch continues the trace of the ``traceparent`` Cloudforet's client sends in its gRPC metadata (spaceone-core
sends one from every ``SpaceConnector`` call), or starts one; the trace travels with the notification into the
outbox (the item's body keeps its ``traceparent``, so it survives a restart or a hand-over to another replica) and
on to the Slack calls that deliver it. A click starts a trace, which reaches the Cloudforet callback it makes as a
``traceparent`` header. Every log line written inside one carries its ``trace_id`` (``bot.logging_setup``).

Spans are exported only with the optional extra (``pip install 'slack-chatops[otel]'``) and an OTLP endpoint in the
standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; the exporter and the
SDK read the others, ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``, headers, …, themselves). Without them nothing
of OpenTelemetry is imported: trace and span ids are still made and carried, for the logs and for the callback.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot import __version__

logger = logging.getLogger(__name__)

TRACEPARENT = "traceparent"  # the W3C Trace Context header (https://www.w3.org/TR/trace-context/), also the key
# under which an outbox item's body keeps it
SERVICE_NAME = "slack-chatops"  # OTEL_SERVICE_NAME overrides it
# W3C Trace Context, section 3.2: version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex; version ff is
# invalid; a later version may append fields after a "-"; an all-zero trace-id or parent-id is invalid.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_INVALID_VERSION = "ff"
_SAMPLED = 0x01  # trace-flags bit 0
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

AttributeValue = str | bool | int | float


@dataclass(frozen=True)
class TraceParent:
    """A position in a trace: the trace, the span that is the parent of what comes next, and whether it is sampled."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    sampled: bool = True

    @classmethod
    def parse(cls, value: str | bytes | None) -> TraceParent | None:
        """The ``traceparent`` header's value read by the W3C rules; None when it is missing or invalid (the
        receiver then starts a new trace, as the specification says)."""
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        if not value:
            return None
        match = _TRACEPARENT.fullmatch(value.strip())
        if match is None:
            return None
        version, trace_id, span_id, flags, rest = match.groups()
        if version == _INVALID_VERSION or (version == "00" and rest):  # version 00 has exactly four fields
            return None
        if trace_id == "0" * 32 or span_id == "0" * 16:
            return None
        return cls(trace_id, span_id, bool(int(flags, 16) & _SAMPLED))

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


class Kind(StrEnum):
    """OpenTelemetry's span kinds, named here so callers need not import it."""

    INTERNAL = "INTERNAL"
    SERVER = "SERVER"
    CLIENT = "CLIENT"
    PRODUCER = "PRODUCER"
    CONSUMER = "CONSUMER"


_current: ContextVar[TraceParent | None] = ContextVar("slack_chatops_trace", default=None)


def current() -> TraceParent | None:
    """Where this task is in its trace (the innermost open span), if anywhere."""
    return _current.get()


def headers() -> dict[str, str]:
    """The ``traceparent`` header continuing the current trace (empty outside one)."""
    here = _current.get()
    return {TRACEPARENT: here.header()} if here is not None else {}


def stamp(body: dict[str, Any]) -> None:
    """Keep the current trace in an outbox item's ``body``, for its delivery to continue it."""
    here = _current.get()
    if here is not None:
        body[TRACEPARENT] = here.header()


def from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> TraceParent | None:
    """The trace context in gRPC invocation metadata (keys are lowercase on the wire)."""
    for key, value in metadata or ():
        if key.lower() == TRACEPARENT:
            return TraceParent.parse(value)
    return None


def _new_id(digits: int) -> str:
    while True:
        value = os.urandom(digits // 2).hex()
        if value.strip("0"):  # all zeros is the one invalid value
            return value


class Span:
    """An open span, as callers see it: attributes and an error; a no-op where nothing is exported."""

    __slots__ = ("_otel", "context")

    def __init__(self, context: TraceParent, otel: Any = None) -> None:
        self.context = context
        self._otel = otel

    def set(self, key: str, value: AttributeValue) -> None:
        if self._otel is not None:
            self._otel.set_attribute(key, value)

    def fail(self, description: str) -> None:
        """Mark the span failed (an ``ERROR_`` code or a short reason: no secret)."""
        if self._otel is not None:
            from opentelemetry.trace import Status, StatusCode

            self._otel.set_status(Status(StatusCode.ERROR, description))


class _Exporting:
    """OpenTelemetry's SDK: a tracer provider of our own (the global one is left to whoever embeds us)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer(SERVICE_NAME, __version__)


_otel: _Exporting | None = None


def exporting() -> bool:
    return _otel is not None


def _provider(processor: Any) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win over these defaults.
    resource = Resource.create({SERVICE_NAME_KEY: os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
    resource = Resource({SERVICE_VERSION: __version__}).merge(resource)
    provider = TracerProvider(resource=resource)  # reads OTEL_TRACES_SAMPLER (default: follow the parent)
    provider.add_span_processor(processor)
    return provider


def export_to(exporter: Any) -> None:
    """Send every span to ``exporter`` as it ends (tests: OpenTelemetry's ``InMemorySpanExporter``)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    global _otel
    shutdown()
    _otel = _Exporting(_provider(SimpleSpanProcessor(exporter)))


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Export spans over OTLP (HTTP) when an endpoint is configured and the ``otel`` extra is installed; True when
    spans are exported. Without an endpoint nothing is imported; with one but without the extra, one warning."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    if not any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "an OTLP endpoint is set but OpenTelemetry is not installed: install slack-chatops[otel] to export "
            "traces (trace ids still appear in the logs)"
        )
        return False
    global _otel
    shutdown()
    _otel = _Exporting(_provider(BatchSpanProcessor(OTLPSpanExporter())))
    logger.info("exporting traces over OTLP (service %s)", env.get("OTEL_SERVICE_NAME") or SERVICE_NAME)
    return True


def shutdown() -> None:
    """Flush and stop exporting (at exit; tests between runs)."""
    global _otel
    exporting_now, _otel = _otel, None
    if exporting_now is not None:
        exporting_now.provider.shutdown()


def _remote(parent: TraceParent) -> Any:
    from opentelemetry import trace

    context = trace.SpanContext(
        int(parent.trace_id, 16),
        int(parent.span_id, 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(_SAMPLED if parent.sampled else 0),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(context))


@contextmanager
def span(
    name: str,
    *,
    parent: TraceParent | str | None = None,
    kind: Kind = Kind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    """A span around the block: a child of ``parent`` (a ``TraceParent`` or its header) when given, else of the
    current span, else the start of a new trace. Exceptions pass through (and mark the span failed)."""
    if isinstance(parent, str):
        parent = TraceParent.parse(parent)
    exporter = _otel
    if exporter is None:
        above = parent or _current.get()
        here = TraceParent(above.trace_id if above else _new_id(32), _new_id(16), above.sampled if above else True)
        token = _current.set(here)
        try:
            yield Span(here)
        finally:
            _current.reset(token)
        return

    from opentelemetry.trace import SpanKind

    context = _remote(parent) if parent is not None else None
    with exporter.tracer.start_as_current_span(
        name, context=context, kind=SpanKind[kind.value], attributes=dict(attributes or {})
    ) as opened:
        ids = opened.get_span_context()
        here = TraceParent(f"{ids.trace_id:032x}", f"{ids.span_id:016x}", bool(ids.trace_flags & _SAMPLED))
        token = _current.set(here)
        try:
            yield Span(here, opened)
        finally:
            _current.reset(token)
