"""The dispatch service: a validated request becomes a card posted to Slack, within a bounded time."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from bot.button_keys import ButtonKeys
from bot.core.cards import Card, render_card
from bot.core.errors import BotError, ErrorCode
from bot.core.models import DispatchRequest
from bot.core.sealed import seal
from bot.slack_sender import Posted, SlackSender

logger = logging.getLogger(__name__)


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


class DispatchService:
    def __init__(self, sender: SlackSender, keys: ButtonKeys, *, timeout: float) -> None:
        self._sender = sender
        self._keys = keys
        self._timeout = timeout

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
        return Delivery(posted=posted, card=card)

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._sender.auth_test(token)
        except TimeoutError:
            raise BotError(ErrorCode.TIMEOUT, f"Slack did not answer auth.test within {self._timeout:g} s") from None
