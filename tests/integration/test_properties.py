"""Property-based tests: any Struct a Cloudforet message can be gets a card Slack accepts, or a clear error.

Never a crash and never INTERNAL: first at the renderer (thousands of cases against the fake's Block Kit
validator), then through the real gRPC server and the fake Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import limits
from bot.core.cards import render_card, text_length
from bot.core.lifecycle import alert_key
from bot.core.models import Message, NotificationType
from bot.core.sealed import fingerprint
from tests.fakes.slack import validate_blocks
from tests.samples import TOKEN
from tests.support import CHANNEL_ID, Stack, details_of, live_stack

# Struct values: null, bool, number (always a double on the wire), string, list, nested struct.
scalars = st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=300)
struct_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25,
)
KNOWN_KEYS = [
    "title",
    "description",
    "short_description",
    "contents",
    "content_type",
    "link",
    "image_url",
    "occurred_at",
    "domain_name",
    "tags",
    "callbacks",
]
tag = st.fixed_dictionaries(
    {"key": struct_values, "value": struct_values},
    optional={"options": st.fixed_dictionaries({}, optional={"short": struct_values})},
)
callback = st.fixed_dictionaries(
    {
        "label": struct_values,
        "url": st.sampled_from(["https://cb.example.test/a/b/ACKNOWLEDGED", "http://x", "not a url", ""])
        | st.text(max_size=50),
    }
)
long_text = st.text(min_size=0, max_size=20_000) | st.text(alphabet="<>&*_~`", max_size=5_000)
messages = st.fixed_dictionaries(
    {},
    optional={
        "title": struct_values | long_text,
        "description": struct_values | long_text,
        "short_description": struct_values,
        "contents": struct_values | long_text,
        "content_type": st.sampled_from(["HTML", "MARKDOWN", "TEXT"]) | struct_values,
        "link": st.sampled_from(["https://console.example.test/alert/a-1", "javascript:x"]) | struct_values,
        "image_url": st.sampled_from(["https://img.example.test/x.png"]) | struct_values,
        "occurred_at": st.sampled_from(["2022-06-27T09:22:57.967Z", "bad"]) | struct_values,
        "domain_name": struct_values,
        "tags": st.lists(tag, max_size=60) | struct_values,
        "callbacks": st.lists(callback, max_size=30) | struct_values,
    },
) | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=10), struct_values, max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages, kind=st.sampled_from(list(NotificationType)))
def test_renderer_output_always_passes_slack_validation(message: dict[str, Any], kind: NotificationType) -> None:
    parsed = Message.from_struct(message)
    card = render_card(parsed, kind, callback_values=["v1.k." + "x" * 100] * len(parsed.callbacks))
    payload = card.payload()
    errors, total = validate_blocks(payload["blocks"], payload["attachments"])
    assert errors == []
    assert total == text_length(payload) <= limits.MAX_TOTAL_BLOCK_TEXT
    assert 0 < len(payload["text"]) <= limits.MAX_TOP_LEVEL_TEXT


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    path: Path = tmp_path_factory.mktemp("props")
    with live_stack(path, repeat_window=0) as stack:
        yield stack


def _accepted_writes(stack: Stack) -> int:
    return sum(
        1
        for c in stack.slack.calls
        if c.method in ("chat.postMessage", "chat.update") and c.status == 200 and c.response.get("ok")
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages)
def test_dispatch_of_any_message_posts_an_accepted_card(shared_stack: Stack, message: dict[str, Any]) -> None:
    key = alert_key(Message.from_struct(message))
    record = (
        shared_stack.loop.run(shared_stack.runtime.store.find_card(fingerprint(TOKEN), "alerts", [key]))
        if key
        else None
    )
    before = _accepted_writes(shared_stack)
    shared_stack.dispatch(message)  # raises (fails the test) on any error
    if record is not None and record.status == "resolved":
        assert _accepted_writes(shared_stack) == before  # a late notification never reopens a resolved card
    else:
        assert _accepted_writes(shared_stack) > before  # posted, or its alert's card updated
    assert shared_stack.slack.errors() == []


channel_values = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.text(max_size=90)
    | st.sampled_from([TOKEN, "#alerts", "alerts", CHANNEL_ID, "xoxb-", "C0", "#", "xapp-1-2"])
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    channel_data=st.dictionaries(
        st.sampled_from(["token", "channel", "channel_id", "app_token", "x"]), channel_values, max_size=5
    )
)
def test_any_channel_data_is_delivered_or_a_coded_client_error(
    shared_stack: Stack, channel_data: dict[str, Any]
) -> None:
    try:
        shared_stack.dispatch({"title": "t"}, channel_data=channel_data)
    except grpc.RpcError as error:
        assert error.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.UNAUTHENTICATED,
        ), error.details()
        assert details_of(error).startswith("ERROR_")
        assert TOKEN not in details_of(error)
