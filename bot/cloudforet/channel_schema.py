"""The JSON Schema of a Slack channel's settings, which Cloudforet's console draws the channel form from.

Property names stay those of Cloudforet's original Slack plugin (``token``, ``channel``, ``channel_id``) so
existing channels keep working.

Cloudforet's notification service calls ``Protocol.init`` before every dispatch and stores the answer as the
protocol's ``plugin_info.metadata`` (so it must always be whole): it reads ``data_type`` (SECRET: the form's data
lives in a secret) and validates a channel's data against ``data.schema`` when the channel is made or changed
(``jsonschema``; a ``pattern`` failure quotes the property's ``title``). The console draws the form with that schema:
``title`` is a field's label (fields sort by it), ``description`` the help under it, ``required`` marks fields, and
the standard keywords (``pattern``, ``maxLength``) check input as it is typed; a string field needs no ``type`` (the
console draws a text input without one, and reads and trims its value the same way).

Only what those read is here, once: every keyword is a protobuf Struct node the caller decodes before every
dispatch, and Cloudforet's client (protobuf 3, pure Python) copies each node once per level of nesting, 0.015 ms
a keyword and 0.07 ms an ``examples`` list. The console shows ``examples[0]`` only as an empty input's placeholder,
so the examples are in the descriptions instead.
"""

from __future__ import annotations

from typing import Any

from bot.core.models import (
    APP_TOKEN_PATTERN,
    CHANNEL_ID_PATTERN,
    CHANNEL_PATTERN,
    DEFAULT_ASSIGNEE_TAG,
    MAX_TAG_KEY,
    MENTION_ON_PATTERN,
    MENTION_TYPES_PATTERN,
    MENTIONS_PATTERN,
    TOKEN_PATTERN,
)

CHANNEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["token", "channel"],
    "properties": {
        "token": {
            "title": "Slack Bot Token",
            "description": "Bot User OAuth Token of the Slack app (OAuth & Permissions page), starting with xoxb-",
            "pattern": TOKEN_PATTERN,
        },
        "channel": {
            "title": "Channel",
            "description": "Channel name (e.g. #alerts) or ID (e.g. C0123456789); invite the bot to it",
            "pattern": CHANNEL_PATTERN,
        },
        "channel_id": {
            "title": "Channel ID (optional)",
            "description": "Channel ID; when set it is used instead of the name, so renames do not break delivery",
            "pattern": CHANNEL_ID_PATTERN,
        },
        "app_token": {
            "title": "App-Level Token for buttons (optional)",
            "description": "xapp-… token with connections:write (Basic Information page); switches on the "
            "interactive buttons over Socket Mode, with no public URL needed",
            "pattern": APP_TOKEN_PATTERN,
        },
        "mentions": {
            "title": "Mentions (optional)",
            "description": "Who each alert notifies, separated by commas (e.g. @oncall, U0123456789): user IDs, user "
            "groups (S0123456789 or @handle; needs usergroups:read), @here or @channel",
            "pattern": MENTIONS_PATTERN,
        },
        "mention_on": {
            "title": "When to mention (optional)",
            "description": "first_post (the default), escalation (each repeat, in the card's thread), resolved; "
            "separated by commas",
            "pattern": MENTION_ON_PATTERN,
        },
        "mention_types": {
            "title": "Mention for these types (optional)",
            "description": "Notification types that mention anyone: ERROR, WARNING (the default), SUCCESS, INFO, "
            "NONE; separated by commas",
            "pattern": MENTION_TYPES_PATTERN,
        },
        "assignee_tag": {
            "title": "Assignee tag (optional)",
            "description": f"Tag whose value is the assignee's e-mail, mentioned with the others (default: "
            f"{DEFAULT_ASSIGNEE_TAG}; needs users:read.email); none turns it off",
            "maxLength": MAX_TAG_KEY,
        },
    },
}


def plugin_metadata(options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``Protocol.init`` answers for the protocol's ``options`` (the same form whatever they are)."""
    return {"data_type": "SECRET", "data": {"schema": CHANNEL_SCHEMA}}
