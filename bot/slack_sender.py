"""The Slack sender: one pooled ``AsyncWebClient`` per bot token over one shared HTTP session.

Retries transient failures with slack_sdk's own retry handlers (connection errors, HTTP 5xx, and HTTP 429
after its ``Retry-After``); every failure leaves as a coded ``BotError``.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_errors import translate

# slack_sdk formats a debug line of every request (with the message body) unless its logger's level is above
# DEBUG; ours is quiet and never sees a token.
_sdk_logger = logging.getLogger("bot.slack_sdk")
_sdk_logger.setLevel(logging.WARNING)

MAX_CLIENTS = 1024
HTTP_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str


def default_retry_handlers(max_retries: int = 2) -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
        AsyncServerErrorRetryHandler(max_retry_count=max_retries),
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
    ]


class SlackSender:
    """Posts and updates messages; keeps clients per token so each dispatch reuses a warm connection."""

    def __init__(self, base_url: str, *, retry_handlers: list[AsyncRetryHandler] | None = None) -> None:
        self._base_url = base_url
        self._retry_handlers = retry_handlers if retry_handlers is not None else default_retry_handlers()
        self._session: aiohttp.ClientSession | None = None
        self._clients: OrderedDict[str, AsyncWebClient] = OrderedDict()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=256, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
            )
        return self._session

    def client(self, token: str) -> AsyncWebClient:
        key = hashlib.sha256(token.encode()).hexdigest()
        client = self._clients.get(key)
        if client is None:
            client = AsyncWebClient(
                token=token,
                base_url=self._base_url,
                session=self._http(),
                timeout=HTTP_TIMEOUT_SECONDS,
                logger=_sdk_logger,
                retry_handlers=list(self._retry_handlers),
            )
            self._clients[key] = client
            if len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return client

    async def auth_test(self, token: str) -> dict[str, Any]:
        try:
            response = await self.client(token).auth_test()
        except Exception as exc:
            raise translate(exc) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def post(self, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None) -> Posted:
        try:
            response = await self.client(token).chat_postMessage(
                channel=channel, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False, **payload
            )
        except Exception as exc:
            raise translate(exc, channel=channel) from None
        return Posted(channel_id=str(response.get("channel") or channel), ts=str(response.get("ts")))

    async def update(self, token: str, channel_id: str, ts: str, payload: dict[str, Any]) -> None:
        try:
            await self.client(token).chat_update(channel=channel_id, ts=ts, **payload)
        except Exception as exc:
            raise translate(exc, channel=channel_id) from None

    async def close(self) -> None:
        self._clients.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
