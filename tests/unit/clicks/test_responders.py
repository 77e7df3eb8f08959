"""Who may click: BOT_ALLOWED_RESPONDERS' users and user groups, the groups' members looked up (and remembered for
a minute), and what a clicker who may not is told."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot.clicks.responders import GROUP_CACHE_SECONDS, ResponderPolicy

CHANNEL = "C0ALERTS01"
NOT_LISTED = "you are not on the list of people who may act on these alerts from Slack"
UNCHECKED = f"{NOT_LISTED}, and the user groups on it could not be checked just now (the bot needs usergroups:read)"


@dataclass
class Groups:
    """Slack's user groups: their members (a group missing here cannot be read), and the look-ups made."""

    members: dict[str, set[str]] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, group: str, channel_id: str) -> set[str] | None:
        self.asked.append((group, channel_id))
        return self.members.get(group)


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def refusal(policy: ResponderPolicy, user: str) -> str | None:
    return asyncio.run(policy.refusal(user, CHANNEL))


@pytest.mark.parametrize("allowed", [None, []])
def test_without_a_list_everyone_may_click(allowed: list[str] | None) -> None:
    assert refusal(ResponderPolicy(allowed), "U0ANYONE") is None


def test_listed_users_may_click_and_others_are_told_why_not() -> None:
    policy = ResponderPolicy(["U0ALICE", "W0BOB"])
    assert refusal(policy, "U0ALICE") is None
    assert refusal(policy, "W0BOB") is None  # an Enterprise Grid user ID
    assert refusal(policy, "U0MALLORY") == NOT_LISTED


def test_members_of_a_listed_group_may_click() -> None:
    groups = Groups({"S0ONCALL": {"U0CAROL"}})
    policy = ResponderPolicy(["U0ALICE", "S0ONCALL"], groups)
    assert refusal(policy, "U0CAROL") is None
    assert refusal(policy, "U0MALLORY") == NOT_LISTED
    assert refusal(policy, "U0ALICE") is None
    assert groups.asked == [("S0ONCALL", CHANNEL)]  # a listed user needs no look-up; a group's members are kept


def test_a_group_that_cannot_be_read_is_named_in_the_refusal() -> None:
    assert refusal(ResponderPolicy(["S0ONCALL"], Groups()), "U0CAROL") == UNCHECKED
    assert refusal(ResponderPolicy(["S0ONCALL"]), "U0CAROL") == UNCHECKED  # no way to look groups up at all


def test_a_member_of_a_readable_group_may_click_while_another_group_cannot_be_read() -> None:
    groups = Groups({"S0SECOND": {"U0CAROL"}})
    assert refusal(ResponderPolicy(["S0FIRST", "S0SECOND"], groups), "U0CAROL") is None
    assert refusal(ResponderPolicy(["S0FIRST", "S0SECOND"], groups), "U0DAVE") == UNCHECKED


def test_a_groups_members_are_remembered_for_a_minute() -> None:
    async def main() -> None:
        clock, groups = Clock(), Groups({"S0ONCALL": {"U0CAROL"}})
        policy = ResponderPolicy(["S0ONCALL"], groups, clock=clock)
        assert await policy.refusal("U0CAROL", CHANNEL) is None
        groups.members["S0ONCALL"] = {"U0DAVE"}  # the rota changes
        clock.now += GROUP_CACHE_SECONDS - 1
        assert await policy.refusal("U0CAROL", CHANNEL) is None  # still the members looked up before
        assert await policy.refusal("U0DAVE", CHANNEL) == NOT_LISTED
        clock.now += 2
        assert await policy.refusal("U0DAVE", CHANNEL) is None  # looked up again
        assert await policy.refusal("U0CAROL", CHANNEL) == NOT_LISTED
        assert len(groups.asked) == 2

    asyncio.run(main())


def test_a_failed_look_up_is_not_remembered() -> None:
    async def main() -> None:
        groups = Groups()
        policy = ResponderPolicy(["S0ONCALL"], groups, clock=Clock())
        assert await policy.refusal("U0CAROL", CHANNEL) == UNCHECKED
        groups.members["S0ONCALL"] = {"U0CAROL"}  # the bot was given usergroups:read
        assert await policy.refusal("U0CAROL", CHANNEL) is None
        assert len(groups.asked) == 2

    asyncio.run(main())
