"""The Bolt app: routes button clicks to the click service, acknowledging each at once.

Bolt acknowledges as soon as ``ack()`` is called (``process_before_response=False``) and lets the listener run
on, so Slack gets its answer well inside 3 s whatever the callback does. The same app serves HTTP and Socket Mode.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.cards import CALLBACK_ACTION_PREFIX, LINK_ACTION_ID
from bot.interactivity.clicks import Click, ClickService

logger = logging.getLogger(__name__)


class BoltResponder:
    """Talks back through the click's ``response_url`` (works on any replica; no bot token needed)."""

    def __init__(self, respond: AsyncRespond) -> None:
        self._respond = respond

    async def replace(self, payload: dict[str, Any]) -> None:
        await self._respond(replace_original=True, **payload)

    async def tell(self, text: str) -> None:
        await self._respond(text=text, response_type="ephemeral", replace_original=False)


def build_bolt_app(clicks: ClickService, *, slack_api_url: str) -> AsyncApp:
    async def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # Clicks are answered through response_url, which needs no token.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)

    app = AsyncApp(
        name="slack-chatops",
        logger=logging.getLogger("bot.bolt"),
        client=AsyncWebClient(base_url=slack_api_url, logger=logging.getLogger("bot.bolt.web")),
        authorize=authorize,
        # HTTP requests are verified by the HTTP adapter before they reach Bolt; Socket Mode needs none.
        request_verification_enabled=False,
        process_before_response=False,
        ssl_check_enabled=False,
    )

    @app.action(re.compile(rf"^{CALLBACK_ACTION_PREFIX}\d+$"))
    async def on_callback_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await clicks.handle(Click.from_body(body), BoltResponder(respond))

    @app.action(LINK_ACTION_ID)
    async def on_link_button(ack: AsyncAck) -> None:
        # A URL button still sends an action; acknowledging it keeps Slack from showing a warning.
        await ack()

    @app.error
    async def on_error(error: Exception) -> None:
        logger.error("interactivity handler failed: %s", type(error).__name__)

    return app
