"""The fake Slack's directory methods (``users.lookupByEmail``, ``users.info``, ``usergroups.list``), driven by the
real slack_sdk client: their answers, their errors and the scopes each checks, as Slack documents them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

READER = "xoxb-reader"  # users:read, users:read.email, usergroups:read
NO_EMAIL = "xoxb-no-email"  # users:read only
BARE = "xoxb-bare"  # chat:write only
OTHER_TEAM = "xoxb-other-team"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_token(READER, scopes=("chat:write", "users:read", "users:read.email", "usergroups:read"))
    slack.add_token(NO_EMAIL, scopes=("chat:write", "users:read"))
    slack.add_token(BARE)
    slack.add_token(OTHER_TEAM, team_id="T0002", scopes=("users:read", "users:read.email", "usergroups:read"))
    slack.add_user("U0ALICE", "alice", email="Alice@Example.com")
    slack.add_user("U0GONE", "gone", email="gone@example.com", deleted=True)
    slack.add_user("U0ELSEWHERE", "eve", email="eve@example.com", team_id="T0002")
    slack.add_usergroup("S0ONCALL", ["U0ALICE"], handle="oncall", name="On-call")
    slack.add_usergroup("S0OLD", ["U0ALICE"], handle="old", disabled=True)
    slack.add_usergroup("S0THEIRS", ["U0ELSEWHERE"], handle="theirs", team_id="T0002")
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


def client(fake: FakeSlack, token: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.base_url, retry_handlers=[])


async def error_of(call: Awaitable[Any]) -> Any:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value.response


async def test_lookup_by_email_finds_a_member_of_the_tokens_workspace(fake: FakeSlack) -> None:
    answer = await client(fake, READER).users_lookupByEmail(email="alice@example.com")
    user = answer["user"]
    assert (user["id"], user["team_id"], user["deleted"], user["profile"]["email"]) == (
        "U0ALICE",
        "T0001",
        False,
        "alice@example.com",  # Slack keeps addresses in lower case
    )
    gone = await client(fake, READER).users_lookupByEmail(email="gone@example.com")
    assert gone["user"]["deleted"] is True  # a deactivated member is still found, and says so


async def test_lookup_by_email_errors(fake: FakeSlack) -> None:
    assert (await error_of(client(fake, READER).users_lookupByEmail(email="nobody@example.com")))["error"] == (
        "users_not_found"
    )
    elsewhere = await error_of(client(fake, READER).users_lookupByEmail(email="eve@example.com"))
    assert elsewhere["error"] == "users_not_found"  # another workspace's member
    missing = await error_of(client(fake, NO_EMAIL).users_lookupByEmail(email="alice@example.com"))
    assert (missing["error"], missing["needed"], missing["provided"]) == (
        "missing_scope",
        "users:read.email",
        "chat:write,users:read",
    )
    empty = await error_of(client(fake, READER).api_call("users.lookupByEmail", params={}))
    assert empty["error"] == "invalid_arguments"
    assert fake.call_count("users.lookupByEmail") == 4


async def test_users_info_gives_the_email_only_with_users_read_email(fake: FakeSlack) -> None:
    full = (await client(fake, READER).users_info(user="U0ALICE"))["user"]
    assert (full["id"], full["name"], full["profile"]["email"]) == ("U0ALICE", "alice", "alice@example.com")
    partial = (await client(fake, NO_EMAIL).users_info(user="U0ALICE"))["user"]
    assert partial["id"] == "U0ALICE" and "email" not in partial["profile"]


async def test_users_info_errors(fake: FakeSlack) -> None:
    assert (await error_of(client(fake, READER).users_info(user="U0NOSUCH")))["error"] == "user_not_found"
    assert (await error_of(client(fake, READER).users_info(user="U0ELSEWHERE")))["error"] == "user_not_visible"
    missing = await error_of(client(fake, BARE).users_info(user="U0ALICE"))
    assert (missing["error"], missing["needed"]) == ("missing_scope", "users:read")
    assert (await error_of(client(fake, READER).api_call("users.info", params={})))["error"] == "invalid_arguments"


async def test_usergroups_list_gives_the_workspaces_enabled_groups_with_their_handles(fake: FakeSlack) -> None:
    groups = (await client(fake, READER).usergroups_list())["usergroups"]
    assert [(g["id"], g["handle"], g["name"], g["date_delete"]) for g in groups] == [
        ("S0ONCALL", "oncall", "On-call", 0)
    ]
    assert "users" not in groups[0] and "user_count" not in groups[0]
    everything = (await client(fake, READER).usergroups_list(include_disabled=True, include_users=True))["usergroups"]
    assert {g["id"]: g["users"] for g in everything} == {"S0ONCALL": ["U0ALICE"], "S0OLD": ["U0ALICE"]}
    assert [g["date_delete"] > 0 for g in everything] == [False, True]
    counted = (await client(fake, READER).usergroups_list(include_count=True))["usergroups"]
    assert counted[0]["user_count"] == 1
    theirs = (await client(fake, OTHER_TEAM).usergroups_list())["usergroups"]
    assert [g["id"] for g in theirs] == ["S0THEIRS"]


async def test_usergroups_list_needs_usergroups_read(fake: FakeSlack) -> None:
    missing = await error_of(client(fake, NO_EMAIL).usergroups_list())
    assert (missing["error"], missing["needed"]) == ("missing_scope", "usergroups:read")
    members = await client(fake, READER).usergroups_users_list(usergroup="S0ONCALL")
    assert members["users"] == ["U0ALICE"]  # usergroups.users.list reads the same groups
