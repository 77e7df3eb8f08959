"""Socket Mode: the plugin connects out to Slack over WebSocket, so clicks arrive with no public URL.

One connection per app-level token; tokens come from ``SLACK_APP_TOKEN`` or from a channel's ``app_token``
(remembered in the store, so buttons keep working after a restart).
"""

from __future__ import annotations

import hashlib
import logging

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)


class SocketModeConnections:
    def __init__(self, bolt: AsyncApp, slack_api_url: str) -> None:
        self._bolt = bolt
        self._slack_api_url = slack_api_url
        self._handlers: dict[str, AsyncSocketModeHandler] = {}

    def has(self, app_token: str) -> bool:
        return hashlib.sha256(app_token.encode()).hexdigest() in self._handlers

    async def ensure(self, app_token: str) -> None:
        """Connect with ``app_token`` unless already connected; errors are logged, never raised."""
        key = hashlib.sha256(app_token.encode()).hexdigest()
        if key in self._handlers:
            return
        client = AsyncWebClient(base_url=self._slack_api_url, logger=logging.getLogger("bot.socket_mode.web"))
        handler = AsyncSocketModeHandler(self._bolt, app_token, web_client=client,
                                         logger=logging.getLogger("bot.socket_mode"))
        self._handlers[key] = handler
        try:
            await handler.connect_async()
            logger.info("Socket Mode connected (app token %s…)", key[:8])
        except Exception as exc:
            del self._handlers[key]
            logger.error("Socket Mode connection failed (app token %s…): %s", key[:8], type(exc).__name__)

    async def close(self) -> None:
        for handler in self._handlers.values():
            try:
                await handler.close_async()
            except Exception as exc:
                logger.warning("closing a Socket Mode connection failed: %s", type(exc).__name__)
        self._handlers.clear()
