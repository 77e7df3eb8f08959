"""Socket Mode: the plugin connects out to Slack over WebSocket, so clicks arrive with no public URL.

One connection per app-level token. Tokens come from ``SLACK_APP_TOKEN`` or from a channel's ``app_token``, which
any caller of dispatch can bring, so none is trusted until Slack accepts it:

* a new token is checked with one ``apps.connections.open`` call and the URL Slack hands back is the one connected
  to; only then is it reported as accepted (the runtime remembers it, sealed, across restarts);
* a token Slack refuses for good (``invalid_auth``, ``token_revoked``, …), at once or after being connected for a
  while, is closed and reported as refused (the runtime forgets it) with one warning, and is not tried again for
  a while however often dispatches bring it;
* transient failures (Slack unreachable, 5xx, 429) and lost connections are retried with capped exponential
  back-off. Every ``apps.connections.open`` call is made here: slack_sdk's client is told never to reconnect on
  its own (its own loop retries a refused token every ``ping_interval``, forever);
* at most ``MAX_APP_TOKENS`` tokens are held at once, ``SLACK_APP_TOKEN`` included; remembered tokens past that
  wait for a free place, new ones from channels are ignored (one warning).

Nothing here makes its caller wait: ``ensure`` starts background work and returns.

``apps.connections.open`` and the WebSocket go through the proxy the environment names for each address
(``bot.proxies``: ``HTTPS_PROXY``, ``NO_PROXY``), never slack_sdk's own reading of the environment, which ignores
``NO_PROXY`` (and logs the proxy URL, password included, at debug level).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics, proxies
from bot.core.backoff import Backoff
from bot.slack.bolt_app import dispatch_socket_mode
from bot.slack.errors import AUTH_ERRORS, retry_after_header

logger = logging.getLogger(__name__)

# A deployment serves one Slack app per workspace it posts to: 20 is far past any real set-up, and bounds the
# WebSockets, tasks and apps.connections.open calls that app tokens brought by dispatches can cause.
MAX_APP_TOKENS = 20
# Slack's errors for an app-level token it will never accept: those refusing any token (the one set), and a token
# without connections:write (``missing_scope``: apps.connections.open needs no other scope, and a token's scopes
# are fixed when it is made).
REFUSED_FOR_GOOD = AUTH_ERRORS | {"missing_scope"}
# Back-off after a transient failure: 1 s, 2 s, 4 s … up to 5 min, each wait jittered to 50–100 % so tokens do not
# retry in step. apps.connections.open is Tier 1 (about one call a minute sustained); at the cap an outage costs
# about 12 calls an hour per token.
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
BACKOFF_JITTER = 0.5  # each wait drawn from 50–100 % of its ceiling
# A connection that stayed up this long was healthy: after it drops, the first reconnect is immediate. One that
# drops sooner counts as a failure, so a connection Slack closes right after opening is not a tight loop.
STABLE_CONNECTION_SECONDS = 60.0
# A token Slack refused is not asked about again for an hour (such tokens do not become valid; a junk token that
# dispatches keep bringing costs one call an hour); at most this many refused tokens (their hashes) are kept.
REFUSED_MEMORY_SECONDS = 3600.0
REFUSED_MEMORY_MAX = 10_000
# slack_bolt's default ping interval; a quiet connection is also checked this often.
PING_INTERVAL_SECONDS = 10.0
# apps.connections.open and the WebSocket handshake take well under a second when Slack is well. The handshake's
# limit is below the ping interval: slack_sdk retries a failed handshake (same URL) after one ping interval, and
# the limit ends that, so each attempt is one try and the next one is paced by the back-off with a fresh URL.
OPEN_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
# Given to slack_sdk's clients in place of "no proxy", which they would take as "read HTTPS_PROXY yourself"; their
# ``proxy`` is set to what bot.proxies says right after.
_NOT_FROM_ENVIRONMENT = "(set by bot.proxies)"

TokenHook = Callable[[str], Awaitable[None]]


class TokenState(StrEnum):
    CHECKING = "checking"  # asking Slack for the first time (apps.connections.open)
    CONNECTING = "connecting"  # accepted; opening the WebSocket
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"  # a transient failure or a lost connection; waiting before the next try
    WAITING = "waiting"  # remembered, waiting for a free place under MAX_APP_TOKENS
    REFUSED = "refused"  # Slack refused it for good


metrics.socket_mode_states(state.value for state in TokenState)


def app_token_id(app_token: str) -> str:
    """How a token is known in the store and in logs (a prefix): its full SHA-256 hex, never the token. The one
    place this id is made; ``bot.core.sealed.fingerprint`` is its first 16 characters, but the store has always
    keyed app tokens by the full digest, so remembered tokens stay found."""
    return hashlib.sha256(app_token.encode()).hexdigest()


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Client(SocketModeClient):
    """slack_sdk's Socket Mode client, with every reconnection left to :class:`SocketModeConnections`."""

    def __init__(self, app_token: str, *, wake: Callable[[bool], None], **kwargs: Any) -> None:
        super().__init__(app_token, auto_reconnect_enabled=False, proxy=_NOT_FROM_ENVIRONMENT, **kwargs)
        self.proxy: str | None = None  # per WebSocket URL, set before each connect
        self._wake = wake
        self.on_close_listeners.append(self._on_close)

    async def _on_close(self, _message: aiohttp.WSMessage) -> None:
        self._wake(False)

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        # Slack's "disconnect" message (refresh_requested, link_disabled, …): reconnect through the supervisor.
        self._wake(True)

    async def issue_new_wss_url(self) -> str:
        raise RuntimeError("Socket Mode URLs are obtained by SocketModeConnections only")


