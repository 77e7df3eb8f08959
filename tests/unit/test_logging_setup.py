"""Log lines: JSON objects with the fields the code sets, readable text, tracebacks kept and redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot import tracing
from bot.logging_setup import FIELDS, handler_for
from tests.samples import ACCESS_KEY, CALLBACK_URL, TOKEN


class Captured:
    def __init__(self, log_format: str) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger(f"test.logging.{log_format}")
        self.logger.handlers[:] = [handler_for(log_format, self.stream)]
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture(params=["text", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[Captured]:
    yield Captured(request.param)


def _fail_with_secrets() -> None:
    raise RuntimeError(f"posting to {CALLBACK_URL} failed for xoxb-1234-literal-in-source")


def test_json_lines_carry_the_fields_the_code_sets() -> None:
    log = Captured("json")
    fields = {"event": "dispatch", "outcome": "posted", "channel": "#alerts", "alert": "alert:a-1", "duration_ms": 3.2}
    log.logger.info("dispatch answered %s in %.1f ms", "posted", 3.2, extra={**fields, "code": ""})
    log.logger.warning("no fields at all")
    first, second = log.lines()
    assert first["message"] == "dispatch answered posted in 3.2 ms"
    assert first["level"] == "INFO" and first["logger"] == "test.logging.json" and first["time"].endswith("Z")
    assert {key: first[key] for key in fields} == fields
    assert "code" not in first  # empty fields are left out
    assert list(first) == ["time", "level", "logger", "message", *[k for k in FIELDS if k in first]]
    assert set(second) == {"time", "level", "logger", "message"}


def test_lines_inside_a_trace_name_it() -> None:
    log = Captured("json")
    with tracing.span("dispatch", parent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") as span:
        log.logger.info("inside")
    log.logger.info("outside")
    inside, outside = log.lines()
    assert inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and inside["span_id"] == span.context.span_id
    assert "trace_id" not in outside


def test_an_unexpected_error_keeps_its_traceback_redacted(captured: Captured) -> None:
    try:
        _fail_with_secrets()
    except RuntimeError as exc:
        captured.logger.error("delivery failed unexpectedly: %s", type(exc).__name__, exc_info=exc)
    text = captured.text
    assert "Traceback (most recent call last)" in text and "_fail_with_secrets" in text
    assert "RuntimeError: posting to https://monitoring-webhook.example.test/[…] failed for [token]" in text
    assert "xoxb-1234" not in text and ACCESS_KEY not in text and CALLBACK_URL not in text
    if captured.logger.name.endswith("json"):
        (line,) = captured.lines()
        assert line["message"] == "delivery failed unexpectedly: RuntimeError"
        assert line["exception"].startswith("Traceback") and "raise RuntimeError" in line["exception"]
    else:
        first, *rest = text.splitlines()
        assert first.endswith(" ERROR test.logging.text: delivery failed unexpectedly: RuntimeError")
        assert rest[0] == "Traceback (most recent call last):"


def test_secrets_are_masked_in_the_message_its_arguments_and_the_fields(captured: Captured) -> None:
    captured.logger.warning(
        "posting with %s to %s", TOKEN, CALLBACK_URL, extra={"channel": f"#x {TOKEN}", "alert": CALLBACK_URL}
    )
    text = captured.text
    assert TOKEN not in text and ACCESS_KEY not in text and "[token]" in text
    if captured.logger.name.endswith("json"):
        (line,) = captured.lines()
        assert line["channel"] == "#x [token]" and line["alert"] == "https://monitoring-webhook.example.test/[…]"


def test_the_text_format_stays_one_readable_line() -> None:
    log = Captured("text")
    log.logger.info("card %s in %s", "posted", "C0ALERTS01", extra={"event": "card", "channel": "C0ALERTS01"})
    (line,) = log.text.splitlines()
    assert line.endswith(" INFO test.logging.text: card posted in C0ALERTS01")
    assert "{" not in line  # no JSON, no field dump
