"""A local fake of Slack's Web API, served over loopback with aiohttp.

It owns everything a test (or a benchmark) needs from "Slack": the tokens and
channels that exist, Slack's answers to ``auth.test``, ``chat.postMessage``,
``chat.update``, ``chat.delete``, ``chat.postEphemeral`` and
``conversations.info``, Slack's Block Kit validation (documented limits plus
the undocumented ~12,000-character aggregate cap), per-channel rate limiting
with ``429``/``Retry-After``, simulated outages and slowness, and a record of
every call and every message it accepted.

Interactivity (see tests/fakes/slack_interactivity.py): :meth:`FakeSlack.click` POSTs a signed
interaction to an app, :meth:`FakeSlack.block_actions_payload` builds the payload for a click on a
recorded message with a ``response_url`` served here (``POST /actions/{id}``: replace, delete,
ephemeral or in-channel, 5 uses within 30 minutes), and Socket Mode works end to end:
``apps.connections.open`` with an app token (``xapp-…``) hands out a ``ws://…/link/`` URL,
:meth:`FakeSlack.send_interactive` sends an envelope and times the client's ack.

API errors are answered the way Slack answers them: HTTP 200 with
``{"ok": false, "error": "..."}``. Point slack_sdk at it with
``AsyncWebClient(token=..., base_url=fake.base_url)``.

Run on its own for benchmarks::

    python -m tests.fakes.slack_api --port 0 --token xoxb-1 --channel alerts:C0ALERTS [--app-token xapp-1]

It prints ``READY <port>`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import secrets
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.serving import serve
from tests.fakes.slack_interactivity import (
    APP_ID,
    ButtonNotFound,
    ClickResult,
    SocketModeHub,
    build_block_actions_payload,
    send_click,
)

__all__ = ["ButtonNotFound", "Call", "ClickResult", "FakeSlack", "Message", "validate_blocks"]

JSON_CONTENT_TYPE = "application/json"

# Slack's documented limits.
MAX_BLOCKS = 50
MAX_BLOCK_ID = 255
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ALT_TEXT = 2000
MAX_IMAGE_TITLE = 2000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_ACCESSIBILITY_LABEL = 75
# Undocumented: total characters of every text string across all blocks (slackapi/bolt-js#2509).
MAX_BLOCKS_TEXT_TOTAL = 12_000
# chat.postMessage truncates/refuses top-level text past 40,000; chat.update refuses past 4,000.
MAX_POST_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
# A response_url takes up to 5 responses within 30 minutes of the interaction.
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0

_BLOCK_PROPS: dict[str, frozenset[str]] = {
    "header": frozenset({"type", "block_id", "text"}),
    "section": frozenset({"type", "block_id", "text", "fields", "accessory", "expand"}),
    "context": frozenset({"type", "block_id", "elements"}),
    "divider": frozenset({"type", "block_id"}),
    "image": frozenset({"type", "block_id", "image_url", "alt_text", "title", "slack_file"}),
    "actions": frozenset({"type", "block_id", "elements"}),
}
_BUTTON_PROPS = frozenset({"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"})
_IMAGE_ELEMENT_PROPS = frozenset({"type", "image_url", "alt_text", "slack_file"})
_CONFIRM_PROPS = frozenset({"title", "text", "confirm", "deny", "style"})
_PLAIN_TEXT_PROPS = frozenset({"type", "text", "emoji"})
_MRKDWN_PROPS = frozenset({"type", "text", "verbatim"})
_BUTTON_STYLES = frozenset({"primary", "danger"})
# Interactive elements Slack also accepts in actions blocks / section accessories. They are not
# deeply validated here; only their action_id (length and message-wide uniqueness) is checked.
_OTHER_INTERACTIVE = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "overflow",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "checkboxes",
        "radio_buttons",
    }
)

_OUTAGE_HTML = (
    "<html><head><title>{status} Service Unavailable</title></head>"
    "<body><h1>{status}</h1><p>Slack is having trouble right now.</p></body></html>"
)


@dataclass
class Call:
    """One API call as received and answered.

    ``params`` merges query string and body (token removed, ``blocks``/``attachments`` decoded).
    A non-JSON answer (an outage's HTML page) is recorded as ``{"html": "<body>"}``.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    status: int
    response: dict[str, Any]


@dataclass
class Message:
    """A message accepted by chat.postMessage (top level or thread reply)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[Any] | None
    attachments: list[Any] | None
    thread_ts: str | None
    updates: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    replies: list[Message] = field(default_factory=list)
    # Which bot posted it (chat.update/chat.delete only work on the caller's own messages).
    bot_id: str | None = None
    user: str | None = None


@dataclass
class _Token:
    token: str
    team_id: str
    team: str
    user_id: str
    bot_id: str
    scopes: frozenset[str]
    inactive: bool


@dataclass
class _Channel:
    name: str
    id: str
    archived: bool
    bot_member: bool
    is_private: bool


@dataclass
class _ResponseUrl:
    id: str
    channel: str
    ts: str
    user_id: str
    created: float  # time.monotonic()
    uses: int = 0
    expired: bool = False


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Block Kit validation
# --------------------------------------------------------------------------------------------------


class _BlockValidator:
    """Walks blocks the way Slack's schema check does, collecting pointer-tagged errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.text_chars = 0
        self._block_ids: set[str] = set()
        self._action_ids: set[str] = set()

    def _err(self, what: str, pointer: str) -> None:
        self.errors.append(f"{what} [json-pointer:{pointer}]")

    # -- primitives ----------------------------------------------------------------------------

    def _props(self, obj: dict[str, Any], allowed: frozenset[str], pointer: str) -> None:
        for key in obj:
            if key not in allowed:
                self._err(f"invalid additional property: {key}", pointer)

    def _string(
        self,
        obj: dict[str, Any],
        key: str,
        pointer: str,
        *,
        max_len: int,
        required: bool = False,
        non_empty: bool = False,
    ) -> str | None:
        if key not in obj:
            if required:
                self._err(f"missing required field: {key}", pointer)
            return None
        value = obj[key]
        if not isinstance(value, str):
            self._err("must be a string", f"{pointer}/{key}")
            return None
        if non_empty and not value:
            self._err("must be more than 0 characters", f"{pointer}/{key}")
        elif len(value) > max_len:
            self._err(f"must be less than {max_len + 1} characters", f"{pointer}/{key}")
        return value

    def _array(self, obj: dict[str, Any], key: str, pointer: str, *, min_items: int, max_items: int) -> list[Any]:
        value = obj[key]
        if not isinstance(value, list):
            self._err("must be an array", f"{pointer}/{key}")
            return []
        if len(value) > max_items:
            self._err(f"no more than {max_items} items allowed", f"{pointer}/{key}")
        elif len(value) < min_items:
            self._err(f"must provide at least {min_items} items", f"{pointer}/{key}")
        return value

    def _text(self, obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> None:
        """A composition text object. Union positions (plain_text|mrkdwn) get Slack's schema-miss note."""
        before = len(self.errors)
        self._text_inner(obj, pointer, max_len=max_len, plain_only=plain_only)
        if not plain_only and len(self.errors) > before:
            self.errors.insert(before, f"failed to match all allowed schemas [json-pointer:{pointer}]")

    def _text_inner(self, obj: Any, pointer: str, *, max_len: int, plain_only: bool) -> None:
        if not isinstance(obj, dict):
            self._err("must be an object", pointer)
            return
        kind = obj.get("type")
        if kind is None:
            self._err("missing required field: type", pointer)
        elif kind not in ("plain_text", "mrkdwn") or (plain_only and kind != "plain_text"):
            self._err("must be a valid enum value", f"{pointer}/type")
        if kind == "plain_text":
            self._props(obj, _PLAIN_TEXT_PROPS, pointer)
        elif kind == "mrkdwn":
            self._props(obj, _MRKDWN_PROPS, pointer)
        for flag in ("emoji", "verbatim"):
            if flag in obj and not isinstance(obj[flag], bool):
                self._err("must be a boolean", f"{pointer}/{flag}")
        text = self._string(obj, "text", pointer, max_len=max_len, required=True, non_empty=True)
        if text is not None:
            self.text_chars += len(text)

    def _action_id(self, element: dict[str, Any], pointer: str) -> None:
        action_id = self._string(element, "action_id", pointer, max_len=MAX_ACTION_ID, non_empty=True)
        if action_id is None:
            return
        if action_id in self._action_ids:
            self._err(f"duplicate action_id: {action_id}", f"{pointer}/action_id")
        self._action_ids.add(action_id)

    # -- elements ------------------------------------------------------------------------------

    def _button(self, element: dict[str, Any], pointer: str) -> None:
        self._props(element, _BUTTON_PROPS, pointer)
        if "text" not in element:
            self._err("missing required field: text", pointer)
        else:
            self._text(element["text"], f"{pointer}/text", max_len=MAX_BUTTON_TEXT, plain_only=True)
        self._action_id(element, pointer)
        self._string(element, "value", pointer, max_len=MAX_BUTTON_VALUE, non_empty=True)
        self._string(element, "url", pointer, max_len=MAX_URL, non_empty=True)
        self._string(element, "accessibility_label", pointer, max_len=MAX_ACCESSIBILITY_LABEL, non_empty=True)
        if "style" in element and element["style"] not in _BUTTON_STYLES:
            self._err("must be a valid enum value", f"{pointer}/style")
        if "confirm" in element:
            self._confirm(element["confirm"], f"{pointer}/confirm")

    def _confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self._err("must be an object", pointer)
            return
        self._props(confirm, _CONFIRM_PROPS, pointer)
        limits = (
            ("title", MAX_CONFIRM_TITLE, True),
            ("text", MAX_CONFIRM_TEXT, False),
            ("confirm", MAX_CONFIRM_BUTTON, True),
            ("deny", MAX_CONFIRM_BUTTON, True),
        )
        for key, max_len, plain_only in limits:
            if key not in confirm:
                self._err(f"missing required field: {key}", pointer)
            else:
                self._text(confirm[key], f"{pointer}/{key}", max_len=max_len, plain_only=plain_only)
        if "style" in confirm and confirm["style"] not in _BUTTON_STYLES:
            self._err("must be a valid enum value", f"{pointer}/style")

    def _image_element(self, element: dict[str, Any], pointer: str) -> None:
        self._props(element, _IMAGE_ELEMENT_PROPS, pointer)
        self._string(
            element, "image_url", pointer, max_len=MAX_URL, required="slack_file" not in element, non_empty=True
        )
        self._string(element, "alt_text", pointer, max_len=MAX_ALT_TEXT, required=True, non_empty=True)

    def _element(self, element: Any, pointer: str, *, allowed: frozenset[str]) -> None:
        if not isinstance(element, dict):
            self._err("must be an object", pointer)
            return
        kind = element.get("type")
        if kind is None:
            self._err("missing required field: type", pointer)
        elif kind not in allowed:
            self._err(f"unsupported element type: {kind}", f"{pointer}/type")
        elif kind == "button":
            self._button(element, pointer)
        elif kind == "image":
            self._image_element(element, pointer)
        elif kind in ("plain_text", "mrkdwn"):
            self._text(element, pointer, max_len=MAX_CONTEXT_TEXT)
        else:
            self._action_id(element, pointer)

    # -- blocks --------------------------------------------------------------------------------

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self._err("must be an object", pointer)
            return
        kind = block.get("type")
        if kind is None:
            self._err("missing required field: type", pointer)
            return
        if kind not in _BLOCK_PROPS:
            self._err(f"unsupported block type: {kind}", f"{pointer}/type")
            return
        self._props(block, _BLOCK_PROPS[kind], pointer)
        block_id = self._string(block, "block_id", pointer, max_len=MAX_BLOCK_ID, non_empty=True)
        if block_id is not None:
            if block_id in self._block_ids:
                self._err(f"duplicate block_id: {block_id}", f"{pointer}/block_id")
            self._block_ids.add(block_id)
        getattr(self, f"_block_{kind}")(block, pointer)

    def _block_header(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block:
            self._err("missing required field: text", pointer)
            return
        self._text(block["text"], f"{pointer}/text", max_len=MAX_HEADER_TEXT, plain_only=True)

    def _block_section(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block and "fields" not in block:
            self._err("must provide either text or fields", pointer)
        if "text" in block:
            self._text(block["text"], f"{pointer}/text", max_len=MAX_SECTION_TEXT)
        if "fields" in block:
            fields = self._array(block, "fields", pointer, min_items=1, max_items=MAX_SECTION_FIELDS)
            for i, item in enumerate(fields):
                self._text(item, f"{pointer}/fields/{i}", max_len=MAX_FIELD_TEXT)
        if "accessory" in block:
            self._element(
                block["accessory"],
                f"{pointer}/accessory",
                allowed=frozenset({"button", "image"}) | _OTHER_INTERACTIVE,
            )
        if "expand" in block and not isinstance(block["expand"], bool):
            self._err("must be a boolean", f"{pointer}/expand")

    def _block_context(self, block: dict[str, Any], pointer: str) -> None:
        if "elements" not in block:
            self._err("missing required field: elements", pointer)
            return
        elements = self._array(block, "elements", pointer, min_items=1, max_items=MAX_CONTEXT_ELEMENTS)
        allowed = frozenset({"plain_text", "mrkdwn", "image"})
        for i, element in enumerate(elements):
            self._element(element, f"{pointer}/elements/{i}", allowed=allowed)

    def _block_divider(self, block: dict[str, Any], pointer: str) -> None:
        return None

    def _block_image(self, block: dict[str, Any], pointer: str) -> None:
        self._string(block, "image_url", pointer, max_len=MAX_URL, required="slack_file" not in block, non_empty=True)
        self._string(block, "alt_text", pointer, max_len=MAX_ALT_TEXT, required=True, non_empty=True)
        if "title" in block:
            self._text(block["title"], f"{pointer}/title", max_len=MAX_IMAGE_TITLE, plain_only=True)

    def _block_actions(self, block: dict[str, Any], pointer: str) -> None:
        if "elements" not in block:
            self._err("missing required field: elements", pointer)
            return
        elements = self._array(block, "elements", pointer, min_items=1, max_items=MAX_ACTIONS_ELEMENTS)
        allowed = frozenset({"button"}) | _OTHER_INTERACTIVE
        for i, element in enumerate(elements):
            self._element(element, f"{pointer}/elements/{i}", allowed=allowed)


def validate_blocks(blocks: list[Any] | None, attachments: list[Any] | None) -> tuple[list[str], int]:
    """Validate a message's blocks and its attachments' blocks like Slack.

    Returns (errors, total_text_chars). Each error reads ``"<what> [json-pointer:/...]"``.
    The caller must already have checked that ``blocks``/``attachments`` are lists.
    """
    validator = _BlockValidator()
    top = blocks or []
    nested = [
        (i, a["blocks"])
        for i, a in enumerate(attachments or [])
        if isinstance(a, dict) and isinstance(a.get("blocks"), list)
    ]
    total = len(top) + sum(len(b) for _, b in nested)
    if total > MAX_BLOCKS:
        validator.errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(top):
        validator.block(block, f"/blocks/{i}")
    for a_index, attachment_blocks in nested:
        for i, block in enumerate(attachment_blocks):
            validator.block(block, f"/attachments/{a_index}/blocks/{i}")
    return validator.errors, validator.text_chars


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------


def _ok(body: dict[str, Any] | None = None) -> _Reply:
    return _Reply(200, {"ok": True, **(body or {})})


def _fail(error: str, **extra: Any) -> _Reply:
    return _Reply(200, {"ok": False, "error": error, **extra})


def _truthy(value: Any) -> bool:
    """Slack reads response_url flags as JSON booleans or the strings "true"/"false"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


class FakeSlack:
    """Slack's Web API on loopback. See the module docstring."""

    def __init__(
        self,
        *,
        post_rate_per_channel: float | None = None,
        post_burst: int = 3,
        update_rate_per_channel: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.post_rate_per_channel = post_rate_per_channel
        self.post_burst = post_burst
        self.update_rate_per_channel = update_rate_per_channel
        self.retry_after = retry_after
        self.delay: float = 0.0
        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = defaultdict(list)
        self.ephemerals: list[dict[str, Any]] = []
        self.rate_limited: int = 0
        self.port: int = 0
        self.host: str = "127.0.0.1"
        self._tokens: dict[str, _Token] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._channels_by_id: dict[str, _Channel] = {}
        self._channels_by_name: dict[tuple[str, str], _Channel] = {}
        self._index: dict[tuple[str, str], Message] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._outage_until: float = 0.0
        self._outage_status: int = 503
        self._last_ts_us: int = 0
        self._error_count: int = 0
        self._runner: web.AppRunner | None = None
        # Interactivity.
        self.app_id: str = APP_ID
        self.clicks: list[ClickResult] = []
        self.response_calls: list[dict[str, Any]] = []
        self.response_url_max_uses: int = RESPONSE_URL_MAX_USES
        self.response_url_ttl: float = RESPONSE_URL_TTL
        self._app_tokens: set[str] = set()
        self._revoked_app_tokens: set[str] = set()
        # Where apps.connections.open sends Socket Mode clients (None: here). Point it at a closed port to play a
        # network that lets Web API calls through but blocks the WebSocket.
        self.socket_url_base: str | None = None
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._socket = SocketModeHub(APP_ID)
        self.socket_acks: list[dict[str, Any]] = self._socket.acks
        self.socket_envelopes: list[dict[str, Any]] = self._socket.sent
        self._handlers: dict[str, Callable[[_Token, dict[str, Any]], _Reply]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.info": self._conversations_info,
            "usergroups.users.list": self._usergroups_users_list,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (a free port when 0)."""
        if self._runner is not None:
            raise RuntimeError("FakeSlack already started")
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_post("/actions/{id}", self._handle_response_url)
        app.router.add_get("/link/", self._socket.handle)
        self._runner, self.port = await serve(app, host, port)
        self.host = host

    async def stop(self) -> None:
        """Close Socket Mode connections and stop listening. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self._socket.close_all()
            await runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- world setup ---------------------------------------------------------------------------

    def add_token(
        self,
        token: str,
        *,
        team_id: str = "T0001",
        team: str = "acme",
        user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        scopes: tuple[str, ...] = ("chat:write",),
        inactive: bool = False,
    ) -> None:
        self._tokens[token] = _Token(token, team_id, team, user_id, bot_id, frozenset(scopes), inactive)

    def add_channel(
        self,
        name: str,
        channel_id: str,
        *,
        archived: bool = False,
        bot_member: bool = True,
        is_private: bool = False,
        team_id: str = "T0001",
    ) -> None:
        """A channel of workspace ``team_id``: names are per workspace (IDs are unique across Slack)."""
        name = name.lstrip("#")
        channel = _Channel(name, channel_id, archived, bot_member, is_private)
        self._channels_by_id[channel_id] = channel
        self._channels_by_name[(team_id, name)] = channel

    def add_app_token(self, token: str) -> None:
        """An app-level token (``xapp-…``): only apps.connections.open accepts it."""
        self._app_tokens.add(token)

    async def revoke_app_token(self, token: str) -> None:
        """Revoke an app-level token: its Socket Mode connections close, apps.connections.open answers
        ``token_revoked``."""
        self._app_tokens.discard(token)
        self._revoked_app_tokens.add(token)
        await self._socket.close_for(token)

    def outage(self, seconds: float, status: int = 503) -> None:
        """Answer every call with HTTP ``status`` for the next ``seconds``."""
        self._outage_until = time.monotonic() + seconds
        self._outage_status = status

    # -- inspection ----------------------------------------------------------------------------

    def find(self, channel_id: str, ts: str) -> Message | None:
        """The message (top level or reply) posted to channel_id with that ts, deleted ones included."""
        return self._index.get((channel_id, ts))

    def call_count(self, method: str, token: str | None = None) -> int:
        """How many calls of ``method`` arrived (with ``token``, when given), whatever the answer."""
        return sum(1 for c in self.calls if c.method == method and (token is None or c.token == token))

    def errors(self) -> list[Call]:
        """Calls answered with ok=false or a non-200 status."""
        return [c for c in self.calls if c.status != 200 or not c.response.get("ok")]

    # -- interactivity -------------------------------------------------------------------------

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
        """POST ``payload`` to the app's Request URL as Slack does: form ``payload=<json>``, signed.

        ``timestamp`` defaults to now, ``signature`` overrides the real one, ``omit_headers`` sends it unsigned.
        The result is also appended to ``clicks``.
        """
        result = await send_click(
            request_url,
            signing_secret,
            payload,
            timestamp=timestamp,
            signature=signature,
            omit_headers=omit_headers,
            timeout=timeout,
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

        Registers a fresh ``response_url`` (``{url}/actions/{id}``) bound to that message and user.
        Raises ``LookupError`` (``ButtonNotFound`` for a missing button) when there is nothing to click.
        """
        msg = self._index.get((channel_id, ts))
        if msg is None or msg.deleted:
            raise LookupError(f"no message {ts} in {channel_id}")
        channel = self._channels_by_id.get(channel_id)
        domain = next((t.team for t in self._tokens.values() if t.bot_id == msg.bot_id), "acme")
        response_id = f"{self.app_id}-{secrets.token_urlsafe(18)}"
        response_url = f"{self.url}/actions/{response_id}"
        payload = build_block_actions_payload(
            msg,
            action_id,
            response_url=response_url,
            channel_name=channel.name if channel else channel_id,
            team_id=team_id,
            team_domain=domain,
            user_id=user_id,
            user_name=user_name,
            value_override=value_override,
            app_id=self.app_id,
        )
        self._response_urls[response_id] = _ResponseUrl(response_id, channel_id, ts, user_id, time.monotonic())
        return payload

    def expire_response_url(self, response_url: str) -> None:
        """Make a response_url answer ``expired_url`` from now on (as after 30 minutes)."""
        self._response_urls[response_url.rstrip("/").rsplit("/", 1)[-1]].expired = True

    @property
    def socket_connections(self) -> int:
        """Open Socket Mode WebSocket connections."""
        return self._socket.open_connections

    def socket_connections_for(self, app_token: str) -> int:
        """Open Socket Mode WebSocket connections made with ``app_token``."""
        return self._socket.open_connections_for(app_token)

    async def wait_for_socket(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until at least one Socket Mode client is connected (``TimeoutError`` otherwise)."""
        await self._socket.wait_for_connection(timeout)

    async def send_interactive(self, payload: dict[str, Any], timeout: float = 3.0) -> float:  # noqa: ASYNC109
        """Send an ``interactive`` envelope to a connected client; the seconds until its ack.

        Raises ``TimeoutError`` when no ack arrives within ``timeout`` (Slack waits 3 s).
        """
        return await self._socket.send_envelope("interactive", payload, accepts_response_payload=True, timeout=timeout)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message to every connected client."""
        await self._socket.disconnect(reason)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
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
        msg = self._index[(entry.channel, entry.ts)]
        if _truthy(body.get("delete_original")):
            if msg.deleted:
                return 404, {"ok": False, "error": "message_not_found"}
            msg.deleted = True
            entry.uses += 1
            return 200, {"ok": True}
        problem = self._content_error(body)
        if problem:
            return 400, problem.body
        text, blocks, attachments = body.get("text"), body.get("blocks"), body.get("attachments")
        if not (text or blocks or attachments):
            return 400, {"ok": False, "error": "no_text"}
        if _truthy(body.get("replace_original")):
            if msg.deleted:
                return 404, {"ok": False, "error": "message_not_found"}
            # A response_url replacement is the whole message: omitted fields are gone.
            msg.text, msg.blocks, msg.attachments = text, blocks, attachments
            msg.updates.append(dict(body))
        elif body.get("response_type") == "in_channel":
            thread_ts = body.get("thread_ts") or msg.thread_ts
            reply = Message(
                channel=entry.channel,
                ts=self._next_ts(),
                text=text,
                blocks=blocks,
                attachments=attachments,
                thread_ts=thread_ts,
                bot_id=msg.bot_id,
                user=msg.user,
            )
            self._index[(entry.channel, reply.ts)] = reply
            parent = self._index.get((entry.channel, thread_ts)) if thread_ts else None
            if parent is not None:
                parent.replies.append(reply)
            else:
                self.messages[entry.channel].append(reply)
        else:
            # Slack's default response_type is ephemeral: only the clicker sees it.
            self.ephemerals.append(
                {
                    "channel": entry.channel,
                    "user": entry.user_id,
                    "text": text,
                    "blocks": blocks,
                    "attachments": attachments,
                    "thread_ts": body.get("thread_ts") or msg.thread_ts,
                    "message_ts": self._next_ts(),
                    "via": "response_url",
                }
            )
        entry.uses += 1
        return 200, {"ok": True}

    # -- HTTP ----------------------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        by_method: dict[str, int] = defaultdict(int)
        for call in self.calls:
            by_method[call.method] += 1
        body = {
            "calls": len(self.calls),
            "errors": self._error_count,
            "rate_limited": self.rate_limited,
            "messages": sum(len(v) for v in self.messages.values()),
            "by_method": by_method,
        }
        return web.json_response(body)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        token, params, bad_request = await self._parse(request)
        if self._outage_until and time.monotonic() < self._outage_until:
            reply = self._outage_reply()
        else:
            reply = self._dispatch(method, token, params, bad_request)
        return self._respond(method, token, params, reply)

    def _respond(self, method: str, token: str | None, params: dict[str, Any], reply: _Reply) -> web.Response:
        if reply.status == 429:
            self.rate_limited += 1
        if reply.status != 200 or not reply.body.get("ok"):
            self._error_count += 1
        self.calls.append(Call(method, params, token, reply.status, reply.body))
        if "html" in reply.body:
            return web.Response(
                status=reply.status, text=reply.body["html"], content_type="text/html", headers=reply.headers
            )
        return web.Response(
            status=reply.status,
            text=json.dumps(reply.body),
            content_type=JSON_CONTENT_TYPE,
            charset="utf-8",
            headers=reply.headers,
        )

    @staticmethod
    async def _parse(request: web.Request) -> tuple[str | None, dict[str, Any], str | None]:
        """Merge query string and body into params and find the token the ways Slack accepts it.

        Returns (token, params, error) where error names a body Slack could not parse.
        """
        params: dict[str, Any] = dict(request.query)
        token: str | None = params.pop("token", None)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == JSON_CONTENT_TYPE:
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    return token, params, "invalid_json"
                # Slack ignores a token inside a JSON body; it must come as a Bearer header.
                body.pop("token", None)
                params.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, str):
                        params[key] = value
                token = params.pop("token", None) or token
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip() or token
        for key, error in (("blocks", "invalid_blocks_format"), ("attachments", "invalid_attachments")):
            value = params.get(key)
            if isinstance(value, str):
                if not value:
                    params[key] = None
                    continue
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    return token, params, error
        return token, params, None

    def _dispatch(self, method: str, token: str | None, params: dict[str, Any], bad_request: str | None) -> _Reply:
        handler = self._handlers.get(method)
        if handler is None and method != "apps.connections.open":
            return _fail("unknown_method")
        if not token:
            return _fail("not_authed")
        if token in self._revoked_app_tokens:
            return _fail("token_revoked")
        if token in self._app_tokens:
            if method != "apps.connections.open":
                return _fail("not_allowed_token_type")
            ws_base = self.socket_url_base or f"ws://{self.host}:{self.port}"
            return _ok({"url": self._socket.issue_url(ws_base, token)})
        if handler is None:
            return _fail("not_allowed_token_type" if token in self._tokens else "invalid_auth")
        info = self._tokens.get(token)
        if info is None:
            return _fail("invalid_auth")
        if info.inactive:
            return _fail("account_inactive")
        if bad_request is not None:
            return _fail(bad_request)
        return handler(info, params)

    def _outage_reply(self) -> _Reply:
        status = self._outage_status
        if status == 429:
            remaining = max(1, math.ceil(self._outage_until - time.monotonic()))
            retry = self.retry_after if self.retry_after is not None else remaining
            return _Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)})
        return _Reply(status, {"html": _OUTAGE_HTML.format(status=status)})

    # -- helpers -------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        now_us = int(time.time() * 1_000_000)
        ts_us = max(now_us, self._last_ts_us + 1)
        self._last_ts_us = ts_us
        return f"{ts_us // 1_000_000}.{ts_us % 1_000_000:06d}"

    def _channel(self, value: Any, info: _Token) -> _Channel | None:
        """A channel by ID, or by name within the caller's workspace."""
        if not isinstance(value, str) or not value:
            return None
        channel = self._channels_by_id.get(value)
        if channel is None:
            channel = self._channels_by_name.get((info.team_id, value.lstrip("#")))
        return channel

    def _rate_limit(self, kind: str, channel_key: str, rate: float | None) -> _Reply | None:
        """Token bucket per (kind, channel). Returns the 429 reply when empty, else consumes a token."""
        if rate is None:
            return None
        now = time.monotonic()
        burst = float(max(1, self.post_burst))
        bucket = self._buckets.get((kind, channel_key))
        if bucket is None:
            bucket = self._buckets[(kind, channel_key)] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        if self.retry_after is not None:
            retry = self.retry_after
        else:
            retry = math.ceil((1.0 - bucket.tokens) / rate) if rate > 0 else 60
        retry = max(1, retry)
        return _Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)})

    @staticmethod
    def _missing_scope(info: _Token, needed: str) -> _Reply | None:
        if needed in info.scopes:
            return None
        return _fail("missing_scope", needed=needed, provided=",".join(sorted(info.scopes)))

    @staticmethod
    def _content_error(params: dict[str, Any]) -> _Reply | None:
        """Shape checks and Block Kit validation for text/blocks/attachments."""
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        text = params.get("text")
        if text is not None and not isinstance(text, str):
            return _fail("invalid_arguments", response_metadata={"messages": ["[ERROR] must be a string"]})
        if blocks is not None and (not isinstance(blocks, list)):
            return _fail("invalid_blocks_format")
        if attachments is not None and (
            not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments)
        ):
            return _fail("invalid_attachments")
        if blocks is None and not attachments:
            return None
        errors, text_chars = validate_blocks(blocks, attachments)
        if errors:
            return _fail(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        if text_chars > MAX_BLOCKS_TEXT_TOTAL:
            return _fail("msg_blocks_too_long")
        return None

    def _message_view(self, msg: Message, info: _Token) -> dict[str, Any]:
        view: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": msg.text or "",
            "user": msg.user,
            "bot_id": msg.bot_id,
            "team": info.team_id,
            "ts": msg.ts,
        }
        if msg.blocks:
            view["blocks"] = msg.blocks
        if msg.attachments:
            view["attachments"] = msg.attachments
        if msg.thread_ts:
            view["thread_ts"] = msg.thread_ts
        return view

    # -- methods -------------------------------------------------------------------------------

    def _auth_test(self, info: _Token, params: dict[str, Any]) -> _Reply:
        return _ok(
            {
                "url": f"https://{info.team}.slack.com/",
                "team": info.team,
                "user": "bot",
                "team_id": info.team_id,
                "user_id": info.user_id,
                "bot_id": info.bot_id,
                "is_enterprise_install": False,
            }
        )

    def _writable_channel(self, info: _Token, params: dict[str, Any]) -> _Channel | _Reply:
        channel = self._channel(params.get("channel"), info)
        if channel is None:
            return _fail("channel_not_found")
        if channel.archived:
            return _fail("is_archived")
        if not channel.bot_member and (channel.is_private or "chat:write.public" not in info.scopes):
            return _fail("not_in_channel")
        return channel

    def _chat_post_message(self, info: _Token, params: dict[str, Any]) -> _Reply:
        denied = self._missing_scope(info, "chat:write")
        if denied:
            return denied
        raw_channel = params.get("channel")
        resolved = self._channel(raw_channel, info)
        key = resolved.id if resolved else str(raw_channel)
        limited = self._rate_limit("post", key, self.post_rate_per_channel)
        if limited:
            return limited
        channel = self._writable_channel(info, params)
        if isinstance(channel, _Reply):
            return channel
        checked = self._checked_content(params, MAX_POST_TEXT)
        if isinstance(checked, _Reply):
            return checked
        text, blocks, attachments = checked
        parent: Message | None = None
        thread_ts = params.get("thread_ts")
        if thread_ts not in (None, ""):
            parent = self._index.get((channel.id, str(thread_ts)))
            if parent is not None and parent.thread_ts is not None:
                parent = self._index.get((channel.id, parent.thread_ts))
            if parent is None or parent.deleted:
                return _fail("thread_not_found")
        msg = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=parent.ts if parent else None,
            bot_id=info.bot_id,
            user=info.user_id,
        )
        self._index[(channel.id, msg.ts)] = msg
        if parent is not None:
            parent.replies.append(msg)
        else:
            self.messages[channel.id].append(msg)
        return _ok({"channel": channel.id, "ts": msg.ts, "message": self._message_view(msg, info)})

    def _checked_content(self, params: dict[str, Any], max_text: int) -> _Reply | tuple[Any, Any, Any]:
        """(text, blocks, attachments) of a post or update, or Slack's rejection of them."""
        problem = self._content_error(params)
        if problem:
            return problem
        text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
        if not (text or blocks or attachments):
            return _fail("no_text")
        if isinstance(text, str) and len(text) > max_text:
            return _fail("msg_too_long")
        return text, blocks, attachments

    def _chat_update(self, info: _Token, params: dict[str, Any]) -> _Reply:
        denied = self._missing_scope(info, "chat:write")
        if denied:
            return denied
        channel = self._channel(params.get("channel"), info)
        if channel is None:
            return _fail("channel_not_found")
        limited = self._rate_limit("update", channel.id, self.update_rate_per_channel)
        if limited:
            return limited
        if channel.archived:
            return _fail("is_archived")
        msg = self._index.get((channel.id, str(params.get("ts", ""))))
        if msg is None or msg.deleted:
            return _fail("message_not_found")
        if msg.bot_id != info.bot_id:
            return _fail("cant_update_message")
        checked = self._checked_content(params, MAX_UPDATE_TEXT)
        if isinstance(checked, _Reply):
            return checked
        text, blocks, attachments = checked
        # Slack keeps previous blocks/attachments when the field is omitted; [] clears them.
        if "text" in params:
            msg.text = text
        if "blocks" in params:
            msg.blocks = blocks
        if "attachments" in params:
            msg.attachments = attachments
        msg.updates.append(params)
        return _ok(
            {
                "channel": channel.id,
                "ts": msg.ts,
                "text": msg.text or "",
                "message": self._message_view(msg, info),
            }
        )

    def _chat_delete(self, info: _Token, params: dict[str, Any]) -> _Reply:
        denied = self._missing_scope(info, "chat:write")
        if denied:
            return denied
        channel = self._channel(params.get("channel"), info)
        if channel is None:
            return _fail("channel_not_found")
        msg = self._index.get((channel.id, str(params.get("ts", ""))))
        if msg is None or msg.deleted:
            return _fail("message_not_found")
        if msg.bot_id != info.bot_id:
            return _fail("cant_delete_message")
        msg.deleted = True
        return _ok({"channel": channel.id, "ts": msg.ts})

    def _chat_post_ephemeral(self, info: _Token, params: dict[str, Any]) -> _Reply:
        denied = self._missing_scope(info, "chat:write")
        if denied:
            return denied
        channel = self._writable_channel(info, params)
        if isinstance(channel, _Reply):
            return channel
        user = params.get("user")
        if not isinstance(user, str) or not user:
            return _fail("user_not_in_channel")
        problem = self._content_error(params)
        if problem:
            return problem
        text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
        if not (text or blocks or attachments):
            return _fail("no_text")
        message_ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": text,
                "blocks": blocks,
                "attachments": attachments,
                "thread_ts": params.get("thread_ts"),
                "message_ts": message_ts,
            }
        )
        return _ok({"message_ts": message_ts})

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        """A user group (``S…``) and its members, for ``usergroups.users.list``."""
        self._usergroups[group_id] = list(members)

    def _usergroups_users_list(self, info: _Token, params: dict[str, Any]) -> _Reply:
        if "usergroups:read" not in info.scopes:
            return _fail("missing_scope", needed="usergroups:read", provided=",".join(sorted(info.scopes)))
        group = params.get("usergroup")
        if group not in self._usergroups:
            return _fail("no_such_subteam")
        return _ok({"users": list(self._usergroups[group])})

    def _conversations_info(self, info: _Token, params: dict[str, Any]) -> _Reply:
        channel = self._channel(params.get("channel"), info)
        # Slack hides private channels the caller is not in.
        if channel is None or (channel.is_private and not channel.bot_member):
            return _fail("channel_not_found")
        return _ok(
            {
                "channel": {
                    "id": channel.id,
                    "name": channel.name,
                    "is_channel": not channel.is_private,
                    "is_group": channel.is_private,
                    "is_archived": channel.archived,
                    "is_member": channel.bot_member,
                    "is_private": channel.is_private,
                }
            }
        )


