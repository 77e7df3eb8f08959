"""Tests for the fake Slack's Web API (tests/fakes/slack/web_api.py), driven by the real slack_sdk client.

The Block Kit rules themselves are tested in tests/test_fake_slack_blockkit.py."""

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

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"
OTHER_BOT_TOKEN = "xoxb-other-bot"
PUBLIC_WRITER_TOKEN = "xoxb-public-writer"
INACTIVE_TOKEN = "xoxb-inactive"
ALERTS = "C0ALERTS"
REPO_ROOT = Path(__file__).resolve().parents[2]


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


async def test_answers_to_a_bot_token_name_its_scopes(fake: FakeSlack, client: AsyncWebClient) -> None:
    """Slack's X-OAuth-Scopes header, on successes and errors alike (doctor reads it); none for a bad token."""
    resp = await client.auth_test()
    assert resp.headers["x-oauth-scopes"] == "chat:write"
    err = await _error_of(client.conversations_info(channel=ALERTS))
    assert err.response.headers["x-oauth-scopes"] == "chat:write"
    err = await _error_of(_client(fake, "xoxb-unknown").auth_test())
    assert "x-oauth-scopes" not in {k.lower() for k in err.response.headers}


async def test_conversations_info_and_list_by_scope_and_membership(fake: FakeSlack) -> None:
    err = await _error_of(_client(fake, TOKEN).conversations_info(channel=ALERTS))
    assert err.response["error"] == "missing_scope" and "channels:read" in err.response["needed"]
    fake.add_token("xoxb-reader", scopes=("chat:write", "channels:read"))
    reader = _client(fake, "xoxb-reader")
    info = (await reader.conversations_info(channel="C0NOTMEMBER"))["channel"]
    assert (info["name"], info["is_member"], info["is_private"], info["is_archived"]) == (
        "elsewhere",
        False,
        False,
        False,
    )
    assert (await reader.conversations_info(channel="C0ARCHIVED"))["channel"]["is_archived"] is True
    for hidden in ("G0PRIVATE", "C0NOSUCH"):  # a private channel the bot is not in does not exist for it
        assert (await _error_of(reader.conversations_info(channel=hidden))).response["error"] == "channel_not_found"
    err = await _error_of(reader.conversations_list(types="public_channel,private_channel"))
    assert err.response["error"] == "missing_scope" and err.response["needed"] == "groups:read"
    first = await reader.conversations_list(types="public_channel", limit=2)
    rest = await reader.conversations_list(
        types="public_channel", limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    names = [c["name"] for c in first["channels"] + rest["channels"]]
    assert names == ["alerts", "old-alerts", "elsewhere"] and rest["response_metadata"]["next_cursor"] == ""
    live = await reader.conversations_list(types="public_channel", exclude_archived=True)
    assert [c["name"] for c in live["channels"]] == ["alerts", "elsewhere"]


@pytest.mark.parametrize("method", ["chat.fly", "chat.delete", "chat.postEphemeral", "conversations.history"])
async def test_unknown_method(fake: FakeSlack, client: AsyncWebClient, method: str) -> None:
    """Methods the bot never calls are not modelled: they answer unknown_method."""
    err = await _error_of(client.api_call(method, json={"channel": ALERTS, "ts": "1.000001", "text": "x"}))
    assert err.response.status_code == 200
    assert err.response["error"] == "unknown_method"
    assert fake.messages[ALERTS] == []


def test_settings_fakeslack_does_not_have_are_refused() -> None:
    """A misspelt or removed setting fails loudly instead of being ignored."""
    with pytest.raises(AttributeError):
        FakeSlack().response_url_ttl = 1.0  # type: ignore[attr-defined]  # the point: a setting it does not have


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


async def test_invalid_blocks_answer_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="fallback", blocks=_header(151)))
    body = err.response.data
    assert err.response.status_code == 200
    assert body["error"] == "invalid_blocks"
    assert body["errors"] == ["must be less than 151 characters [json-pointer:/blocks/0/text/text]"]
    assert body["response_metadata"]["messages"] == [f"[ERROR] {e}" for e in body["errors"]]
    assert fake.messages[ALERTS] == []
    resp = await client.chat_postMessage(channel=ALERTS, text="fallback", blocks=_header(150))
    assert fake.find(ALERTS, resp["ts"]) is not None


