"""Slack's side of interactivity, for the fake: signed HTTP clicks, block_actions payloads and response_url.

* :func:`slack_signature` / :meth:`Interactivity.click` sign and POST an interaction the way Slack does
  (``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, form body ``payload=<json>``);
* :func:`build_block_actions_payload` builds the ``block_actions`` payload Slack sends when a button on a
  posted message is clicked (missing ``block_id`` values are filled in the way Slack does, stably per message);
* :class:`Interactivity` issues a ``response_url`` with each payload and serves it (``POST /actions/{id}``):
  ``replace_original`` replaces the whole message, anything else is an ephemeral message to the clicker;
  5 uses within 30 minutes, message content checked like the Web API's (tests/fakes/slack/blockkit.py).
  ``delete_original`` and ``response_type: in_channel`` are not modelled (the bot never sends them): they are
  refused with ``fake_does_not_model`` rather than played wrong.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.slack.blockkit import content_problem
from tests.fakes.slack.state import Message, Workspace

__all__ = [
    "APP_ID",
    "SLACK_USER_AGENT",
    "VERIFICATION_TOKEN",
    "ButtonNotFound",
    "ClickResult",
    "Interactivity",
    "build_block_actions_payload",
    "find_button",
    "form_body",
    "slack_signature",
]

APP_ID = "A0APP"
VERIFICATION_TOKEN = "verification-token-legacy"
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
# What Slack shows as an attachment's fallback when the attachment has only blocks.
_NO_PREVIEW = "[no preview available]"
_BLOCK_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# A response_url takes up to 5 responses within 30 minutes of the interaction
# (https://api.slack.com/interactivity/handling#message_responses).
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
ACTIONS_PATH = "/actions"
# The answer to response_url features the bot never uses (see the module docstring).
NOT_MODELLED = "fake_does_not_model"


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
# response_url
# --------------------------------------------------------------------------------------------------


class ResponseType(StrEnum):
    """Where a response_url message goes; Slack's default is ephemeral (only the clicker sees it)."""

    EPHEMERAL = "ephemeral"
    IN_CHANNEL = "in_channel"