@dataclass(eq=False)
class _Connection:
    token: str
    token_id: str
    pinned: bool  # SLACK_APP_TOKEN: never reported as refused, always holds its place
    stored: bool  # already remembered: not reported as accepted again
    state: TokenState = TokenState.CHECKING
    accepted: bool = False
    failures: int = 0  # transient failures (and short-lived connections) in a row
    retry_after: float = 0.0  # Slack's Retry-After on the last 429
    refresh: bool = False  # Slack asked for a new connection
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    client: _Client | None = None
    task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.token_id[:8]


class SocketModeConnections:
    def __init__(
        self,
        bolt: AsyncApp,
        slack_api_url: str,
        *,
        on_accepted: TokenHook,
        on_refused: TokenHook,
        max_tokens: int = MAX_APP_TOKENS,
        backoff_first: float = BACKOFF_FIRST_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        stable_after: float = STABLE_CONNECTION_SECONDS,
        refused_for: float = REFUSED_MEMORY_SECONDS,
        ping_interval: float = PING_INTERVAL_SECONDS,
        open_timeout: float = OPEN_TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self._bolt = bolt
        self._on_accepted = on_accepted
        self._on_refused = on_refused
        self._max_tokens = max_tokens
        self._backoff = Backoff(first=backoff_first, cap=backoff_max, jitter=BACKOFF_JITTER)
        self._stable_after = stable_after
        self._refused_for = refused_for
        self._ping_interval = ping_interval
        self._open_timeout = open_timeout
        self._connect_timeout = connect_timeout
        # No retry handlers: each apps.connections.open call is one paced attempt.
        self._web = AsyncWebClient(
            base_url=slack_api_url,
            timeout=math.ceil(open_timeout),
            retry_handlers=[],
            logger=logging.getLogger("bot.socket_mode.web"),
            proxy=_NOT_FROM_ENVIRONMENT,
        )
        self._web.proxy = proxies.proxy_for(slack_api_url)  # None: direct
        self._held: dict[str, _Connection] = {}  # by token id: checking, connected or retrying (counts to the cap)
        self._waiting: dict[str, str] = {}  # token id -> remembered token waiting for a free place, oldest first
        self._refused: dict[str, float] = {}  # token id -> monotonic time until which it is not tried again
        self._full_warned = False
        self._closed = False

    def has(self, app_token: str) -> bool:
        """Whether ``app_token`` holds a place (being checked, connected, or retrying)."""
        return app_token_id(app_token) in self._held

    def state(self, app_token: str) -> TokenState | None:
        token_id = app_token_id(app_token)
        if token_id in self._held:
            return self._held[token_id].state
        if token_id in self._waiting:
            return TokenState.WAITING
        return TokenState.REFUSED if self._is_refused(token_id) else None

    def state_counts(self) -> dict[str, int]:
        """App-level tokens by state, every state named (metrics)."""
        counts = dict.fromkeys((state.value for state in TokenState), 0)
        for conn in self._held.values():
            counts[conn.state.value] += 1
        counts[TokenState.WAITING.value] += len(self._waiting)
        return counts

    def ensure(self, app_token: str, *, pinned: bool = False, stored: bool = False) -> None:
        """Connect with ``app_token`` in the background unless it is already held or was recently refused.

        ``pinned``: it is ``SLACK_APP_TOKEN`` (never reported as refused). ``stored``: it was remembered before (it
        waits for a free place when all are taken, and is not reported as accepted again). Never raises, never waits.
        """
        if self._closed:
            return
        token_id = app_token_id(app_token)
        if token_id in self._held or token_id in self._waiting:
            return
        if not pinned and self._is_refused(token_id):
            return
        if not pinned and len(self._held) >= self._max_tokens:
            if stored:
                self._waiting[token_id] = app_token
            self._warn_full()
            return
        self._start(_Connection(app_token, token_id, pinned, stored))

    async def close(self) -> None:
        self._closed = True
        connections = list(self._held.values())
        self._held.clear()
        self._waiting.clear()
        tasks = [c.task for c in connections if c.task is not None and not c.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in connections:
            await self._close_client(connection)

    # -- places under the cap ---------------------------------------------------------------------------------------

    def _start(self, conn: _Connection) -> None:
        self._held[conn.token_id] = conn
        conn.task = asyncio.get_running_loop().create_task(self._supervise(conn), name=f"socket-mode-{conn.name}")

    def _release(self, conn: _Connection) -> None:
        if self._held.get(conn.token_id) is conn:
            del self._held[conn.token_id]
        self._full_warned = False
        while self._waiting and len(self._held) < self._max_tokens and not self._closed:
            token_id = next(iter(self._waiting))
            token = self._waiting.pop(token_id)
            if not self._is_refused(token_id):
                self._start(_Connection(token, token_id, pinned=False, stored=True))

    def _warn_full(self) -> None:
        if not self._full_warned:
            self._full_warned = True
            logger.warning(
                "Socket Mode is connected with at most %d app-level tokens; another one is not used for "
                "now (remembered ones wait for a free place)",
                self._max_tokens,
            )

    def _is_refused(self, token_id: str) -> bool:
        until = self._refused.get(token_id)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._refused[token_id]
        return False

    def _remember_refused(self, token_id: str) -> None:
        self._refused.pop(token_id, None)
        self._refused[token_id] = time.monotonic() + self._refused_for
        while len(self._refused) > REFUSED_MEMORY_MAX:
            del self._refused[next(iter(self._refused))]

    # -- one token's life ---------------------------------------------------------------------------------------------

    async def _supervise(self, conn: _Connection) -> None:
        try:
            while True:
                if conn.failures:
                    conn.state = TokenState.BACKING_OFF
                    await asyncio.sleep(self._delay(conn))
                url = await self._open(conn)
                if url is None:
                    continue
                if not conn.accepted:
                    await self._accept(conn)
                if not await self._connect(conn, url):
                    continue
                up_since = time.monotonic()
                await self._until_lost(conn)
                conn.failures = 0 if time.monotonic() - up_since >= self._stable_after else conn.failures + 1
                logger.info(
                    "Socket Mode connection (app token %s…) %s; reconnecting",
                    conn.name,
                    "refreshed by Slack" if conn.refresh else "lost",
                )
        except _Refused as refused:
            await self._refuse(conn, refused.reason)
        except Exception as exc:  # a bug: end this token's connection, never the process
            logger.error("Socket Mode with app token %s… stopped: %s", conn.name, type(exc).__name__)
            await self._close_client(conn)
            self._release(conn)

    def _delay(self, conn: _Connection) -> float:
        delay = max(self._backoff.delay(conn.failures), conn.retry_after)
        conn.retry_after = 0.0
        return delay

    async def _open(self, conn: _Connection) -> str | None:
        """One apps.connections.open call: the URL, or None after a transient failure; ``_Refused`` for good."""
        conn.state = TokenState.CONNECTING if conn.accepted else TokenState.CHECKING
        try:
            async with asyncio.timeout(self._open_timeout):
                response = await self._web.apps_connections_open(app_token=conn.token)
            url = response.get("url")
            if isinstance(url, str) and url:
                return url
            reason = "no URL in Slack's answer"
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or "")
            if error in REFUSED_FOR_GOOD:
                raise _Refused(error) from None
            if exc.response.status_code == 429 or error == "ratelimited":
                conn.retry_after = retry_after_header(exc.response.headers)
                metrics.SLACK_RATE_LIMITED.labels(metrics.SlackMethod.APPS_CONNECTIONS_OPEN.value).inc()
                metrics.SLACK_RETRY_AFTER.labels(metrics.SlackMethod.APPS_CONNECTIONS_OPEN.value).inc(conn.retry_after)
            reason = error or f"HTTP {exc.response.status_code}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = f"Slack unreachable: {type(exc).__name__}"
        except ValueError:
            # aiohttp will not put control characters in a header: a token pasted with a trailing newline.
            raise _Refused("malformed token") from None
        except Exception as exc:
            reason = type(exc).__name__
        self._failed(conn, reason)
        return None

    def _failed(self, conn: _Connection, reason: str) -> None:
        conn.failures += 1
        if conn.failures == 1:
            logger.warning(
                "Socket Mode with app token %s… failed (%s); retrying with back-off (at most every %g s)",
                conn.name,
                reason,
                self._backoff.cap,
            )
        else:
            logger.debug(
                "Socket Mode with app token %s… failed again (%s, %d in a row)", conn.name, reason, conn.failures
            )

    async def _accept(self, conn: _Connection) -> None:
        conn.accepted = True
        if conn.pinned or conn.stored:
            return
        logger.info("Slack accepted app-level token %s…; it is remembered for Socket Mode", conn.name)
        try:
            await self._on_accepted(conn.token)
        except Exception as exc:
            logger.error("could not remember app-level token %s…: %s", conn.name, type(exc).__name__)

    async def _connect(self, conn: _Connection, url: str) -> bool:
        conn.state = TokenState.CONNECTING
        if conn.client is None:
            conn.client = _Client(
                conn.token,
                wake=lambda refresh: self._wake(conn, refresh),
                logger=logging.getLogger("bot.socket_mode.client"),
                web_client=self._web,
                ping_interval=self._ping_interval,
            )
            conn.client.socket_mode_request_listeners.append(self._handle)
        conn.refresh = False
        conn.wake.clear()
        conn.client.wss_uri = url
        conn.client.proxy = proxies.proxy_for(url)
        try:
            # slack_sdk's connect() retries a failed handshake with the same URL forever; the timeout ends that.
            async with asyncio.timeout(self._connect_timeout):
                await conn.client.connect()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated
        except TimeoutError:
            self._failed(conn, "the WebSocket did not open")
            return False
        conn.state = TokenState.CONNECTED
        logger.info("Socket Mode connected (app token %s…)", conn.name)
        return True

    def _wake(self, conn: _Connection, refresh: bool) -> None:
        conn.refresh = conn.refresh or refresh
        conn.wake.set()

    async def _until_lost(self, conn: _Connection) -> None:
        assert conn.client is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wake.wait(), self._ping_interval)
            conn.wake.clear()
            if conn.refresh or not await conn.client.is_connected():
                return

    async def _handle(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await dispatch_socket_mode(self._bolt, client, request)

    async def _refuse(self, conn: _Connection, reason: str) -> None:
        conn.state = TokenState.REFUSED
        await self._close_client(conn)
        if conn.pinned:  # keeps its place; nothing to forget
            logger.warning(
                "Slack refused SLACK_APP_TOKEN for good (%s): no Socket Mode with it; set a valid app-level "
                "token (xapp-…, scope connections:write) and restart",
                reason,
            )
            return
        self._remember_refused(conn.token_id)
        self._release(conn)
        try:
            await self._on_refused(conn.token)
        except Exception as exc:
            logger.error("could not forget app-level token %s…: %s", conn.name, type(exc).__name__)
        logger.warning(
            "Slack refused app-level token %s… for good (%s): it is not used or kept, and not tried again for %g min",
            conn.name,
            reason,
            self._refused_for / 60,
        )

    @staticmethod
    async def _close_client(conn: _Connection) -> None:
        client, conn.client = conn.client, None
        if client is not None:
            try:
                await client.close()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated
            except Exception as exc:
                logger.warning("closing a Socket Mode connection failed: %s", type(exc).__name__)
