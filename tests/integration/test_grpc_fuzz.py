"""Fuzzing ``Notification.dispatch`` and ``Protocol.verify`` over a real socket against the live stack.

Every field of the wrong type, huge and odd strings (10,000 characters, non-ASCII, control characters, line
breaks), NaN and infinite numbers, deep nesting (past protobuf's own depth limit), any notification type. The
answer is OK, or an error whose details start with ``ERROR_`` (never a bare status), whose status is not
INTERNAL, and whose details fit in Cloudforet's client's metadata limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, protocol_pb2
from bot.cloudforet.servicers import MAX_DETAILS_BYTES
from tests.samples import APP_TOKEN, CALLBACK_URL, LINK, TOKEN
from tests.support import CHANNEL_ID, Stack, details_of, live_stack, notification_type_number

HUGE = 10_000
odd_strings = (
    st.text(max_size=40)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
    | st.sampled_from(
        [
            "",
            " ",
            "\n",
            "\r\n",
            "\x00",
            "é" * HUGE,
            "x" * HUGE,
            "😀" * HUGE,
            "\n" * HUGE,
            "<!channel> & <@U1>",
            TOKEN,
            TOKEN + "\n",
            " " + TOKEN,
            APP_TOKEN + "\n",
            "xoxb-",
            "xoxp-1",
            "xapp-1-2",
            "#alerts",
            "alerts",
            CHANNEL_ID,
            "C" + "A" * HUGE,
            "#" + "ü" * 80,
            "#" + "a" * 81,
            "G0PRIVATE1",
            "C0ARCHIVED",
            "#old-alerts",
            "xoxb-inactive-1",
            "xoxb-0000-unknown",
            CALLBACK_URL,
            LINK,
            "https://" + "h" * HUGE,
            "http://" + "a" * 300 + "/alert/x/ACKNOWLEDGED",
            "javascript:alert(1)",
            "https://例え.テスト/alert/a-1",
            "2022-06-27T09:22:57.967Z",
            "HTML",
        ]
    )
)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -1.0, 1e308, 2.0**63])
scalars = st.none() | st.booleans() | numbers | odd_strings
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(odd_strings, inner, max_size=5), max_leaves=20
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested 1 to 50 levels deep, lists and objects mixed: past ~32 levels protobuf cannot read it."""
    value: Any = draw(scalars)
    for _ in range(draw(st.integers(1, 50))):
        value = {draw(st.sampled_from(["a", "tags", "callbacks", "value"])): value} if draw(st.booleans()) else [value]
    return value


