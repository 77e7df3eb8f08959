"""Redaction keeps tokens and URL paths (access keys) out of log lines."""

from __future__ import annotations

import logging

from bot.redact import RedactingFilter, redact
from tests.samples import ACCESS_KEY, CALLBACK_URL, TOKEN


def test_redact_tokens_and_urls() -> None:
    text = redact(f"token={TOKEN} app=xapp-1-A0-123 url={CALLBACK_URL} sig=v0=0123456789abcdef0123")
    assert TOKEN not in text and "xapp-1" not in text and ACCESS_KEY not in text and "0123456789abcdef" not in text
    assert "https://monitoring-webhook.example.test/[…]" in text


def test_filter_redacts_arguments_and_exceptions() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "posting with %s", (TOKEN,), None)
    try:
        raise ValueError(f"failed for {CALLBACK_URL}")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert RedactingFilter().filter(record)
    rendered = logging.Formatter().format(record)
    assert TOKEN not in rendered and ACCESS_KEY not in rendered and "ValueError" in rendered
