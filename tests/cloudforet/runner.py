"""Call a protocol plugin the way Cloudforet does, driven by JSON lines on stdin.

This script runs inside the separate ``spaceone-core`` virtual environment (protobuf 3,
pydantic 1) built by ``client_venv.py``, so it must not import anything from our project.

Each stdin line is a request ``{"id", "endpoint", "method", "params", "timeout"}``; each
stdout line is the answer ``{"id", "ok": true, "result": {...}}`` (``"result": {}`` when the request says
``"discard": true``) or ``{"id", "ok": false,
"status", "details", "error", ...}``. Requests run concurrently (one worker thread each) and
answers may come back out of order; match them by ``id``.

Calls mirror spaceone-notification's ``NotificationPluginConnector``: a fresh
``SpaceConnector(endpoint=..., token="NO_TOKEN")`` per call and ``connector.dispatch(method,
params)``. spaceone-core itself caches the gRPC channel and the reflection-built stubs per
``host:port`` (``spaceone.core.pygrpc.client._GRPC_CHANNEL``), so only the first call to an
endpoint pays for the reflection round trips, exactly as in the real notification service.

Like a Cloudforet service, the runner installs an OpenTelemetry SDK tracer provider, so
each call carries gRPC metadata ``token: NO_TOKEN`` and ``traceparent: 00-<trace>-<span>-01``.
Each call runs inside a span of the runner's own (as a notification service's work does), and
its answer says which trace it was and which span SpaceConnector sent as the parent:
``"trace": {"trace_id": <32 hex>, "span_id": <16 hex>}``.

Special methods, answered without touching the network: ``__ping__`` (readiness) and
``__reset__`` (forget spaceone-core's cached channel for ``endpoint``, or all when empty).

The per-request ``timeout`` is informational: the gRPC deadline is SpaceConnector's own
default (180 s, three attempts on UNAVAILABLE/DEADLINE_EXCEEDED), as in production. The
caller stops waiting after its own timeout; a late answer is simply dropped by the caller.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

_WRITE_LOCK = threading.Lock()
_OUT: TextIO  # the real stdout; fd 1 is pointed at stderr so stray prints cannot corrupt it
_SPANS: Any = None  # the span recorder (an SDK SpanExporter), set up by main()


def _span_recorder() -> Any:
    """An exporter keeping finished spans by trace until the call that made them takes them."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Recorder(SpanExporter):
        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._by_trace: dict[int, list[Any]] = {}

        def export(self, spans: Any) -> Any:
            with self._lock:
                for span in spans:
                    self._by_trace.setdefault(span.context.trace_id, []).append(span)
            return SpanExportResult.SUCCESS

        def take(self, trace_id: int) -> list[Any]:
            with self._lock:
                return self._by_trace.pop(trace_id, [])

    return Recorder()


def _sent_trace(trace_id: int) -> dict[str, str] | None:
    """The trace of a finished call and the span SpaceConnector sent as ``traceparent`` (its CLIENT span)."""
    from opentelemetry.trace import SpanKind

    for span in _SPANS.take(trace_id):
        if span.kind == SpanKind.CLIENT:
            return {"trace_id": f"{trace_id:032x}", "span_id": f"{span.context.span_id:016x}"}
    return None


def _write(answer: dict[str, Any]) -> None:
    line = json.dumps(answer, default=str, separators=(",", ":"))
    with _WRITE_LOCK:
        _OUT.write(line + "\n")
        _OUT.flush()


def _find_rpc_error(exc: BaseException) -> Any | None:
    """Return the innermost ``grpc.RpcError`` behind a spaceone-core exception, if any.

    spaceone-core's client interceptor turns the RpcError into an ``ERROR_*`` exception
    without chaining it, but the RpcError is still a local (``response``) of the
    interceptor's ``_check_error`` frame in the traceback, or the ``__context__`` when the
    failure happened while building the client (reflection).
    """
    import grpc

    found: Any | None = None
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, grpc.RpcError) and _has_status(current):
            found = current
        tb: types.TracebackType | None = current.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                if isinstance(value, grpc.RpcError) and _has_status(value):
                    found = value
            tb = tb.tb_next
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return found


def _has_status(rpc_error: Any) -> bool:
    try:
        return rpc_error.code() is not None
    except Exception:
        return False


