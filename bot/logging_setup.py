"""Logging for the whole process: text or JSON lines on stderr, every record redacted.

JSON (``BOT_LOG_FORMAT=json``) is one object per line: ``time``, ``level``, ``logger``, ``message``, and the fields
the code sets on purpose with ``extra=`` (:data:`FIELDS`), plus ``trace_id`` and ``span_id`` inside a trace
(``bot.tracing``) and ``exception`` (the redacted traceback) for an unexpected error. The text format is for a
terminal: time, level, logger and message, with the traceback below it when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from bot import tracing
from bot.redact import RedactingFilter

# The structured fields, in the order they appear in a JSON line. Their meaning is fixed:
FIELDS = (
    "event",  # what happened: dispatch, card, click, delivery_retry, delivery_failed, grpc_error, request_refused
    "outcome",  # how it ended (posted, queued, repeat, failed; updated; done, refused, …)
    "code",  # an ERROR_ code
    "reason",  # why a request was refused (signature, malformed, …)
    "method",  # the gRPC method
    "channel",  # the Slack channel (as configured, or its ID)
    "alert",  # the alert's name (alert:<id>, number:<domain>:<n>)
    "ts",  # a Slack message's ts (with channel: the message itself)
    "item",  # an outbox item's id
    "duration_ms",  # how long it took
    "ref",  # the reference an INTERNAL error gave its caller
    "trace_id",  # the W3C trace (from Cloudforet's traceparent, or started here)
    "span_id",
)


class TraceFilter(logging.Filter):
    """Adds the current trace (``bot.tracing``) to each record, unless the record names one itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        here = tracing.current()
        if here is not None and not hasattr(record, "trace_id"):
            record.trace_id = here.trace_id
            record.span_id = here.span_id
        return True


def _time(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None and value != "":
                entry[key] = value
        if record.exc_info and not record.exc_text:  # a record that did not pass the redacting filter
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def handler_for(log_format: str, stream: Any = None) -> logging.Handler:
    """A handler writing ``log_format`` (``text`` or ``json``) lines to ``stream`` (stderr), every record
    redacted and stamped with its trace."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(TraceFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler_for(log_format)]
    root.setLevel(level.upper())
    # Library chatter that would otherwise log request bodies at DEBUG.
    for name in ("slack_sdk", "slack_bolt", "aiohttp.access", "grpc"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
