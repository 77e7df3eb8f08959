"""FakeSlack: the fake Slack's parts (Web API, interactivity, Socket Mode) over one world, on one loopback port.

Point slack_sdk at it with ``AsyncWebClient(token=..., base_url=fake.base_url)``. Set up the world with
:meth:`FakeSlack.add_token`, :meth:`~FakeSlack.add_channel`, :meth:`~FakeSlack.add_app_token`,
:meth:`~FakeSlack.add_user` and :meth:`~FakeSlack.add_usergroup`; read back ``messages``, ``calls``,
``ephemerals`` and the Socket Mode record.
The parts are reachable as ``web_api``, ``interactivity`` and ``socket_mode`` for their finer settings.
"""

from __future__ import annotations

import ssl
from collections import defaultdict
from typing import Any

from aiohttp import web

from tests.fakes.serving import serve
from tests.fakes.slack.interactivity import APP_ID, ClickResult, Interactivity
from tests.fakes.slack.socket_mode import APPS_CONNECTIONS_OPEN, EnvelopeType, SocketModeHub
from tests.fakes.slack.state import BotToken, Channel, Message, User, UserGroup, Workspace
from tests.fakes.slack.views import VIEWS_OPEN, Views
from tests.fakes.slack.web_api import BotMethod, Call, WebApi

__all__ = ["FakeSlack"]

# Request bodies the server reads (aiohttp's default is 1 MiB; a card is at most 50 blocks of ≤ 3,000 characters,
# but tests also send oversized ones to see them refused by Slack's rules rather than by the server).
MAX_REQUEST_BODY = 8 * 1024 * 1024


