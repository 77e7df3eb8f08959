"""The Slack sender: Web API calls over one shared ``aiohttp`` session, retried by slack_sdk-style retry handlers.

Dispatch is the hot path (a storm is thousands of posts), so calls go straight to ``aiohttp`` with a prepared
JSON body; measured against ``AsyncWebClient`` this halves the plugin's CPU per dispatch (see the benchmark).
Retries use slack_sdk's ``AsyncRetryHandler`` interface: its connection-error handler, and our own handlers for
HTTP 5xx or an unreadable answer, and for HTTP 429 (slack_sdk's reads ``Retry-After`` with ``int()`` and raises
on ``1.5``; ours reads it with ``parse_retry_after``). A handler that raises anyway ends the retries, never the
call. Every failure leaves as a coded ``BotError`` naming no token and no URL.

The sender's connection pool is opened by its constructor, which runs on the event loop, and closed by ``close``.
It goes through the proxy the environment names for the Web API's address (``bot.proxies``: ``HTTPS_PROXY``,
``NO_PROXY``), read once when it is made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler, default_interval_calculator
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot import __version__, metrics, proxies, tracing
from bot.ports.slack import HTTP_TIMEOUT_SECONDS, Posted
from bot.slack.errors import SlackCallError, retry_after_header, translate

__all__ = ["HTTP_TIMEOUT_SECONDS", "Posted", "SlackSender"]

logger = logging.getLogger(__name__)
USER_AGENT = f"slack-chatops/{__version__} aiohttp/{aiohttp.__version__}"
# A 429 is retried within the call only when its Retry-After is this short: two such waits (with their jitter)
# fit in a verify's 30 s (dispatch.VERIFY_TIMEOUT_SECONDS). A longer one is reported with its Retry-After, for
# the caller to wait out (the outbox pauses the lane).
MAX_INLINE_RETRY_AFTER_SECONDS = 10.0
# Up to this much random delay is added to a Retry-After, as slack_sdk does, so that callers told the same
# Retry-After do not all come back at the same instant.
RETRY_AFTER_JITTER_SECONDS = 1.0
# Proxies and load balancers answer these when Slack (or the way to it) is briefly unavailable.
TRANSIENT_HTTP_STATUSES = frozenset({500, 502, 503, 504})
# How a call that never reached Slack because of the proxy begins its ``SlackCallError.error`` (doctor tells it
# from Slack being unreachable).
PROXY_UNREACHABLE = "proxy unreachable"
PROXY_REFUSED = "proxy refused"
# conversations.list's largest page (its ``limit``: at most 1,000, https://api.slack.com/methods/conversations.list).
CHANNELS_PER_PAGE = 1000


@dataclass(frozen=True)
class Identity:
    """Who a token is (``auth.test``), and the scopes Slack names for it (``None`` when it does not say)."""

    user: str
    user_id: str
    team: str
    team_id: str
    scopes: frozenset[str] | None


def retry_after(response: HttpResponse) -> float:
    """Seconds a 429 asks to wait: its ``Retry-After`` read robustly, bounded (see ``parse_retry_after``)."""
    return retry_after_header(response.headers)


class RateLimitRetryHandler(AsyncRetryHandler):
    """Retries an HTTP 429 after its ``Retry-After`` when that is short; never raises for any header value."""

    def __init__(
        self,
        max_retry_count: int = 1,
        *,
        max_wait: float = MAX_INLINE_RETRY_AFTER_SECONDS,
        jitter: float = RETRY_AFTER_JITTER_SECONDS,
    ) -> None:
        super().__init__(max_retry_count)
        self.max_wait = max_wait
        self.jitter = jitter

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429 and retry_after(response) <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = retry_after(response) if response is not None else 0.0
        await asyncio.sleep(wait + random.random() * self.jitter)
        state.increment_current_attempt()


class TransientErrorRetryHandler(AsyncRetryHandler):
    """Retries HTTP 500/502/503/504, and an HTTP 200 whose body is not Slack's JSON (a proxy in between)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and (response.status_code in TRANSIENT_HTTP_STATUSES or response.status_code == 200)


def default_retry_handlers(
    max_retries: int = 2,
    *,
    interval: RetryIntervalCalculator = default_interval_calculator,
    max_wait: float = MAX_INLINE_RETRY_AFTER_SECONDS,
    jitter: float = RETRY_AFTER_JITTER_SECONDS,
) -> list[AsyncRetryHandler]:
    """Connection errors, transient answers and short rate limits, each retried up to ``max_retries`` times."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        TransientErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        RateLimitRetryHandler(max_retry_count=max_retries, max_wait=max_wait, jitter=jitter),
    ]


def _count_failure(label: str, response: HttpResponse) -> None:
    """Count an answer that is not Slack's JSON success or error: a 429 (with the Retry-After it asks for, which
    is waited out inline or by the outbox pausing the lane), a 5xx, or an unreadable 200."""
    if response.status_code == 429:
        metrics.SLACK_REQUESTS_FAILED.labels(label, metrics.RequestFailure.RATE_LIMITED.value).inc()
        metrics.SLACK_RATE_LIMITED.labels(label).inc()
        metrics.SLACK_RETRY_AFTER.labels(label).inc(retry_after(response))
    else:
        metrics.SLACK_REQUESTS_FAILED.labels(label, metrics.RequestFailure.SERVER_ERROR.value).inc()


def connection_failure(error: BaseException) -> str:
    """Why a call got no answer from Slack: the proxy could not be reached, the proxy refused the tunnel, or the
    connection failed (Slack, DNS or a firewall); names the exception's type only."""
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        return f"{PROXY_UNREACHABLE} ({type(error).__name__})"
    if isinstance(error, aiohttp.ClientHttpProxyError):
        return f"{PROXY_REFUSED} (HTTP {error.status})"
    return f"connection failed ({type(error).__name__})"


