"""Tests for the fake Slack's interactivity (tests/fakes/slack/interactivity.py): signed clicks, block_actions
payloads, response_url. Socket Mode is tested in tests/test_fake_socket_mode.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import ButtonNotFound, FakeSlack, slack_signature

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0APP-1-secret"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALERTS = "C0ALERTS"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


CARD_ATTACHMENTS = [
    {
        "color": "#E01E5A",
        "blocks": [
            _section("*CPU high* on web-1"),
            {
                "type": "actions",
                "elements": [
                    _button("ack", "Acknowledge", "sealed-ack", "primary"),
                    _button("resolve", "Resolve", "sealed-resolve", "danger"),
                ],
            },
        ],
    }
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
    resp = await client.chat_postMessage(channel=ALERTS, text="CPU high on web-1", attachments=CARD_ATTACHMENTS)
    return str(resp["ts"])


class Receiver:
    """A tiny app Request URL that checks Slack signatures with slack_sdk and records what arrived."""

    def __init__(self, secret: str = SECRET) -> None:
        self.verifier = SignatureVerifier(secret)
        self.delay = 0.0
        self.seen: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        valid = self.verifier.is_valid(
            body, request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature")
        )
        self.seen.append({"headers": dict(request.headers), "body": body, "valid": valid})
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=200 if valid else 401, text="" if valid else "invalid signature")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/slack/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/slack/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


# -- signed clicks ---------------------------------------------------------------------------------


async def test_click_is_signed_like_slack_and_verifies(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack")
    async with Receiver() as app:
        result = await fake.click(app.url, SECRET, payload)
    assert result.status == 200
    assert app.seen[0]["valid"] is True
    headers, body = app.seen[0]["headers"], app.seen[0]["body"]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert abs(int(headers["X-Slack-Request-Timestamp"]) - time.time()) < 5
    # The real algorithm: slack_sdk computes the same signature.
    expected = SignatureVerifier(SECRET).generate_signature(timestamp=headers["X-Slack-Request-Timestamp"], body=body)
    assert headers["X-Slack-Signature"] == expected
    assert headers["X-Slack-Signature"].startswith("v0=")
    # The body is one form field, "payload", holding the JSON.
    assert json.loads(parse_qs(body)["payload"][0]) == payload
    assert result.sent_body == body
    assert fake.clicks == [result]
    # A different secret would not verify.
    assert not SignatureVerifier("another-secret").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


async def test_click_elapsed_is_time_until_the_answer(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    async with Receiver() as app:
        app.delay = 0.3
        result = await fake.click(app.url, SECRET, fake.block_actions_payload(ALERTS, ts, "ack"))
    assert result.status == 200
    assert 0.3 <= result.elapsed < 2.0


@pytest.mark.parametrize("variant", ["forged", "stale", "unsigned"])
async def test_bad_signature_variants(fake: FakeSlack, client: AsyncWebClient, variant: str) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack")
    stale = int(time.time()) - 600
    async with Receiver() as app:
        if variant == "forged":
            result = await fake.click(app.url, SECRET, payload, signature="v0=" + "0" * 64)
        elif variant == "stale":
            result = await fake.click(app.url, SECRET, payload, timestamp=stale)
        else:
            result = await fake.click(app.url, SECRET, payload, omit_headers=True)
    assert result.status == 401
    seen = app.seen[0]
    assert seen["valid"] is False
    if variant == "forged":
        assert seen["headers"]["X-Slack-Signature"] == "v0=" + "0" * 64
    elif variant == "stale":
        # Correctly signed, but for a timestamp ten minutes old: rejected only for staleness.
        assert seen["headers"]["X-Slack-Request-Timestamp"] == str(stale)
        assert seen["headers"]["X-Slack-Signature"] == slack_signature(SECRET, stale, seen["body"])
    else:
        assert "X-Slack-Signature" not in seen["headers"]
        assert "X-Slack-Request-Timestamp" not in seen["headers"]


# -- block_actions payloads ------------------------------------------------------------------------


async def test_payload_for_button_in_attachment(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack", user_id="U042", user_name="bob")
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U042", "username": "bob", "name": "bob", "team_id": "T0001"}
    assert payload["api_app_id"] == "A0APP"
    assert payload["token"] == "verification-token-legacy"
    assert payload["team"] == {"id": "T0001", "domain": "acme"}
    assert payload["channel"] == {"id": ALERTS, "name": "alerts"}
    assert payload["state"] == {"values": {}}
    assert payload["trigger_id"].count(".") == 2
    container = payload["container"]
    assert container["type"] == "message_attachment"
    assert (container["message_ts"], container["channel_id"], container["attachment_id"]) == (ts, ALERTS, 1)
    assert container["is_ephemeral"] is False

    message = payload["message"]
    assert (message["type"], message["ts"], message["text"]) == ("message", ts, "CPU high on web-1")
    assert (message["bot_id"], message["user"]) == ("B0BOT", "U0BOT")
    assert "blocks" not in message  # none at top level
    attachment = message["attachments"][0]
    assert attachment["id"] == 1 and attachment["color"] == "#E01E5A"
    actions_block = attachment["blocks"][1]

    (action,) = payload["actions"]
    assert action["action_id"] == "ack"
    assert action["type"] == "button"
    assert action["value"] == "sealed-ack"
    assert action["style"] == "primary"
    assert action["text"] == {"type": "plain_text", "text": "Acknowledge", "emoji": True}
    assert float(action["action_ts"]) == pytest.approx(time.time(), abs=5)
    # Slack assigns block_ids at post time; the action names the block it came from.
    assert action["block_id"] == actions_block["block_id"]
    assert actions_block["block_id"]
    assert fake.block_actions_payload(ALERTS, ts, "resolve")["actions"][0]["block_id"] == action["block_id"]
    assert payload["response_url"].startswith(f"{fake.url}/actions/")
    # The recorded message itself is untouched.
    recorded = fake.find(ALERTS, ts)
    assert recorded is not None and recorded.attachments is not None
    assert "block_id" not in recorded.attachments[0]["blocks"][1]


async def test_payload_for_top_level_button_and_value_override(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [
        _section("hello"),
        {"type": "actions", "block_id": "acts", "elements": [_button("go", "Go", "v1")]},
    ]
    resp = await client.chat_postMessage(channel=ALERTS, text="t", blocks=blocks)
    payload = fake.block_actions_payload(ALERTS, resp["ts"], "go", value_override="tampered")
    assert payload["container"] == {
        "type": "message",
        "message_ts": resp["ts"],
        "channel_id": ALERTS,
        "is_ephemeral": False,
    }
    assert payload["actions"][0]["value"] == "tampered"
    assert payload["actions"][0]["block_id"] == "acts"
    assert "style" not in payload["actions"][0]
    assert payload["message"]["blocks"][1]["block_id"] == "acts"
    assert payload["message"]["blocks"][0]["block_id"]  # filled in


async def test_payload_follows_chat_update_and_refuses_what_cannot_be_clicked(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    ts = await _post_card(client)
    await client.chat_update(channel=ALERTS, ts=ts, text="acked", attachments=[{"blocks": [_section("done")]}])
    with pytest.raises(ButtonNotFound):
        fake.block_actions_payload(ALERTS, ts, "ack")
    with pytest.raises(LookupError):
        fake.block_actions_payload(ALERTS, "1.000001", "ack")
    card = fake.find(ALERTS, ts)
    assert card is not None
    card.deleted = True  # someone deleted it in Slack
    with pytest.raises(LookupError):
        fake.block_actions_payload(ALERTS, ts, "ack")


async def test_payload_survives_the_signed_round_trip(fake: FakeSlack, client: AsyncWebClient) -> None:
    """What a Bolt-style receiver parses out of the form body is the payload, response_url included."""
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "resolve")
    async with Receiver() as app:
        await fake.click(app.url, SECRET, payload)
    parsed = json.loads(parse_qs(app.seen[0]["body"])["payload"][0])
    assert parsed["actions"][0]["value"] == "sealed-resolve"
    hook = AsyncWebhookClient(parsed["response_url"])
    assert (await hook.send(text="Resolving…")).status_code == 200
    assert fake.ephemerals[-1]["user"] == "U0CLICKER"


# -- response_url ----------------------------------------------------------------------------------


async def test_response_url_replace_original(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack")
    new_blocks = [_section("*CPU high* — acknowledged by <@U0CLICKER>")]
    resp = await AsyncWebhookClient(payload["response_url"]).send(
        replace_original=True, text="acknowledged", attachments=[{"color": "#ECB22E", "blocks": new_blocks}]
    )
    assert resp.status_code == 200
    assert json.loads(resp.body) == {"ok": True}
    msg = fake.find(ALERTS, ts)
    assert msg is not None
    assert msg.text == "acknowledged"
    assert msg.attachments == [{"color": "#ECB22E", "blocks": new_blocks}]
    assert msg.updates[-1]["replace_original"] is True
    assert len(msg.updates) == 1
    call = fake.response_calls[-1]
    assert call["id"] == payload["response_url"].rsplit("/", 1)[-1]
    assert call["body"]["text"] == "acknowledged"
    assert call["time"] == pytest.approx(time.time(), abs=5)
    assert fake.ephemerals == []


async def test_response_url_refuses_invalid_blocks(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack")
    bad = [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]
    resp = await AsyncWebhookClient(payload["response_url"]).send(replace_original=True, text="t", blocks=bad)
    assert resp.status_code == 400
    answer = json.loads(resp.body)
    assert answer["ok"] is False and answer["error"] == "invalid_blocks"
    msg = fake.find(ALERTS, ts)
    assert msg is not None and msg.updates == [] and msg.text == "CPU high on web-1"


@pytest.mark.parametrize("response_type", [None, "ephemeral"])
async def test_response_url_ephemeral(fake: FakeSlack, client: AsyncWebClient, response_type: str | None) -> None:
    ts = await _post_card(client)
    payload = fake.block_actions_payload(ALERTS, ts, "ack", user_id="U0ALICE")
    resp = await AsyncWebhookClient(payload["response_url"]).send(
        text="Only you can see this", response_type=response_type
    )
    assert resp.status_code == 200
    (eph,) = fake.ephemerals
    assert (eph["channel"], eph["user"], eph["text"]) == (ALERTS, "U0ALICE", "Only you can see this")
    msg = fake.find(ALERTS, ts)
    assert msg is not None and msg.updates == [] and msg.attachments == CARD_ATTACHMENTS


@pytest.mark.parametrize(
    "body",
    [
        {"delete_original": True},
        {"delete_original": "true", "text": "x"},
        {"response_type": "in_channel", "text": "posted for everyone"},
    ],
)
async def test_response_url_refuses_what_the_fake_does_not_model(
    fake: FakeSlack, client: AsyncWebClient, body: dict[str, Any]
) -> None:
    """The bot never deletes the card or posts in channel through response_url: the fake refuses rather than
    playing it wrong, and nothing changes."""
    ts = await _post_card(client)
    url = fake.block_actions_payload(ALERTS, ts, "ack")["response_url"]
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        assert resp.status == 400
        assert await resp.json() == {"ok": False, "error": "fake_does_not_model"}
    msg = fake.find(ALERTS, ts)
    assert msg is not None and not msg.deleted and msg.updates == []
    assert [m.ts for m in fake.messages[ALERTS]] == [ts]
    assert fake.ephemerals == []
    # A refusal uses none of the response_url's five uses.
    for i in range(5):
        assert (await AsyncWebhookClient(url).send(replace_original=True, text=f"update {i}")).status_code == 200


async def test_response_url_five_uses(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    hook = AsyncWebhookClient(fake.block_actions_payload(ALERTS, ts, "ack")["response_url"])
    for i in range(5):
        resp = await hook.send(replace_original=True, text=f"update {i}", attachments=CARD_ATTACHMENTS)
        assert resp.status_code == 200, resp.body
    sixth = await hook.send(replace_original=True, text="update 5")
    assert sixth.status_code == 404
    assert json.loads(sixth.body) == {"ok": False, "error": "used_too_many_times"}
    msg = fake.find(ALERTS, ts)
    assert msg is not None and msg.text == "update 4" and len(msg.updates) == 5
    assert len(fake.response_calls) == 6
    # A fresh click gets a fresh response_url with its own budget.
    fresh = AsyncWebhookClient(fake.block_actions_payload(ALERTS, ts, "ack")["response_url"])
    assert (await fresh.send(replace_original=True, text="fresh")).status_code == 200


async def test_response_url_expiry(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    expired_by_hand = fake.block_actions_payload(ALERTS, ts, "ack")["response_url"]
    fake.expire_response_url(expired_by_hand)
    resp = await AsyncWebhookClient(expired_by_hand).send(text="x")
    assert (resp.status_code, json.loads(resp.body)["error"]) == (404, "expired_url")

    fake.interactivity.response_url_ttl = 0.05
    aged = fake.block_actions_payload(ALERTS, ts, "ack")["response_url"]
    await asyncio.sleep(0.1)
    resp = await AsyncWebhookClient(aged).send(text="x")
    assert json.loads(resp.body)["error"] == "expired_url"

    resp = await AsyncWebhookClient(f"{fake.url}/actions/never-issued").send(text="x")
    assert (resp.status_code, json.loads(resp.body)["error"]) == (404, "no_service")
    assert fake.ephemerals == []


async def test_response_url_rejects_non_json(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = await _post_card(client)
    url = fake.block_actions_payload(ALERTS, ts, "ack")["response_url"]
    async with aiohttp.ClientSession() as session, session.post(url, data="text=hi") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_payload"


async def test_response_url_replacement_is_the_whole_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    """Unlike chat.update, fields left out of a replace_original response are gone."""
    ts = await _post_card(client)
    hook = AsyncWebhookClient(fake.block_actions_payload(ALERTS, ts, "ack")["response_url"])
    assert (await hook.send(replace_original=True, text="just text")).status_code == 200
    msg = fake.find(ALERTS, ts)
    assert msg is not None and (msg.text, msg.blocks, msg.attachments) == ("just text", None, None)
    empty = await hook.send(replace_original=True)
    assert (empty.status_code, json.loads(empty.body)["error"]) == (400, "no_text")
