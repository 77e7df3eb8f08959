"""The fake Slack's Socket Mode: ``apps.connections.open`` and the WebSocket it hands out.

``apps.connections.open`` with an app-level token (``xapp-…``) answers a ``ws://…/link/?ticket=…`` URL (or one
on :attr:`SocketModeHub.url_base`, to play a network that lets Web API calls through but blocks the WebSocket).
The WebSocket (``GET /link/``) needs a ticket from there; each connection gets ``hello``, ``interactive``
envelopes go to the open connections in turn, and every message a client sends with an ``envelope_id`` is
recorded as its ack. Revoking an app token closes its connections; Slack's ``disconnect`` can be sent to all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from enum import StrEnum
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.slack.state import Workspace
from tests.fakes.slack.web_api import Reply, ok

__all__ = ["APPS_CONNECTIONS_OPEN", "EnvelopeType", "SocketModeHub"]

APPS_CONNECTIONS_OPEN = "apps.connections.open"
LINK_PATH = "/link/"


class EnvelopeType(StrEnum):
    """Envelope types the fake sends (the bot handles only interactions)."""

    INTERACTIVE = "interactive"


class SocketModeHub:
    """Socket Mode for the app-level tokens in ``state``. Mount with :meth:`add_routes`; register
    :meth:`connections_open` as the Web API's ``apps.connections.open``.
    """

    def __init__(self, state: Workspace, app_id: str) -> None:
        self.state = state
        self.app_id = app_id
        # Where apps.connections.open sends clients: url_base when set, else this server (set on start).
        self.url_base: str | None = None
        self.server_ws_url: str = ""
        self.acks: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.connects: int = 0
        self._tickets: dict[str, str] = {}  # ticket -> the app-level token it was issued to
        self._connections: list[web.WebSocketResponse] = []
        self._owners: dict[int, str] = {}  # id(connection) -> its app-level token
        self._pending: dict[str, tuple[asyncio.Future[float], float]] = {}
        self._next: int = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(LINK_PATH, self.handle)

    @property
    def open_connections(self) -> int:
        return sum(1 for ws in self._connections if not ws.closed)

    def open_connections_for(self, app_token: str) -> int:
        """Open connections made with tickets issued to ``app_token``."""
        return sum(1 for ws in self._connections if not ws.closed and self._owners.get(id(ws)) == app_token)

    def connections_open(self, app_token: str, params: dict[str, Any]) -> Reply:
        """``apps.connections.open`` (the Web API has checked ``app_token``): a fresh WebSocket URL."""
        ticket = str(uuid.uuid4())
        self._tickets[ticket] = app_token
        ws_base = self.url_base or self.server_ws_url
        return ok({"url": f"{ws_base}{LINK_PATH}?ticket={ticket}&app_id={self.app_id}"})

    async def revoke(self, app_token: str) -> None:
        """Revoke an app-level token: its connections close, apps.connections.open answers ``token_revoked``."""
        self.state.app_tokens.discard(app_token)
        self.state.revoked_app_tokens.add(app_token)
        await self.close_for(app_token)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One WebSocket connection, from ``hello`` until it closes (401 without a valid ticket)."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(timeout=2.0, autoping=True)
        await ws.prepare(request)
        self._connections.append(ws)
        self._owners[id(ws)] = self._tickets[ticket]
        self.connects += 1
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": self.open_connections,
                    "debug_info": {"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(msg.data)
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._connections.remove(ws)
            self._owners.pop(id(ws), None)
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        self.acks.append(message)
        pending = self._pending.get(str(message["envelope_id"]))
        if pending is not None:
            future, started = pending
            if not future.done():
                future.set_result(time.perf_counter() - started)

    async def wait_for_connection(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until at least one client is connected (``TimeoutError`` otherwise)."""
        deadline = time.monotonic() + timeout
        while self.open_connections == 0:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no Socket Mode client connected within {timeout:g} s")
            await asyncio.sleep(0.01)

    async def send_envelope(
        self,
        kind: EnvelopeType,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> float:
        """Send one envelope to an open connection; the seconds until its ack. ``TimeoutError`` if none comes.

        ``RuntimeError`` when no client is connected.
        """
        open_ws = [ws for ws in self._connections if not ws.closed]
        if not open_ws:
            raise RuntimeError("no Socket Mode client is connected")
        ws = open_ws[self._next % len(open_ws)]
        self._next += 1
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind.value,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = (future, time.perf_counter())
        self.sent.append(envelope)
        try:
            await ws.send_str(json.dumps(envelope))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"envelope {envelope_id} was not acknowledged within {timeout:g} s") from None
        finally:
            self._pending.pop(envelope_id, None)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message to every open connection (clients then reconnect)."""
        for ws in [w for w in self._connections if not w.closed]:
            with contextlib.suppress(ConnectionError):
                await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}})

    async def close_for(self, app_token: str) -> None:
        """Close the connections opened with ``app_token`` (as Slack does when the token is revoked)."""
        for ws in [w for w in self._connections if self._owners.get(id(w)) == app_token]:
            with contextlib.suppress(ConnectionError):
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"token revoked")

    async def close_all(self) -> None:
        """Close every connection (1001 going away) and fail pending acks."""
        for future, _ in self._pending.values():
            if not future.done():
                future.cancel()
        for ws in list(self._connections):
            with contextlib.suppress(ConnectionError):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
        self._connections.clear()
