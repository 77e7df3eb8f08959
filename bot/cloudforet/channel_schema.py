"""The JSON Schema of a Slack channel's settings, which Cloudforet's console draws the channel form from.

Property names stay those of Cloudforet's original Slack plugin (``token``, ``channel``, ``channel_id``) so
existing channels keep working.
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
            "type": "string",
            "title": "Slack Bot Token",
            "description": "Bot User OAuth Token of the Slack app (OAuth & Permissions page), starting with xoxb-",
            "pattern": TOKEN_PATTERN,
            "minLength": 10,
        },
        "channel": {
            "type": "string",
            "title": "Channel",
            "description": "Channel name (e.g. #alerts) or ID (e.g. C0123456789); invite the bot to it",
            "pattern": CHANNEL_PATTERN,
            "examples": ["#alerts"],
        },
        "channel_id": {
            "type": "string",
            "title": "Channel ID (optional)",
            "description": "Channel ID; when set it is used instead of the name, so renames do not break delivery",
            "pattern": CHANNEL_ID_PATTERN,
        },
        "app_token": {
            "type": "string",
            "title": "App-Level Token for buttons (optional)",
            "description": "xapp-… token with connections:write (Basic Information page); switches on the "
            "interactive buttons over Socket Mode, with no public URL needed",
            "pattern": APP_TOKEN_PATTERN,
        },
        "mentions": {
            "type": "string",
            "title": "Mentions (optional)",
            "description": "Who each alert notifies, separated by commas: user IDs (U0123456789), user groups "
            "(S0123456789 or @handle; needs usergroups:read), @here or @channel",
            "pattern": MENTIONS_PATTERN,
            "examples": ["@oncall, U0123456789"],
        },
        "mention_on": {
            "type": "string",
            "title": "When to mention (optional)",
            "description": "first_post (the default), escalation (each repeat, in the card's thread), resolved; "
            "separated by commas",
            "pattern": MENTION_ON_PATTERN,
            "examples": ["first_post, escalation"],
        },
        "mention_types": {
            "type": "string",
            "title": "Mention for these types (optional)",
            "description": "Notification types that mention anyone: ERROR, WARNING (the default), SUCCESS, INFO, "
            "NONE; separated by commas",
            "pattern": MENTION_TYPES_PATTERN,
            "examples": ["ERROR, WARNING"],
        },
        "assignee_tag": {
            "type": "string",
            "title": "Assignee tag (optional)",
            "description": f"Tag whose value is the assignee's e-mail, mentioned with the others (default: "
            f"{DEFAULT_ASSIGNEE_TAG}; needs users:read.email); none turns it off",
            "maxLength": MAX_TAG_KEY,
            "examples": [DEFAULT_ASSIGNEE_TAG],
        },
    },
}


def plugin_metadata(options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``Protocol.init`` answers for the protocol's ``options`` (the same form whatever they are)."""
    return {"data_type": "SECRET", "data": {"schema": CHANNEL_SCHEMA}}
