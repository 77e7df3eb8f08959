"""The embedded store: one SQLite file (WAL) under ``BOT_DATA_DIR``, created on first start, schema-versioned.

Migrations are applied in order and recorded in ``PRAGMA user_version``; each runs in one transaction.
All calls run on the event loop's thread: every statement here is a quick indexed read or write.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.store.base import AuditRecord, CardRecord, Claim, ClaimStatus, OutboxItem

DB_FILE = "slack-chatops.sqlite3"


def _run(db: sqlite3.Connection, script: str) -> None:
    # executescript() would commit the migration's transaction early; run statement by statement instead.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        CREATE TABLE action_claims (
            key TEXT PRIMARY KEY,
            actor TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            done_at REAL
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            channel TEXT NOT NULL,
            message_ts TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE app_tokens (
            token_id TEXT PRIMARY KEY,
            token TEXT NOT NULL,
            added_at REAL NOT NULL
        );
        """
    )


def _v2(db: sqlite3.Connection) -> None:
    """Living cards and storm-proof delivery: the card of each alert, and the outbox."""
    _run(
        db,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lane TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            token TEXT NOT NULL,
            created_at REAL NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT '',
            finished_at REAL
        );
        CREATE INDEX outbox_by_state ON outbox (state, id);
        CREATE TABLE cards (
            target TEXT NOT NULL,
            alert_key TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            status TEXT NOT NULL,
            notified INTEGER NOT NULL,
            actor TEXT,
            actor_name TEXT,
            acted_at REAL,
            resolved_at REAL,
            token TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (target, alert_key)
        );
        CREATE INDEX cards_by_message ON cards (channel_id, ts)
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        new = not self.path.exists()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if new:
            os.chmod(self.path, 0o600)  # it holds app tokens
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash; fsync at checkpoints
        self._db.execute("PRAGMA busy_timeout=5000")
        self.migrate()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has schema {version}, newer than this version knows ({SCHEMA_VERSION})")
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                migration(self._db)
                self._db.execute(f"PRAGMA user_version={number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def claim_action(self, key: str, actor: str, *, now: float, stale_after: float) -> Claim:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT actor, claimed_at, done_at FROM action_claims WHERE key = ?",
                                   (key,)).fetchone()
            if row is not None:
                holder, claimed_at, done_at = row
                if done_at is not None:
                    self._db.execute("COMMIT")
                    return Claim(ClaimStatus.DONE, holder, done_at)
                if claimed_at > now - stale_after:
                    self._db.execute("COMMIT")
                    return Claim(ClaimStatus.IN_PROGRESS, holder, claimed_at)
            self._db.execute("INSERT OR REPLACE INTO action_claims (key, actor, claimed_at, done_at) "
                             "VALUES (?, ?, ?, NULL)", (key, actor, now))
            self._db.execute("COMMIT")
            return Claim(ClaimStatus.CLAIMED, actor, now)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def finish_action(self, key: str, *, done: bool, now: float) -> None:
        if done:
            self._db.execute("UPDATE action_claims SET done_at = ? WHERE key = ?", (now, key))
        else:
            self._db.execute("DELETE FROM action_claims WHERE key = ? AND done_at IS NULL", (key,))

    def add_audit(self, record: AuditRecord) -> None:
        self._db.execute(
            "INSERT INTO audit (at, actor, action, channel, message_ts, target, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (record.at, record.actor, record.action, record.channel, record.message_ts, record.target,
             record.outcome, record.detail),
        )

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        rows = self._db.execute("SELECT at, actor, action, channel, message_ts, target, outcome, detail "
                                "FROM audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [AuditRecord(*row) for row in rows]

    def remember_app_token(self, token_id: str, sealed_token: str, *, now: float) -> bool:
        cursor = self._db.execute("INSERT OR IGNORE INTO app_tokens (token_id, token, added_at) VALUES (?, ?, ?)",
                                  (token_id, sealed_token, now))
        return cursor.rowcount == 1

    def app_tokens(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT token FROM app_tokens ORDER BY added_at")]

    def forget_app_token(self, token_id: str) -> bool:
        return self._db.execute("DELETE FROM app_tokens WHERE token_id = ?", (token_id,)).rowcount == 1

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._db.in_transaction:  # nested: the outer transaction decides
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def enqueue(self, *, lane: str, kind: str, body: dict[str, Any], token: str, now: float) -> int:
        cursor = self._db.execute("INSERT INTO outbox (lane, kind, body, token, created_at) VALUES (?, ?, ?, ?, ?)",
                                  (lane, kind, json.dumps(body, separators=(",", ":")), token, now))
        return int(cursor.lastrowid or 0)

    def pending(self) -> Iterator[OutboxItem]:
        rows = self._db.execute("SELECT id, lane, kind, body, token, created_at, attempts FROM outbox "
                                "WHERE state = 'pending' ORDER BY id").fetchall()
        for item_id, lane, kind, body, token, created_at, attempts in rows:
            yield OutboxItem(item_id, lane, kind, json.loads(body), token, created_at, attempts)

    def record_attempt(self, item_id: int) -> None:
        self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    def finish(self, item_id: int, *, state: str, error: str = "", now: float) -> None:
        self._db.execute("UPDATE outbox SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                         (state, error, now, item_id))

    def outbox_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())

    def failed_items(self, limit: int = 100) -> list[tuple[int, str, str]]:
        return self._db.execute("SELECT id, lane, error FROM outbox WHERE state = 'failed' ORDER BY id DESC "
                                "LIMIT ?", (limit,)).fetchall()

    _CARD_COLUMNS = ("target, alert_key, channel_id, ts, status, notified, token, actor, actor_name, acted_at, "
                     "resolved_at, updated_at")

    @staticmethod
    def _card(row: tuple[Any, ...] | None) -> CardRecord | None:
        return CardRecord(*row) if row is not None else None

    def card(self, target: str, alert_key: str) -> CardRecord | None:
        return self._card(self._db.execute(f"SELECT {self._CARD_COLUMNS} FROM cards WHERE target = ? AND "
                                           "alert_key = ?", (target, alert_key)).fetchone())

    def card_by_message(self, channel_id: str, ts: str) -> CardRecord | None:
        return self._card(self._db.execute(f"SELECT {self._CARD_COLUMNS} FROM cards WHERE channel_id = ? AND "
                                           "ts = ?", (channel_id, ts)).fetchone())

    def save_card(self, record: CardRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO cards ({self._CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.target, record.alert_key, record.channel_id, record.ts, record.status, record.notified,
             record.token, record.actor, record.actor_name, record.acted_at, record.resolved_at, record.updated_at),
        )

    def close(self) -> None:
        self._db.close()
