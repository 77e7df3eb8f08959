"""Junk from the internet at ``/slack/events``, and clicks whose steps fail, over the real HTTP path.

Unverifiable signature headers get 401, signed bodies that are not what Slack sends get 400 at once (before Bolt
sees them), malformed Socket Mode payloads are dropped without their content in the log, and a click survives
any failure of its steps (allow-list look-up, store, callback client): acknowledged, audited, card usable,
clicker told.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.core.cards import CALLBACK_ACTION_PREFIX
from tests.fakes.slack import form_body, slack_signature
from tests.fakes.slack.web_api import ok as _ok
from tests.interactivity_support import SIGNING_SECRET, ClickStack, click_stack, wait_for
from tests.support import sqlite_path

FORM = "application/x-www-form-urlencoded"
QUICK = 1.0  # seconds: a refusal is answered at once (the bug took Bolt's 3 s ack timeout)
MARKER = "SECRET-MARKER-7f3a"  # planted in malformed payloads: must never reach a log line


@pytest.fixture
def clicks(tmp_path: Path) -> Iterator[ClickStack]:
    with click_stack(tmp_path) as stack:
        yield stack


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        started = time.monotonic()
        async with session.post(url, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status, time.monotonic() - started


def _signed_headers(body: bytes, content_type: str = FORM) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = slack_signature(SIGNING_SECRET, stamp, body.decode("utf-8", errors="surrogateescape"))
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": content_type}


def _signed_raw(body: bytes, content_type: str = FORM) -> dict[str, str]:
    """Headers signing arbitrary bytes (the HMAC is over the bytes as sent)."""
    import hashlib
    import hmac

    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest, "Content-Type": content_type}


def _no_crash_logged(records: list[logging.LogRecord]) -> None:
    """Nothing logged a stack trace or an unhandled-request error (aiohttp logs a handler's crash at ERROR)."""
    crashes = [r for r in records if r.exc_info or (r.name.startswith("aiohttp") and r.levelno >= logging.ERROR)]
    assert crashes == [], [r.getMessage() for r in crashes]


def _callback_buttons(stack: ClickStack, ts: str) -> list[str]:
    message = stack.card(ts)
    blocks = message.attachments[0]["blocks"] if message.attachments else message.blocks
    return [
        e["action_id"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(CALLBACK_ACTION_PREFIX)
    ]


# -- item 1: unverifiable headers -> 401 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Slack-Request-Timestamp", "not-a-number"),
        ("X-Slack-Request-Timestamp", "9" * 5000),  # more digits than int() converts
        ("X-Slack-Request-Timestamp", "1" + "0" * 4000),  # converts, but a huge number
        ("X-Slack-Request-Timestamp", "١٧٠٠٠٠٠٠٠٠"),  # Arabic-Indic digits: int() takes them, Slack never sends them
        ("X-Slack-Request-Timestamp", "-1"),
        ("X-Slack-Request-Timestamp", " 1700000000 "),
        ("X-Slack-Signature", "v0=é" + "0" * 63),  # non-ASCII: hmac.compare_digest raises TypeError on it
        ("X-Slack-Signature", "v0=" + "ü" * 64),
        ("X-Slack-Signature", "v0=" + "0" * 5000),
        ("X-Slack-Signature", ""),
    ],
)
def test_unverifiable_signature_headers_get_401(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture, header: str, value: str
) -> None:
    ts, _ = clicks.post_alert()
    body = form_body(clicks.payload(ts)).encode()
    headers = {**_signed_headers(body), header: value}
    status, elapsed = clicks.stack.loop.run(_post(clicks.events_url, body, headers))
    assert status == 401 and elapsed < QUICK
    assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []
    _no_crash_logged(caplog.records)


