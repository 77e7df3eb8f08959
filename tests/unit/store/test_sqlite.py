"""The embedded store on its own: schema migrations, finding an alert's card by any of its names, retention,
one process per data directory, a locked or vanished database."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.cards import CardStatus
from bot.core.errors import ErrorCode
from bot.ports.schema import NewerLayout
from bot.ports.store import CLAIM_RETENTION_SECONDS, FAILED_ITEM_RETENTION_SECONDS, RESOLVED_CARD_RETENTION_SECONDS
from bot.store import AuditRecord, ClaimStatus, DataDirInUse, ItemKind, SqliteStore, StoreError
from bot.store import sqlite as sqlite_store
from bot.store.sqlite import DB_FILE, MIGRATIONS, SCHEMA_VERSION
from tests.samples import card_record


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path, lock_wait=0)
    yield opened
    await opened.close()


async def test_migrates_v1_to_current_keeping_data(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version=1")
    db.execute(
        "INSERT INTO audit (at, actor, action, channel, message_ts, target, outcome) "
        "VALUES (1, 'U1', 'Ack', 'C1', '1.0', 'alert-1', 'done')"
    )
    db.close()
    store = SqliteStore(tmp_path, lock_wait=0)
    assert store.schema_version == SCHEMA_VERSION == 4
    assert (await store.audit())[0].target == "alert-1"
    assert await store.outbox_counts() == {}
    assert await store.find_card("bot-a", "alerts", ["alert:x"]) is None
    await store.close()


async def test_v2_cards_and_queued_items_survive_the_v3_migration(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        migration(db)
    db.execute("PRAGMA user_version=2")
    db.execute(
        "INSERT INTO cards (target, alert_key, channel_id, ts, status, notified, token, updated_at) "
        "VALUES ('alerts', 'alert:alert-1', 'C0ALERTS01', '111.1', 'acknowledged', 2, 'sealed', 1)"
    )
    db.execute(
        "INSERT INTO outbox (lane, kind, body, token, created_at, state) VALUES ('l', 'dispatch', '{}', 't', 1, 'done')"
    )
    db.execute("INSERT INTO outbox (lane, kind, body, token, created_at) VALUES ('l', 'dispatch', '{}', 't', 2)")
    db.close()
    store = SqliteStore(tmp_path, lock_wait=0)
    legacy = await store.find_card("any-bot", "alerts", ["alert:alert-1"])  # a card from before v3 is still found
    assert legacy is not None and (legacy.channel_id, legacy.ts, legacy.status) == (
        "C0ALERTS01",
        "111.1",
        "acknowledged",
    )
    assert await store.card_by_message("C0ALERTS01", "111.1") is not None
    assert await store.outbox_counts() == {"pending": 1}  # delivered rows are gone, queued ones kept
    await store.close()


async def test_a_card_is_found_by_any_name_of_its_alert(store: SqliteStore) -> None:
    card = card_record()
    await store.save_card(card, ["alert:alert-1", "number:acme:#7"])
    assert card.id
    # a [Resolved] message names the alert only by its number (no callback), or only by its id (from the link)
    assert await store.find_card("bot-a", "alerts", ["number:acme:#7"]) == card
    assert await store.find_card("bot-a", "C0ALERTS01", ["alert:alert-1"]) == card
    # a name learnt later is remembered too
    card.notified = 2
    await store.save_card(card, ["alert:alert-1", "number:acme:#7-later"])
    found = await store.find_card("bot-a", "alerts", ["number:acme:#7-later"])
    assert found is not None and found.notified == 2 and found.id == card.id
    assert await store.find_card("bot-a", "alerts", ["alert:alert-2"]) is None


async def test_a_reused_alert_number_does_not_join_two_alerts(store: SqliteStore) -> None:
    await store.save_card(card_record(), ["alert:alert-1", "number:acme:#7"])
    assert await store.find_card("bot-a", "alerts", ["alert:alert-2", "number:acme:#7"]) is None  # another alert
    assert await store.find_card("bot-a", "alerts", ["number:acme:#7"]) is not None  # nothing says it is another


async def test_cards_belong_to_their_bot_and_channel_id(store: SqliteStore) -> None:
    """Two workspaces (two bots) with a channel of the same name each get their own card of the same alert."""
    await store.save_card(card_record(bot="bot-a", channel_id="C0AAAAAAA1", ts="1.0"), ["alert:alert-1"])
    assert await store.find_card("bot-b", "alerts", ["alert:alert-1"]) is None
    await store.save_card(card_record(bot="bot-b", channel_id="C0BBBBBBB1", ts="2.0"), ["alert:alert-1"])
    a = await store.find_card("bot-a", "alerts", ["alert:alert-1"])
    b = await store.find_card("bot-b", "alerts", ["alert:alert-1"])
    assert a is not None and b is not None and (a.channel_id, b.channel_id) == ("C0AAAAAAA1", "C0BBBBBBB1")


async def test_delivered_items_are_forgotten_and_failed_ones_kept(store: SqliteStore) -> None:
    first = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": 1}, token="t", now=1)
    second = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": 2}, token="t", now=2)
    await store.delivered(first)
    await store.failed(second, error="ERROR_SLACK_AUTH: no", now=3)
    assert await store.outbox_counts() == {"failed": 1}
    assert await store.failed_items() == [(second, "l", "ERROR_SLACK_AUTH: no")]


async def test_prune_keeps_the_store_bounded(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_000_000_000.0
    old_failure = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    await store.failed(old_failure, error="old", now=now - FAILED_ITEM_RETENTION_SECONDS - 1)
    for clock, key in ((now - CLAIM_RETENTION_SECONDS - 1, "old-click"), (now, "new-click")):
        monkeypatch.setattr(store, "_clock", lambda at=clock: at)  # the store's clock when each was clicked
        await store.claim_action(key, "U1", stale_after=40)
    resolved = card_record(status=CardStatus.RESOLVED, ts="1.0")
    resolved.updated_at = now - RESOLVED_CARD_RETENTION_SECONDS - 1
    await store.save_card(resolved, ["alert:gone"])
    recent = card_record(status=CardStatus.RESOLVED, ts="2.0")
    recent.updated_at = now
    await store.save_card(recent, ["alert:kept"])
    monkeypatch.setattr(sqlite_store, "MAX_AUDIT_RECORDS", 3)
    for i in range(5):
        await store.add_audit(
            AuditRecord(at=now, actor="U1", action="Ack", channel="C1", message_ts=str(i), target="a", outcome="done")
        )
    assert await store.prune(now) >= 5
    assert await store.outbox_counts() == {}
    assert await store.find_card("bot-a", "alerts", ["alert:gone"]) is None
    assert await store.find_card("bot-a", "alerts", ["alert:kept"]) is not None
    assert [a.message_ts for a in await store.audit()] == ["4", "3", "2"]
    assert (await store.claim_action("old-click", "U2", stale_after=40)).actor == "U2"  # forgotten: claimable
    assert (await store.claim_action("new-click", "U2", stale_after=40)).actor == "U1"


async def test_one_process_per_data_directory(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path, lock_wait=0)
    started = time.monotonic()
    with pytest.raises(DataDirInUse, match="in use by another running plugin") as refused:
        SqliteStore(tmp_path, lock_wait=0.5)
    assert time.monotonic() - started >= 0.5  # it waited for the other to finish first
    assert "BOT_STORE_URL" in str(refused.value)
    await first.close()
    await SqliteStore(tmp_path, lock_wait=0).close()  # released on close


async def test_a_locked_database_fails_fast_with_a_store_error(store: SqliteStore) -> None:
    """Another program holding the write lock holds the event loop a fraction of a second, not SQLite's seconds."""
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(StoreError, match="locked"):
        await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    assert time.monotonic() - started < 1.0
    other.execute("ROLLBACK")
    other.close()
    assert await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1) > 0