any_value = values
CHANNEL_KEYS = ["token", "channel", "channel_id", "app_token"]
MESSAGE_KEYS = [
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
# Mostly a deliverable channel, so the message reaches the renderer and Slack; often one odd field in it.
# Odd values for each channel field, next to values of any type.
FIELD_VALUES = {
    "token": [TOKEN + "\n", TOKEN + "\r\n", " " + TOKEN, "xoxb-", "xoxb-0000-unknown", "xoxb-inactive-1", "xoxb-é"],
    "app_token": [APP_TOKEN, APP_TOKEN + "\n", "xapp-1-2", "xapp-é"],
    "channel": [
        "#nowhere",
        "#old-alerts",
        "G0PRIVATE1",
        "C0NOSUCH1",
        "#" + "ü" * 80,
        "#" + "a" * 81,
        "a\nb",
        "#" + "é" * HUGE,
        "#alerts\n",
    ],
    "channel_id": ["C" + "A" * HUGE, "C0NOSUCH1", CHANNEL_ID + "\n", "c0lower1", "C0\u0661\u0662\u0663\u0664\u0665"],
}
one_odd_field = st.one_of(
    *(st.tuples(st.just(key), st.sampled_from(odd) | any_value | deep()) for key, odd in FIELD_VALUES.items())
)
# Mostly a deliverable channel with one odd field, so each reaches the parser, the renderer or Slack.
deliverable = st.dictionaries(odd_strings, any_value, max_size=2).map(
    lambda extra: {**extra, "token": TOKEN, "channel": "#alerts"}
)
channel_data = (
    deliverable
    | deliverable  # twice: one_of picks its branches evenly
    | one_odd_field.map(lambda odd: {"token": TOKEN, "channel": "#alerts", odd[0]: odd[1]})
    | st.lists(one_odd_field, max_size=4).map(dict)
    | st.dictionaries(st.sampled_from(CHANNEL_KEYS) | odd_strings, any_value, max_size=5)
)
tag = st.fixed_dictionaries(
    {},
    optional={
        "key": any_value,
        "value": any_value,
        "options": st.fixed_dictionaries({}, optional={"short": any_value}) | any_value,
    },
)
callback = st.fixed_dictionaries({}, optional={"label": any_value, "url": any_value, "options": any_value})
message = st.fixed_dictionaries(
    {},
    optional={
        **{key: any_value for key in MESSAGE_KEYS},
        "nested": deep(),
        "tags": st.lists(tag, max_size=30) | any_value,
        "callbacks": st.lists(callback, max_size=30) | any_value,
    },
) | st.dictionaries(st.sampled_from(MESSAGE_KEYS) | odd_strings, any_value, max_size=6)
structs = st.dictionaries(odd_strings, any_value, max_size=4) | st.dictionaries(odd_strings, deep(), max_size=1)
notification_types = st.integers(-(2**31), 2**31 - 1) | st.sampled_from(
    list(notification_pb2.PluginDispatchRequest.NotificationType.values())
)


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    path: Path = tmp_path_factory.mktemp("fuzz")
    with live_stack(path, repeat_window=0) as stack:
        yield stack


def assert_coded(call: Any) -> None:
    try:
        call()
        event("OK")
    except grpc.RpcError as error:
        details = error.details() or ""
        event(f"{error.code().name} {details.partition(':')[0]}")  # see --hypothesis-show-statistics
        assert details.startswith("ERROR_"), (error.code(), details[:200])
        assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), details[:200]
        assert len(details.encode()) <= MAX_DETAILS_BYTES, (error.code(), details[:200])
        assert TOKEN not in details and APP_TOKEN not in details


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(channel=channel_data, secret=structs | channel_data, msg=message, options=structs, kind=notification_types)
def test_any_dispatch_is_ok_or_a_coded_error(
    fuzz_stack: Stack,
    channel: dict[str, Any],
    secret: dict[str, Any],
    msg: dict[str, Any],
    options: dict[str, Any],
    kind: int,
) -> None:
    request = notification_pb2.PluginDispatchRequest(notification_type=notification_type_number(kind))
    # Built in place (not copied): a copy would parse, and protobuf refuses to parse past its depth limit.
    request.channel_data.update(channel)
    request.secret_data.update(secret)
    request.message.update(msg)
    request.options.update(options)
    assert_coded(lambda: fuzz_stack.notification.dispatch(request, timeout=30))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(secret=channel_data | structs, options=structs)
def test_any_verify_is_ok_or_a_coded_error(fuzz_stack: Stack, secret: dict[str, Any], options: dict[str, Any]) -> None:
    request = protocol_pb2.PluginVerifyRequest()
    request.secret_data.update(secret)
    request.options.update(options)
    assert_coded(lambda: fuzz_stack.protocol.verify(request, timeout=30))


@pytest.mark.parametrize("depth", [40, 200])
def test_a_request_nested_past_protobufs_limit_is_invalid_argument(fuzz_stack: Stack, depth: int) -> None:
    """The regression: gRPC's own parser failed and answered a bare UNKNOWN (Cloudforet sees no ERROR_)."""
    nested: Any = "x"
    for _ in range(depth):
        nested = {"a": nested}
    request = notification_pb2.PluginDispatchRequest(notification_type=notification_pb2.PluginDispatchRequest.ERROR)
    request.channel_data.update({"token": TOKEN, "channel": "#alerts"})
    request.message.update({"title": "deep", "x": nested})
    with pytest.raises(grpc.RpcError) as caught:
        fuzz_stack.notification.dispatch(request, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(caught.value).startswith("ERROR_INVALID_MESSAGE: the request could not be read")
