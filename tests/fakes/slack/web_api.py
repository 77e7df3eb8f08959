"""The fake Slack's Web API over HTTP (``/api/{method}``): the methods the bot calls, answered the way Slack does.

Methods: ``auth.test``, ``chat.postMessage`` (thread replies too), ``chat.update``, ``usergroups.users.list``,
``usergroups.list``, ``users.info``, ``users.lookupByEmail``, ``conversations.info`` and ``conversations.list`` for
bot tokens, each checking its scope (a missing one answers ``missing_scope`` with ``needed`` and ``provided``);
every answer to a bot token carries its scopes in ``X-OAuth-Scopes``, as Slack's do; app-level-token methods
(``apps.connections.open``) are registered by Socket Mode (tests/fakes/slack/socket_mode.py). Any other method
answers ``unknown_method``.

Like Slack: tokens come as a Bearer header, a form field or the query string (never a JSON body field);
errors are HTTP 200 with ``{"ok": false, "error": "..."}``; message content is checked by
tests/fakes/slack/blockkit.py. On top: per-channel rate limits (``429`` with ``Retry-After``), simulated outages
and slowness, a record of every call in ``calls``, and counters at ``GET /_fake/stats``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

from tests.fakes.slack.blockkit import content_problem
from tests.fakes.slack.state import BotToken, Channel, Message, User, UserGroup, Workspace

__all__ = ["AppMethod", "BotMethod", "Call", "Method", "Reply", "Scope", "WebApi", "fail", "ok"]

JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Top-level ``text`` limits (msg_too_long past them): chat.postMessage truncates/refuses past 40,000 characters
# (https://api.slack.com/methods/chat.postMessage#truncating); chat.update refuses past 4,000.
MAX_POST_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
# Retry-After when a rate of 0 per second leaves nothing to wait for (Slack's tier-1 window is a minute).
NO_RATE_RETRY_AFTER = 60

_OUTAGE_HTML = (
    "<html><head><title>{status} Service Unavailable</title></head>"
    "<body><h1>{status}</h1><p>Slack is having trouble right now.</p></body></html>"
)


class Method(StrEnum):
    """The Web API methods the bot calls with a bot token."""

    AUTH_TEST = "auth.test"
    CHAT_POST_MESSAGE = "chat.postMessage"
    CHAT_UPDATE = "chat.update"
    USERGROUPS_USERS_LIST = "usergroups.users.list"
    USERGROUPS_LIST = "usergroups.list"
    USERS_INFO = "users.info"
    USERS_LOOKUP_BY_EMAIL = "users.lookupByEmail"
    CONVERSATIONS_INFO = "conversations.info"
    CONVERSATIONS_LIST = "conversations.list"


class Scope(StrEnum):
    """OAuth scopes the methods above check."""

    CHAT_WRITE = "chat:write"
    CHAT_WRITE_PUBLIC = "chat:write.public"
    USERGROUPS_READ = "usergroups:read"
    USERS_READ = "users:read"
    USERS_READ_EMAIL = "users:read.email"
    CHANNELS_READ = "channels:read"
    GROUPS_READ = "groups:read"


@dataclass
class Reply:
    """One answer: HTTP status, JSON body (``{"html": ...}`` for an outage's HTML page) and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def ok(body: dict[str, Any] | None = None) -> Reply:
    """Slack's success answer, with the method's fields."""
    return Reply(200, {"ok": True, **(body or {})})


def fail(error: str, **extra: Any) -> Reply:
    """Slack's error answer: HTTP 200, ``ok: false``, the error code and any extra fields."""
    return Reply(200, {"ok": False, "error": error, **extra})


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


BotMethod = Callable[[BotToken, dict[str, Any]], Reply]
AppMethod = Callable[[str, dict[str, Any]], Reply]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class WebApi:
    """Slack's Web API over ``state``. Mount with :meth:`add_routes`."""

    def __init__(
        self,
        state: Workspace,
        *,
        post_rate_per_channel: float | None = None,
        post_burst: int = 3,
        update_rate_per_channel: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.state = state
        self.post_rate_per_channel = post_rate_per_channel
        self.post_burst = post_burst
        self.update_rate_per_channel = update_rate_per_channel
        self.retry_after = retry_after
        self.delay: float = 0.0
        self.calls: list[Call] = []
        self.rate_limited: int = 0
        self.error_count: int = 0
        # Bot-token methods by name; a test may replace one to play an odd answer.
        self.methods: dict[str, BotMethod] = {
            Method.AUTH_TEST: self._auth_test,
            Method.CHAT_POST_MESSAGE: self._chat_post_message,
            Method.CHAT_UPDATE: self._chat_update,
            Method.USERGROUPS_USERS_LIST: self._usergroups_users_list,
            Method.USERGROUPS_LIST: self._usergroups_list,
            Method.USERS_INFO: self._users_info,
            Method.USERS_LOOKUP_BY_EMAIL: self._users_lookup_by_email,
            Method.CONVERSATIONS_INFO: self._conversations_info,
            Method.CONVERSATIONS_LIST: self._conversations_list,
        }
        # App-level-token methods by name (Socket Mode registers apps.connections.open).
        self.app_methods: dict[str, AppMethod] = {}
        self._buckets: dict[tuple[Method, str], _Bucket] = {}
        self._outage_until: float = 0.0
        self._outage_status: int = 503

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self.handle)
        app.router.add_get("/_fake/stats", self.stats)

    def outage(self, seconds: float, status: int = 503) -> None:
        """Answer every call with HTTP ``status`` for the next ``seconds``."""
        self._outage_until = time.monotonic() + seconds
        self._outage_status = status

    # -- HTTP ----------------------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        by_method: dict[str, int] = defaultdict(int)
        for call in self.calls:
            by_method[call.method] += 1
        body = {
            "calls": len(self.calls),
            "errors": self.error_count,
            "rate_limited": self.rate_limited,
            "messages": sum(len(v) for v in self.state.messages.values()),
            "by_method": by_method,
        }
        return web.json_response(body)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        token, params, bad_request = await self._parse(request)
        if self._outage_until and time.monotonic() < self._outage_until:
            reply = self._outage_reply()
        else:
            reply = self._dispatch(method, token, params, bad_request)
        return self._respond(method, token, params, reply)

    def _respond(self, method: str, token: str | None, params: dict[str, Any], reply: Reply) -> web.Response:
        if reply.status == 429:
            self.rate_limited += 1
        if reply.status != 200 or not reply.body.get("ok"):
            self.error_count += 1
        self.calls.append(Call(method, params, token, reply.status, reply.body))
        info = self.state.bot_tokens.get(token or "")
        if info is not None and not info.inactive:  # Slack names a valid token's scopes on every answer
            reply = Reply(reply.status, reply.body, {**reply.headers, "X-OAuth-Scopes": ",".join(sorted(info.scopes))})
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
            elif request.content_type in FORM_CONTENT_TYPES:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, str):
                        params[key] = value
                token = params.pop("token", None) or token
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip() or token
        for key, error in (("blocks", "invalid_blocks_format"), ("attachments", "invalid_attachments")):
            encoded = params.get(key)
            if isinstance(encoded, str):
                if not encoded:
                    params[key] = None
                    continue
                try:
                    params[key] = json.loads(encoded)
                except ValueError:
                    return token, params, error
        return token, params, None

    def _dispatch(self, method: str, token: str | None, params: dict[str, Any], bad_request: str | None) -> Reply:
        handler = self.methods.get(method)
        app_handler = self.app_methods.get(method)
        if handler is None and app_handler is None:
            return fail("unknown_method")
        if not token:
            return fail("not_authed")
        if token in self.state.revoked_app_tokens:
            return fail("token_revoked")
        if token in self.state.app_tokens:
            if app_handler is None:
                return fail("not_allowed_token_type")
            return app_handler(token, params)
        if handler is None:
            return fail("not_allowed_token_type" if token in self.state.bot_tokens else "invalid_auth")
        info = self.state.bot_tokens.get(token)
        if info is None:
            return fail("invalid_auth")
        if info.inactive:
            return fail("account_inactive")
        if bad_request is not None:
            return fail(bad_request)
        return handler(info, params)

    def _outage_reply(self) -> Reply:
        status = self._outage_status
        if status == 429:
            remaining = max(1, math.ceil(self._outage_until - time.monotonic()))
            retry = self.retry_after if self.retry_after is not None else remaining
            return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)})
        return Reply(status, {"html": _OUTAGE_HTML.format(status=status)})

    # -- checks --------------------------------------------------------------------------------

    def _rate_limit(self, method: Method, channel_key: str, rate: float | None) -> Reply | None:
        """Token bucket per (method, channel). Returns the 429 reply when empty, else consumes a token."""
        if rate is None:
            return None
        now = time.monotonic()
        burst = float(max(1, self.post_burst))
        bucket = self._buckets.get((method, channel_key))
        if bucket is None:
            bucket = self._buckets[(method, channel_key)] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        if self.retry_after is not None:
            retry = self.retry_after
        else:
            retry = math.ceil((1.0 - bucket.tokens) / rate) if rate > 0 else NO_RATE_RETRY_AFTER
        retry = max(1, retry)
        return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)})

    @staticmethod
    def _missing_scope(info: BotToken, needed: Scope) -> Reply | None:
        if needed in info.scopes:
            return None
        return fail("missing_scope", needed=needed.value, provided=",".join(sorted(info.scopes)))

    def _writable_channel(self, info: BotToken, params: dict[str, Any]) -> Channel | Reply:
        channel = self.state.channel(params.get("channel"), info.team_id)
        if channel is None:
            return fail("channel_not_found")
        if channel.archived:
            return fail("is_archived")
        if not channel.bot_member and (channel.is_private or Scope.CHAT_WRITE_PUBLIC not in info.scopes):
            return fail("not_in_channel")
        return channel

    @staticmethod
    def _checked_content(params: dict[str, Any], max_text: int) -> Reply | tuple[Any, Any, Any]:
        """(text, blocks, attachments) of a post or update, or Slack's rejection of them."""
        problem = content_problem(params)
        if problem:
            return Reply(200, problem)
        text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
        if isinstance(text, str) and len(text) > max_text:
            return fail("msg_too_long")
        return text, blocks, attachments

    @staticmethod
    def _message_view(msg: Message, info: BotToken) -> dict[str, Any]:
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

    def _auth_test(self, info: BotToken, params: dict[str, Any]) -> Reply:
        return ok(
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

    def _chat_post_message(self, info: BotToken, params: dict[str, Any]) -> Reply:
        denied = self._missing_scope(info, Scope.CHAT_WRITE)
        if denied:
            return denied
        raw_channel = params.get("channel")
        resolved = self.state.channel(raw_channel, info.team_id)
        key = resolved.id if resolved else str(raw_channel)
        limited = self._rate_limit(Method.CHAT_POST_MESSAGE, key, self.post_rate_per_channel)
        if limited:
            return limited
        channel = self._writable_channel(info, params)
        if isinstance(channel, Reply):
            return channel
        checked = self._checked_content(params, MAX_POST_TEXT)
        if isinstance(checked, Reply):
            return checked
        text, blocks, attachments = checked
        parent: Message | None = None
        thread_ts = params.get("thread_ts")
        if thread_ts not in (None, ""):
            parent = self.state.find(channel.id, str(thread_ts))
            if parent is not None and parent.thread_ts is not None:
                parent = self.state.find(channel.id, parent.thread_ts)
            if parent is None or parent.deleted:
                return fail("thread_not_found")
        msg = Message(
            channel=channel.id,
            ts=self.state.next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=parent.ts if parent else None,
            bot_id=info.bot_id,
            user=info.user_id,
        )
        self.state.record(msg, parent)
        return ok({"channel": channel.id, "ts": msg.ts, "message": self._message_view(msg, info)})

    def _chat_update(self, info: BotToken, params: dict[str, Any]) -> Reply:
        denied = self._missing_scope(info, Scope.CHAT_WRITE)
        if denied:
            return denied
        channel = self.state.channel(params.get("channel"), info.team_id)
        if channel is None:
            return fail("channel_not_found")
        limited = self._rate_limit(Method.CHAT_UPDATE, channel.id, self.update_rate_per_channel)
        if limited:
            return limited
        if channel.archived:
            return fail("is_archived")
        msg = self.state.find(channel.id, str(params.get("ts", "")))
        if msg is None or msg.deleted:
            return fail("message_not_found")
        if msg.bot_id != info.bot_id:
            return fail("cant_update_message")
        checked = self._checked_content(params, MAX_UPDATE_TEXT)
        if isinstance(checked, Reply):
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
        view = self._message_view(msg, info)
        return ok({"channel": channel.id, "ts": msg.ts, "text": msg.text or "", "message": view})

    def _usergroups_users_list(self, info: BotToken, params: dict[str, Any]) -> Reply:
        denied = self._missing_scope(info, Scope.USERGROUPS_READ)
        if denied:
            return denied
        group = params.get("usergroup")
        if not isinstance(group, str) or group not in self.state.usergroups:
            return fail("no_such_subteam")
        return ok({"users": list(self.state.usergroups[group].users)})

    @staticmethod
    def _flag(params: dict[str, Any], name: str) -> bool:
        """A boolean argument as Slack reads it from a form (``true``/``1``) or JSON (``true``)."""
        value = params.get(name)
        return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1"))

    @classmethod
    def _usergroup_view(cls, group: UserGroup, params: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": group.id,
            "team_id": group.team_id,
            "is_usergroup": True,
            "name": group.name,
            "description": "",
            "handle": group.handle,
            "is_external": False,
            "date_create": 1_600_000_000,
            "date_update": 1_600_000_000,
            "date_delete": 1_600_000_100 if group.disabled else 0,
            "auto_type": None,
        }
        if cls._flag(params, "include_count"):
            view["user_count"] = len(group.users)
        if cls._flag(params, "include_users"):
            view["users"] = list(group.users)
        return view

    def _usergroups_list(self, info: BotToken, params: dict[str, Any]) -> Reply:
        """The workspace's user groups (disabled ones only with ``include_disabled``); members and counts only
        when asked for."""
        denied = self._missing_scope(info, Scope.USERGROUPS_READ)
        if denied:
            return denied
        disabled = self._flag(params, "include_disabled")
        groups = [
            self._usergroup_view(g, params)
            for g in self.state.usergroups.values()
            if g.team_id == info.team_id and (disabled or not g.disabled)
        ]
        return ok({"usergroups": groups})

    @staticmethod
    def _user_view(user: User, info: BotToken) -> dict[str, Any]:
        """A user object; ``profile.email`` only for a token with users:read.email, as Slack does."""
        profile: dict[str, Any] = {"real_name": user.name.title(), "display_name": user.name}
        if user.email is not None and Scope.USERS_READ_EMAIL in info.scopes:
            profile["email"] = user.email
        return {
            "id": user.id,
            "team_id": user.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.name.title(),
            "is_bot": False,
            "profile": profile,
        }

    def _users_info(self, info: BotToken, params: dict[str, Any]) -> Reply:
        denied = self._missing_scope(info, Scope.USERS_READ)
        if denied:
            return denied
        wanted = params.get("user")
        if not isinstance(wanted, str) or not wanted:
            return fail("invalid_arguments")
        user = self.state.users.get(wanted)
        if user is None:
            return fail("user_not_found")
        if user.team_id != info.team_id:
            return fail("user_not_visible")
        return ok({"user": self._user_view(user, info)})

    def _users_lookup_by_email(self, info: BotToken, params: dict[str, Any]) -> Reply:
        denied = self._missing_scope(info, Scope.USERS_READ_EMAIL)
        if denied:
            return denied
        email = params.get("email")
        if not isinstance(email, str) or not email:
            return fail("invalid_arguments")
        user = self.state.user_by_email(email, info.team_id)
        if user is None:
            return fail("users_not_found")
        return ok({"user": self._user_view(user, info)})

    # conversations.*: public channels need channels:read, private ones groups:read; a private channel the bot is
    # not in does not exist for it (channel_not_found), as in Slack.

    def _visible(self, info: BotToken, channel: Channel) -> bool:
        in_team = self.state.channels_by_name.get((info.team_id, channel.name)) is channel
        return in_team and (channel.bot_member or not channel.is_private)

    @staticmethod
    def _channel_view(channel: Channel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_private,
            "is_group": False,
            "is_im": False,
            "is_private": channel.is_private,
            "is_archived": channel.archived,
            "is_member": channel.bot_member,
        }

    def _conversations_info(self, info: BotToken, params: dict[str, Any]) -> Reply:
        if not {Scope.CHANNELS_READ, Scope.GROUPS_READ} & info.scopes:
            return fail(
                "missing_scope", needed="channels:read,groups:read,mpim:read,im:read", provided=",".join(info.scopes)
            )
        channel = self.state.channels_by_id.get(str(params.get("channel") or ""))
        if channel is None or not self._visible(info, channel):
            return fail("channel_not_found")
        denied = self._missing_scope(info, Scope.GROUPS_READ if channel.is_private else Scope.CHANNELS_READ)
        if denied:
            return denied
        return ok({"channel": self._channel_view(channel)})

    def _conversations_list(self, info: BotToken, params: dict[str, Any]) -> Reply:
        """Channels of the token's workspace by ``types`` (``public_channel``, ``private_channel``), ``limit`` per
        page (at most 1,000) with ``response_metadata.next_cursor``."""
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",")}
        needed = {"public_channel": Scope.CHANNELS_READ, "private_channel": Scope.GROUPS_READ}
        for kind, scope in needed.items():
            if kind in types:
                denied = self._missing_scope(info, scope)
                if denied:
                    return denied
        try:
            limit = min(1000, max(1, int(params.get("limit") or 100)))
            start = int(params.get("cursor") or 0)
        except (TypeError, ValueError):
            return fail("invalid_arguments")
        wanted = [
            channel
            for (team_id, _), channel in self.state.channels_by_name.items()
            if team_id == info.team_id
            and self._visible(info, channel)
            and ("private_channel" if channel.is_private else "public_channel") in types
            and not (self._flag(params, "exclude_archived") and channel.archived)
        ]
        page = wanted[start : start + limit]
        cursor = str(start + limit) if start + limit < len(wanted) else ""
        return ok({"channels": [self._channel_view(c) for c in page], "response_metadata": {"next_cursor": cursor}})
