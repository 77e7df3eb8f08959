"""The JSON Schema of a Slack channel's settings, which Cloudforet's console draws the channel form from.

Property names stay those of Cloudforet's original Slack plugin (``token``, ``channel``, ``channel_id``) so
existing channels keep working.
"""

from __future__ import annotations

from typing import Any

from bot.core.models import APP_TOKEN_PATTERN, CHANNEL_ID_PATTERN, CHANNEL_PATTERN, TOKEN_PATTERN

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
    },
}


def plugin_metadata() -> dict[str, Any]:
    """What ``Protocol.init`` answers."""
    return {"data_type": "SECRET", "data": {"schema": CHANNEL_SCHEMA}}
