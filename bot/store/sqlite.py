"""The embedded store: one SQLite file (WAL) under ``BOT_DATA_DIR``, created on first start, schema-versioned.

Migrations are applied in order and recorded in ``PRAGMA user_version``; each runs in one transaction.
All calls run on the event loop's thread: every statement here is a quick indexed read or write.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from bot.store.base import AuditRecord, Claim, ClaimStatus

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


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]
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

    def remember_app_token(self, token: str, *, now: float) -> bool:
        token_id = hashlib.sha256(token.encode()).hexdigest()
        cursor = self._db.execute("INSERT OR IGNORE INTO app_tokens (token_id, token, added_at) VALUES (?, ?, ?)",
                                  (token_id, token, now))
        return cursor.rowcount == 1

    def app_tokens(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT token FROM app_tokens ORDER BY added_at")]

    def close(self) -> None:
        self._db.close()