async def test_blocks_inside_attachments_are_validated(fake: FakeSlack, client: AsyncWebClient) -> None:
    err = await _error_of(
        client.chat_postMessage(channel=ALERTS, text="t", attachments=[{"color": "#ff0000", "blocks": _header(151)}])
    )
    assert any(e.endswith("[json-pointer:/attachments/0/blocks/0/text/text]") for e in err.response["errors"])
    assert fake.messages[ALERTS] == []


async def test_msg_blocks_too_long_aggregate_cap(fake: FakeSlack, client: AsyncWebClient) -> None:
    # Five sections of 2,500 chars: each within 3,000, together 12,500 > 12,000.
    err = await _error_of(
        client.chat_postMessage(channel=ALERTS, text="t", blocks=[_section("x" * 2500) for _ in range(5)])
    )
    assert err.response["error"] == "msg_blocks_too_long"
    resp = await client.chat_postMessage(channel=ALERTS, text="t", blocks=[_section("x" * 2400) for _ in range(5)])
    assert resp["ok"] is True
    assert len(fake.messages[ALERTS]) == 1


@pytest.mark.parametrize("odd_type", [["section"], {"type": "section"}])
async def test_a_block_type_that_is_not_a_string_is_invalid_blocks_not_a_500(
    fake: FakeSlack, client: AsyncWebClient, odd_type: Any
) -> None:
    """Regression: the validator crashed on an unhashable ``type`` and the fake answered HTTP 500."""
    blocks = [_section("ok"), {"type": odd_type, "text": {"type": "mrkdwn", "text": "x"}}]
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="t", blocks=blocks))
    assert err.response.status_code == 200
    assert err.response["error"] == "invalid_blocks"
    assert err.response["errors"] == ["must be a string [json-pointer:/blocks/1/type]"]
    assert fake.messages[ALERTS] == []
    assert fake.calls[-1].response["error"] == "invalid_blocks"


# -- accepted messages -----------------------------------------------------------------------------