class FakeSlack:
    """Slack on loopback: Web API, signed clicks and response_url, Socket Mode. See the module docstring."""

    # A test setting an attribute FakeSlack does not have (a misspelt or removed setting) fails loudly.
    __slots__ = (
        "_runner",
        "block_actions_payload",
        "click",
        "expire_response_url",
        "host",
        "interactivity",
        "outage",
        "port",
        "revoke_app_token",
        "socket_connections_for",
        "socket_disconnect",
        "socket_mode",
        "state",
        "view_submission_payload",
        "views",
        "wait_for_socket",
        "web_api",
    )

    def __init__(
        self,
        *,
        post_rate_per_channel: float | None = None,
        post_burst: int = 3,
        update_rate_per_channel: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Rates are calls per second per channel (None: unlimited), ``post_burst`` the bucket size for both;
        ``retry_after`` fixes the ``Retry-After`` of every 429 (default: when a token is due)."""
        self.state = Workspace()
        self.web_api = WebApi(
            self.state,
            post_rate_per_channel=post_rate_per_channel,
            post_burst=post_burst,
            update_rate_per_channel=update_rate_per_channel,
            retry_after=retry_after,
        )
        self.interactivity = Interactivity(self.state, APP_ID)
        self.socket_mode = SocketModeHub(self.state, APP_ID)
        self.web_api.app_methods[APPS_CONNECTIONS_OPEN] = self.socket_mode.connections_open
        self.views = Views(self.state)
        self.web_api.methods[VIEWS_OPEN] = self.views.views_open
        # The parts' own methods, under the names tests use.
        self.outage = self.web_api.outage
        self.click = self.interactivity.click
        self.block_actions_payload = self.interactivity.block_actions_payload
        self.view_submission_payload = self.interactivity.view_submission_payload
        self.expire_response_url = self.interactivity.expire_response_url
        self.revoke_app_token = self.socket_mode.revoke
        self.socket_connections_for = self.socket_mode.open_connections_for
        self.wait_for_socket = self.socket_mode.wait_for_connection
        self.socket_disconnect = self.socket_mode.disconnect
        self.port: int = 0
        self.host: str = "127.0.0.1"
        self._runner: web.AppRunner | None = None

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
        app = web.Application(client_max_size=MAX_REQUEST_BODY)
        self.web_api.add_routes(app)
        self.interactivity.add_routes(app)
        self.socket_mode.add_routes(app)
        self._runner, self.port = await serve(app, host, port)
        self.host = host
        self.interactivity.server_url = self.url
        self.socket_mode.server_ws_url = f"ws://{host}:{self.port}"

    async def serve_tls(self, ssl_context: ssl.SSLContext) -> int:
        """Serve the same app over TLS too, on another free port of the same host, and hand out Socket Mode's
        ``wss://`` URLs there (as Slack does: a client reaches them through a proxy's CONNECT). Returns the port."""
        if self._runner is None:
            raise RuntimeError("start the FakeSlack first")
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=ssl_context)
        await site.start()
        port = int(self._runner.addresses[-1][1])
        self.socket_mode.url_base = f"wss://{self.host}:{port}"
        return port

    async def stop(self) -> None:
        """Close Socket Mode connections and stop listening. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self.socket_mode.close_all()
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
        """A bot token (``xoxb-…``) of bot ``bot_id`` in workspace ``team_id``."""
        self.state.bot_tokens[token] = BotToken(token, team_id, team, user_id, bot_id, frozenset(scopes), inactive)

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
        self.state.add_channel(Channel(name.lstrip("#"), channel_id, archived, bot_member, is_private), team_id)

    def add_app_token(self, token: str) -> None:
        """An app-level token (``xapp-…``): only apps.connections.open accepts it."""
        self.state.app_tokens.add(token)

    def add_usergroup(
        self,
        group_id: str,
        members: list[str],
        *,
        handle: str | None = None,
        name: str | None = None,
        team_id: str = "T0001",
        disabled: bool = False,
    ) -> None:
        """A user group (``S…``) of workspace ``team_id`` and its members, for ``usergroups.users.list`` and
        ``usergroups.list`` (``handle``: what people type after ``@``; by default the ID in lower case)."""
        handle = handle or group_id.lower()
        self.state.usergroups[group_id] = UserGroup(group_id, team_id, handle, name or handle, list(members), disabled)

    def add_user(
        self, user_id: str, name: str, *, email: str | None = None, team_id: str = "T0001", deleted: bool = False
    ) -> None:
        """A member (``U…``) of workspace ``team_id``, for ``users.info`` and ``users.lookupByEmail`` (Slack keeps
        e-mail addresses in lower case)."""
        self.state.users[user_id] = User(user_id, team_id, name, email.lower() if email else None, deleted)

    @property
    def delay(self) -> float:
        """Seconds to wait before each Web API and response_url answer."""
        return self.web_api.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.web_api.delay = seconds
        self.interactivity.delay = seconds

    # -- inspection ----------------------------------------------------------------------------

    @property
    def messages(self) -> defaultdict[str, list[Message]]:
        """Top-level messages per channel ID, in the order accepted (replies are in each message's ``replies``)."""
        return self.state.messages

    @property
    def opened_views(self) -> list[dict[str, Any]]:
        """Modals opened with views.open: {"id", "view", "trigger_id", "user", "team"}."""
        return self.state.views

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        """Ephemeral messages sent through response_urls."""
        return self.state.ephemerals

    @property
    def calls(self) -> list[Call]:
        """Every Web API call, in order."""
        return self.web_api.calls

    @property
    def rate_limited(self) -> int:
        """Web API calls answered 429."""
        return self.web_api.rate_limited

    def find(self, channel_id: str, ts: str) -> Message | None:
        """The message (top level or reply) posted to channel_id with that ts, deleted ones included."""
        return self.state.find(channel_id, ts)

    def call_count(self, method: str, token: str | None = None) -> int:
        """How many calls of ``method`` arrived (with ``token``, when given), whatever the answer."""
        return sum(1 for c in self.calls if c.method == method and (token is None or c.token == token))

    def errors(self) -> list[Call]:
        """Calls answered with ok=false or a non-200 status."""
        return [c for c in self.calls if c.status != 200 or not c.response.get("ok")]

    # Reached into by tests that play odd answers or a message another replica posted.
    @property
    def _handlers(self) -> dict[str, BotMethod]:
        return self.web_api.methods

    @property
    def _index(self) -> dict[tuple[str, str], Message]:
        return self.state.index

    # -- interactivity -------------------------------------------------------------------------

    @property
    def clicks(self) -> list[ClickResult]:
        return self.interactivity.clicks

    @property
    def response_calls(self) -> list[dict[str, Any]]:
        """Every POST to a response_url: ``{"id", "body", "time", "status", "response"}``."""
        return self.interactivity.response_calls

    # -- Socket Mode ---------------------------------------------------------------------------

    @property
    def socket_url_base(self) -> str | None:
        """Where apps.connections.open sends Socket Mode clients (None: here). Point it at a closed port to play
        a network that lets Web API calls through but blocks the WebSocket."""
        return self.socket_mode.url_base

    @socket_url_base.setter
    def socket_url_base(self, value: str | None) -> None:
        self.socket_mode.url_base = value

    @property
    def socket_connections(self) -> int:
        """Open Socket Mode WebSocket connections."""
        return self.socket_mode.open_connections

    @property
    def socket_acks(self) -> list[dict[str, Any]]:
        return self.socket_mode.acks

    @property
    def socket_envelopes(self) -> list[dict[str, Any]]:
        return self.socket_mode.sent

    async def send_interactive(self, payload: dict[str, Any], timeout: float = 3.0) -> float:  # noqa: ASYNC109
        """Send an ``interactive`` envelope to a connected client; the seconds until its ack.

        Raises ``TimeoutError`` when no ack arrives within ``timeout`` (Slack waits 3 s).
        """
        return await self.socket_mode.send_envelope(
            EnvelopeType.INTERACTIVE, payload, accepts_response_payload=True, timeout=timeout
        )
