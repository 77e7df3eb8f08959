"""The Web API client's read methods (what ``doctor`` asks: ``auth.test`` with the token's scopes,
``apps.connections.open``, ``conversations.info`` and ``conversations.list`` page by page) against the fake Slack on
loopback, and their failures as Slack's own error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack.errors import SlackCallError
from bot.slack.web_api import Identity, SlackSender
from tests.fakes.slack import FakeSlack
from tests.process import free_port
from tests.samples import APP_TOKEN

READER = "xoxb-1-2-reader"
BARE = "xoxb-1-2-bare"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_token(READER, scopes=("chat:write", "channels:read", "groups:read"))
        fake.add_token(BARE, scopes=("chat:write",))
        fake.add_app_token(APP_TOKEN)
        for number in range(5):
            fake.add_channel(f"team-{number}", f"C0TEAM000{number}", bot_member=number % 2 == 0)
        fake.add_channel("secret", "G0SECRET01", is_private=True)
        yield fake


@pytest.fixture
async def sender(slack: FakeSlack) -> AsyncIterator[SlackSender]:
    sender = SlackSender(slack.base_url, retry_handlers=[], timeout=5)
    yield sender
    await sender.close()


async def test_identity_names_the_bot_and_its_scopes(sender: SlackSender) -> None:
    assert await sender.identity(READER) == Identity(
        user="bot",
        user_id="U0BOT",
        team="acme",
        team_id="T0001",
        scopes=frozenset({"chat:write", "channels:read", "groups:read"}),
    )


async def test_a_refused_token_raises_slacks_own_code(sender: SlackSender) -> None:
    with pytest.raises(SlackCallError) as refused:
        await sender.identity("xoxb-0-0-unknown")
    assert (refused.value.status, refused.value.error) == (200, "invalid_auth")


async def test_channels_page_by_page(sender: SlackSender) -> None:
    seen: list[str] = []
    channels, cursor = await sender.channel_page(READER, ["public_channel", "private_channel"], limit=2)
    seen += [c["name"] for c in channels]
    while cursor:
        channels, cursor = await sender.channel_page(READER, ["public_channel", "private_channel"], cursor, limit=2)
        seen += [c["name"] for c in channels]
    assert sorted(seen) == sorted([f"team-{n}" for n in range(5)] + ["secret"])


async def test_channel_info_and_its_scope(sender: SlackSender) -> None:
    channel = await sender.channel_info(READER, "C0TEAM0001")
    assert (channel["name"], channel["is_member"], channel["is_private"]) == ("team-1", False, False)
    with pytest.raises(SlackCallError) as denied:
        await sender.channel_info(BARE, "C0TEAM0001")
    assert denied.value.error == "missing_scope"
    with pytest.raises(SlackCallError) as missing:
        await sender.channel_info(READER, "C0NOWHERE1")
    assert missing.value.error == "channel_not_found"


async def test_socket_mode_url_with_an_app_token(sender: SlackSender) -> None:
    assert (await sender.socket_mode_url(APP_TOKEN)).startswith("ws://127.0.0.1:")
    with pytest.raises(SlackCallError) as refused:
        await sender.socket_mode_url("xapp-1-A0NOPE-1-nope")
    assert refused.value.error == "invalid_auth"


async def test_slack_unreachable_is_status_0_after_one_try() -> None:
    sender = SlackSender(f"http://127.0.0.1:{free_port()}/api/", retry_handlers=[], timeout=5)
    try:
        with pytest.raises(SlackCallError) as unreachable:
            await sender.identity(READER)
    finally:
        await sender.close()
    assert unreachable.value.status == 0 and unreachable.value.error.startswith("connection failed (")
