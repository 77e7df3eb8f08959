"""The dispatch service: a validated request becomes a card posted to Slack, within a bounded time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.button_keys import ButtonKeys
from bot.core.cards import Card, render_card
from bot.core.errors import BotError, ErrorCode
from bot.core.models import DispatchRequest
from bot.core.sealed import seal
from bot.slack_sender import Posted, SlackSender

logger = logging.getLogger(__name__)
MAX_REMEMBERED_CHANNELS = 10_000


@dataclass(frozen=True)
class Delivery:
    posted: Posted
    card: Card


def callback_values(request: DispatchRequest, keys: ButtonKeys) -> list[str | None]:
    """One sealed value per callback; None where the callback URL is not a web address."""
    values: list[str | None] = []
    for callback in request.message.callbacks:
        url = callback.url.strip()
        if not url.startswith(("https://", "http://")):
            values.append(None)
            continue
        values.append(seal({"u": url, "l": callback.label, "t": str(int(time.time()))}, keys.sealing_key))
    return values


def build_card(request: DispatchRequest, keys: ButtonKeys) -> Card:
    return render_card(request.message, request.notification_type, callback_values=callback_values(request, keys))


AppTokenHook = Callable[[str], Awaitable[None]]


class DispatchService:
    def __init__(self, sender: SlackSender, keys: ButtonKeys, *, timeout: float,
                 on_app_token: AppTokenHook | None = None) -> None:
        self._sender = sender
        self._keys = keys
        self._timeout = timeout
        self._on_app_token = on_app_token
        # channel ID -> the bot token that last posted there (memory only), for user-group look-ups on clicks
        self.channel_tokens: OrderedDict[str, str] = OrderedDict()

    def _remember(self, channel_id: str, token: str) -> None:
        self.channel_tokens[channel_id] = token
        self.channel_tokens.move_to_end(channel_id)
        if len(self.channel_tokens) > MAX_REMEMBERED_CHANNELS:
            self.channel_tokens.popitem(last=False)

    async def dispatch(self, request: DispatchRequest) -> Delivery:
        card = build_card(request, self._keys)
        if card.truncated:
            logger.info("card shortened to fit Slack: %s", "; ".join(card.truncated))
        token = request.channel.token.get_secret_value()
        try:
            async with asyncio.timeout(self._timeout):
                posted = await self._sender.post(token, request.channel.target, card.payload())
        except TimeoutError:
            raise BotError(ErrorCode.TIMEOUT, f"Slack did not accept the card within {self._timeout:g} s") from None
        self._remember(posted.channel_id, token)
        if request.channel.app_token is not None and self._on_app_token is not None:
            await self._on_app_token(request.channel.app_token.get_secret_value())
        return Delivery(posted=posted, card=card)

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._sender.auth_test(token)
        except TimeoutError:
            raise BotError(ErrorCode.TIMEOUT, f"Slack did not answer auth.test within {self._timeout:g} s") from None