class SlackSender:
    """Calls Slack Web API methods with a bot token; keeps one warm connection pool for all tokens.

    Construct it on the event loop; ``close`` it when done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        retry_handlers: list[AsyncRetryHandler] | None = None,
        timeout: float = HTTP_TIMEOUT_SECONDS,
    ) -> None:
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._retry_handlers = retry_handlers if retry_handlers is not None else default_retry_handlers()
        self.proxy = proxies.proxy_for(self._base_url)  # None: direct (credentials inside: never log it)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": USER_AGENT},
            proxy=self.proxy,
        )

    async def call(
        self,
        token: str,
        method: str,
        body: dict[str, Any],
        *,
        form: bool = False,
        headers_seen: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST one Web API method (JSON body, or form fields for read methods); return Slack's answer.

        ``headers_seen``, when given, receives the last answer's headers (names in lower case). Raises
        ``SlackCallError`` when Slack says no or cannot be reached after the retries, or the sender is closed.
        """
        url = self._base_url + method
        headers = {"Authorization": f"Bearer {token}"}
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = urlencode({k: v for k, v in body.items() if v is not None}).encode()
        else:
            headers["Content-Type"] = "application/json; charset=utf-8"
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        with tracing.span(f"slack {method}", kind=tracing.Kind.CLIENT, attributes={"slack.method": method}) as span:
            try:
                return await self._call(method, url, headers, data, headers_seen)
            except SlackCallError as exc:
                span.fail(exc.error or f"HTTP {exc.status}")
                raise

    async def _call(
        self, method: str, url: str, headers: dict[str, str], data: bytes, headers_seen: dict[str, str] | None
    ) -> dict[str, Any]:
        label = metrics.slack_method(method)
        state = RetryState()
        retry_request = HttpRequest(method="POST", url=url, headers={}, data=None)  # no token in it
        while True:
            state.next_attempt_requested = False
            response: HttpResponse | None = None
            error: Exception | None = None
            if self._session.closed:  # closed before this attempt (the process is stopping)
                raise SlackCallError(method, 0, "connection failed (the sender is closed)")
            started = time.perf_counter()
            try:
                async with self._session.post(url, data=data, headers=headers) as answer:
                    status = answer.status
                    if headers_seen is not None:
                        headers_seen.clear()
                        headers_seen.update((key.lower(), value) for key, value in answer.headers.items())
                    try:
                        payload = await answer.json(content_type=None)
                    except ValueError:  # not JSON (an HTML page from a proxy), or not UTF-8
                        payload = None
                    metrics.SLACK_REQUEST_SECONDS.labels(label).observe(time.perf_counter() - started)
                    if status == 200 and isinstance(payload, dict) and "ok" in payload:
                        if payload["ok"]:
                            return payload
                        metrics.SLACK_REQUESTS_FAILED.labels(label, metrics.RequestFailure.API_ERROR.value).inc()
                        raise SlackCallError(method, 200, str(payload.get("error") or "unknown_error"))
                    # Anything else: an error status, or HTTP 200 without Slack's JSON (empty, HTML, `{}`).
                    response = HttpResponse(
                        status_code=status,
                        headers=dict(answer.headers),
                        body=payload if isinstance(payload, dict) else None,
                    )
                    _count_failure(label, response)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                metrics.SLACK_REQUEST_SECONDS.labels(label).observe(time.perf_counter() - started)
                metrics.SLACK_REQUESTS_FAILED.labels(label, metrics.RequestFailure.CONNECTION.value).inc()
                error = exc
            if await self._retry(state, retry_request, response, error):
                continue
            if error is not None:
                raise SlackCallError(method, 0, connection_failure(error)) from None
            assert response is not None
            body = response.body or {}
            slack_error = "" if response.status_code == 200 else str(body.get("error") or "")
            raise SlackCallError(
                method,
                response.status_code,
                slack_error,
                retry_after(response) if response.status_code == 429 else None,
            )

    async def _retry(
        self, state: RetryState, request: HttpRequest, response: HttpResponse | None, error: Exception | None
    ) -> bool:
        """Whether a handler took the failure and waited for another attempt. A handler that raises (slack_sdk's
        own rate-limit handler does on ``Retry-After: 1.5``) ends the retries instead of escaping."""
        for handler in self._retry_handlers:
            try:
                if await handler.can_retry_async(state=state, request=request, response=response, error=error):
                    await handler.prepare_for_next_attempt_async(
                        state=state, request=request, response=response, error=error
                    )
                    return state.next_attempt_requested
            except Exception as exc:
                logger.warning(
                    "Slack retry handler %s failed (%s); not retrying", type(handler).__name__, type(exc).__name__
                )
                state.next_attempt_requested = False
                return False
        return False

    async def auth_test(self, token: str) -> dict[str, Any]:
        try:
            return await self.call(token, "auth.test", {})
        except SlackCallError as exc:
            raise translate(exc) from None

    async def post(self, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        body = {"channel": channel, "unfurl_links": False, "unfurl_media": False, **payload}
        if thread_ts:
            body["thread_ts"] = thread_ts
        try:
            answer = await self.call(token, "chat.postMessage", body)
        except SlackCallError as exc:
            raise translate(exc, channel=channel) from None
        return Posted(channel_id=str(answer.get("channel") or channel), ts=str(answer.get("ts")))

    async def update(self, token: str, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        try:
            await self.call(token, "chat.update", {"channel": channel_id, "ts": ts, **payload})
        except SlackCallError as exc:
            raise translate(exc, channel=channel_id) from None

    async def group_members(self, token: str, group_id: str) -> set[str]:
        try:
            answer = await self.call(token, "usergroups.users.list", {"usergroup": group_id}, form=True)
        except SlackCallError as exc:
            raise translate(exc) from None
        return {str(u) for u in answer.get("users") or []}

    # -- what the operator's doctor asks (Slack's own error codes: SlackCallError, not translated) ------------------

    async def identity(self, token: str) -> Identity:
        """``auth.test``: who ``token`` is and its scopes (from ``X-OAuth-Scopes``). Raises ``SlackCallError``."""
        headers: dict[str, str] = {}
        answer = await self.call(token, "auth.test", {}, form=True, headers_seen=headers)
        header = headers.get("x-oauth-scopes")
        scopes = None if header is None else frozenset(s.strip() for s in header.split(",") if s.strip())
        return Identity(
            user=str(answer.get("user") or ""),
            user_id=str(answer.get("user_id") or ""),
            team=str(answer.get("team") or ""),
            team_id=str(answer.get("team_id") or ""),
            scopes=scopes,
        )

    async def socket_mode_url(self, app_token: str) -> str:
        """``apps.connections.open`` with an app-level token: the WebSocket URL (empty when Slack gave none).
        Raises ``SlackCallError``."""
        url = (await self.call(app_token, "apps.connections.open", {}, form=True)).get("url")
        return url if isinstance(url, str) else ""

    async def channel_info(self, token: str, channel_id: str) -> dict[str, Any]:
        """``conversations.info``: the channel as Slack describes it to this bot. Raises ``SlackCallError``."""
        channel = (await self.call(token, "conversations.info", {"channel": channel_id}, form=True)).get("channel")
        return channel if isinstance(channel, dict) else {}

    async def channel_page(
        self, token: str, types: list[str], cursor: str = "", *, limit: int = CHANNELS_PER_PAGE
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of ``conversations.list`` (archived channels included): the channels and the next page's
        cursor (empty on the last page). Raises ``SlackCallError``."""
        body = {"types": ",".join(types), "limit": str(limit), "exclude_archived": "false", "cursor": cursor or None}
        answer = await self.call(token, "conversations.list", body, form=True)
        channels = [c for c in answer.get("channels") or [] if isinstance(c, dict)]
        return channels, str((answer.get("response_metadata") or {}).get("next_cursor") or "")

    async def close(self) -> None:
        """Close the connection pool; a later call fails (as Slack not reached) without calling anything."""
        await self._session.close()


# What a failed views.open means, for the clicker.
_VIEWS_OPEN_ERRORS = {
    "expired_trigger_id": "Slack's trigger for the form expired (it lasts 3 s)",
    "exchanged_trigger_id": "Slack's trigger for the form was already used",
    "invalid_trigger_id": "Slack did not accept the form's trigger",
    "missing_scope": "the Slack app may not open forms",
}


class ModalOpener:
    """Opens a modal with ``views.open``, with the bot token that last posted in the click's channel (the click
    brings none); never retried (a trigger id is good once, for 3 s). Never raises: the answer says what went
    wrong, never a token."""

    def __init__(self, sender: SlackSender, token_for_channel: Callable[[str], str | None]) -> None:
        self._sender = sender
        self._token_for_channel = token_for_channel

    async def open_modal(self, channel_id: str, trigger_id: str, view: dict[str, Any]) -> str | None:
        token = self._token_for_channel(channel_id)
        if token is None:
            return "the plugin knows no bot token for this channel yet"
        try:
            await self._sender.call(token, "views.open", {"trigger_id": trigger_id, "view": view})
        except SlackCallError as exc:
            logger.warning("views.open failed: HTTP %d %s", exc.status, exc.error)
            return _VIEWS_OPEN_ERRORS.get(exc.error, f"Slack answered {exc.error or f'HTTP {exc.status}'}")
        except Exception as exc:
            logger.error("views.open failed: %s", type(exc).__name__)
            return "Slack could not be reached"
        return None
