"""The fake Slack's world: tokens, channels, users, user groups, and every message and ephemeral message it accepted.

Shared by the Web API (tests/fakes/slack/web_api.py), response_url (interactivity.py) and Socket Mode
(socket_mode.py); it does no I/O.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BotToken", "Channel", "Message", "User", "UserGroup", "Workspace"]


@dataclass
class Message:
    """A message accepted by chat.postMessage (top level or thread reply)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[Any] | None
    attachments: list[Any] | None
    thread_ts: str | None
    updates: list[dict[str, Any]] = field(default_factory=list)
    # Set by a test to play a message someone deleted in Slack: updates then answer message_not_found.
    deleted: bool = False
    replies: list[Message] = field(default_factory=list)
    # Which bot posted it (chat.update only works on the caller's own messages).
    bot_id: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class BotToken:
    """A bot token (``xoxb-…``) and the bot and workspace it belongs to."""

    token: str
    team_id: str
    team: str
    user_id: str
    bot_id: str
    scopes: frozenset[str]
    inactive: bool


@dataclass
class User:
    """A member of a workspace, as ``users.info`` and ``users.lookupByEmail`` know them."""

    id: str
    team_id: str
    name: str
    email: str | None
    deleted: bool = False


@dataclass
class UserGroup:
    """A user group (``S…``): its handle (what people type after ``@``), name, members and whether it is disabled."""

    id: str
    team_id: str
    handle: str
    name: str
    users: list[str]
    disabled: bool = False


@dataclass
class Channel:
    name: str
    id: str
    archived: bool
    bot_member: bool
    is_private: bool


class Workspace:
    """Everything the fake knows. Channel names are per workspace (team); IDs are unique across Slack."""

    def __init__(self) -> None:
        self.bot_tokens: dict[str, BotToken] = {}
        self.app_tokens: set[str] = set()
        self.revoked_app_tokens: set[str] = set()
        self.usergroups: dict[str, UserGroup] = {}
        self.users: dict[str, User] = {}
        self.channels_by_id: dict[str, Channel] = {}
        self.channels_by_name: dict[tuple[str, str], Channel] = {}
        # Top-level messages per channel ID, in order; replies hang off their parent.
        self.messages: defaultdict[str, list[Message]] = defaultdict(list)
        # Every message (top level or reply) by (channel ID, ts).
        self.index: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[dict[str, Any]] = []
        # Trigger ids issued with interactions (views.open takes each once, within 3 s): id -> (monotonic, user).
        self.triggers: dict[str, tuple[float, str]] = {}
        # Modals opened with views.open: {"id", "view", "trigger_id", "user", "team"}.
        self.views: list[dict[str, Any]] = []
        self._last_ts_us: int = 0

    def add_channel(self, channel: Channel, team_id: str) -> None:
        self.channels_by_id[channel.id] = channel
        self.channels_by_name[(team_id, channel.name)] = channel

    def channel(self, value: Any, team_id: str) -> Channel | None:
        """A channel by ID, or by name (``#`` optional) within workspace ``team_id``."""
        if not isinstance(value, str) or not value:
            return None
        channel = self.channels_by_id.get(value)
        if channel is None:
            channel = self.channels_by_name.get((team_id, value.lstrip("#")))
        return channel

    def user_by_email(self, email: str, team_id: str) -> User | None:
        """The member of workspace ``team_id`` with that e-mail address (Slack keeps addresses in lower case)."""
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.team_id == team_id and u.email == wanted), None)

    def find(self, channel_id: str, ts: str) -> Message | None:
        """The message (top level or reply, deleted ones included) posted to channel_id with that ts."""
        return self.index.get((channel_id, ts))

    def next_ts(self) -> str:
        """A fresh message timestamp: now, strictly increasing, six decimals (``1712345678.000123``)."""
        now_us = int(time.time() * 1_000_000)
        ts_us = max(now_us, self._last_ts_us + 1)
        self._last_ts_us = ts_us
        return f"{ts_us // 1_000_000}.{ts_us % 1_000_000:06d}"

    def record(self, message: Message, parent: Message | None) -> None:
        """Keep an accepted message: in its channel's list, or among its parent's replies."""
        self.index[(message.channel, message.ts)] = message
        if parent is not None:
            parent.replies.append(message)
        else:
            self.messages[message.channel].append(message)