def test_header_bytes_that_are_not_utf8_get_401(clicks: ClickStack, caplog: pytest.LogCaptureFixture) -> None:
    ts, _ = clicks.post_alert()
    body = form_body(clicks.payload(ts)).encode()
    signed = _signed_headers(body)
    port = clicks.stack.runtime.http_port

    async def raw() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            f"X-Slack-Request-Timestamp: {signed['X-Slack-Request-Timestamp']}\r\n"
        ).encode()
        writer.write(head + b"X-Slack-Signature: v0=\xff\xfe" + b"0" * 62 + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return answer

    answer = clicks.stack.loop.run(raw())
    assert answer.startswith(b"HTTP/1.1 401"), answer[:60]
    _no_crash_logged(caplog.records)


# A request announcing 100 bytes of body and sending 8.
SHORT_BODY = (
    f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\nContent-Length: 100\r\n"
    "Connection: close\r\n\r\npayload="
).encode()


async def _raw_request(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send bytes as they are (what an HTTP client library would refuse to send) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if half_close:
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(65536), 5)  # the answer's head: enough to see the status
    finally:
        writer.close()


def test_a_header_over_aiohttps_limit_is_400_without_a_stack_trace(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture
) -> None:
    body = form_body({"type": "block_actions"}).encode()
    headers = {**_signed_headers(body), "X-Slack-Signature": "v0=" + MARKER * 1000}
    status, _ = clicks.stack.loop.run(_post(clicks.events_url, body, headers))
    assert status == 400
    _no_crash_logged(caplog.records)
    assert MARKER not in caplog.text and "could not be parsed" in caplog.text


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_body_not_in_its_content_encoding_is_400(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture, encoding: str
) -> None:
    body = b"payload=not-compressed-at-all"
    headers = {**_signed_raw(body), "Content-Encoding": encoding}
    status, _ = clicks.stack.loop.run(_post(clicks.events_url, body, headers))
    assert status == 400
    time.sleep(0.1)
    _no_crash_logged(caplog.records)


def test_a_client_leaving_mid_body_leaves_no_stack_trace(clicks: ClickStack, caplog: pytest.LogCaptureFixture) -> None:
    answer = clicks.stack.loop.run(_raw_request(clicks.stack.runtime.http_port, SHORT_BODY, half_close=True))
    assert not answer.startswith(b"HTTP/1.1 5")
    time.sleep(0.1)
    _no_crash_logged(caplog.records)


def test_a_body_that_never_arrives_gets_408(clicks: ClickStack, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.slack import http_app

    monkeypatch.setattr(http_app, "BODY_READ_TIMEOUT_SECONDS", 0.3)  # instead of waiting out the real 10 s
    started = time.monotonic()
    answer = clicks.stack.loop.run(_raw_request(clicks.stack.runtime.http_port, SHORT_BODY))
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3


# -- item 1: signed bodies unlike what Slack sends -> 400, at once, before Bolt -----------------------------------


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload.__setitem__(key, value)


def _nested(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = payload
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return change


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "actions is a string": _set("actions", "callback_0"),
    "actions is [1]": _set("actions", [1]),
    "actions is empty": _set("actions", []),
    "actions is an object": _set("actions", {"action_id": "callback_0"}),
    "action_id is a number": _nested("actions.0.action_id", 7),
    "action value is an object": _nested("actions.0.value", {"u": MARKER}),
    "action text is a string": _nested("actions.0.text", MARKER),
    "user is a string": _set("user", "U0CLICKER"),
    "user has no id": _set("user", {"name": "alice"}),
    "user id is a list": _set("user", {"id": ["U0CLICKER"]}),
    "user is missing": lambda payload: payload.pop("user"),
    "channel is a string": _set("channel", "C0ALERTS01"),
    "container is a list": _set("container", []),
    "container message_ts is a number": _nested("container.message_ts", 1.5),
    "team is a list": _set("team", [1]),
    "enterprise is a number": _set("enterprise", 5),
    "message is a string": _set("message", MARKER),
    "message blocks hold a string": _nested("message.blocks", [MARKER]),
    "message attachments is an object": _nested("message.attachments", {"a": 1}),
    "message text is a number": _nested("message.text", 5),
    "response_url is a number": _set("response_url", 5),
    "response_url is missing": lambda payload: payload.pop("response_url"),
    "type is missing": lambda payload: payload.pop("type"),
    "type is a list": _set("type", ["block_actions"]),
    "authorizations is a string": _set("authorizations", MARKER),
    "response_urls is a number": _set("response_urls", 5),
    "is_enterprise_install is a string": _set("is_enterprise_install", "yes"),
}


@pytest.mark.parametrize("change", list(MALFORMED))
def test_signed_payloads_shaped_unlike_slack_get_400_at_once(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture, change: str
) -> None:
    caplog.set_level(logging.INFO)
    ts, _ = clicks.post_alert()
    payload = clicks.payload(ts)
    MALFORMED[change](payload)
    body = form_body(payload).encode()
    status, elapsed = clicks.stack.loop.run(_post(clicks.events_url, body, _signed_headers(body)))
    assert status == 400 and elapsed < QUICK
    time.sleep(0.1)
    assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []
    assert clicks.stack.loop.run(clicks.stack.runtime.store.audit()) == []
    _no_crash_logged(caplog.records)
    assert MARKER not in caplog.text


@pytest.mark.parametrize(
    "name",
    [
        "not utf-8",
        "deeply nested",
        "payload twice",
        "payload is a list",
        "payload is a number",
        "command with bad authorizations",
        "json list",
        "json with bad enterprise",
        "text/plain",
        "empty",
    ],
)
def test_signed_junk_bodies_get_400(clicks: ClickStack, caplog: pytest.LogCaptureFixture, name: str) -> None:
    ts, _ = clicks.post_alert()
    good = json.dumps(clicks.payload(ts))
    body, content_type = {
        "not utf-8": (b"payload=" + good.encode()[:-1] + b"\xff}", FORM),
        "deeply nested": (urlencode({"payload": "[" * 100_000 + "]" * 100_000}).encode(), FORM),
        "payload twice": (urlencode([("payload", good), ("payload", good)]).encode(), FORM),
        "payload is a list": (urlencode({"payload": "[1]"}).encode(), FORM),
        "payload is a number": (urlencode({"payload": "1e999"}).encode(), FORM),
        "command with bad authorizations": (b"command=%2Fack&authorizations=abc&user_id=U1", FORM),
        "json list": (b"[1, 2]", "application/json"),
        "json with bad enterprise": (
            json.dumps({"type": "event_callback", "enterprise": 5}).encode(),
            "application/json",
        ),
        "text/plain": (form_body(clicks.payload(ts)).encode(), "text/plain"),
        "empty": (b"", FORM),
    }[name]
    status, elapsed = clicks.stack.loop.run(_post(clicks.events_url, body, _signed_raw(body, content_type)))
    assert status == 400 and elapsed < QUICK
    time.sleep(0.1)
    assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []
    _no_crash_logged(caplog.records)


def test_fields_slack_may_add_later_do_not_break_a_click(clicks: ClickStack) -> None:
    ts, _ = clicks.post_alert()
    payload = clicks.payload(ts)
    payload["some_future_field"] = {"nested": [1, "two"]}
    payload["actions"][0]["some_future_field"] = 3
    payload["user"]["some_future_field"] = None
    assert clicks.click(payload).status == 200
    wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in clicks.card_text(ts), what="acknowledged card")


def test_url_verification_is_answered(clicks: ClickStack) -> None:
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "abc123"}).encode()

    async def post() -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(clicks.events_url, data=body, headers=_signed_raw(body, "application/json")) as answer,
        ):
            return answer.status, await answer.json()

    assert clicks.stack.loop.run(post()) == (200, {"challenge": "abc123"})


