"""Slack's side of interactivity, for the fake: signed HTTP clicks, block_actions payloads and Socket Mode.

Used by :class:`tests.fakes.slack_api.FakeSlack`; the pieces also work alone:

* :func:`slack_signature` / :func:`send_click` sign and POST an interaction the way Slack does
  (``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, form body ``payload=<json>``);
* :func:`build_block_actions_payload` builds the ``block_actions`` payload Slack sends when a button on a
  posted message is clicked (missing ``block_id`` values are filled in the way Slack does, stably per message);
* :class:`SocketModeHub` is the WebSocket end of Socket Mode: ``hello`` on connect, ``interactive`` envelopes,
  acks matched by ``envelope_id``; it knows which app-level token each connection was opened with.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.slack_api import Message

__all__ = [
    "APP_ID",
    "SLACK_USER_AGENT",
    "VERIFICATION_TOKEN",
    "ButtonNotFound",
    "ClickResult",
    "SocketModeHub",
    "build_block_actions_payload",
    "find_button",
    "form_body",
    "send_click",
    "slack_signature",
]

APP_ID = "A0APP"
VERIFICATION_TOKEN = "verification-token-legacy"
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
# What Slack shows as an attachment's fallback when the attachment has only blocks.
_NO_PREVIEW = "[no preview available]"
_BLOCK_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


# --------------------------------------------------------------------------------------------------
# Signed HTTP clicks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClickResult:
    """The app's answer to one interaction request.

    ``elapsed`` is the seconds from sending until the HTTP answer (status line and headers) arrived.
    ``sent_headers``/``sent_body`` are exactly what was POSTed.
    """

    status: int
    body: str
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)
    sent_headers: dict[str, str] = field(default_factory=dict)
    sent_body: str = ""


def slack_signature(signing_secret: str, timestamp: int | str, body: str) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256(secret, ``v0:{timestamp}:{body}``)."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def form_body(payload: dict[str, Any]) -> str:
    """The ``application/x-www-form-urlencoded`` body Slack sends: one ``payload`` field holding JSON."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


async def send_click(
    request_url: str,
    signing_secret: str,
    payload: dict[str, Any],
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    omit_headers: bool = False,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> ClickResult:
    """POST ``payload`` to ``request_url`` signed like Slack.

    ``timestamp`` defaults to now; ``signature`` replaces the computed one (forgeries); ``omit_headers``
    leaves out both signing headers. Raises ``TimeoutError`` when no answer arrives within ``timeout``.
    """
    body = form_body(payload)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": SLACK_USER_AGENT,
        "Accept": "application/json,*/*",
    }
    if not omit_headers:
        ts = int(time.time()) if timestamp is None else timestamp
        headers["X-Slack-Request-Timestamp"] = str(ts)
        headers["X-Slack-Signature"] = signature if signature is not None else slack_signature(signing_secret, ts, body)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        started = time.perf_counter()
        async with session.post(request_url, data=body.encode(), headers=headers, allow_redirects=False) as answer:
            elapsed = time.perf_counter() - started
            text = await answer.text(errors="replace")
            return ClickResult(
                status=answer.status,
                body=text,
                elapsed=elapsed,
                headers=dict(answer.headers),
                sent_headers=headers,
                sent_body=body,
            )


# --------------------------------------------------------------------------------------------------
# block_actions payloads
# --------------------------------------------------------------------------------------------------


class ButtonNotFound(LookupError):
    """No button with that action_id on the message."""


def _stable_block_id(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_BLOCK_ID_ALPHABET[b % len(_BLOCK_ID_ALPHABET)] for b in digest[:5])


def _fill_block_ids(blocks: list[Any], seed: str) -> list[Any]:
    """Deep copy of ``blocks`` where each block lacking a block_id gets one, as Slack assigns at post time."""
    filled = copy.deepcopy(blocks)
    for i, block in enumerate(filled):
        if isinstance(block, dict) and not block.get("block_id"):
            block["block_id"] = _stable_block_id(f"{seed}/{i}")
    return filled


def _buttons(block: dict[str, Any]) -> list[dict[str, Any]]:
    if block.get("type") == "actions":
        return [e for e in block.get("elements") or [] if isinstance(e, dict) and e.get("type") == "button"]
    accessory = block.get("accessory")
    if block.get("type") == "section" and isinstance(accessory, dict) and accessory.get("type") == "button":
        return [accessory]
    return []


