"""The operator commands against a store with known content and the fake Slack: ``outbox`` (list, retry, drop),
``audit``, ``doctor``; their failure exits; a retried item picked up by a running plugin; no secret printed."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.delivery.outbox import lane_key
from bot.ops.doctor import CHANNEL_SCOPES
from bot.slack.scopes import SCOPE_NAMES
from bot.store import AuditRecord, ItemKind, ItemState, RedisStore, SqliteStore, Store
from bot.store.sqlite import DB_FILE
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import SIGNING_SECRET, wait_for
from tests.process import ROOT, free_port
from tests.redis_server import RedisServer
from tests.samples import APP_TOKEN, TOKEN, alert_tags, alerting_message
from tests.support import CHANNEL_ID, dispatch_request, live_stack

SEALED = "v1.sealed-token-blob-that-must-not-be-printed"
FULL_SCOPES = (*SCOPE_NAMES, *CHANNEL_SCOPES.values())
DOCTOR_TOKEN = "xoxb-3333-4444-DOCTORsecret"
LIMITED_TOKEN = "xoxb-5555-6666-LIMITEDsecret"
SECRETS = (TOKEN, APP_TOKEN, SIGNING_SECRET, DOCTOR_TOKEN, LIMITED_TOKEN, SEALED, "DOCTORsecret", "LIMITEDsecret")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets: none of the caller's BOT_* or SLACK_* variables."""
    for name in list(os.environ):
        if name.startswith(("BOT_", "SLACK_")):
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out + err
    return code, out, err


async def _fill(store: Store, now: float) -> dict[str, int]:
    """Known content: a queued alert (5 minutes old, tried twice), a failed one, a queued thread line, two clicks."""
    lane = lane_key(TOKEN, "#alerts")
    body = {"target": "#alerts", "message": alerting_message(), "notification_type": "ERROR"}
    queued = await store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=body, token=SEALED, now=now - 300)
    await store.record_attempt(queued)
    await store.record_attempt(queued)
    gone = {"target": "#gone", "message": {"title": "[Alerting] Disk full on db-1"}, "notification_type": "ERROR"}
    failed = await store.enqueue(
        lane=lane_key(TOKEN, "#gone"), kind=ItemKind.DISPATCH, body=gone, token=SEALED, now=now - 7200
    )
    await store.failed(failed, error="ERROR_SLACK_CHANNEL_NOT_FOUND: Slack has no channel #gone", now=now - 7100)
    note_body = {"target": "#alerts", "channel_id": CHANNEL_ID, "ts": "1.000001", "text": "Acknowledged by alice"}
    note = await store.enqueue(lane=lane, kind=ItemKind.NOTE, body=note_body, token=SEALED, now=now - 10)
    for at, outcome in ((now - 60, "done"), (now - 30, "expired")):
        await store.add_audit(
            AuditRecord(at, "U0ALICE", "Acknowledge Alerts", CHANNEL_ID, "1.000001", "alert-x1v2c3v456", outcome)
        )
    return {"queued": queued, "failed": failed, "note": note}


@pytest.fixture
def known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """An embedded store in BOT_DATA_DIR with known content (written as the plugin would, then closed)."""
    store = SqliteStore(tmp_path, lock_wait=0)
    ids = asyncio.run(_fill(store, time.time()))
    asyncio.run(store.close())
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    yield ids


def _entries(data_dir: Path, state: ItemState) -> list[int]:
    async def read() -> list[int]:
        store = SqliteStore(data_dir, owner=False)
        try:
            return [e.item.id for e in await store.outbox_entries(state)]
        finally:
            await store.close()

    return asyncio.run(read())


# -- outbox ---------------------------------------------------------------------------------------------------------


