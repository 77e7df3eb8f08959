"""Fuzzing ``/slack/events`` on loopback: random bodies, content types and header values, signed and unsigned,
against the real aiohttp app, Bolt and click service (and the same payloads over Socket Mode).

The invariant: a 4xx, or 200 for a well-formed click; never a 500, never a hang (a short client timeout), never
a stack trace in the log. Example counts are bounded so the file runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import re
import time
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.core.cards import CALLBACK_ACTION_PREFIX
from bot.slack.bolt_app import MalformedInteraction, block_actions, http_request, read_click
from tests.interactivity_support import SIGNING_SECRET, ClickStack, click_stack, wait_for

FORM = "application/x-www-form-urlencoded"
CALLBACK_BUTTON = re.compile(rf"{CALLBACK_ACTION_PREFIX}\d+")  # what the Bolt app routes to the click service
CLIENT_TIMEOUT = 2.0  # seconds: every answer must come well within this (Slack itself waits 3 s)
FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# JSON values of any shape, small enough to keep each example quick.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
# What header values can hold on the wire: anything but line breaks, NUL and lone surrogates; sometimes huge.
header_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)
header_values = (
    header_text
    | st.sampled_from(["", "0", "v0=", "v0=" + "0" * 64, "9" * 5000, "١٧٠٠٠٠٠٠٠٠"])
    | st.integers(min_value=0, max_value=10**30).map(str)
    | st.builds(lambda c, n: c * n, st.sampled_from(["9", "é", "a", "€"]), st.integers(1, 9000))
)
content_types = (
    st.sampled_from(
        [
            FORM,
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded; charset=latin-1",
            "",
        ]
    )
    | header_text
)

# Optional extra headers that change how aiohttp reads the body.
encodings = st.dictionaries(
    st.sampled_from(["Content-Encoding", "Transfer-Encoding", "Content-Language"]),
    st.sampled_from(["gzip", "deflate", "br", "identity", "chunked"]) | header_text,
    max_size=2,
)


@pytest.fixture(scope="module")
def clicks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickStack]:
    with click_stack(tmp_path_factory.mktemp("fuzz")) as stack:
        yield stack


def _sign(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest}


def _send(clicks: ClickStack, body: bytes, headers: dict[str, str]) -> int:
    async def post() -> int:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)) as session,
            session.post(clicks.events_url, data=body, headers=headers) as answer,
        ):
            await answer.read()
            return answer.status

    return clicks.stack.loop.run(post())  # a hang raises TimeoutError here and fails the example


def _in_the_fakes(record: logging.LogRecord) -> bool:
    """A failure inside the test's fake Slack (which shares aiohttp's logger with the plugin), not the plugin's.
    (The fake's Block Kit validator raises on, e.g., a block whose type is a list, echoed back by a click.)"""
    trace = record.exc_info[2] if record.exc_info else None
    return trace is not None and any("/tests/fakes/" in frame.filename for frame in traceback.extract_tb(trace))


def _crashes(records: list[logging.LogRecord]) -> list[str]:
    """Stack traces and aiohttp's "Error handling request" (what a 500 leaves behind), and every ERROR."""
    return [r.getMessage() for r in records if not _in_the_fakes(r) and (r.exc_info or r.levelno >= logging.ERROR)]


def _accepted(payload: Any) -> bool:
    try:
        block_actions(payload)
    except MalformedInteraction:
        return False
    return True


@FUZZ
@given(
    body=st.binary(max_size=3000),
    content_type=content_types,
    timestamp=header_values,
    signature=header_values,
    extra=encodings,
)
def test_unsigned_or_badly_signed_requests_get_4xx(
    clicks: ClickStack,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    timestamp: str,
    signature: str,
    extra: dict[str, str],
) -> None:
    seen = len(caplog.records)
    status = _send(
        clicks,
        body,
        {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, **extra},
    )
    assert 400 <= status < 500  # 401 mostly; 400 from aiohttp itself for headers over its 8 KB limit
    assert _crashes(caplog.records[seen:]) == []


@FUZZ
@given(
    body=st.binary(max_size=3000)
    | json_values.map(lambda v: json.dumps(v).encode())
    | json_values.map(lambda v: urlencode({"payload": json.dumps(v)}).encode()),
    content_type=content_types,
    extra=encodings,
)
def test_signed_random_bodies_get_4xx(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str, extra: dict[str, str]
) -> None:
    seen = len(caplog.records)
    status = _send(clicks, body, {"Content-Type": content_type, **_sign(body), **extra})
    assert 400 <= status < 500
    assert _crashes(caplog.records[seen:]) == []


@FUZZ
@given(payload=json_values)
def test_signed_random_json_in_the_payload_field_gets_400(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture, payload: Any
) -> None:
    seen = len(caplog.records)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert _send(clicks, body, {"Content-Type": FORM, **_sign(body)}) == 400
    assert _crashes(caplog.records[seen:]) == []


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


_alerts = itertools.count()


def _changed_click(stack: ClickStack, data: st.DataObject, replacement: Any, delete: bool) -> dict[str, Any]:
    """A genuine click on a fresh card (so it runs the whole flow), with one field anywhere in it replaced by
    random JSON or deleted."""
    ts, _ = stack.post_alert(alert_id=f"fuzz-{next(_alerts)}")
    payload = stack.payload(ts)
    path = data.draw(st.sampled_from(_paths(payload)))
    parent: Any = payload
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return payload


def _audits(stack: ClickStack) -> int:
    return len(stack.stack.loop.run(stack.stack.runtime.store.audit(limit=100_000)))


def _clicks_a_callback_button(payload: dict[str, Any]) -> bool:
    return _accepted(payload) and CALLBACK_BUTTON.fullmatch(payload["actions"][0]["action_id"]) is not None


@FUZZ
@given(data=st.data(), replacement=json_values, delete=st.booleans())
def test_signed_clicks_with_one_field_changed_get_200_or_4xx(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture, data: st.DataObject, replacement: Any, delete: bool
) -> None:
    payload = _changed_click(clicks, data, replacement, delete)
    audited, seen = _audits(clicks), len(caplog.records)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    status = _send(clicks, body, {"Content-Type": FORM, **_sign(body)})
    event(f"HTTP {status}")
    assert status == (200 if _accepted(payload) else 400)
    if _clicks_a_callback_button(payload):  # whatever happens after the ack ends in an audit record
        wait_for(lambda: _audits(clicks) > audited, timeout=5, what="the click's audit record")
    assert _crashes(caplog.records[seen:]) == []


@FUZZ
@given(payload=json_values)
def test_any_json_is_checked_or_refused_and_never_breaks_click_parsing(payload: Any) -> None:
    read_click(payload)  # never raises, whatever the shape
    try:
        checked = block_actions(payload)
    except MalformedInteraction:
        return
    http_request(checked)  # what passed the check builds a Bolt request without error


@pytest.fixture(scope="module")
def socket_clicks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickStack]:
    with click_stack(tmp_path_factory.mktemp("fuzz-socket"), transport="socket") as stack:
        yield stack