async def test_a_vanished_database_is_noticed_and_started_afresh(store: SqliteStore) -> None:
    await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    assert not await store.vanished()
    for path in store.data_dir.glob(DB_FILE + "*"):
        path.unlink()
    assert await store.vanished()
    await store.reopen()
    assert not await store.vanished() and store.schema_version == SCHEMA_VERSION
    assert await store.outbox_counts() == {}
    assert await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1) > 0


async def test_store_claims_are_exclusive_until_released_or_stale(tmp_path: Path) -> None:
    clock = [100.0]
    store = SqliteStore(tmp_path, clock=lambda: clock[0])
    assert (await store.claim_action("k", "U1", stale_after=40)).status is ClaimStatus.CLAIMED
    clock[0] = 101
    second = await store.claim_action("k", "U2", stale_after=40)
    assert (second.status, second.actor, second.at) == (ClaimStatus.IN_PROGRESS, "U1", 100)
    await store.finish_action("k", done=False)
    clock[0] = 103
    assert (await store.claim_action("k", "U2", stale_after=40)).status is ClaimStatus.CLAIMED
    clock[0] = 200
    assert (await store.claim_action("k", "U3", stale_after=40)).status is ClaimStatus.CLAIMED  # U2's went stale
    clock[0] = 201
    await store.finish_action("k", done=True)
    clock[0] = 300
    done = await store.claim_action("k", "U4", stale_after=40)
    assert (done.status, done.actor, done.at) == (ClaimStatus.DONE, "U3", 201)
    await store.close()


async def test_store_is_created_versioned_and_survives_reopening(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    assert store.schema_version == SCHEMA_VERSION
    await store.add_audit(
        AuditRecord(at=1, actor="U1", action="Ack", channel="C1", message_ts="1.0", target="alert-1", outcome="done")
    )
    assert await store.remember_app_token("id-1", "sealed-1", now=1)
    assert not await store.remember_app_token("id-1", "sealed-again", now=2)
    await store.close()
    reopened = SqliteStore(tmp_path)
    assert (await reopened.audit())[0].target == "alert-1" and await reopened.app_tokens() == ["sealed-1"]
    journal = sqlite3.connect(reopened.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    assert oct(reopened.path.stat().st_mode & 0o777) == "0o600"


async def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    await SqliteStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "slack-chatops.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    with pytest.raises(NewerLayout) as refused:
        SqliteStore(tmp_path)
    assert refused.value.code is ErrorCode.STORE_TOO_NEW
    assert (refused.value.found, refused.value.known) == (SCHEMA_VERSION + 5, SCHEMA_VERSION)
    assert f"layout {SCHEMA_VERSION + 5}, this release reads up to {SCHEMA_VERSION}" in str(refused.value)
    with pytest.raises(NewerLayout):  # again, not DataDirInUse: the refusal let go of the directory's lock
        SqliteStore(tmp_path, lock_wait=0)