def test_outbox_lists_pending_and_failed_items_with_reason_and_age(
    capsys: pytest.CaptureFixture[str], known: dict[str, int]
) -> None:
    code, out, _ = run(capsys, "outbox")
    assert code == 0
    assert "pending: 2" in out and "failed: 1" in out
    queued_line = next(line for line in out.splitlines() if line.startswith(f"{known['queued']} "))
    assert "5m 0s" in queued_line or "5m 1s" in queued_line
    assert "#alerts" in queued_line and "alert:alert-x1v2c3v456" in queued_line and "[Alerting]" in queued_line
    failed_line = next(line for line in out.splitlines() if line.startswith(f"{known['failed']} "))
    assert "2h 0m" in failed_line and "ERROR_SLACK_CHANNEL_NOT_FOUND: Slack has no channel #gone" in failed_line

    code, out, _ = run(capsys, "outbox", "--json")
    listed = json.loads(out)
    assert [item["id"] for item in listed["pending"]] == [known["queued"], known["note"]]
    queued = listed["pending"][0]
    assert queued["kind"] == "dispatch" and queued["attempts"] == 2 and 299 <= queued["age_seconds"] <= 310
    assert queued["title"] == "[Alerting] Notification of access to the SpaceONE"
    [failed] = listed["failed"]
    assert failed["reason"].startswith("ERROR_SLACK_CHANNEL_NOT_FOUND") and failed["channel"] == "#gone"
    assert failed["failed_at"].endswith("Z") and failed["title"] == "[Alerting] Disk full on db-1"
    assert listed["pending"][1]["title"] == "Acknowledged by alice"

    code, out, _ = run(capsys, "outbox", "--json", "--limit", "1")
    assert [item["id"] for item in json.loads(out)["pending"]] == [known["queued"]]


