"""Who may click: an optional allow-list of Slack user IDs (``U…``/``W…``) and user-group IDs (``S…``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)
GROUP_CACHE_SECONDS = 60

GroupLookup = Callable[[str, str], Awaitable[set[str] | None]]  # (group id, channel id) -> member ids


class ResponderPolicy:
    def __init__(
        self,
        allowed: list[str] | None,
        group_members: GroupLookup | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (monotonic seconds) times how long a user group's members are remembered."""
        self._clock = clock
        self._users = {a for a in allowed or [] if not a.startswith("S")}
        self._groups = [a for a in allowed or [] if a.startswith("S")]
        self._open = not allowed
        self._group_members = group_members
        self._cache: dict[str, tuple[float, set[str]]] = {}

    async def refusal(self, user_id: str, channel_id: str) -> str | None:
        """None when ``user_id`` may click; otherwise why not, in words for the clicker."""
        if self._open or user_id in self._users:
            return None
        unknown = False
        for group in self._groups:
            members = await self._members(group, channel_id)
            if members is None:
                unknown = True
            elif user_id in members:
                return None
        if unknown:
            return (
                "you are not on the list of people who may act on these alerts from Slack, and the user groups "
                "on it could not be checked just now (the bot needs usergroups:read)"
            )
        return "you are not on the list of people who may act on these alerts from Slack"

    async def _members(self, group: str, channel_id: str) -> set[str] | None:
        cached = self._cache.get(group)
        if cached and cached[0] > self._clock():
            return cached[1]
        if self._group_members is None:
            return None
        members = await self._group_members(group, channel_id)
        if members is not None:
            self._cache[group] = (self._clock() + GROUP_CACHE_SECONDS, members)
        return members