def _describe_error(exc: BaseException) -> dict[str, Any]:
    """Turn an exception from SpaceConnector into the failure answer."""
    from spaceone.core.error import ERROR_BASE

    if isinstance(exc, ERROR_BASE):
        error_class = type(exc).__name__
        error_code = exc.error_code
        error_status = exc.status_code
        error_message = exc.message
    else:
        error_class = type(exc).__name__
        error_code = None
        # The notification service wraps unexpected exceptions in ERROR_UNKNOWN (INTERNAL).
        error_status = "INTERNAL"
        error_message = str(exc)

    answer: dict[str, Any] = {
        "ok": False,
        "error": f"{error_class}(error_code={error_code}, status_code={error_status}): {error_message}",
        "error_class": error_class,
        "error_code": error_code,
        "error_status": error_status,
        "error_message": error_message,
    }
    rpc_error = _find_rpc_error(exc)
    if rpc_error is not None:
        answer["status"] = rpc_error.code().name
        answer["details"] = rpc_error.details() or ""
        answer["origin"] = "server"
    else:
        # Raised by SpaceConnector itself (channel not ready, unknown method, bad params...).
        answer["status"] = error_status
        answer["details"] = ""
        answer["origin"] = "client"
    return answer


def _to_jsonable(value: Any) -> Any:
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import Message

    if isinstance(value, Message):
        return MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, types.GeneratorType):
        return [_to_jsonable(item) for item in value]
    if value is None:
        return {}
    return value


def _reset(endpoint: str) -> None:
    from spaceone.core.pygrpc import client as pygrpc_client
    from spaceone.core.utils import parse_grpc_endpoint

    if not endpoint:
        pygrpc_client._GRPC_CHANNEL.clear()
        return
    key = parse_grpc_endpoint(endpoint)["endpoint"]
    pygrpc_client._GRPC_CHANNEL.pop(key, None)


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    method = str(request.get("method", ""))
    endpoint = str(request.get("endpoint", ""))
    if method == "__ping__":
        from importlib.metadata import version

        versions = {name: version(name) for name in ("spaceone-core", "protobuf", "grpcio")}
        return {"ok": True, "result": {"python": sys.version.split()[0], **versions}}
    if method == "__reset__":
        _reset(endpoint)
        return {"ok": True, "result": {}}

    from opentelemetry import trace
    from spaceone.core.connector.space_connector import SpaceConnector

    with trace.get_tracer("runner").start_as_current_span("runner.call") as span:
        trace_id = span.get_span_context().trace_id
        try:
            connector = SpaceConnector(endpoint=endpoint, token="NO_TOKEN")
            response = connector.dispatch(method, request.get("params") or {})
            # ``discard``: the caller wants no result (a benchmark), so none is written out for it.
            answer = {"ok": True, "result": {} if request.get("discard") else _to_jsonable(response)}
        except Exception as exc:
            answer = _describe_error(exc)
    sent = _sent_trace(trace_id)
    if sent is not None:
        answer["trace"] = sent
    return answer


def _serve_one(request: dict[str, Any]) -> None:
    try:
        answer = _handle(request)
    except Exception as exc:  # a bug here must not leave the caller waiting forever
        answer = {
            "ok": False,
            "status": "INTERNAL",
            "details": "",
            "origin": "runner",
            "error": f"runner failure: {exc!r}\n{traceback.format_exc()}",
        }
    answer["id"] = request.get("id")
    _write(answer)


def main() -> None:
    global _OUT
    _OUT = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # Import spaceone-core up front so the first real call is not slowed down by it.
    import spaceone.core.connector.space_connector  # noqa: F401
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    # Cloudforet services install an SDK tracer provider at start-up (spaceone.core's
    # set_tracer), so SpaceConnector.dispatch runs in a sampled span and sends a
    # `traceparent` header next to `token`. Do the same, exporting only to the recorder that
    # tells each answer which span was sent.
    global _SPANS
    _SPANS = _span_recorder()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_SPANS))
    trace.set_tracer_provider(provider)

    pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="call")
    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            _write(
                {
                    "id": None,
                    "ok": False,
                    "status": "INVALID_ARGUMENT",
                    "details": "",
                    "origin": "runner",
                    "error": f"bad request line: {exc}",
                }
            )
            continue
        pool.submit(_serve_one, request)
    # stdin closed: the caller is gone. Calls still blocked in gRPC (deadline 180 s)
    # must not keep the process alive, so skip the interpreter's thread joins.
    pool.shutdown(wait=False, cancel_futures=True)
    _OUT.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