@settings(FUZZ, max_examples=50)
@given(payload=json_values)
def test_socket_mode_acknowledges_any_payload(
    socket_clicks: ClickStack, caplog: pytest.LogCaptureFixture, payload: Any
) -> None:
    seen = len(caplog.records)
    envelope_payload = payload if isinstance(payload, dict) else {"type": "block_actions", "actions": payload}
    # acknowledged within the timeout (else TimeoutError), so Slack would not deliver it again
    socket_clicks.stack.loop.run(socket_clicks.slack.send_interactive(envelope_payload, timeout=CLIENT_TIMEOUT))
    assert _crashes(caplog.records[seen:]) == []


@settings(FUZZ, max_examples=50)
@given(data=st.data(), replacement=json_values, delete=st.booleans())
def test_socket_mode_clicks_with_one_field_changed_are_acknowledged(
    socket_clicks: ClickStack, caplog: pytest.LogCaptureFixture, data: st.DataObject, replacement: Any, delete: bool
) -> None:
    payload = _changed_click(socket_clicks, data, replacement, delete)
    audited, seen = _audits(socket_clicks), len(caplog.records)
    socket_clicks.stack.loop.run(socket_clicks.slack.send_interactive(payload, timeout=CLIENT_TIMEOUT))
    if _clicks_a_callback_button(payload):
        wait_for(lambda: _audits(socket_clicks) > audited, timeout=5, what="the click's audit record")
    assert _crashes(caplog.records[seen:]) == []
