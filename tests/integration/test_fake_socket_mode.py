"""Tests for the fake Slack's Socket Mode (tests/fakes/slack/socket_mode.py): apps.connections.open, the WebSocket
(hello, envelopes, acks, disconnect, clean stop) and slack_sdk's real Socket Mode client against it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0APP-1-secret"
ALERTS = "C0ALERTS"
CARD_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*CPU high* on web-1"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "action_id": "ack", "value": "v"}
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_token(TOKEN)
    slack.add_app_token(APP_TOKEN)
    slack.add_channel("alerts", ALERTS)
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[])


async def _post_card(client: AsyncWebClient) -> str:
    resp = await client.chat_postMessage(channel=ALERTS, text="CPU high on web-1", blocks=CARD_BLOCKS)
    return str(resp["ts"])


async def test_apps_connections_open_token_types(fake: FakeSlack) -> None:
    web_client = AsyncWebClient(base_url=fake.base_url, retry_handlers=[])
    resp = await web_client.apps_connections_open(app_token=APP_TOKEN)
    assert resp["url"].startswith(f"ws://127.0.0.1:{fake.port}/link/?ticket=")
    for token, error in ((TOKEN, "not_allowed_token_type"), ("xapp-unknown", "invalid_auth")):
        with pytest.raises(SlackApiError) as info:
            await web_client.apps_connections_open(app_token=token)
        assert info.value.response["error"] == error
    # An app token cannot call Web API methods.
    with pytest.raises(SlackApiError) as info:
        await AsyncWebClient(token=APP_TOKEN, base_url=fake.base_url).chat_postMessage(channel=ALERTS, text="x")
    assert info.value.response["error"] == "not_allowed_token_type"


async def _ws_url(fake: FakeSlack) -> str:
    resp = await AsyncWebClient(base_url=fake.base_url).apps_connections_open(app_token=APP_TOKEN)
    return str(resp["url"])


async def test_raw_websocket_hello_ack_ping_and_clean_stop(fake: FakeSlack) -> None:
    url = await _ws_url(fake)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, autoping=False) as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello["type"] == "hello"
            assert hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": "A0APP"}
            assert "debug_info" in hello
            await fake.wait_for_socket(timeout=1)
            assert fake.socket_connections == 1

            await ws.ping(b"are-you-there")
            pong = await ws.receive(timeout=2)
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are-you-there")

            sending = asyncio.ensure_future(fake.send_interactive({"type": "block_actions"}))
            envelope = await ws.receive_json(timeout=2)
            assert envelope["type"] == "interactive"
            assert envelope["accepts_response_payload"] is True
            assert envelope["payload"] == {"type": "block_actions"}
            assert (envelope["retry_attempt"], envelope["retry_reason"]) == (0, "")
            await asyncio.sleep(0.05)
            await ws.send_json({"envelope_id": envelope["envelope_id"]})
            elapsed = await sending
            assert 0.05 <= elapsed < 1.0
            assert fake.socket_acks == [{"envelope_id": envelope["envelope_id"]}]

            await fake.socket_disconnect()
            assert (await ws.receive_json(timeout=2))["type"] == "disconnect"

            started = time.monotonic()
            await fake.stop()
            assert time.monotonic() - started < 1.0
            closing = await ws.receive(timeout=2)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert closing.data == aiohttp.WSCloseCode.GOING_AWAY
    assert fake.socket_connections == 0


async def test_unacked_envelope_times_out(fake: FakeSlack) -> None:
    url = await _ws_url(fake)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json(timeout=2)
        with pytest.raises(TimeoutError):
            await fake.send_interactive({"type": "block_actions"}, timeout=0.2)
        late = (await ws.receive_json(timeout=2))["envelope_id"]
        await ws.send_json({"envelope_id": late})
        await asyncio.sleep(0.05)
        assert fake.socket_acks == [{"envelope_id": late}]  # a late ack is still recorded


async def test_socket_mode_refusals(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError):
        await fake.wait_for_socket(timeout=0.05)
    with pytest.raises(RuntimeError):
        await fake.send_interactive({"type": "block_actions"})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"ws://127.0.0.1:{fake.port}/link/?ticket=made-up")
        assert info.value.status == 401


async def test_real_socket_mode_client_connects_and_acks(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack")
    received: list[SocketModeRequest] = []

    async def listener(sm_client: Any, request: SocketModeRequest) -> None:
        received.append(request)
        await sm_client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    sm = SocketModeClient(app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=fake.base_url))
    sm.socket_mode_request_listeners.append(listener)
    try:
        await sm.connect()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated
        await fake.wait_for_socket(timeout=5)
        elapsed = await fake.send_interactive(payload)
    finally:
        await sm.close()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated
    assert elapsed < 3.0
    (request,) = received
    assert request.type == "interactive"
    assert request.payload == payload
    assert fake.socket_acks[-1]["envelope_id"] == fake.socket_envelopes[-1]["envelope_id"] == request.envelope_id
    opened = [c for c in fake.calls if c.method == "apps.connections.open"]
    assert opened and opened[0].token == APP_TOKEN and opened[0].response["ok"] is True


async def test_revoking_an_app_token_closes_its_connections(fake: FakeSlack) -> None:
    fake.add_app_token("xapp-other")
    web_client = AsyncWebClient(base_url=fake.base_url, retry_handlers=[])
    other_url = (await web_client.apps_connections_open(app_token="xapp-other"))["url"]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(await _ws_url(fake)) as ws,
        session.ws_connect(other_url) as other,
    ):
        assert (await ws.receive_json(timeout=2))["type"] == "hello"
        assert (await other.receive_json(timeout=2))["type"] == "hello"
        assert (fake.socket_connections_for(APP_TOKEN), fake.socket_connections_for("xapp-other")) == (1, 1)
        await fake.revoke_app_token(APP_TOKEN)
        closing = await ws.receive(timeout=2)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, aiohttp.WSCloseCode.POLICY_VIOLATION)
        assert not other.closed
    with pytest.raises(SlackApiError) as info:
        await web_client.apps_connections_open(app_token=APP_TOKEN)
    assert info.value.response["error"] == "token_revoked"


async def test_socket_url_base_moves_the_websocket_elsewhere(fake: FakeSlack) -> None:
    fake.socket_url_base = "ws://127.0.0.1:9"
    assert (await _ws_url(fake)).startswith("ws://127.0.0.1:9/link/?ticket=")
    fake.socket_url_base = None
    assert (await _ws_url(fake)).startswith(f"ws://127.0.0.1:{fake.port}/link/?ticket=")