def _truthy(value: Any) -> bool:
    """Slack reads response_url flags as JSON booleans or the strings "true"/"false"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass
class _ResponseUrl:
    id: str
    channel: str
    ts: str
    user_id: str
    created: float  # time.monotonic()
    uses: int = 0
    expired: bool = False


class Interactivity:
    """Clicks on recorded messages and the response_urls they carry. Mount with :meth:`add_routes`."""

    def __init__(self, state: Workspace, app_id: str = APP_ID) -> None:
        self.state = state
        self.app_id = app_id
        self.server_url: str = ""  # http://host:port, set when the fake starts
        self.delay: float = 0.0
        self.clicks: list[ClickResult] = []
        # Every POST to a response_url: {"id", "body", "time", "status", "response"}.
        self.response_calls: list[dict[str, Any]] = []
        self.response_url_max_uses: int = RESPONSE_URL_MAX_USES
        self.response_url_ttl: float = RESPONSE_URL_TTL
        self._response_urls: dict[str, _ResponseUrl] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(f"{ACTIONS_PATH}/{{id}}", self.handle_response_url)

    async def click(
        self,
        request_url: str,
        signing_secret: str,
        payload: dict[str, Any],
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        omit_headers: bool = False,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> ClickResult:
        """POST ``payload`` to the app's Request URL as Slack does: form ``payload=<json>``, signed; the result is
        also appended to ``clicks``.

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
            headers["X-Slack-Signature"] = (
                signature if signature is not None else slack_signature(signing_secret, ts, body)
            )
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            started = time.perf_counter()
            async with session.post(request_url, data=body.encode(), headers=headers, allow_redirects=False) as answer:
                elapsed = time.perf_counter() - started
                text = await answer.text(errors="replace")
        result = ClickResult(
            status=answer.status,
            body=text,
            elapsed=elapsed,
            headers=dict(answer.headers),
            sent_headers=headers,
            sent_body=body,
        )
        self.clicks.append(result)
        return result

    def block_actions_payload(
        self,
        channel_id: str,
        ts: str,
        action_id: str,
        *,
        user_id: str = "U0CLICKER",
        user_name: str = "alice",
        team_id: str = "T0001",
        value_override: str | None = None,
    ) -> dict[str, Any]:
        """The ``block_actions`` payload for ``user_id`` clicking button ``action_id`` on a recorded message.

        Registers a fresh ``response_url`` (``{server_url}/actions/{id}``) bound to that message and user.
        Raises ``LookupError`` (``ButtonNotFound`` for a missing button) when there is nothing to click.
        """
        msg = self.state.find(channel_id, ts)
        if msg is None or msg.deleted:
            raise LookupError(f"no message {ts} in {channel_id}")
        channel = self.state.channels_by_id.get(channel_id)
        domain = next((t.team for t in self.state.bot_tokens.values() if t.bot_id == msg.bot_id), "acme")
        response_id = f"{self.app_id}-{secrets.token_urlsafe(18)}"
        payload = build_block_actions_payload(
            msg,
            action_id,
            response_url=f"{self.server_url}{ACTIONS_PATH}/{response_id}",
            channel_name=channel.name if channel else channel_id,
            team_id=team_id,
            team_domain=domain,
            user_id=user_id,
            user_name=user_name,
            value_override=value_override,
            app_id=self.app_id,
        )
        self._response_urls[response_id] = _ResponseUrl(response_id, channel_id, ts, user_id, time.monotonic())
        self.state.triggers[payload["trigger_id"]] = (time.monotonic(), user_id)
        return payload

    def view_submission_payload(
        self,
        opened: dict[str, Any],
        values: dict[str, str],
        *,
        user_id: str = "U0CLICKER",
        user_name: str = "alice",
        team_id: str = "T0001",
        private_metadata: str | None = None,
    ) -> dict[str, Any]:
        """The ``view_submission`` payload Slack sends when ``user_id`` submits the modal ``opened`` (an entry of
        ``state.views``) with ``values`` (input action_id -> text). As Slack's client does, refuses (ValueError) an
        input left shorter than its ``min_length``, or an action_id the modal has no input for.
        ``private_metadata`` replaces the view's (forgeries)."""
        view = opened["view"]
        state: dict[str, dict[str, Any]] = {}
        inputs = {b["element"]["action_id"]: b for b in view.get("blocks", []) if b.get("type") == "input"}
        for action_id, text in values.items():
            block = inputs.get(action_id)
            if block is None:
                raise ValueError(f"the modal has no input {action_id!r}")
            if len(text) < int(block["element"].get("min_length", 0)):
                raise ValueError(f"Slack does not submit {action_id!r} shorter than its min_length")
            state.setdefault(block["block_id"], {})[action_id] = {"type": "plain_text_input", "value": text}
        trigger = _trigger_id()
        self.state.triggers[trigger] = (time.monotonic(), user_id)
        return {
            "type": "view_submission",
            "team": {"id": team_id, "domain": "acme"},
            "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger,
            "view": {
                "id": opened["id"],
                "team_id": team_id,
                "type": "modal",
                "blocks": copy.deepcopy(view.get("blocks", [])),
                "private_metadata": view.get("private_metadata", "") if private_metadata is None else private_metadata,
                "callback_id": view.get("callback_id", ""),
                "state": {"values": state},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
                "title": view.get("title"),
                "clear_on_close": False,
                "notify_on_close": False,
                "close": view.get("close"),
                "submit": view.get("submit"),
                "root_view_id": opened["id"],
                "app_id": self.app_id,
                "external_id": "",
                "app_installed_team_id": team_id,
                "bot_id": "B0001",
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def expire_response_url(self, response_url: str) -> None:
        """Make a response_url answer ``expired_url`` from now on (as after 30 minutes)."""
        self._response_urls[response_url.rstrip("/").rsplit("/", 1)[-1]].expired = True

    async def handle_response_url(self, request: web.Request) -> web.Response:
        response_id = request.match_info["id"]
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        try:
            body: Any = await request.json(loads=json.loads)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            status, answer = 400, {"ok": False, "error": "invalid_payload"}
            body = {"raw": await request.text()}
        else:
            status, answer = self._respond_to_action(response_id, body)
        self.response_calls.append(
            {"id": response_id, "body": body, "time": time.time(), "status": status, "response": answer}
        )
        return web.json_response(answer, status=status)

    def _respond_to_action(self, response_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Apply one response_url message. Returns (HTTP status, JSON answer)."""
        entry = self._response_urls.get(response_id)
        if entry is None:
            return 404, {"ok": False, "error": "no_service"}
        if entry.expired or time.monotonic() - entry.created > self.response_url_ttl:
            return 404, {"ok": False, "error": "expired_url"}
        if entry.uses >= self.response_url_max_uses:
            return 404, {"ok": False, "error": "used_too_many_times"}
        if _truthy(body.get("delete_original")):
            return 400, {"ok": False, "error": NOT_MODELLED}
        problem = content_problem(body)
        if problem:
            return 400, problem
        msg = self.state.index[(entry.channel, entry.ts)]
        text, blocks, attachments = body.get("text"), body.get("blocks"), body.get("attachments")
        if _truthy(body.get("replace_original")):
            if msg.deleted:
                return 404, {"ok": False, "error": "message_not_found"}
            # A response_url replacement is the whole message: omitted fields are gone.
            msg.text, msg.blocks, msg.attachments = text, blocks, attachments
            msg.updates.append(dict(body))
        elif body.get("response_type") == ResponseType.IN_CHANNEL:
            return 400, {"ok": False, "error": NOT_MODELLED}
        else:
            self.state.ephemerals.append(
                {
                    "channel": entry.channel,
                    "user": entry.user_id,
                    "text": text,
                    "blocks": blocks,
                    "attachments": attachments,
                    "thread_ts": body.get("thread_ts") or msg.thread_ts,
                    "message_ts": self.state.next_ts(),
                }
            )
        entry.uses += 1
        return 200, {"ok": True}
