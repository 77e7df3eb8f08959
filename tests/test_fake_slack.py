"""Tests for the local Slack Web API fake (tests/fakes/slack_api.py), driven by the real slack_sdk client."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack

TOKEN = "xoxb-test-token"
OTHER_BOT_TOKEN = "xoxb-other-bot"
PUBLIC_WRITER_TOKEN = "xoxb-public-writer"
INACTIVE_TOKEN = "xoxb-inactive"
ALERTS = "C0ALERTS"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(action_id: str, label: str = "Ack") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_token(TOKEN)
    slack.add_token(OTHER_BOT_TOKEN, user_id="U0OTHER", bot_id="B0OTHER")
    slack.add_token(PUBLIC_WRITER_TOKEN, scopes=("chat:write", "chat:write.public"))
    slack.add_token(INACTIVE_TOKEN, inactive=True)
    slack.add_channel("alerts", ALERTS)
    slack.add_channel("old-alerts", "C0ARCHIVED", archived=True)
    slack.add_channel("elsewhere", "C0NOTMEMBER", bot_member=False)
    slack.add_channel("secret", "G0PRIVATE", bot_member=False, is_private=True)
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    # No retry handlers: every 429/5xx must surface to the test as-is.
    return AsyncWebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[])


def _client(fake: FakeSlack, token: str | None) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.base_url, retry_handlers=[])


async def _error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# -- server basics ---------------------------------------------------------------------------------


async def test_binds_free_loopback_port_and_exposes_urls(fake: FakeSlack) -> None:
    assert fake.port > 0
    assert fake.url == f"http://127.0.0.1:{fake.port}"
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/api/"


async def test_auth_test_answers_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert resp.status_code == 200
    assert resp["url"] == "https://acme.slack.com/"
    assert (resp["team"], resp["team_id"], resp["user"]) == ("acme", "T0001", "bot")
    assert (resp["user_id"], resp["bot_id"]) == ("U0BOT", "B0BOT")
    # GET works for auth.test too.
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.base_url}auth.test", headers={"Authorization": f"Bearer {TOKEN}"}) as r,
    ):
        assert (await r.json())["ok"] is True


async def test_unknown_method(fake: FakeSlack, client: AsyncWebClient) -> None:
    err = await _error_of(client.api_call("chat.fly"))
    assert err.response.status_code == 200
    assert err.response["error"] == "unknown_method"


# -- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"),
    [(None, "not_authed"), ("xoxb-nobody", "invalid_auth"), (INACTIVE_TOKEN, "account_inactive")],
)
async def test_auth_rejections(fake: FakeSlack, token: str | None, error: str) -> None:
    err = await _error_of(_client(fake, token).chat_postMessage(channel=ALERTS, text="hi"))
    assert err.response.status_code == 200
    assert err.response["ok"] is False
    assert err.response["error"] == error
    assert fake.messages[ALERTS] == []
    assert fake.calls[-1].token == token
    assert fake.calls[-1].response["error"] == error


async def test_token_in_json_body_is_ignored_like_slack(fake: FakeSlack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}chat.postMessage", json={"token": TOKEN, "channel": ALERTS, "text": "x"}) as r,
    ):
        assert (await r.json())["error"] == "not_authed"


async def test_missing_chat_write_scope(fake: FakeSlack) -> None:
    fake.add_token("xoxb-readonly", scopes=("channels:read",))
    err = await _error_of(_client(fake, "xoxb-readonly").chat_postMessage(channel=ALERTS, text="hi"))
    assert err.response["error"] == "missing_scope"
    assert err.response["needed"] == "chat:write"


# -- channels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("C0NOSUCH", "channel_not_found"),
        ("", "channel_not_found"),
        ("C0ARCHIVED", "is_archived"),
        ("C0NOTMEMBER", "not_in_channel"),
        ("G0PRIVATE", "not_in_channel"),
    ],
)
async def test_channel_rejections(fake: FakeSlack, client: AsyncWebClient, channel: str, error: str) -> None:
    err = await _error_of(client.chat_postMessage(channel=channel, text="hi"))
    assert err.response["error"] == error
    assert sum(len(v) for v in fake.messages.values()) == 0


async def test_channel_param_missing(fake: FakeSlack, client: AsyncWebClient) -> None:
    err = await _error_of(client.api_call("chat.postMessage", json={"text": "hi"}))
    assert err.response["error"] == "channel_not_found"


async def test_chat_write_public_reaches_public_channel_but_not_private(fake: FakeSlack) -> None:
    writer = _client(fake, PUBLIC_WRITER_TOKEN)
    resp = await writer.chat_postMessage(channel="C0NOTMEMBER", text="hi")
    assert resp["channel"] == "C0NOTMEMBER"
    err = await _error_of(writer.chat_postMessage(channel="G0PRIVATE", text="hi"))
    assert err.response["error"] == "not_in_channel"


@pytest.mark.parametrize("name", ["alerts", "#alerts"])
async def test_channel_by_name(fake: FakeSlack, client: AsyncWebClient, name: str) -> None:
    resp = await client.chat_postMessage(channel=name, text="hi")
    assert resp["channel"] == ALERTS
    assert [m.text for m in fake.messages[ALERTS]] == ["hi"]


async def test_conversations_info(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.conversations_info(channel="C0ARCHIVED")
    assert {k: resp["channel"][k] for k in ("id", "name", "is_archived", "is_member", "is_private")} == {
        "id": "C0ARCHIVED",
        "name": "old-alerts",
        "is_archived": True,
        "is_member": True,
        "is_private": False,
    }
    err = await _error_of(client.conversations_info(channel="C0NOSUCH"))
    assert err.response["error"] == "channel_not_found"


# -- content checks --------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
async def test_no_text(fake: FakeSlack, client: AsyncWebClient) -> None:
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text=""))
    assert err.response["error"] == "no_text"
    err = await _error_of(client.chat_postMessage(channel=ALERTS, blocks=[]))
    assert err.response["error"] == "no_text"


async def test_post_text_over_40000_is_msg_too_long(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=ALERTS, text="x" * 40_000)
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="x" * 40_001))
    assert err.response["error"] == "msg_too_long"
    assert len(fake.messages[ALERTS]) == 1


def _header(n: int) -> list[dict[str, Any]]:
    return [{"type": "header", "text": {"type": "plain_text", "text": "h" * n}}]


def _fields(n: int) -> list[dict[str, Any]]:
    return [{"type": "section", "fields": [{"type": "mrkdwn", "text": f"f{i}"} for i in range(n)]}]


def _buttons(n: int) -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": [_button(f"a{i}") for i in range(n)]}]


def _many(n: int) -> list[dict[str, Any]]:
    return [{"type": "divider"} for _ in range(n)]


# (too-big blocks, json-pointer expected in the error, the same shape at its limit)
LIMIT_CASES: dict[str, tuple[list[dict[str, Any]], str, list[dict[str, Any]]]] = {
    "header_151": (_header(151), "/blocks/0/text/text", _header(150)),
    "fields_11": (_fields(11), "/blocks/0/fields", _fields(10)),
    "buttons_26": (_buttons(26), "/blocks/0/elements", _buttons(25)),
    "blocks_51": (_many(51), "/blocks", _many(50)),
    "section_3001": ([_section("s" * 3001)], "/blocks/0/text/text", [_section("s" * 3000)]),
    "button_text_76": (
        [{"type": "actions", "elements": [_button("a", "b" * 76)]}],
        "/blocks/0/elements/0/text/text",
        [{"type": "actions", "elements": [_button("a", "b" * 75)]}],
    ),
    "block_id_256": (
        [{"type": "divider", "block_id": "b" * 256}],
        "/blocks/0/block_id",
        [{"type": "divider", "block_id": "b" * 255}],
    ),
    "context_11": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "/blocks/0/elements",
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10}],
    ),
}


@pytest.mark.parametrize("case", sorted(LIMIT_CASES))
async def test_invalid_blocks_limits(fake: FakeSlack, client: AsyncWebClient, case: str) -> None:
    too_big, pointer, at_limit = LIMIT_CASES[case]
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="fallback", blocks=too_big))
    body = err.response.data
    assert body["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in body["errors"]), body["errors"]
    assert body["response_metadata"]["messages"] == [f"[ERROR] {e}" for e in body["errors"]]
    assert fake.messages[ALERTS] == []
    # Exactly at the documented limit it is accepted.
    resp = await client.chat_postMessage(channel=ALERTS, text="fallback", blocks=at_limit)
    assert resp["ok"] is True
    assert fake.find(ALERTS, resp["ts"]) is not None


MALFORMED_CASES: dict[str, tuple[list[dict[str, Any]], str]] = {
    "duplicate_action_id": (
        [{"type": "actions", "elements": [_button("ack"), _button("ack")]}],
        "/blocks/0/elements/1/action_id",
    ),
    "duplicate_action_id_across_blocks": (
        [{"type": "actions", "elements": [_button("ack")]}, {"type": "actions", "elements": [_button("ack")]}],
        "/blocks/1/elements/0/action_id",
    ),
    "duplicate_block_id": (
        [{"type": "divider", "block_id": "x"}, {"type": "divider", "block_id": "x"}],
        "/blocks/1/block_id",
    ),
    "mrkdwn_header": ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text/type"),
    "mrkdwn_button": (
        [{"type": "actions", "elements": [{"type": "button", "text": {"type": "mrkdwn", "text": "b"}}]}],
        "/blocks/0/elements/0/text/type",
    ),
    "emoji_on_mrkdwn": (
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}],
        "/blocks/0/text",
    ),
    "empty_text": ([_section("")], "/blocks/0/text/text"),
    "unknown_block_type": ([{"type": "carousel"}], "/blocks/0/type"),
    "section_without_text_or_fields": ([{"type": "section"}], "/blocks/0"),
    "bad_button_style": (
        [{"type": "actions", "elements": [{**_button("a"), "style": "secondary"}]}],
        "/blocks/0/elements/0/style",
    ),
    "button_value_2001": (
        [{"type": "actions", "elements": [{**_button("a"), "value": "v" * 2001}]}],
        "/blocks/0/elements/0/value",
    ),
    "button_url_3001": (
        [{"type": "actions", "elements": [{**_button("a"), "url": "https://x/" + "u" * 2991}]}],
        "/blocks/0/elements/0/url",
    ),
    "action_id_256": ([{"type": "actions", "elements": [_button("a" * 256)]}], "/blocks/0/elements/0/action_id"),
    "confirm_missing_deny": (
        [
            {
                "type": "actions",
                "elements": [
                    {
                        **_button("a"),
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Sure?"},
                            "text": {"type": "mrkdwn", "text": "Really"},
                            "confirm": {"type": "plain_text", "text": "Yes"},
                        },
                    }
                ],
            }
        ],
        "/blocks/0/elements/0/confirm",
    ),
    "image_without_alt_text": ([{"type": "image", "image_url": "https://x/i.png"}], "/blocks/0"),
    "image_url_3001": (
        [{"type": "image", "image_url": "h" * 3001, "alt_text": "a"}],
        "/blocks/0/image_url",
    ),
    "accessory_image_without_alt": (
        [{**_section("x"), "accessory": {"type": "image", "image_url": "https://x/i.png"}}],
        "/blocks/0/accessory",
    ),
    "empty_actions": ([{"type": "actions", "elements": []}], "/blocks/0/elements"),
    "field_2001": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "/blocks/0/fields/0/text",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_CASES))
async def test_invalid_blocks_rules(fake: FakeSlack, client: AsyncWebClient, case: str) -> None:
    blocks, pointer = MALFORMED_CASES[case]
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="fallback", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in err.response["errors"]), err.response["errors"]
    assert fake.messages[ALERTS] == []


async def test_blocks_inside_attachments_are_validated_and_counted(fake: FakeSlack, client: AsyncWebClient) -> None:
    err = await _error_of(
        client.chat_postMessage(channel=ALERTS, text="t", attachments=[{"color": "#ff0000", "blocks": _header(151)}])
    )
    assert any(e.endswith("[json-pointer:/attachments/0/blocks/0/text/text]") for e in err.response["errors"])
    # 30 top-level + 21 in an attachment = 51 blocks.
    err = await _error_of(
        client.chat_postMessage(channel=ALERTS, text="t", blocks=_many(30), attachments=[{"blocks": _many(21)}])
    )
    assert err.response["error"] == "invalid_blocks"
    assert "no more than 50 items allowed [json-pointer:/blocks]" in err.response["errors"]


async def test_msg_blocks_too_long_aggregate_cap(fake: FakeSlack, client: AsyncWebClient) -> None:
    # Five sections of 2,500 chars: each within 3,000, together 12,500 > 12,000.
    err = await _error_of(
        client.chat_postMessage(channel=ALERTS, text="t", blocks=[_section("x" * 2500) for _ in range(5)])
    )
    assert err.response["error"] == "msg_blocks_too_long"
    resp = await client.chat_postMessage(channel=ALERTS, text="t", blocks=[_section("x" * 2400) for _ in range(5)])
    assert resp["ok"] is True
    assert len(fake.messages[ALERTS]) == 1


# -- accepted messages -----------------------------------------------------------------------------


CARD_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "CPU high on web-1", "emoji": True}},
    {
        "type": "section",
        "block_id": "summary",
        "text": {"type": "mrkdwn", "text": "*Severity:* critical"},
        "fields": [{"type": "mrkdwn", "text": "*Project*\nprod"}, {"type": "plain_text", "text": "web-1"}],
        "accessory": {"type": "image", "image_url": "https://example.com/i.png", "alt_text": "icon"},
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "from Cloudforet"}]},
    {"type": "divider"},
    {
        "type": "actions",
        "block_id": "actions",
        "elements": [
            {**_button("ack", "Acknowledge"), "style": "primary", "value": "alert-1"},
            {
                **_button("resolve", "Resolve"),
                "style": "danger",
                "confirm": {
                    "title": {"type": "plain_text", "text": "Resolve?"},
                    "text": {"type": "mrkdwn", "text": "This closes the alert."},
                    "confirm": {"type": "plain_text", "text": "Resolve"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            },
            {**_button("open", "Open"), "url": "https://console.example.com/alert/1"},
        ],
    },
]


async def test_valid_card_with_attachment_color_is_accepted_and_recorded(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    attachments = [{"color": "#d40e0d", "fallback": "CPU high", "blocks": CARD_BLOCKS}]
    resp = await client.chat_postMessage(channel=ALERTS, text="CPU high on web-1", attachments=attachments)
    assert resp["ok"] is True
    assert resp["channel"] == ALERTS
    assert resp["message"]["attachments"][0]["color"] == "#d40e0d"
    [msg] = fake.messages[ALERTS]
    assert msg.ts == resp["ts"]
    assert msg.attachments == attachments
    assert msg.text == "CPU high on web-1"
    assert fake.find(ALERTS, resp["ts"]) is msg
    call = fake.calls[-1]
    assert (call.method, call.token, call.status) == ("chat.postMessage", TOKEN, 200)
    assert call.params["attachments"] == attachments
    assert fake.errors() == []


async def test_form_encoded_post_with_token_field_and_json_string_blocks(fake: FakeSlack) -> None:
    form = {"token": TOKEN, "channel": ALERTS, "text": "form", "blocks": json.dumps(CARD_BLOCKS)}
    async with aiohttp.ClientSession() as session, session.post(f"{fake.base_url}chat.postMessage", data=form) as r:
        body = await r.json()
    assert body["ok"] is True, body
    [msg] = fake.messages[ALERTS]
    assert msg.blocks == CARD_BLOCKS
    assert fake.calls[-1].params["blocks"] == CARD_BLOCKS
    assert fake.calls[-1].token == TOKEN
    assert "token" not in fake.calls[-1].params


async def test_undecodable_blocks_string(fake: FakeSlack) -> None:
    form = {"token": TOKEN, "channel": ALERTS, "text": "x", "blocks": "[{not json"}
    async with aiohttp.ClientSession() as session, session.post(f"{fake.base_url}chat.postMessage", data=form) as r:
        assert (await r.json())["error"] == "invalid_blocks_format"


async def test_ts_are_unique_and_increasing(fake: FakeSlack, client: AsyncWebClient) -> None:
    results = await asyncio.gather(*(client.chat_postMessage(channel=ALERTS, text=str(i)) for i in range(20)))
    stamps = [r["ts"] for r in results]
    assert len(set(stamps)) == 20
    recorded = [m.ts for m in fake.messages[ALERTS]]
    assert recorded == sorted(recorded, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


async def test_update_delete_and_thread_replies(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=ALERTS, text="v1", blocks=[_section("v1")])
    ts = parent["ts"]

    updated = await client.chat_update(channel=ALERTS, ts=ts, text="v2", blocks=[_section("v2")])
    assert updated["ts"] == ts
    msg = fake.find(ALERTS, ts)
    assert msg is not None
    assert msg.text == "v2"
    assert msg.blocks == [_section("v2")]
    assert len(msg.updates) == 1
    assert msg.updates[0]["blocks"] == [_section("v2")]

    # Omitted blocks are kept, as Slack does.
    await client.chat_update(channel=ALERTS, ts=ts, text="v3")
    assert (msg.text, msg.blocks, len(msg.updates)) == ("v3", [_section("v2")], 2)

    reply = await client.chat_postMessage(channel=ALERTS, text="reply", thread_ts=ts)
    assert reply["message"]["thread_ts"] == ts
    assert [r.text for r in msg.replies] == ["reply"]
    assert msg.replies[0].thread_ts == ts
    assert fake.find(ALERTS, reply["ts"]) is msg.replies[0]
    # Replies are not top-level messages.
    assert [m.ts for m in fake.messages[ALERTS]] == [ts]
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="x", thread_ts="1.000000"))
    assert err.response["error"] == "thread_not_found"

    err = await _error_of(_client(fake, OTHER_BOT_TOKEN).chat_update(channel=ALERTS, ts=ts, text="hijack"))
    assert err.response["error"] == "cant_update_message"

    await client.chat_delete(channel=ALERTS, ts=ts)
    assert msg.deleted is True
    err = await _error_of(client.chat_update(channel=ALERTS, ts=ts, text="v4"))
    assert err.response["error"] == "message_not_found"
    err = await _error_of(client.chat_delete(channel=ALERTS, ts=ts))
    assert err.response["error"] == "message_not_found"
    assert [c.response["error"] for c in fake.errors()] == [
        "thread_not_found",
        "cant_update_message",
        "message_not_found",
        "message_not_found",
    ]


async def test_update_rejections(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = (await client.chat_postMessage(channel=ALERTS, text="v1"))["ts"]
    err = await _error_of(client.chat_update(channel=ALERTS, ts=ts, text="x" * 4001))
    assert err.response["error"] == "msg_too_long"
    err = await _error_of(client.chat_update(channel=ALERTS, ts=ts, text="x", blocks=_header(151)))
    assert err.response["error"] == "invalid_blocks"
    err = await _error_of(client.chat_update(channel=ALERTS, ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"
    msg = fake.find(ALERTS, ts)
    assert msg is not None
    assert (msg.text, msg.updates) == ("v1", [])
    await client.chat_update(channel=ALERTS, ts=ts, text="x" * 4000)
    assert len(msg.updates) == 1


async def test_post_ephemeral(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel=ALERTS, user="U123", text="only you")
    assert resp["message_ts"]
    assert fake.ephemerals == [
        {
            "channel": ALERTS,
            "user": "U123",
            "text": "only you",
            "blocks": None,
            "attachments": None,
            "thread_ts": None,
            "message_ts": resp["message_ts"],
        }
    ]
    assert fake.messages[ALERTS] == []


# -- rate limits, outages, slowness ----------------------------------------------------------------


async def test_per_channel_post_rate_limit_answers_429_with_retry_after() -> None:
    slack = FakeSlack(post_rate_per_channel=0.5, post_burst=2)
    slack.add_token(TOKEN)
    slack.add_channel("alerts", ALERTS)
    slack.add_channel("other", "C0OTHER")
    await slack.start()
    try:
        client = _client(slack, TOKEN)
        await client.chat_postMessage(channel=ALERTS, text="1")
        await client.chat_postMessage(channel=ALERTS, text="2")
        err = await _error_of(client.chat_postMessage(channel=ALERTS, text="3"))
        assert err.response.status_code == 429
        assert err.response["error"] == "ratelimited"
        # One token at 0.5/s: about 2 s away.
        assert err.response.headers["Retry-After"] == "2"
        assert slack.rate_limited == 1
        assert [m.text for m in slack.messages[ALERTS]] == ["1", "2"]
        assert (slack.calls[-1].status, slack.calls[-1].params["text"]) == (429, "3")
        assert slack.errors() == [slack.calls[-1]]
        # The budget is per channel.
        await client.chat_postMessage(channel="C0OTHER", text="elsewhere")
    finally:
        await slack.stop()


async def test_fixed_retry_after_and_update_rate_limit() -> None:
    slack = FakeSlack(update_rate_per_channel=0.1, post_burst=1, retry_after=7)
    slack.add_token(TOKEN)
    slack.add_channel("alerts", ALERTS)
    await slack.start()
    try:
        client = _client(slack, TOKEN)
        ts = (await client.chat_postMessage(channel=ALERTS, text="a"))["ts"]
        await client.chat_postMessage(channel=ALERTS, text="posts are not limited here")
        await client.chat_update(channel=ALERTS, ts=ts, text="b")
        err = await _error_of(client.chat_update(channel=ALERTS, ts=ts, text="c"))
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "7"
        msg = slack.find(ALERTS, ts)
        assert msg is not None
        assert (msg.text, len(msg.updates), slack.rate_limited) == ("b", 1, 1)
    finally:
        await slack.stop()


async def test_outage_answers_503_until_it_passes(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.outage(0.3)
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="during"))
    assert err.response.status_code == 503
    assert fake.calls[-1].status == 503
    assert fake.calls[-1].params["text"] == "during"
    assert fake.messages[ALERTS] == []
    async with aiohttp.ClientSession() as session, session.post(f"{fake.base_url}auth.test") as r:
        assert r.status == 503
        assert r.content_type == "text/html"
    await asyncio.sleep(0.35)
    resp = await client.chat_postMessage(channel=ALERTS, text="after")
    assert resp["ok"] is True
    assert [c.status for c in fake.errors()] == [503, 503]


async def test_outage_with_other_status(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.outage(5, status=500)
    err = await _error_of(client.auth_test())
    assert err.response.status_code == 500


async def test_delay_slows_every_answer(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.delay = 0.2
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.19


# -- standalone process ----------------------------------------------------------------------------


async def test_runs_as_a_process_and_prints_ready() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.slack_api",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--channel",
        f"alerts:{ALERTS}",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode()
        word, port = line.split()
        assert word == "READY"
        client = AsyncWebClient(token=TOKEN, base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[])
        resp = await client.chat_postMessage(channel="#alerts", text="from the benchmark")
        assert resp["channel"] == ALERTS
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/_fake/stats") as r,
        ):
            stats = await r.json()
        assert (stats["calls"], stats["messages"]) == (1, 1)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
