"""The HTTP side: ``/slack/events`` (signed Slack requests into Bolt), ``/healthz``, ``/readyz``, ``/metrics``.

Slack's v0 signature (HMAC-SHA256 over ``v0:{timestamp}:{body}``, 5-minute window) is checked before anything is
parsed; unsigned, badly signed or stale requests get 401, malformed ones 400, and neither is logged with its body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot import metrics

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024


def _well_formed(body: str, content_type: str) -> bool:
    if content_type == "application/json":
        try:
            return isinstance(json.loads(body), dict)
        except ValueError:
            return False
    if content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(body)
        if "payload" in fields:
            try:
                return isinstance(json.loads(fields["payload"][0]), dict)
            except ValueError:
                return False
        return "command" in fields or "ssl_check" in fields
    return False


def build_http_app(bolt: AsyncApp | None, signing_secret: str | None, ready: Callable[[], bool]) -> web.Application:
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def slack_events(request: web.Request) -> web.Response:
        if verifier is None or bolt is None:
            return web.json_response({"error": "interactivity over HTTP is off: set SLACK_SIGNING_SECRET"},
                                     status=401)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": "request too large"}, status=413)
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            return web.json_response({"error": "request too large"}, status=413)
        body = raw.decode("utf-8", errors="replace")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp or not signature or not verifier.is_valid(body, timestamp, signature):
            logger.warning("refused a request to /slack/events: missing, invalid or stale signature (from %s)",
                           request.remote)
            metrics.inc("chatops_http_refused_total", reason="signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        if not _well_formed(body, request.content_type):
            logger.warning("refused a signed but malformed request to /slack/events (%s)", request.content_type)
            metrics.inc("chatops_http_refused_total", reason="malformed")
            return web.json_response({"error": "malformed request"}, status=400)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ready\n") if ready() else web.Response(text="starting\n", status=503)

    async def metrics_page(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app
