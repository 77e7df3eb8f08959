"""Redaction of secrets from anything that may reach a log line or an error: Slack tokens and URLs.

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


def _url(match: re.Match[str]) -> str:
    host = match.group(2).rpartition("@")[2]  # user:password@ is a secret too
    return f"{match.group(1)}://{host}/[…]"


def redact(text: str) -> str:
    """``text`` with tokens replaced by ``[token]`` and URLs reduced to ``scheme://host/[…]``."""
    text = _TOKEN.sub("[token]", text)
    text = _SIGNATURE.sub("v0=[signature]", text)
    return _URL.sub(_url, text)


class RedactingFilter(logging.Filter):
    """Renders each record's message once, redacted, so no argument can carry a secret past it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks may quote argument values; keep the type and a redacted message only.
            exc = record.exc_info[1]
            record.msg += f" [{type(exc).__name__}: {redact(str(exc))}]"
            record.exc_info = None
            record.exc_text = None
        return True