@pytest.mark.parametrize("transport", ["http", "socket"])
def test_a_button_this_plugin_does_not_know_is_acknowledged_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    caplog.set_level(logging.INFO)
    with click_stack(tmp_path, transport=transport) as clicks:
        ts, _ = clicks.post_alert()
        payload = clicks.payload(ts)
        payload["actions"][0]["action_id"] = MARKER  # a card of another app version, or not ours at all
        result = clicks.click(payload)  # Socket Mode: raises TimeoutError unless acknowledged
        assert result.status == 200 and result.elapsed < QUICK
        time.sleep(0.1)
        assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []
        assert MARKER not in caplog.text and "does not know" in caplog.text
        _no_crash_logged(caplog.records)


# -- item 1: Socket Mode delivers the same payloads into the same Bolt app -------------------------------------


def test_socket_mode_drops_malformed_payloads_without_logging_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with click_stack(tmp_path, transport="socket") as clicks:
        ts, _ = clicks.post_alert()
        for change in (
            "enterprise is a number",
            "user is a string",
            "actions is [1]",
            "authorizations is a string",
            "message blocks hold a string",
            "action text is a string",
        ):
            payload = clicks.payload(ts)
            MALFORMED[change](payload)
            payload["team"] = {"id": "T0001", "domain": MARKER} if change != "enterprise is a number" else None
            # acknowledged (no TimeoutError), so Slack does not redeliver it
            clicks.stack.loop.run(clicks.slack.send_interactive(payload, timeout=2))
        time.sleep(0.2)
        assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []
        assert MARKER not in caplog.text
        _no_crash_logged(caplog.records)
        assert "malformed" in caplog.text
        # the connection and the app are fine: a real click still works
        clicks.click(clicks.payload(ts))
        wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in clicks.card_text(ts), what="acknowledged card")


# -- item 2: a click survives any failure of its steps -----------------------------------------------------------