# Every kind of block and property the bot's cards use (bot/core/cards.py).
CARD_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "CPU high on web-1", "emoji": True}},
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*Severity:* critical"}},
    {"type": "image", "image_url": "https://example.com/i.png", "alt_text": "CPU graph"},
    {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": "*Project*\nprod"}, {"type": "plain_text", "text": "web-1"}],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "from Cloudforet"}]},
    {"type": "context", "block_id": "status", "elements": [{"type": "mrkdwn", "text": ":eyes: acknowledged"}]},
    {
        "type": "actions",
        "block_id": "actions",
        "elements": [
            {**_button("open", "Open"), "url": "https://console.example.com/alert/1"},
            {**_button("ack", "Acknowledge"), "style": "primary", "value": "alert-1"},
            {**_button("resolve", "Resolve"), "value": "alert-1-resolve"},
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


async def test_update_and_thread_replies(fake: FakeSlack, client: AsyncWebClient) -> None:
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

    msg.deleted = True  # someone deleted it in Slack
    err = await _error_of(client.chat_update(channel=ALERTS, ts=ts, text="v4"))
    assert err.response["error"] == "message_not_found"
    err = await _error_of(client.chat_postMessage(channel=ALERTS, text="late reply", thread_ts=ts))
    assert err.response["error"] == "thread_not_found"
    assert [c.response["error"] for c in fake.errors()] == [
        "thread_not_found",
        "cant_update_message",
        "message_not_found",
        "thread_not_found",
    ]
    assert msg.text == "v3"


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


async def test_usergroups_users_list(fake: FakeSlack) -> None:
    fake.add_token("xoxb-groups", scopes=("chat:write", "usergroups:read"))
    fake.add_usergroup("S0ONCALL", ["U0ALICE", "U0BOB"])
    reader = _client(fake, "xoxb-groups")
    assert (await reader.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U0ALICE", "U0BOB"]
    err = await _error_of(reader.usergroups_users_list(usergroup="S0NOSUCH"))
    assert err.response["error"] == "no_such_subteam"
    err = await _error_of(_client(fake, TOKEN).usergroups_users_list(usergroup="S0ONCALL"))
    assert (err.response["error"], err.response["needed"]) == ("missing_scope", "usergroups:read")


async def test_usergroups_users_list_with_a_list_for_the_group_is_no_such_subteam(fake: FakeSlack) -> None:
    """Regression: an unhashable ``usergroup`` (a JSON list) crashed the method and the fake answered HTTP 500."""
    fake.add_token("xoxb-groups", scopes=("usergroups:read",))
    fake.add_usergroup("S0ONCALL", ["U0ALICE"])
    reader = _client(fake, "xoxb-groups")
    err = await _error_of(reader.api_call("usergroups.users.list", json={"usergroup": ["S0ONCALL"]}))
    assert (err.response.status_code, err.response["error"]) == (200, "no_such_subteam")


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
        "tests.fakes.slack",
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


# -- views.open (Add note's modal) -----------------------------------------------------------------------------------


def _modal(**changes: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "note",
        "title": {"type": "plain_text", "text": "Add a note"},
        "submit": {"type": "plain_text", "text": "Add"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": "sealed",
        "blocks": [
            {
                "type": "input",
                "block_id": "b",
                "label": {"type": "plain_text", "text": "Note"},
                "element": {"type": "plain_text_input", "action_id": "a", "multiline": True, "min_length": 1},
            }
        ],
    }
    view.update(changes)
    return view


async def _trigger(fake: FakeSlack) -> str:
    """A trigger id the fake issued with a click on a posted message."""
    button = {"type": "actions", "elements": [_button("go")]}
    posted = await AsyncWebClient(token=TOKEN, base_url=fake.base_url).chat_postMessage(
        channel=ALERTS, text="t", blocks=[button]
    )
    return str(fake.block_actions_payload(ALERTS, str(posted["ts"]), "go")["trigger_id"])


async def _error(client: AsyncWebClient, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        await client.views_open(**kwargs)
    return str(info.value.response["error"])


async def test_views_open_takes_a_trigger_once_and_records_the_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger = await _trigger(fake)
    answer = await client.views_open(trigger_id=trigger, view=_modal())
    assert answer["view"]["id"].startswith("V")
    [opened] = fake.opened_views
    assert opened["trigger_id"] == trigger and opened["view"]["private_metadata"] == "sealed"
    assert opened["user"] == "U0CLICKER"
    assert await _error(client, trigger_id=trigger, view=_modal()) == "exchanged_trigger_id"
    assert await _error(client, trigger_id="1.2.made-up", view=_modal()) == "invalid_trigger_id"
    assert len(fake.opened_views) == 1


async def test_views_open_refuses_an_expired_trigger_a_bad_token_and_a_bad_modal(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.views.trigger_ttl = 0.05
    trigger = await _trigger(fake)
    await asyncio.sleep(0.1)
    assert await _error(client, trigger_id=trigger, view=_modal()) == "expired_trigger_id"
    fake.views.trigger_ttl = 3.0
    stranger = AsyncWebClient(token="xoxb-unknown", base_url=fake.base_url, retry_handlers=[])
    assert await _error(stranger, trigger_id=await _trigger(fake), view=_modal()) == "invalid_auth"
    long_title = {"type": "plain_text", "text": "A title of twenty-five ch"}
    no_submit = _modal()
    del no_submit["submit"]
    bad_input = _modal(blocks=[{"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "N"}}])
    for view in (_modal(title=long_title), _modal(type="home"), no_submit, bad_input, _modal(blocks=[])):
        with pytest.raises(SlackApiError) as info:
            await client.views_open(trigger_id=await _trigger(fake), view=view)
        assert info.value.response["error"] == "invalid_arguments"
    assert fake.opened_views == []


async def test_a_view_submission_needs_the_input_filled(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.views_open(trigger_id=await _trigger(fake), view=_modal())
    [opened] = fake.opened_views
    with pytest.raises(ValueError, match="min_length"):
        fake.view_submission_payload(opened, {"a": ""})
    payload = fake.view_submission_payload(opened, {"a": "text"}, private_metadata="forged")
    assert payload["type"] == "view_submission" and payload["view"]["id"] == opened["id"]
    assert payload["view"]["state"]["values"] == {"b": {"a": {"type": "plain_text_input", "value": "text"}}}
    assert payload["view"]["private_metadata"] == "forged"
