"""The Slack bot scopes the plugin asks for: the one list.

The app manifests (``manifests/slack-app-*.yaml``), the README's "Slack scopes" table, ``doctor``'s scope check and
the directory's methods are checked against it (``tests/deploy/test_slack_manifests.py``,
``tests/unit/slack/test_scopes.py``). Each scope and the Web API methods called with the bot token that need it come
from the methods' pages (https://api.slack.com/methods/<method>).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BotScope:
    """A bot scope: what it is for, whether the plugin can run without it, the methods that need it."""

    name: str
    purpose: str
    required: bool
    methods: tuple[str, ...] = ()


BOT_SCOPES: tuple[BotScope, ...] = (
    BotScope("chat:write", "posting and updating cards", True, ("chat.postMessage", "chat.update")),
    # No method needs it: it lets chat.postMessage reach public channels the bot is not a member of.
    BotScope("chat:write.public", "posting to public channels the bot was not invited to", False),
    BotScope(
        "usergroups:read",
        "@handle mentions, and user groups in BOT_ALLOWED_RESPONDERS",
        False,
        ("usergroups.list", "usergroups.users.list"),
    ),
    BotScope("users:read", "the clicker's profile (the responder sent to Cloudforet)", False, ("users.info",)),
    # Slack grants it only with users:read; users.info also needs it to include ``profile.email``.
    BotScope(
        "users:read.email", "assignee mentions by e-mail, and the clicker's e-mail", False, ("users.lookupByEmail",)
    ),
)
# The names, in the manifests' order.
SCOPE_NAMES: tuple[str, ...] = tuple(scope.name for scope in BOT_SCOPES)
# Scope name -> what it is for.
REQUIRED_SCOPES: dict[str, str] = {scope.name: scope.purpose for scope in BOT_SCOPES if scope.required}
OPTIONAL_SCOPES: dict[str, str] = {scope.name: scope.purpose for scope in BOT_SCOPES if not scope.required}
# Web API method called with the bot token -> the scope it needs.
METHOD_SCOPES: dict[str, str] = {method: scope.name for scope in BOT_SCOPES for method in scope.methods}
