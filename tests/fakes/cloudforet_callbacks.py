"""A local fake of Cloudforet's alert-state callback endpoints (the links behind "Acknowledge" buttons).

2.x: ``GET|POST /monitoring/v1/domain/{domain_id}/alert/{alert_id}/{access_key}/ACKNOWLEDGED`` always answers
``307``: ``Location: {console}/alert-public-detail/{alert_id}?…`` when the key is good (a repeat
acknowledgement changes nothing and redirects the same way), ``{console}/expired-link`` when the key is
unknown, expired (keys last an hour) or for another alert.

1.x: ``POST /monitoring/v1/alert/{alert_id}/{access_key}/{STATE}`` answers ``200`` JSON about the alert
(``v1_style="json"``, the default). ``v1_style="redirect"`` answers the way the 1.x monitoring service's REST
code does instead: ``307`` to ``{console}/monitoring/alert-manager/alert/{alert_id}``, ``500 {"detail": …}``
for a bad key, and a POST body ``{"code": "TIME_OUT"}`` changes nothing.

Per-URL failure modes (:meth:`FakeCloudforet.fail`, :meth:`FakeCloudforet.slow`), a global ``delay``, and a
record of every request in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from tests.fakes.serving import serve

__all__ = ["CallbackRequest", "FakeCloudforet"]

DEFAULT_CONSOLE = "https://console.example.test"
KEY_LIFETIME = 3600.0


@dataclass(frozen=True)
class CallbackRequest:
    """One request as received (``time`` is ``time.time()`` on arrival, before any delay)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: str
    time: float


@dataclass
class _Key:
    access_key: str
    alert_id: str
    domain_id: str | None  # None for a 1.x URL
    state: str
    expires_at: float  # time.monotonic(); inf for 1.x
    expired: bool = False


@dataclass
class _Failure:
    status: int


