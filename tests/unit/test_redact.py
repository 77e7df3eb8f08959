"""Redaction keeps tokens and URL paths (access keys) out of log lines."""

from __future__ import annotations

import logging

from bot.redact import RedactingFilter, redact
from tests.samples import ACCESS_KEY, CALLBACK_URL, LINK, TOKEN


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


def test_secrets_glued_to_a_letter_are_redacted() -> None:
    """The regression: ``\\b`` before the patterns let ``vxoxb-…`` and ``dhttps://…?k=`` through when echoed."""
    text = redact(f"v{TOKEN} axapp-1-A0-123 d{CALLBACK_URL} q{LINK} sigv0=0123456789abcdef0123 _{TOKEN}")
    assert TOKEN not in text and "xapp-1" not in text and ACCESS_KEY not in text and "0123456789abcdef" not in text
    assert "dhttps://monitoring-webhook.example.test/[…]" in text


def test_upper_case_schemes_and_credentials_in_urls_are_redacted() -> None:
    text = redact(f"HTTPS://Console.Example.Test/alert/x?access_key={ACCESS_KEY} https://user:pw@cf.example.test/x")
    assert ACCESS_KEY not in text and "user" not in text and "pw" not in text
    assert "HTTPS://Console.Example.Test/[…]" in text and "https://cf.example.test/[…]" in text


def test_plain_text_is_left_alone() -> None:
    assert redact("delivered to #alerts in 3 ms (a fox-trot)") == "delivered to #alerts in 3 ms (a fox-trot)"


def test_json_web_tokens_are_redacted() -> None:
    """Cloudforet's App keys are JWTs (BOT_CLOUDFORET_APP_KEY): none survives redaction, glued or not."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJkaWQiOiJkb21haW4tMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    assert redact(f"token {jwt} refused") == "token [token] refused"
    assert jwt not in redact(f"x{jwt}y")
    assert redact("eyJust a word.with.dots") == "eyJust a word.with.dots"
