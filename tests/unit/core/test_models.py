"""Request models: lenient message parsing, strict channel settings with clear, secret-free errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.models import Message, NotificationType, is_channel_id, parse_timestamp
from bot.core.requests import parse_channel, parse_dispatch
from tests.samples import TOKEN


def test_struct_numbers_and_odd_values_become_text() -> None:
    message = Message.from_struct(
        {
            "title": 42.0,
            "description": 1.5,
            "tags": [
                {"key": "count", "value": 3.0},
                {"key": "flag", "value": True},
                "loose",
                {"key": "obj", "value": {"a": 1}},
            ],
        }
    )
    assert message.title == "42" and message.description == "1.5"
    assert [(t.key, t.value) for t in message.tags] == [
        ("count", "3"),
        ("flag", "true"),
        ("", "loose"),
        ("obj", '{"a":1}'),
    ]


def test_missing_and_extra_keys_are_fine() -> None:
    message = Message.from_struct({"unknown": [1, 2], "tags": None})
    assert message.title == "" and message.tags == [] and message.callbacks == []


def test_tags_given_as_mapping() -> None:
    assert [(t.key, t.value) for t in Message.from_struct({"tags": {"a": "1"}}).tags] == [("a", "1")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2022-06-27T09:22:57.967Z", datetime(2022, 6, 27, 9, 22, 57, 967000, tzinfo=UTC)),
        ("2022-06-27T18:22:57+09:00", datetime(2022, 6, 27, 9, 22, 57, tzinfo=UTC)),
        (1656321777.0, datetime(2022, 6, 27, 9, 22, 57, tzinfo=UTC)),
        ("not a date", None),
        (None, None),
        (True, None),
        (1e30, None),
    ],
)
def test_parse_timestamp(raw: object, expected: datetime | None) -> None:
    assert parse_timestamp(raw) == expected


def test_channel_data_with_token_fallback_to_secret_data() -> None:
    channel = parse_channel({"channel": "#alerts"}, {"token": TOKEN})
    assert channel.token.get_secret_value() == TOKEN and channel.target == "alerts"
    channel = parse_channel({"channel": "alerts", "channel_id": "C0123456789", "token": TOKEN})
    assert channel.target == "C0123456789"
    # the whole channel form kept in the secret (data_type SECRET)
    assert parse_channel({}, {"token": TOKEN, "channel": "ops"}).target == "ops"


@pytest.mark.parametrize(
    ("channel_data", "expected"),
    [
        ({}, "channel_data.token is required"),
        ({"token": TOKEN}, "channel_data.channel is required"),
        ({"token": "not-a-token", "channel": "#a"}, "channel_data.token must be a Slack bot token"),
        ({"token": TOKEN, "channel": "has space"}, "channel_data.channel must be a channel name"),
        ({"token": TOKEN, "channel": "#a", "channel_id": "nope"}, "channel_data.channel_id must be a channel ID"),
        ({"token": 12.0, "channel": "#a"}, "channel_data.token must be a string"),
    ],
)
def test_bad_channel_data_is_a_clear_error_without_the_secret(channel_data: dict[str, Any], expected: str) -> None:
    with pytest.raises(BotError) as caught:
        parse_channel(channel_data)
    assert caught.value.code is ErrorCode.INVALID_CHANNEL_DATA
    assert expected in caught.value.message
    assert "not-a-token" not in caught.value.details and TOKEN not in caught.value.details


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ERROR", NotificationType.ERROR),
        ("INFO", NotificationType.INFO),
        ("NOTIFICATION_TYPE_NONE", NotificationType.NONE),
        ("BOGUS", NotificationType.NONE),
        ("error", NotificationType.NONE),
        ("", NotificationType.NONE),
        (None, NotificationType.NONE),
        (2, NotificationType.NONE),
        (["ERROR"], NotificationType.NONE),
    ],
)
def test_a_notification_type_is_read_in_one_place(name: object, expected: NotificationType) -> None:
    assert NotificationType.parse(name) is expected


def test_unknown_notification_type_is_none() -> None:
    request = parse_dispatch(
        channel_data={"token": TOKEN, "channel": "a"}, secret_data={}, message={}, notification_type="BOGUS"
    )
    assert request.notification_type is NotificationType.NONE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("C0123456789", True),  # a channel (public, or private since 2021)
        ("G0PRIVATE1", True),  # an older private channel or a group DM
        ("D0123ABCDE", True),  # a direct message: chat.postMessage takes it too
        ("C012345", True),  # the shortest (7 characters)
        ("C" + "A" * 79, True),  # room to grow, up to a channel name's 80 characters
        ("C" + "A" * 80, False),
        ("C01234", False),
        ("c0123456789", False),  # IDs are upper case; this is a name
        ("U0123456789", False),  # a user
        ("S0123456789", False),  # a user group
        ("alerts", False),
        ("#C0123456789", False),
        ("C0123 456789", False),
    ],
)
def test_is_channel_id_is_the_one_rule(value: str, expected: bool) -> None:
    """The one channel-ID rule (doctor had its own, without D… and without a length bound)."""
    assert is_channel_id(value) is expected
