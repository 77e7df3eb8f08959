"""Who may click: an optional allow-list of Slack user IDs (``U…``/``W…``) and user-group IDs (``S…``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)
GROUP_CACHE_SECONDS = 60

GroupLookup = Callable[[str, str], Awaitable[set[str] | None]]  # (group id, channel id) -> member ids


class ResponderPolicy:
    def __init__(self, allowed: list[str] | None, group_members: GroupLookup | None = None) -> None:
        self._users = {a for a in allowed or [] if not a.startswith("S")}
        self._groups = [a for a in allowed or [] if a.startswith("S")]
        self._open = not allowed
        self._group_members = group_members
        self._cache: dict[str, tuple[float, set[str]]] = {}

    async def allows(self, user_id: str, channel_id: str) -> bool:
        if self._open or user_id in self._users:
            return True
        for group in self._groups:
            members = await self._members(group, channel_id)
            if members is not None and user_id in members:
                return True
        return False

    async def _members(self, group: str, channel_id: str) -> set[str] | None:
        cached = self._cache.get(group)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        if self._group_members is None:
            return None
        members = await self._group_members(group, channel_id)
        if members is not None:
            self._cache[group] = (time.monotonic() + GROUP_CACHE_SECONDS, members)
        return members
