"""Redaction of secrets from anything that may reach a log line or an error: Slack tokens, JWTs and URLs.

URLs are cut to scheme and host, since callback URLs and Cloudforet links carry access keys in their paths.
Installed as a logging filter on every handler, so third-party loggers are covered too.
"""

from __future__ import annotations

import logging
import re

# No ``\b`` before the patterns: input glued to a secret (``vxoxb-…``, ``dhttps://…``) must not hide it.
_TOKEN = re.compile(r"x(?:ox[a-z]|app)-[0-9A-Za-z-]+", re.IGNORECASE)
_URL = re.compile(r"(https?|wss?)://([^/\s?#'\"<>|]+)[^\s'\"<>|]*", re.IGNORECASE)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{16,}", re.IGNORECASE)
# A JSON Web Token (header.payload.signature, base64url; the header starts ``{"`` → ``eyJ``): Cloudforet's App keys
# and user tokens are such (BOT_CLOUDFORET_APP_KEY).
_JWT = re.compile(r"eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]*")


def _url(match: re.Match[str]) -> str:
    host = match.group(2).rpartition("@")[2]  # user:password@ is a secret too
    return f"{match.group(1)}://{host}/[…]"


def redact(text: str) -> str:
    """``text`` with tokens (Slack's, JWTs) replaced by ``[token]`` and URLs reduced to ``scheme://host/[…]``."""
    text = _TOKEN.sub("[token]", text)
    text = _JWT.sub("[token]", text)
    text = _SIGNATURE.sub("v0=[signature]", text)
    return _URL.sub(_url, text)


# What every LogRecord has; anything else on a record came from ``extra=`` and is redacted like the message.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Renders each record's message once, redacted, so no argument can carry a secret past it; redacts the text
    fields given with ``extra=``, and the traceback of an exception (kept, as text: its frames say where an
    unexpected error came from, and its messages are redacted like everything else)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # only the redacted text goes on: no formatter can render the original again
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