def test_outbox_retries_and_drops_items(
    capsys: pytest.CaptureFixture[str], known: dict[str, int], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "outbox", "retry", str(known["failed"]))
    assert code == 0 and "queued again; the running plugin delivers it within a second or two" in out
    assert known["failed"] in _entries(tmp_path, ItemState.PENDING)
    assert _entries(tmp_path, ItemState.FAILED) == []
    code, out, _ = run(capsys, "outbox", "retry", str(known["failed"]))  # pending now: nothing to retry
    assert code == 1 and f"no failed item {known['failed']}" in out

    code, out, _ = run(capsys, "outbox", "drop", str(known["note"]))
    assert code == 0 and known["note"] not in _entries(tmp_path, ItemState.PENDING)
    code, out, _ = run(capsys, "outbox", "drop", "999999")
    assert code == 1 and "no item 999999" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["outbox", "retry"], "usage: slack-chatops outbox retry ID"),
        (["outbox", "drop"], "usage: slack-chatops outbox drop ID"),
        (["outbox", "list", "3"], "usage: slack-chatops outbox [list | retry ID | drop ID]"),
        (["outbox", "--limit", "0"], "--limit must be at least 1"),
        (["audit", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_bad_usage_exits_2(
    capsys: pytest.CaptureFixture[str], known: dict[str, int], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_a_directory_without_a_store_is_refused_not_filled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "not-the-data-dir"
    empty.mkdir()
    monkeypatch.setenv("BOT_DATA_DIR", str(empty))
    for argv in (["outbox"], ["audit"], ["outbox", "drop", "1"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and f"no store at {empty}" in err
    assert list(empty.iterdir()) == []
    monkeypatch.setenv("BOT_STORE_URL", "http://not-redis.example.test")
    code, _, err = run(capsys, "outbox")
    assert code == 2 and "cannot open the store: BOT_STORE_URL must be a Redis URL" in err
    monkeypatch.setenv("BOT_DRAIN_SECONDS", "-1")
    code, _, err = run(capsys, "audit")
    assert code == 2 and "invalid settings: BOT_DRAIN_SECONDS" in err


@pytest.mark.parametrize("tail", ["/notadb", "/0?socket_timeout=abc", "/0?ssl_cert_reqs=none"])
def test_a_store_url_redis_py_would_refuse_or_misread_is_refused(monkeypatch: pytest.MonkeyPatch, tail: str) -> None:
    monkeypatch.setenv("BOT_STORE_URL", f"redis://:pass-word-1@127.0.0.1:{free_port()}{tail}")  # nothing listens
    for argv in (["outbox"], ["audit"]):
        result = _cli(*argv)
        assert result.returncode == 2 and result.stdout == "", result.stdout
        [line] = result.stderr.splitlines()
        assert line.startswith("cannot open the store: BOT_STORE_URL cannot be used: ") and "pass-word-1" not in line


def test_a_failed_item_retried_on_the_shared_store_goes_out_from_the_running_plugin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        with live_stack(tmp_path / "plugin", store_url=redis.url) as stack:
            stack.slack.state.channels_by_id[CHANNEL_ID].archived = True
            with pytest.raises(Exception, match="ERROR_SLACK_CHANNEL_ARCHIVED"):
                stack.notification.dispatch(dispatch_request(alerting_message()), timeout=20)
            monkeypatch.setenv("BOT_STORE_URL", redis.url)
            code, out, _ = run(capsys, "outbox", "--json")
            [failed] = json.loads(out)["failed"]
            assert failed["reason"].startswith("ERROR_SLACK_CHANNEL_ARCHIVED") and failed["channel"] == "alerts"
            stack.slack.state.channels_by_id[CHANNEL_ID].archived = False  # the operator fixed the cause
            code, out, _ = run(capsys, "outbox", "retry", str(failed["id"]))
            assert code == 0 and "within a second or two" in out
            wait_for(lambda: len(stack.posted()) == 1, what="the retried card")
            code, out, _ = run(capsys, "outbox", "--json")
            assert json.loads(out) == {"pending": [], "failed": []}
    finally:
        redis.stop()


def test_a_failed_item_retried_on_the_embedded_store_goes_out_from_the_running_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``outbox retry`` from another process, beside a running plugin on SQLite: the plugin finds the item again
    (it looks for stored lanes every second) and posts its card, no restart needed."""
    with live_stack(tmp_path / "plugin") as stack:
        stack.slack.state.channels_by_id[CHANNEL_ID].archived = True
        with pytest.raises(Exception, match="ERROR_SLACK_CHANNEL_ARCHIVED"):
            stack.notification.dispatch(dispatch_request(alerting_message()), timeout=20)
        monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "plugin"))
        listed = _cli("outbox", "--json")
        [failed] = json.loads(listed.stdout)["failed"]
        stack.slack.state.channels_by_id[CHANNEL_ID].archived = False  # the operator fixed the cause
        retried = _cli("outbox", "retry", str(failed["id"]))
        assert retried.returncode == 0 and "delivers it within a second or two" in retried.stdout, retried.stdout
        wait_for(lambda: len(stack.posted()) == 1, what="the retried card", timeout=5)
        assert json.loads(_cli("outbox", "--json").stdout) == {"pending": [], "failed": []}


def test_a_huge_failed_dispatch_is_kept_cut_and_a_retry_still_posts_its_card(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ~3.85 MB notification (issue 16) that failed for good keeps at most 256 KiB, says so in the listing, and a
    retry posts its card: the alert's title and fields, the rest cut visibly."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        with live_stack(tmp_path / "plugin", store_url=redis.url) as stack:
            stack.slack.state.channels_by_id[CHANNEL_ID].archived = True
            tags = alert_tags() + [{"key": f"Detail {i}", "value": "\U0001f600" * 4096} for i in range(235)]
            request = dispatch_request(alerting_message(tags=tags))
            assert request.ByteSize() > 3_800_000
            with pytest.raises(Exception, match="ERROR_SLACK_CHANNEL_ARCHIVED"):
                stack.notification.dispatch(request, timeout=30)
            monkeypatch.setenv("BOT_STORE_URL", redis.url)
            code, out, _ = run(capsys, "outbox", "--json")
            [failed] = json.loads(out)["failed"]
            assert failed["trimmed_from_bytes"] > 3_800_000 and failed["title"].startswith("[Alerting] Notification")
            code, out, _ = run(capsys, "outbox")
            failed_line = next(line for line in out.splitlines() if line.startswith(f"{failed['id']} "))
            assert "ERROR_SLACK_CHANNEL_ARCHIVED" in failed_line and "(kept cut from 3.9 MB)" in failed_line
            stack.slack.state.channels_by_id[CHANNEL_ID].archived = False
            code, out, _ = run(capsys, "outbox", "retry", str(failed["id"]))
            assert code == 0
            wait_for(lambda: len(stack.posted()) == 1, what="the retried card")
            [card] = stack.posted()
            shown = json.dumps(card.attachments, ensure_ascii=False)
            assert "Alert Number" in shown and "Detail 0" in shown and "\u2026" not in shown.split("Detail 0")[0]
            assert card.text is not None and "[Alerting] Notification of access to the SpaceONE" in card.text
    finally:
        redis.stop()


# -- audit ----------------------------------------------------------------------------------------------------------


def test_audit_shows_recent_clicks_newest_first(capsys: pytest.CaptureFixture[str], known: dict[str, int]) -> None:
    code, out, _ = run(capsys, "audit", "--json")
    records = json.loads(out)
    assert code == 0 and [r["outcome"] for r in records] == ["expired", "done"]
    assert records[0]["actor"] == "U0ALICE" and records[0]["action"] == "Acknowledge Alerts"
    assert records[0]["channel"] == CHANNEL_ID and records[0]["target"] == "alert-x1v2c3v456"
    assert records[0]["time"].endswith("Z") and records[0]["at"] > records[1]["at"]
    code, out, _ = run(capsys, "audit", "--limit", "1")
    header, row = out.splitlines()
    assert header.split()[:3] == ["time", "(UTC)", "who"] and "U0ALICE" in row and "expired" in row


# -- records that cannot be read -------------------------------------------------------------------------------------


def _break_sqlite(data_dir: Path, now: float) -> list[str]:
    """Records the plugin never writes, put in the SQLite file by hand: a body that is not JSON, a kind this version
    does not know, an audit row whose time is text."""
    with sqlite3.connect(data_dir / DB_FILE) as db:
        not_json = db.execute(
            "INSERT INTO outbox (lane, kind, body, token, created_at) VALUES ('lane', 'dispatch', '{not json', ?, ?)",
            (SEALED, now),
        ).lastrowid
        other_kind = db.execute(
            "INSERT INTO outbox (lane, kind, body, token, created_at, state) VALUES ('lane', 'telegram', '{}', ?, ?, "
            "'failed')",
            (SEALED, now),
        ).lastrowid
        row = db.execute(
            "INSERT INTO audit (at, actor, action, channel, message_ts, target, outcome) "
            "VALUES ('yesterday', 'U0BOB', 'Ack', 'C1', '1.0', 'alert-x', 'done')"
        ).lastrowid
    return [f"outbox item {not_json}", f"outbox item {other_kind}", f"audit row {row}"]


def _break_redis(url: str, now: float) -> list[str]:
    """The same by hand in Redis: a body that is not JSON, an item hash without its fields, audit entries that are
    not JSON or not a record."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        not_json, bare = client.incr("slack-chatops:outbox:next-id"), client.incr("slack-chatops:outbox:next-id")
        client.hset(
            f"slack-chatops:outbox:item:{not_json}",
            mapping={
                "lane": "lane",
                "kind": "dispatch",
                "body": "{not json",
                "token": SEALED,
                "created_at": now,
                "attempts": 0,
            },
        )
        client.hset(f"slack-chatops:outbox:item:{bare}", mapping={"state": "pending"})
        client.zadd("slack-chatops:outbox:pending", {str(not_json): not_json, str(bare): bare})
        client.lpush("slack-chatops:audit", "{not json", json.dumps([1, 2]))  # each to the head: [1, 2] is index 0
    finally:
        client.close()
    return [
        f"outbox item {not_json}",
        f"outbox item {bare}",
        "slack-chatops:audit index 0",
        "slack-chatops:audit index 1",
    ]


@pytest.fixture(params=["sqlite", "redis"])
def broken(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The known content of ``_fill`` and, beside it, records that cannot be read (their names), on either store."""
    now = time.time()
    if request.param == "sqlite":
        store = SqliteStore(tmp_path, lock_wait=0)
        ids = asyncio.run(_fill(store, now))
        asyncio.run(store.close())
        monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
        yield ids, _break_sqlite(tmp_path, now)
        return
    server = RedisServer(tmp_path / "redis").start()
    try:

        async def fill() -> dict[str, int]:
            shared = await RedisStore.connect(server.url)
            try:
                return await _fill(shared, now)
            finally:
                await shared.close()

        ids = asyncio.run(fill())
        monkeypatch.setenv("BOT_STORE_URL", server.url)
        yield ids, _break_redis(server.url, now)
    finally:
        server.stop()


def test_outbox_leaves_out_and_names_what_it_cannot_read(broken: Any) -> None:
    known, unreadable = broken
    items = [name for name in unreadable if name.startswith("outbox item")]
    result = _cli("outbox")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"2 records could not be read (left out): {', '.join(items)}\n"
    lines = result.stdout.splitlines()
    assert "pending: 2" in lines and "failed: 1" in lines, result.stdout
    for item in ("queued", "note", "failed"):
        assert any(line.startswith(f"{known[item]} ") for line in lines), result.stdout

    result = _cli("outbox", "--json")
    listed = json.loads(result.stdout)
    assert [i["id"] for i in listed["pending"]] == [known["queued"], known["note"]]
    assert [i["id"] for i in listed["failed"]] == [known["failed"]]
    assert result.returncode == 0 and result.stderr.startswith("2 records could not be read")


def test_audit_leaves_out_and_names_what_it_cannot_read(broken: Any) -> None:
    _, unreadable = broken
    records = [name for name in unreadable if "audit" in name]
    result = _cli("audit")
    assert result.returncode == 0, result.stderr
    count = f"{len(records)} record{'s' if len(records) > 1 else ''}"
    assert result.stderr == f"{count} could not be read (left out): {', '.join(records)}\n"
    header, *rows = result.stdout.splitlines()
    assert header.startswith("time (UTC)") and [row.split()[-1] for row in rows] == ["expired", "done"]
    result = _cli("audit", "--json")
    assert [r["outcome"] for r in json.loads(result.stdout)] == ["expired", "done"]


# -- doctor ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def doctor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack) -> FakeSlack:
    """A healthy deployment: an empty store, Socket Mode and HTTP interactivity, an allow-list, a full bot token."""
    fake_slack.add_token(DOCTOR_TOKEN, scopes=FULL_SCOPES)
    fake_slack.add_token(LIMITED_TOKEN, scopes=("channels:read",))
    fake_slack.add_channel("quiet", "C0QUIET001", bot_member=False)
    asyncio.run(SqliteStore(tmp_path, lock_wait=0).close())
    for name, value in {
        "BOT_DATA_DIR": str(tmp_path),
        "BOT_SLACK_API_URL": fake_slack.base_url,
        "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_BOT_TOKEN": DOCTOR_TOKEN,
        "BOT_CALLBACK_ALLOWED_HOSTS": "monitoring-webhook.example.test,*.example.test",
    }.items():
        monkeypatch.setenv(name, value)
    return fake_slack


def _checks(out: str) -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in json.loads(out)["checks"]}


def test_doctor_passes_a_healthy_deployment(capsys: pytest.CaptureFixture[str], doctor_env: FakeSlack) -> None:
    code, out, _ = run(capsys, "doctor", "--channel", CHANNEL_ID, "--channel", "#alerts", "--channel", "C0QUIET001")
    assert code == 0, out
    lines = out.splitlines()
    assert all(line.startswith("PASS") for line in lines[:-1]), out
    assert lines[-1] == f"0 failed, 0 warning(s), {len(lines) - 1} passed"
    text = "\n".join(lines)
    assert "embedded SQLite" in text and "0 pending, 0 failed" in text
    assert "Slack said hello" in text and "auth.test: @bot (U0BOT) in acme (T0001)" in text
    assert f"#alerts ({CHANNEL_ID}): the bot is a member" in text
    assert "#quiet (C0QUIET001): not a member, but chat:write.public lets the bot post there" in text
    assert doctor_env.socket_mode.connects == 1  # one real Socket Mode connection, opened and closed


def test_doctor_names_what_to_fix_and_exits_1(
    capsys: pytest.CaptureFixture[str], doctor_env: FakeSlack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", LIMITED_TOKEN)  # no chat:write, no chat:write.public
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A0NOPE-1-revoked")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "not-a-signing-secret")
    monkeypatch.setenv("BOT_CALLBACK_ALLOWED_HOSTS", "https://monitoring-webhook.example.test/,cf.example.test:8443")
    channels = ["#old-alerts", "G0PRIVATE1", "C0QUIET001", "#nowhere"]
    code, out, _ = run(capsys, "doctor", "--json", *[arg for c in channels for arg in ("--channel", c)])
    assert code == 1
    checks = _checks(out)
    failed = {name for name, check in checks.items() if check["status"] == "fail"}
    assert failed == {
        "callback allow-list",
        "Socket Mode",
        "scopes",
        "channel #old-alerts",
        "channel G0PRIVATE1",
        "channel C0QUIET001",
        "channel #nowhere",
    }
    assert "Slack refused SLACK_APP_TOKEN: invalid_auth" in checks["Socket Mode"]["detail"]
    assert "missing chat:write (posting and updating cards)" in checks["scopes"]["detail"]
    assert "is archived" in checks["channel #old-alerts"]["detail"]
    assert "/invite @bot" in checks["channel G0PRIVATE1"]["detail"]  # private, not a member: hidden from the bot
    assert "not a member: invite it with /invite @bot" in checks["channel C0QUIET001"]["detail"]
    assert "no channel named #nowhere" in checks["channel #nowhere"]["detail"]
    assert "without scheme, port or path" in checks["callback allow-list"]["detail"]
    assert checks["signing secret"]["status"] == "warn"
    assert checks["scope users:read.email"]["status"] == "warn"
    assert json.loads(out)["ok"] is False


def test_doctor_without_a_store_a_token_or_a_way_to_click(
    capsys: pytest.CaptureFixture[str], doctor_env: FakeSlack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "elsewhere"))
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "BOT_CALLBACK_ALLOWED_HOSTS"):
        monkeypatch.delenv(name)
    code, out, _ = run(capsys, "doctor", "--json", "--channel", CHANNEL_ID)
    checks = _checks(out)
    assert code == 1
    assert checks["store"]["status"] == "fail" and "no store at" in checks["store"]["detail"]
    assert (
        checks["interactivity"]["status"] == "fail"
        and "no way for clicks to arrive" in checks["interactivity"]["detail"]
    )
    assert checks["bot token"]["status"] == "warn" and "SLACK_BOT_TOKEN is not set" in checks["bot token"]["detail"]
    assert checks[f"channel {CHANNEL_ID}"]["status"] == "fail"
    assert checks["callback allow-list"]["status"] == "warn"
    assert not (tmp_path / "elsewhere").exists()


def test_doctor_warns_when_it_cannot_look_at_channels(
    capsys: pytest.CaptureFixture[str], doctor_env: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)  # the usual app: chat:write and usergroups:read only
    code, out, _ = run(capsys, "doctor", "--json", "--channel", CHANNEL_ID, "--channel", "#alerts")
    checks = _checks(out)
    assert code == 0
    assert (
        checks[f"channel {CHANNEL_ID}"]["status"] == "warn"
        and "channels:read" in checks[f"channel {CHANNEL_ID}"]["detail"]
    )
    assert checks["channel #alerts"]["status"] == "warn" and "give its ID" in checks["channel #alerts"]["detail"]


def test_doctor_as_users_run_it(doctor_env: FakeSlack, tmp_path: Path) -> None:
    """``slack-chatops doctor`` in its own process: the token from the environment, the exit status, no secret."""
    environment = {k: v for k, v in os.environ.items()} | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--channel", CHANNEL_ID],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("0 failed")
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    environment["SLACK_BOT_TOKEN"] = "xoxb-0000-revoked-REVOKEDsecret"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "FAIL  bot token" in result.stdout and "invalid_auth" in result.stdout
    assert "REVOKEDsecret" not in result.stdout + result.stderr


# -- what reaches the operator's terminal ---------------------------------------------------------------------------

# A value as an attacker would shape it: retitle the window (OSC), clear the screen (CSI), start a forged line (CR,
# LF), colour by an 8-bit CSI (C1), and reverse what follows (a bidi override).
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\n7 forged\x9b31m\u202eok"
ESCAPED = "\\x1b]0;pwned\\x07\\x1b[2J\\r\\n7 forged\\x9b31m\\u202eok"
BIDI_CONTROLS = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def _acted_on(text: str) -> list[str]:
    """The characters of ``text`` a terminal would act on rather than show (but the line ends), found by Unicode's
    own tables, not by the code under test."""
    return [
        c
        for c in text
        if c != "\n"
        and (unicodedata.category(c) in {"Cc", "Zl", "Zp"} or unicodedata.bidirectional(c) in BIDI_CONTROLS)
    ]


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """``slack-chatops …`` in its own process, as an operator runs it, with this test's environment."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert _acted_on(result.stdout + result.stderr) == [], result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    return result


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """An embedded store whose outbox and audit trail hold ``HOSTILE`` in every field shown: titles, channels,
    Alert Numbers, who clicked what, where, with what outcome."""

    async def fill(store: Store) -> dict[str, int]:
        message = {
            "title": f"[Alerting] {HOSTILE}",
            "tags": [{"key": "Alert Number", "value": f"#1{HOSTILE}"}],
            "domain_name": "acme",
        }
        body = {"target": f"#al{HOSTILE}", "message": message, "notification_type": "ERROR"}
        lane = lane_key(TOKEN, "#alerts")
        queued = await store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=body, token=SEALED, now=time.time())
        failed = await store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=body, token=SEALED, now=time.time())
        await store.failed(failed, error=f"ERROR_SLACK_API: {HOSTILE}", now=time.time())
        await store.add_audit(
            AuditRecord(time.time(), f"U{HOSTILE}", HOSTILE, HOSTILE, "1.0", HOSTILE, HOSTILE, HOSTILE)
        )
        return {"queued": queued, "failed": failed}

    store = SqliteStore(tmp_path, lock_wait=0)
    try:
        ids = asyncio.run(fill(store))
    finally:
        asyncio.run(store.close())
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    return ids


def test_outbox_shows_control_characters_escaped_never_raw(hostile: dict[str, int]) -> None:
    result = _cli("outbox")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # pending: 1, its header and row; failed: 1, its header and row; the hint: no line forged by a value
    assert len(lines) == 7 and lines[0] == "pending: 1" and lines[3] == "failed: 1", result.stdout
    queued, failed = lines[2], lines[5]
    assert queued.startswith(f"{hostile['queued']} ") and failed.startswith(f"{hostile['failed']} ")
    assert f"#al{ESCAPED}" in queued  # the channel
    assert f"number:acme:#1{ESCAPED}" in queued  # the Alert Number
    assert f"[Alerting] {ESCAPED}"[:40] in queued  # the title (cut to TITLE_CHARS before it is escaped)
    assert f"ERROR_SLACK_API: {ESCAPED}" in failed

    result = _cli("outbox", "--json")
    listed = json.loads(result.stdout)  # the JSON still holds the values as they are
    assert listed["pending"][0]["channel"] == f"#al{HOSTILE}"
    assert listed["failed"][0]["reason"] == f"ERROR_SLACK_API: {HOSTILE}"
    assert "\\u009b31m\\u202eok" in result.stdout  # written as JSON escapes, not raw


def test_audit_shows_control_characters_escaped_never_raw(hostile: dict[str, int]) -> None:
    result = _cli("audit")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.startswith("time (UTC)") and row.count(ESCAPED) == 6, row
    result = _cli("audit", "--json")
    [record] = json.loads(result.stdout)
    assert record["actor"] == f"U{HOSTILE}" and record["channel"] == HOSTILE and record["outcome"] == HOSTILE


def test_errors_show_control_characters_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / HOSTILE))
    result = _cli("outbox")
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("no store at ") and ESCAPED in line


def test_doctor_shows_control_characters_escaped(doctor_env: FakeSlack) -> None:
    doctor_env.add_channel(f"ops{HOSTILE}", "C0HOSTILE1")  # a channel name as Slack gives it back
    result = _cli("doctor", "--channel", "C0HOSTILE1", "--channel", f"#x{HOSTILE}")
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and lines[-1].startswith("1 failed"), result.stdout
    assert any(line.startswith("PASS") and f"#ops{ESCAPED} (C0HOSTILE1)" in line for line in lines), result.stdout
    assert any(line.startswith("FAIL  channel #x" + ESCAPED) for line in lines), result.stdout
    result = _cli("doctor", "--json", "--channel", "C0HOSTILE1")
    [channel] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "channel C0HOSTILE1"]
    assert f"#ops{HOSTILE} (C0HOSTILE1)" in channel["detail"]