class FakeCloudforet:
    """Cloudforet's callback endpoints on loopback. See the module docstring."""

    def __init__(self, console: str = DEFAULT_CONSOLE, *, v1_style: Literal["json", "redirect"] = "json") -> None:
        self.console = console.rstrip("/")
        self.v1_style = v1_style
        self.delay: float = 0.0
        self.requests: list[CallbackRequest] = []
        self.alerts: dict[str, dict[str, Any]] = {}
        self.host = "127.0.0.1"
        self.port = 0
        self._keys: dict[str, _Key] = {}
        self._failures: dict[str, _Failure] = {}
        self._slow: dict[str, float] = {}
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (a free port when 0)."""
        if self._runner is not None:
            raise RuntimeError("FakeCloudforet already started")
        app = web.Application()
        app.router.add_route("*", "/monitoring/v1/domain/{domain_id}/alert/{alert_id}/{access_key}/{state}", self._v2)
        app.router.add_route("*", "/monitoring/v1/alert/{alert_id}/{access_key}/{state}", self._v1)
        self._runner, self.port = await serve(app, host, port)
        self.host = host

    async def stop(self) -> None:
        """Stop listening. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeCloudforet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- world setup ---------------------------------------------------------------------------

    def _new_alert(self, alert_id: str) -> None:
        self.alerts.setdefault(alert_id, {"state": "TRIGGERED", "responder": None})

    def issue_key(self, alert_id: str, domain_id: str = "domain-1", *, expires_in: float = KEY_LIFETIME) -> str:
        """A fresh 2.x acknowledge URL for ``alert_id`` whose key expires after ``expires_in`` seconds."""
        key = secrets.token_hex(16)
        self._keys[key] = _Key(key, alert_id, domain_id, "ACKNOWLEDGED", time.monotonic() + expires_in)
        self._new_alert(alert_id)
        return f"{self.url}/monitoring/v1/domain/{domain_id}/alert/{alert_id}/{key}/ACKNOWLEDGED"

    def issue_v1_url(self, alert_id: str, state: str = "ACKNOWLEDGED") -> str:
        """A 1.x callback URL setting ``state`` on ``alert_id`` (1.x keys do not expire on their own)."""
        key = secrets.token_hex(16)
        self._keys[key] = _Key(key, alert_id, None, state, float("inf"))
        self._new_alert(alert_id)
        return f"{self.url}/monitoring/v1/alert/{alert_id}/{key}/{state}"

    def expire(self, url: str) -> None:
        """Expire the key in ``url`` now."""
        self._keys[self._key_of(url)].expired = True

    def fail(self, url: str, status: int = 500) -> None:
        """Answer requests to ``url``'s key with HTTP ``status`` and a small body."""
        self._failures[self._key_of(url)] = _Failure(status)

    def slow(self, url: str, seconds: float) -> None:
        """Wait ``seconds`` before answering requests to ``url``'s key."""
        self._slow[self._key_of(url)] = seconds

    def heal(self, url: str) -> None:
        """Undo :meth:`fail` and :meth:`slow` for ``url``."""
        key = self._key_of(url)
        self._failures.pop(key, None)
        self._slow.pop(key, None)

    @staticmethod
    def _key_of(url: str) -> str:
        """The access key in a callback URL: the segment before the state."""
        segments = urlsplit(url).path.rstrip("/").split("/")
        if len(segments) < 3:
            raise ValueError(f"not a callback URL: {url}")
        return segments[-2]

    # -- HTTP ----------------------------------------------------------------------------------

    async def _arrive(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Record the request, apply delays and failures. Returns (parsed JSON body, failure answer or None)."""
        body = await request.text() if request.can_read_body else ""
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        self.requests.append(
            CallbackRequest(request.method, request.path, dict(request.headers), parsed, body, time.time())
        )
        key = request.match_info["access_key"]
        wait = self.delay + self._slow.get(key, 0.0)
        if wait > 0:
            await asyncio.sleep(wait)
        failure = self._failures.get(key)
        if failure is not None:
            return parsed, web.json_response({"detail": f"fake failure (HTTP {failure.status})"}, status=failure.status)
        return parsed, None

    def _valid_key(self, key: str, alert_id: str, domain_id: str | None, state: str) -> _Key | None:
        entry = self._keys.get(key)
        if entry is None or entry.expired or time.monotonic() >= entry.expires_at:
            return None
        if (entry.alert_id, entry.domain_id, entry.state) != (alert_id, domain_id, state):
            return None
        return entry

    def _set_state(self, alert_id: str, state: str, responder: Any) -> None:
        alert = self.alerts.setdefault(alert_id, {"state": "TRIGGERED", "responder": None})
        if alert["state"] == state:
            return  # a repeat changes nothing
        alert["state"] = state
        alert["responder"] = responder if isinstance(responder, str) else None

    async def _v2(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "POST"):
            return web.Response(status=405)
        parsed, failure = await self._arrive(request)
        if failure is not None:
            return failure
        info = request.match_info
        alert_id, domain_id = info["alert_id"], info["domain_id"]
        entry = self._valid_key(info["access_key"], alert_id, domain_id, info["state"])
        if entry is None:
            return _redirect(f"{self.console}/expired-link")
        responder = parsed.get("responder") if isinstance(parsed, dict) else None
        self._set_state(alert_id, entry.state, responder)
        query = urlencode({"domain_id": domain_id})
        return _redirect(f"{self.console}/alert-public-detail/{alert_id}?{query}")

    async def _v1(self, request: web.Request) -> web.Response:
        allowed = ("GET", "POST") if self.v1_style == "redirect" else ("POST",)
        if request.method not in allowed:
            return web.Response(status=405)
        parsed, failure = await self._arrive(request)
        if failure is not None:
            return failure
        info = request.match_info
        alert_id, state = info["alert_id"], info["state"]
        entry = self._valid_key(info["access_key"], alert_id, None, state)
        timed_out = isinstance(parsed, dict) and parsed.get("code") == "TIME_OUT"
        if self.v1_style == "redirect":
            if not timed_out:
                if entry is None:
                    return web.json_response({"detail": "ERROR_PERMISSION_DENIED"}, status=500)
                self._set_state(alert_id, state, parsed.get("responder") if isinstance(parsed, dict) else None)
            return _redirect(f"{self.console}/monitoring/alert-manager/alert/{alert_id}")
        if entry is None:
            return web.json_response({"detail": "ERROR_PERMISSION_DENIED"}, status=500)
        if not timed_out:
            self._set_state(alert_id, state, parsed.get("responder") if isinstance(parsed, dict) else None)
        alert = self.alerts[alert_id]
        return web.json_response(
            {"alert_id": alert_id, "state": alert["state"], "responder": alert["responder"], "requested_state": state}
        )


def _redirect(location: str) -> web.Response:
    return web.Response(status=307, headers={"Location": location})