def _assert_clicker_told(clicks: ClickStack, *words: str) -> str:
    [text] = wait_for(clicks.ephemerals_for, what="a message to the clicker")
    for word in words:
        assert word in text, text
    return text


@pytest.mark.parametrize("transport", ["http", "socket"])
def test_an_odd_usergroup_answer_still_answers_the_click(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    with click_stack(tmp_path, transport=transport, allowed_responders=["S0ONCALL"]) as clicks:
        # Slack's usergroups.users.list answering ok with a number where the member list belongs
        clicks.slack._handlers["usergroups.users.list"] = lambda info, params: _ok({"users": 7})
        ts, _ = clicks.post_alert()
        result = clicks.click(clicks.payload(ts))
        assert result.status == 200 and result.elapsed < QUICK
        _assert_clicker_told(clicks, "Nothing was done", "who may act")
        [audit] = wait_for((lambda: clicks.stack.loop.run(clicks.stack.runtime.store.audit())), what="audit record")
        assert (audit.actor, audit.target, audit.outcome) == ("U0CLICKER", "alert-1", "error")
        assert clicks.cloudforet.requests == []
        assert _callback_buttons(clicks, ts) == ["callback_0"]
        _no_crash_logged(caplog.records)


def _store_trigger(clicks: ClickStack, sql: str) -> None:
    """A real SQLite failure inside the plugin's own store, made with a trigger from a second connection."""
    db = sqlite3.connect(sqlite_path(clicks.stack.runtime))
    db.execute(sql)
    db.commit()
    db.close()


def test_a_store_failure_when_claiming_still_answers_the_click(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture
) -> None:
    _store_trigger(
        clicks,
        "CREATE TRIGGER fail_claims BEFORE INSERT ON action_claims BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    )
    ts, _ = clicks.post_alert()
    result = clicks.click(clicks.payload(ts))
    assert result.status == 200 and result.elapsed < QUICK
    _assert_clicker_told(clicks, "Nothing was done")
    [audit] = wait_for((lambda: clicks.stack.loop.run(clicks.stack.runtime.store.audit())), what="audit record")
    assert audit.outcome == "error" and "StoreError" in audit.detail
    assert clicks.cloudforet.requests == []
    assert _callback_buttons(clicks, ts) == ["callback_0"]
    _no_crash_logged(caplog.records)
    # once the store works again, the same button works
    _store_trigger(clicks, "DROP TRIGGER fail_claims")
    clicks.click(clicks.payload(ts))
    wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in clicks.card_text(ts), what="acknowledged card")


def test_a_store_failure_after_the_callback_keeps_the_acknowledged_card(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture
) -> None:
    _store_trigger(
        clicks,
        "CREATE TRIGGER fail_finish BEFORE UPDATE ON action_claims BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    )
    ts, _ = clicks.post_alert()
    assert clicks.click(clicks.payload(ts)).status == 200
    wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in clicks.card_text(ts), what="acknowledged card")
    _assert_clicker_told(clicks, "could not record")
    audit = wait_for((lambda: clicks.stack.loop.run(clicks.stack.runtime.store.audit())), what="audit record")
    assert audit[0].outcome == "done" and len(clicks.cloudforet.requests) == 1
    _no_crash_logged(caplog.records)


def test_a_callback_host_that_cannot_be_encoded_restores_the_button(
    clicks: ClickStack, caplog: pytest.LogCaptureFixture
) -> None:
    # a 300-character host label: it passes the click's address checks, then the callback client finds that it
    # cannot encode it (aiohttp's IDNA encoding would raise) and refuses it
    url = f"http://{'a' * 300}.example.test/monitoring/v1/alert/alert-7/key/ACKNOWLEDGED"
    ts, _ = clicks.post_alert(callback_url=url)
    assert clicks.click(clicks.payload(ts)).status == 200
    _assert_clicker_told(clicks, "did not go through")
    wait_for(lambda: len(clicks.card(ts).updates) == 2, what="card restored")  # in progress, then restored
    assert _callback_buttons(clicks, ts) == ["callback_0"]
    [audit] = clicks.stack.loop.run(clicks.stack.runtime.store.audit())
    assert audit.outcome == "refused" and audit.target == "alert-7"
    _no_crash_logged(caplog.records)
    # the claim was released: the next click tries again instead of "someone is already doing this"
    clicks.click(clicks.payload(ts))
    wait_for(lambda: len(clicks.stack.loop.run(clicks.stack.runtime.store.audit())) == 2, what="second audit record")
    assert clicks.stack.loop.run(clicks.stack.runtime.store.audit())[0].outcome == "refused"