def find_button(
    blocks: list[Any] | None, attachments: list[Any] | None, action_id: str
) -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """(block, button, attachment index or None) for the button with ``action_id``.

    Looks in top-level blocks first, then in each attachment's blocks. Raises :class:`ButtonNotFound`.
    """
    places: list[tuple[list[Any], int | None]] = [(blocks or [], None)]
    places += [
        (a["blocks"], i)
        for i, a in enumerate(attachments or [])
        if isinstance(a, dict) and isinstance(a.get("blocks"), list)
    ]
    for place_blocks, attachment_index in places:
        for block in place_blocks:
            if not isinstance(block, dict):
                continue
            for button in _buttons(block):
                if button.get("action_id") == action_id:
                    return block, button, attachment_index
    raise ButtonNotFound(f"no button with action_id {action_id!r} on the message")


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def build_block_actions_payload(
    message: Message,
    action_id: str,
    *,
    response_url: str,
    channel_name: str,
    team_id: str = "T0001",
    team_domain: str = "acme",
    user_id: str = "U0CLICKER",
    user_name: str = "alice",
    value_override: str | None = None,
    app_id: str = APP_ID,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when ``user_id`` clicks the button ``action_id`` on ``message``.

    A button inside an attachment gets Slack's ``message_attachment`` container (with the 1-based
    ``attachment_id``); a top-level one a ``message`` container. Raises :class:`ButtonNotFound`.
    """
    seed = f"{message.channel}/{message.ts}"
    blocks = _fill_block_ids(message.blocks, f"{seed}/b") if message.blocks else None
    attachments: list[Any] | None = None
    if message.attachments:
        attachments = []
        for i, original in enumerate(message.attachments):
            attachment = copy.deepcopy(original)
            if isinstance(attachment, dict):
                if isinstance(attachment.get("blocks"), list):
                    attachment["blocks"] = _fill_block_ids(attachment["blocks"], f"{seed}/a{i}")
                    attachment.setdefault("fallback", _NO_PREVIEW)
                attachment["id"] = i + 1
            attachments.append(attachment)
    block, button, attachment_index = find_button(blocks, attachments, action_id)

    container: dict[str, Any]
    if attachment_index is None:
        container = {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": False}
    else:
        container = {
            "type": "message_attachment",
            "message_ts": message.ts,
            "attachment_id": attachment_index + 1,
            "channel_id": message.channel,
            "is_ephemeral": False,
            "is_app_unfurl": False,
        }

    text = copy.deepcopy(button.get("text") or {})
    if isinstance(text, dict) and text.get("type") == "plain_text":
        text.setdefault("emoji", True)
    action: dict[str, Any] = {"action_id": action_id, "block_id": block["block_id"], "text": text}
    value = value_override if value_override is not None else button.get("value")
    if value is not None:
        action["value"] = value
    if "style" in button:
        action["style"] = button["style"]
    action["type"] = "button"
    action["action_ts"] = f"{time.time():.6f}"

    message_view: dict[str, Any] = {
        "type": "message",
        "user": message.user,
        "bot_id": message.bot_id,
        "app_id": app_id,
        "text": message.text or "",
        "team": team_id,
        "ts": message.ts,
    }
    if message.thread_ts:
        message_view["thread_ts"] = message.thread_ts
    if blocks:
        message_view["blocks"] = blocks
    if attachments:
        message_view["attachments"] = attachments

    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": channel_name},
        "message": message_view,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


# --------------------------------------------------------------------------------------------------
# Socket Mode
# --------------------------------------------------------------------------------------------------


class SocketModeHub:
    """The WebSocket side of Socket Mode. Mount :meth:`handle` at ``/link/``.

    Connections must present a ticket from :meth:`issue_url`. Each gets a ``hello``; envelopes go to the
    open connections in turn; every message a client sends with an ``envelope_id`` is recorded in ``acks``.
    """

    def __init__(self, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self.acks: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.connects: int = 0
        self._tickets: dict[str, str] = {}  # ticket -> the app-level token it was issued to
        self._connections: list[web.WebSocketResponse] = []
        self._owners: dict[int, str] = {}  # id(connection) -> its app-level token
        self._pending: dict[str, tuple[asyncio.Future[float], float]] = {}
        self._next: int = 0

    @property
    def open_connections(self) -> int:
        return sum(1 for ws in self._connections if not ws.closed)

    def open_connections_for(self, app_token: str) -> int:
        """Open connections made with tickets issued to ``app_token``."""
        return sum(1 for ws in self._connections if not ws.closed and self._owners.get(id(ws)) == app_token)

    def issue_url(self, ws_base: str, app_token: str = "") -> str:
        """A fresh ``ws://…/link/?ticket=…`` URL, as apps.connections.open returns (for ``app_token``)."""
        ticket = str(uuid.uuid4())
        self._tickets[ticket] = app_token
        return f"{ws_base}/link/?ticket={ticket}&app_id={self.app_id}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
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

    async def wait_for_connection(self, timeout: float) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while self.open_connections == 0:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no Socket Mode client connected within {timeout:g} s")
            await asyncio.sleep(0.01)

    async def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> float:
        """Send one envelope to an open connection; the seconds until its ack. ``TimeoutError`` if none comes."""
        open_ws = [ws for ws in self._connections if not ws.closed]
        if not open_ws:
            raise RuntimeError("no Socket Mode client is connected")
        ws = open_ws[self._next % len(open_ws)]
        self._next += 1
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
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
