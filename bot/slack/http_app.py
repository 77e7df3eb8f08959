"""The HTTP side: ``/slack/events`` (signed Slack requests into Bolt), ``/healthz``, ``/readyz``, ``/metrics``.

Slack's v0 signature (HMAC-SHA256 over ``v0:{timestamp}:{body}``, 5-minute window) is checked before anything is
parsed, on the bytes as received; headers that cannot be a Slack signature (a timestamp that is not a few ASCII
digits, a signature that is not ``v0=`` and 64 hex digits) are refused like a wrong one: 401. A signed body that
is not what Slack sends gets 400 before Bolt sees it: only ``payload=`` forms holding a ``block_actions`` or
``view_submission`` payload of Slack's shape reach Bolt (see :func:`bot.slack.bolt_app.interaction`), plus Slack's
``ssl_check`` and ``url_verification``, answered here. Nothing is logged with its body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.slack.bolt_app import MalformedInteraction, http_request, interaction
from bot.slack.listener import connection_of

logger = logging.getLogger(__name__)
# Slack's interaction payloads are a few KB (a card is at most ~16 KB of JSON); 1 MiB is generous.
MAX_BODY_BYTES = 1024 * 1024
# Slack sends the whole body at once; a client still trickling it in after 10 s is not Slack (or is gone).
BODY_READ_TIMEOUT_SECONDS = 10.0
# Slack's replay window: a request whose timestamp is more than 5 minutes off is refused (Slack's guide to
# verifying requests).
MAX_CLOCK_SKEW_SECONDS = 5 * 60
# A Unix time in seconds as Slack sends it: ASCII digits only, 10 of them until the year 2286; 12 at most.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # "v0=" and the hex HMAC-SHA256, lowercase as Slack sends it
# Slack's url_verification challenge is a short token (~50 characters); anything longer is not from Slack.
MAX_CHALLENGE_LENGTH = 256
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class QuietParseErrors(logging.Filter):
    """For aiohttp's server logger: a request aiohttp cannot parse (a header over its 8 KB limit, a broken
    request line or chunk, a body that is not in its Content-Encoding) is answered 400 and logged by aiohttp at
    ERROR with a stack trace and a slice of the raw bytes. That is junk from the internet, not a fault: keep one
    warning line naming the error, without the bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, web.RequestPayloadError):  # a body aiohttp could not decode, met again when draining it
            exc = exc.__cause__
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            record.msg, record.args = (
                "refused an HTTP request that could not be parsed: %s (HTTP %d)",
                (type(exc).__name__, exc.code),
            )
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


_QUIET_PARSE_ERRORS = QuietParseErrors()


def _refused(reason: metrics.Refusal) -> None:
    metrics.INTERACTIONS_REFUSED.labels(metrics.Transport.HTTP.value, reason.value).inc()


class MalformedRequest(ValueError):
    """A signed request that is not what Slack sends; the message says why without quoting the body."""


def signature_valid(secret: bytes, raw: bytes, timestamp: str, signature: str, now: float) -> bool:
    """Whether ``signature`` is Slack's v0 signature of ``raw`` at ``timestamp``, within the replay window.
    Any header value at all is safe here: what cannot be a Slack signature is simply not valid."""
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return False
    expected = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest("v0=" + expected, signature)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedRequest(f"{what} is not JSON") from None


def read_body(raw: bytes, content_type: str) -> dict[str, Any] | web.Response:
    """The checked ``block_actions`` or ``view_submission`` payload of a signed request, or the answer for Slack's
    own checks; raise :class:`MalformedRequest` for anything else."""
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the body is not UTF-8") from None
    if content_type == FORM:
        fields = parse_qs(body, keep_blank_values=True)
        if "ssl_check" in fields and "payload" not in fields:
            return web.Response(status=200)
        payloads = fields.get("payload", [])
        if len(payloads) != 1:
            raise MalformedRequest(f"the form holds {len(payloads)} payload fields, not 1")
        try:
            return interaction(_json(payloads[0], "the payload field"))
        except MalformedInteraction as exc:
            raise MalformedRequest(str(exc)) from None
    if content_type == JSON:
        payload = _json(body, "the body")
        challenge = payload.get("challenge") if isinstance(payload, dict) else None
        if (
            isinstance(payload, dict)
            and payload.get("type") == "url_verification"
            and isinstance(challenge, str)
            and len(challenge) <= MAX_CHALLENGE_LENGTH
        ):
            return web.json_response({"challenge": challenge})
        raise MalformedRequest("a JSON body that is not a url_verification: this app handles only interactivity")
    raise MalformedRequest(f"the content type is not {FORM}")


