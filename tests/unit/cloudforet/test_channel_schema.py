"""The channel form ``Protocol.init`` answers: what Cloudforet reads from it, and what it costs the caller.

Cloudforet's notification service calls ``init`` before every dispatch, and its client (protobuf 3, pure Python)
decodes the answer each time at a cost that grows with the number of Struct values in it (each is copied once per
level of nesting), far more than with its bytes. So the answer is held to a budget of both, and still carries
everything the console and the services read (their uses are listed in ``bot/cloudforet/channel_schema.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
import pytest

from bot.cloudforet.alert_manager import ALERT_MANAGER_API
from bot.cloudforet.channel_schema import CHANNEL_SCHEMA, plugin_metadata
from bot.cloudforet.servicers import NOTIFICATION_API, PluginApi, PluginServicers, dict_to_struct
from bot.core.errors import BotError
from bot.core.requests import parse_channel

# The whole serialized PluginInfo (2,809 bytes and 59 Struct values before issue 17; Cloudforet's official Slack
# plugin answers 739 bytes, 27 values, for its three fields).
MAX_INIT_BYTES = 2560
MAX_STRUCT_VALUES = 42
# The keywords something reads from a field: the console's form (mirinae's PJsonSchemaForm: title, description,
# markdown, examples, format, enum, type, default, disabled, order, and ajv's validation keywords) and the
# notification service's jsonschema validation. A keyword outside these would cost every dispatch for nothing.
READ_KEYWORDS = {
    "title",
    "description",
    "markdown",
    "pattern",
    "minLength",
    "maxLength",
    "enum",
    "format",
    "default",
    "type",
    "examples",
}
# Every field the plugin reads from a channel's data (``bot/core/requests.py``) is on the form.
FIELDS = {
    "token",
    "channel",
    "channel_id",
    "app_token",
    "mentions",
    "mention_on",
    "mention_types",
    "assignee_tag",
}


def struct_values(value: Any) -> int:
    """How many Struct ``Value`` messages ``value`` becomes (each entry of an object, each item of a list)."""
    if isinstance(value, dict):
        return sum(1 + struct_values(item) for item in value.values())
    if isinstance(value, list):
        return sum(1 + struct_values(item) for item in value)
    return 0


class NoService:
    async def dispatch(self, request: Any, *, digest: str | None = None) -> Any:
        raise AssertionError("init never dispatches")

    async def verify(self, token: str) -> dict[str, Any]:
        raise AssertionError("init never calls Slack")


@pytest.mark.parametrize("api", [NOTIFICATION_API, ALERT_MANAGER_API], ids=["1.x", "2.x"])
def test_the_init_answer_stays_within_its_budget(api: PluginApi) -> None:
    adapter = PluginServicers(api, NoService())
    answer = asyncio.run(adapter.init(api.protocol_pb2.InitRequest(options=dict_to_struct({})), None))
    assert len(answer.SerializeToString()) <= MAX_INIT_BYTES
    assert struct_values(plugin_metadata()) <= MAX_STRUCT_VALUES


def test_the_answer_carries_what_cloudforet_reads() -> None:
    metadata = plugin_metadata({})
    # The notification service: where a channel's data lives (SECRET: in a secret), and the schema it validates
    # that data with when a channel is made or changed.
    assert metadata["data_type"] == "SECRET"
    schema = metadata["data"]["schema"]
    assert schema is CHANNEL_SCHEMA
    jsonschema.Draft7Validator.check_schema(schema)
    # The console: the fields, the required ones marked, each with a label and the help under it.
    assert set(schema["properties"]) == FIELDS
    assert schema["required"] == ["token", "channel"]
    for name, field in schema["properties"].items():
        assert field["title"] and field["description"], name
        assert set(field) <= READ_KEYWORDS, name
        # A pattern refusal in the notification service quotes the field's title.
        assert "pattern" not in field or field["title"]


def test_the_form_checks_what_the_plugin_checks() -> None:
    """What the form (and the notification service) accepts, the plugin takes; a token or channel it refuses, the
    form refuses first, so the mistake is seen when the channel is saved, not at the first alert."""
    validator = jsonschema.Draft7Validator(CHANNEL_SCHEMA)
    good = {"token": "xoxb-1111-2222", "channel": "#alerts", "channel_id": "C0123456789", "app_token": "xapp-1-A"}
    assert list(validator.iter_errors(good)) == []
    parse_channel(good)
    for bad in (
        {"token": "xoxa-1111", "channel": "#alerts"},
        {"token": "xoxb-1111-2222", "channel": "#al erts"},
        {"token": "xoxb-1111-2222", "channel": "#alerts", "channel_id": "alerts"},
        {"token": "xoxb-1111-2222", "channel": "#alerts", "app_token": "xoxb-1"},
        {"token": "xoxb-1111-2222", "channel": "#alerts", "assignee_tag": "x" * 256},
        {"channel": "#alerts"},
    ):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(BotError):
            parse_channel(bad)
