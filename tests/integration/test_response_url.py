"""A click's response_url through the real click flow: a signed click whose response_url is not Slack's is not
acted on, and a response_url that answers with a redirect is not followed.

``SlackFront`` stands in front of the fake Slack on its own loopback port: it passes ``/api/`` calls through to the
fake, and answers every POST to ``/actions/{id}`` (a response_url) with a 307 to the fake's own response_url, so a
client that followed redirects would reach the fake and update the card.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.serving import serve
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import click_stack, wait_for
from tests.support import BackgroundLoop

FORWARDED_HEADERS = ("Authorization", "Content-Type")


class SlackFront:
    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.paths: list[str] = []  # every request it received, by path
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/actions/{id}", self._redirect)
        app.router.add_route("*", "/api/{method}", self._forward)
        self._runner, self.port = await serve(app, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _redirect(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        raise web.HTTPTemporaryRedirect(f"{self.slack.url}{request.path}")

    async def _forward(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        headers = {k: request.headers[k] for k in FORWARDED_HEADERS if k in request.headers}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, f"{self.slack.url}{request.path_qs}", data=await request.read(), headers=headers
            ) as answer,
        ):
            return web.Response(
                body=await answer.read(), status=answer.status, content_type=answer.content_type, charset="utf-8"
            )


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()  # started by the stack


@pytest.fixture
def front(slack: FakeSlack) -> Iterator[SlackFront]:
    """In front of ``slack``, on a loop of its own: it listens before the stack that is pointed at it starts."""
    loop = BackgroundLoop()
    front = SlackFront(slack)
    loop.run(front.start())
    try:
        yield front
    finally:
        loop.run(front.stop())
        loop.close()


def test_a_click_whose_response_url_is_not_slacks_does_nothing(
    tmp_path: Path, slack: FakeSlack, front: SlackFront, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot")
    with click_stack(tmp_path, fake=slack) as clicks:  # the plugin's Slack API: the fake itself
        ts, _ = clicks.post_alert()
        payload = clicks.payload(ts)
        payload["response_url"] = payload["response_url"].replace(slack.url, front.url)
        assert clicks.click(payload).status == 200  # acknowledged, as Slack needs
        wait_for(lambda: "response_url is not one of Slack's" in caplog.text, what="the refusal logged")
        assert front.paths == []  # nothing was sent to the foreign address
        assert clicks.cloudforet.requests == []  # and nothing was done for the click
        assert slack.response_calls == []
        assert "Acknowledged" not in clicks.card_text(ts)
        assert front.url not in caplog.text and "/actions/" not in caplog.text


def test_a_redirect_from_the_response_url_is_not_followed(
    tmp_path: Path, slack: FakeSlack, front: SlackFront, caplog: pytest.LogCaptureFixture
) -> None:
    """The response_url is on the configured Slack API's origin (the front), so it is accepted; it answers 307."""
    caplog.set_level(logging.WARNING, logger="bot")
    with click_stack(tmp_path, fake=slack, slack_api_url=f"{front.url}/api/") as clicks:
        ts, _ = clicks.post_alert()
        assert "/api/chat.postMessage" in front.paths  # the plugin does talk to Slack through the front
        payload = clicks.payload(ts)
        payload["response_url"] = payload["response_url"].replace(slack.url, front.url)
        assert clicks.click(payload).status == 200
        [audit] = wait_for(lambda: clicks.stack.loop.run(clicks.stack.runtime.store.audit()), what="the audit record")
        assert audit.outcome == "done"  # the callback went through
        assert len(clicks.cloudforet.requests) == 1
        assert any(path.startswith("/actions/") for path in front.paths)  # the card's redraw was attempted there
        assert slack.response_calls == []  # and its redirect never followed to the fake
        assert "response_url answered a redirect (HTTP 307): not followed" in caplog.text
