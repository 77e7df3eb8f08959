"""Socket Mode: the plugin connects out to Slack over WebSocket, so clicks arrive with no public URL.

One connection per app-level token; tokens come from ``SLACK_APP_TOKEN`` or from a channel's ``app_token``
(remembered in the store, so buttons keep working after a restart).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.interactivity.bolt_app import GuardedSocketModeHandler

logger = logging.getLogger(__name__)


class SocketModeConnections:
    def __init__(self, bolt: AsyncApp, slack_api_url: str) -> None:
        self._bolt = bolt
        self._slack_api_url = slack_api_url
        self._handlers: dict[str, GuardedSocketModeHandler] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def has(self, app_token: str) -> bool:
        return hashlib.sha256(app_token.encode()).hexdigest() in self._handlers

    def ensure(self, app_token: str) -> None:
        """Start connecting with ``app_token`` unless already done. The connection is made in the background and
        retried by slack_sdk until it succeeds (Slack unreachable, token not yet valid), so startup never waits."""
        key = hashlib.sha256(app_token.encode()).hexdigest()
        if key in self._handlers:
            return
        client = AsyncWebClient(base_url=self._slack_api_url, logger=logging.getLogger("bot.socket_mode.web"))
        handler = GuardedSocketModeHandler(self._bolt, app_token, web_client=client,
                                           logger=logging.getLogger("bot.socket_mode"))
        self._handlers[key] = handler
        self._tasks[key] = asyncio.get_running_loop().create_task(self._connect(handler, key[:8]))

    @staticmethod
    async def _connect(handler: GuardedSocketModeHandler, name: str) -> None:
        try:
            await handler.connect_async()
            logger.info("Socket Mode connected (app token %s…)", name)
        except Exception as exc:
            logger.error("Socket Mode connection failed (app token %s…): %s", name, type(exc).__name__)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        for handler in self._handlers.values():
            try:
                await handler.close_async()
            except Exception as exc:
                logger.warning("closing a Socket Mode connection failed: %s", type(exc).__name__)
        self._handlers.clear()