@web.middleware
async def request_phases(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tell the listener's guard (bot.slack.listener) that a request's head is in (a handler that reads the
    body says when it has: until then the connection may be closed to make room) and, once answered, that its
    connection is idle: the deadlines follow. A no-op when the app is served without the guard."""
    connection = connection_of(request.transport)
    if connection is not None:
        connection.request_started(with_body=request.body_exists)
    try:
        return await handler(request)
    finally:
        if connection is not None:
            connection.request_finished()


def build_http_app(bolt: AsyncApp | None, signing_secret: str | None, ready: Callable[[], bool]) -> web.Application:
    secret = signing_secret.encode() if signing_secret else None
    server_log = logging.getLogger("aiohttp.server")
    if _QUIET_PARSE_ERRORS not in server_log.filters:
        server_log.addFilter(_QUIET_PARSE_ERRORS)

    async def slack_events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        if secret is None or bolt is None:
            _refused(metrics.Refusal.DISABLED)
            return web.json_response({"error": "interactivity over HTTP is off: set SLACK_SIGNING_SECRET"}, status=401)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            _refused(metrics.Refusal.TOO_LARGE)
            return web.json_response({"error": "request too large"}, status=413)
        try:
            async with asyncio.timeout(BODY_READ_TIMEOUT_SECONDS):
                raw = await request.read()
        except TimeoutError:
            _refused(metrics.Refusal.TOO_SLOW)
            return web.json_response({"error": "the body did not arrive in time"}, status=408)
        except web.RequestPayloadError:  # e.g. Content-Encoding: gzip over bytes that are not gzip
            _refused(metrics.Refusal.MALFORMED)
            return web.json_response({"error": "the body could not be read"}, status=400)
        except ConnectionError:  # the client went away mid-body: nobody to answer
            logger.info("a client closed its connection to /slack/events before sending the whole body")
            return web.json_response({"error": "incomplete body"}, status=400)
        connection = connection_of(request.transport)
        if connection is not None:
            connection.body_read()  # from here on the request is handled, and its connection kept
        if len(raw) > MAX_BODY_BYTES:
            _refused(metrics.Refusal.TOO_LARGE)
            return web.json_response({"error": "request too large"}, status=413)
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not signature_valid(secret, raw, timestamp, signature, time.time()):
            logger.warning(
                "refused a request to /slack/events: missing, invalid or stale signature (from %s)",
                request.remote,
                extra={"event": "request_refused", "reason": metrics.Refusal.SIGNATURE.value},
            )
            _refused(metrics.Refusal.SIGNATURE)
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            checked = read_body(raw, request.content_type)
        except MalformedRequest as exc:
            logger.warning(
                "refused a signed but malformed request to /slack/events: %s",
                exc,
                extra={"event": "request_refused", "reason": metrics.Refusal.MALFORMED.value},
            )
            _refused(metrics.Refusal.MALFORMED)
            return web.json_response({"error": f"malformed request: {exc}"}, status=400)
        if isinstance(checked, web.Response):
            return checked
        answer = await bolt.async_dispatch(http_request(checked))  # returns once the click is acknowledged
        metrics.CLICK_ACK_SECONDS.labels(metrics.Transport.HTTP.value).observe(time.perf_counter() - started)
        return await to_aiohttp_response(answer)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ready\n") if ready() else web.Response(text="starting\n", status=503)

    async def metrics_page(request: web.Request) -> web.Response:
        body, headers = metrics.exposition(
            request.headers.get("Accept", ""), request.headers.get("Accept-Encoding", "")
        )
        return web.Response(body=body, headers=headers)

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[request_phases])
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app