# --------------------------------------------------------------------------------------------------
# Standalone process
# --------------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack_api", description="Fake Slack Web API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", action="append", default=[], help="bot token to accept (repeatable)")
    parser.add_argument("--app-token", action="append", default=[], help="Socket Mode app token (repeatable)")
    parser.add_argument(
        "--scope", action="append", default=[], help="scope granted to every --token (default chat:write)"
    )
    parser.add_argument("--channel", action="append", default=[], metavar="NAME:ID", help="repeatable")
    parser.add_argument("--post-rate", type=float, default=None, help="chat.postMessage per channel per second")
    parser.add_argument("--post-burst", type=int, default=3)
    parser.add_argument("--update-rate", type=float, default=None, help="chat.update per channel per second")
    parser.add_argument("--retry-after", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeSlack(
        post_rate_per_channel=args.post_rate,
        post_burst=args.post_burst,
        update_rate_per_channel=args.update_rate,
        retry_after=args.retry_after,
    )
    fake.delay = args.delay
    scopes = tuple(args.scope) or ("chat:write",)
    for token in args.token:
        fake.add_token(token, scopes=scopes)
    for app_token in args.app_token:
        fake.add_app_token(app_token)
    for spec in args.channel:
        name, sep, channel_id = spec.partition(":")
        if not sep or not name or not channel_id:
            raise SystemExit(f"--channel expects NAME:ID, got {spec!r}")
        fake.add_channel(name, channel_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await fake.start(args.host, args.port)
    try:
        sys.stdout.write(f"READY {fake.port}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
