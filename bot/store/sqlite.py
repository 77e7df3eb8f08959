"""The embedded store: one SQLite file (WAL) under ``BOT_DATA_DIR``, created on first start, schema-versioned.

Migrations are applied in order and recorded in ``PRAGMA user_version``; each runs in one transaction.
All calls run on the event loop's thread: every statement here is a quick indexed read or write, and a database
locked by another program holds the loop for at most ``BUSY_TIMEOUT_MS`` before the call fails with
``StoreError`` (the caller retries later, asynchronously). One process owns the directory (``DataDirLock``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from bot.core.cards import CardStatus
from bot.core.compact import failed_body
from bot.core.models import is_channel_id
from bot.ports.schema import check_store
from bot.ports.store import (
    AUDIT_RETENTION_SECONDS,
    CLAIM_RETENTION_SECONDS,
    FAILED_BYTES_KEPT_AFTER_DROP,
    FAILED_ITEM_RETENTION_SECONDS,
    MAX_AUDIT_RECORDS,
    MAX_FAILED_BYTES,
    MAX_FAILED_ITEM_BYTES,
    MAX_FAILED_ITEMS,
    OPEN_CARD_RETENTION_SECONDS,
    RESOLVED_CARD_RETENTION_SECONDS,
    AuditRecord,
    CardQuery,
    CardRecord,
    Claim,
    ClaimStatus,
    FoundCard,
    ItemKind,
    ItemState,
    OutboxEntry,
    OutboxEvent,
    OutboxItem,
    SendGrant,
    SendOutcome,
    StoreError,
    readable_audit,
    readable_entry,
    strongest_card,
)
from bot.store.lock import DataDirLock
from bot.store.repeats import RepeatFilter

DB_FILE = "slack-chatops.sqlite3"
# The longest a database locked by another program may hold the event loop; the call then fails (and is retried
# asynchronously) rather than stalling every request for SQLite's usual seconds.
BUSY_TIMEOUT_MS = 200
# How long a starting plugin waits for the previous one on the same directory to finish draining (SIGTERM drain
# is 20 s by default); BOT_LOCK_WAIT sets it.
LOCK_WAIT_SECONDS = 30.0
# A Slack channel ID (public, private, DM), as opposed to a channel name.
LEGACY_BOT = ""  # cards kept before schema v3 did not record their bot

# What SQLite says of a file that is not a database of its own, or one whose pages it cannot make sense of.
CORRUPT_ERRORS = frozenset({sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT})

P = ParamSpec("P")
R = TypeVar("R")


class CorruptStore(Exception):
    """The database file in ``BOT_DATA_DIR`` is not a SQLite database, or a damaged one (written over, cut short).
    Not retryable, and nothing a permission fixes: the operator moves the file aside or restores it."""

    def __init__(self, path: Path, cause: sqlite3.DatabaseError) -> None:
        self.path = path
        super().__init__(
            f"{path} is not a SQLite database (corrupt? SQLite says: {cause}) — move it aside with its -wal and -shm "
            "files, or restore it from a backup, and start again: a new, empty store is made in its place (what the "
            "moved file held, queued notifications and cards, is not delivered from it)"
        )


def _translated(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """SQLite's operational failures leave as ``StoreError`` (retryable, no data in the message)."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"the embedded store failed ({type(exc).__name__}: {exc})") from None

    return wrapper


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
        """,
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


def _v3(db: sqlite3.Connection) -> None:
    """Cards belong to a bot and a channel ID and are found by any name of their alert; delivered outbox rows go;
    indexes for pruning by age. Cards kept before this version are kept, with no bot recorded."""
    _run(
        db,
        """
        CREATE TABLE alert_cards (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            bot TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            target TEXT NOT NULL,
            status TEXT NOT NULL,
            notified INTEGER NOT NULL,
            token TEXT NOT NULL,
            actor TEXT,
            actor_name TEXT,
            acted_at REAL,
            resolved_at REAL,
            updated_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX alert_cards_by_message ON alert_cards (channel_id, ts);
        CREATE INDEX alert_cards_by_age ON alert_cards (updated_at);
        CREATE TABLE alert_card_keys (
            bot TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            alert_key TEXT NOT NULL,
            card_id INTEGER NOT NULL,
            PRIMARY KEY (bot, channel_id, alert_key)
        );
        CREATE INDEX alert_card_keys_by_card ON alert_card_keys (card_id);
        CREATE TABLE channel_names (
            bot TEXT NOT NULL,
            name TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            PRIMARY KEY (bot, name)
        );
        INSERT OR IGNORE INTO alert_cards (bot, channel_id, ts, target, status, notified, token, actor, actor_name,
                                           acted_at, resolved_at, updated_at)
            SELECT '', channel_id, ts, target, status, notified, token, actor, actor_name, acted_at, resolved_at,
                   updated_at FROM cards;
        INSERT OR IGNORE INTO alert_card_keys (bot, channel_id, alert_key, card_id)
            SELECT '', c.channel_id, old.alert_key, c.id FROM cards old
            JOIN alert_cards c ON c.channel_id = old.channel_id AND c.ts = old.ts;
        INSERT OR IGNORE INTO channel_names (bot, name, channel_id)
            SELECT '', target, channel_id FROM cards WHERE target != channel_id;
        DROP TABLE cards;
        DELETE FROM outbox WHERE state = 'done';
        CREATE INDEX outbox_failed_by_age ON outbox (finished_at) WHERE state = 'failed';
        CREATE INDEX action_claims_by_age ON action_claims (claimed_at);
        CREATE INDEX audit_by_age ON audit (at)
        """,
    )


def _v4(db: sqlite3.Connection) -> None:
    """Secrets made once and kept (the store's side of ``Store.shared_secret``)."""
    _run(db, "CREATE TABLE shared_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore:
    shared = False

    def __init__(
        self,
        data_dir: Path,
        *,
        lock_wait: float = LOCK_WAIT_SECONDS,
        owner: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating) the store in ``data_dir``. The ``owner`` delivers from it and takes the directory's lock;
        operator commands and tests open it beside a running owner with ``owner=False``. ``clock`` (epoch seconds)
        times click claims."""
        self._clock = clock
        # What failed items keep, in bytes, as this process last counted and then added to: never below the truth
        # (others, the operator's commands, only ever take failed items away); None until first counted.
        self._failed_bytes: int | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.path = data_dir / DB_FILE
        self._lock = DataDirLock(data_dir)
        self._seen = RepeatFilter()  # in memory: this process alone serves the data directory
        if owner:
            self._lock.acquire(lock_wait)
        try:
            self._db = self._open()
        except BaseException:
            with contextlib.suppress(AttributeError):  # set as soon as the file opened
                self._db.close()
            self._lock.release()
            raise

    def _open(self) -> sqlite3.Connection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if new:
            os.chmod(self.path, 0o600)  # it holds app tokens
        self._db = db
        try:
            db.execute("PRAGMA journal_mode=WAL")  # the first read of the file: a corrupt one fails here
            db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash; fsync at checkpoints
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._failed_bytes = None  # a fresh file (reopen): counted again when needed
            self.migrate()
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorcode not in CORRUPT_ERRORS:
                raise
            db.close()
            raise CorruptStore(self.path, exc) from None
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)
        return db

    async def vanished(self) -> bool:
        """Whether the database file was deleted or replaced under the running process (what it held is gone)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._identity

    async def reopen(self) -> None:
        """Start a fresh database file after ``vanished``; the caller writes back what it still holds in memory."""
        self._db.close()
        if self._lock.held:
            self._lock.release()
            self._lock.acquire(0)
        self._db = self._open()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        version = self.schema_version
        check_store(
            f"the embedded store {self.path}",
            version,
            SCHEMA_VERSION,
            ", or point BOT_DATA_DIR at another directory",
        )
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                migration(self._db)
                self._db.execute(f"PRAGMA user_version={number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @_translated
    async def claim_action(self, key: str, actor: str, *, stale_after: float) -> Claim:
        now = self._clock()  # the one process's clock: the only one this store has
        async with self.transaction():
            row = self._db.execute(
                "SELECT actor, claimed_at, done_at FROM action_claims WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                holder, claimed_at, done_at = row
                if done_at is not None:
                    return Claim(ClaimStatus.DONE, holder, done_at)
                if claimed_at > now - stale_after:
                    return Claim(ClaimStatus.IN_PROGRESS, holder, claimed_at)
            self._db.execute(
                "INSERT OR REPLACE INTO action_claims (key, actor, claimed_at, done_at) VALUES (?, ?, ?, NULL)",
                (key, actor, now),
            )
            return Claim(ClaimStatus.CLAIMED, actor, now)

    @_translated
    async def finish_action(self, key: str, *, done: bool) -> None:
        if done:
            self._db.execute("UPDATE action_claims SET done_at = ? WHERE key = ?", (self._clock(), key))
        else:
            self._db.execute("DELETE FROM action_claims WHERE key = ? AND done_at IS NULL", (key,))

    @_translated
    async def add_audit(self, record: AuditRecord) -> None:
        self._db.execute(
            "INSERT INTO audit (at, actor, action, channel, message_ts, target, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.at,
                record.actor,
                record.action,
                record.channel,
                record.message_ts,
                record.target,
                record.outcome,
                record.detail,
            ),
        )

    @_translated
    async def audit(self, limit: int = 100, *, unreadable: list[str] | None = None) -> list[AuditRecord]:
        rows = self._db.execute(
            "SELECT id, at, actor, action, channel, message_ts, target, outcome, detail "
            "FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        records: list[AuditRecord] = []
        for row_id, *values in rows:
            try:
                records.append(readable_audit(AuditRecord(*values)))
            except ValueError:  # written by hand or by another program: left out, named
                if unreadable is not None:
                    unreadable.append(f"audit row {row_id}")
        return records

    @_translated
    async def remember_app_token(self, token_id: str, sealed_token: str, *, now: float) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO app_tokens (token_id, token, added_at) VALUES (?, ?, ?)",
            (token_id, sealed_token, now),
        )
        return cursor.rowcount == 1

    @_translated
    async def app_tokens(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT token FROM app_tokens ORDER BY added_at")]

    @_translated
    async def forget_app_token(self, token_id: str) -> bool:
        return self._db.execute("DELETE FROM app_tokens WHERE token_id = ?", (token_id,)).rowcount == 1

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        # Every method here runs to completion without suspending, so no other task's statements can land inside
        # a transaction that spans several calls.
        if self._db.in_transaction:  # nested: the outer transaction decides
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"the embedded store failed ({type(exc).__name__}: {exc})") from None
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"the embedded store failed ({type(exc).__name__}: {exc})") from None

    @_translated
    async def enqueue(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None = None,
        window: float = 0.0,
    ) -> int:
        # Repeats are told apart in memory when dispatches arrive (seen_recently): this process alone accepts them.
        cursor = self._db.execute(
            "INSERT INTO outbox (lane, kind, body, token, created_at) VALUES (?, ?, ?, ?, ?)",
            (lane, kind.value, json.dumps(body, separators=(",", ":")), token, now),
        )
        return int(cursor.lastrowid or 0)

    async def enqueue_sending(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None = None,
        window: float = 0.0,
        owner: str,
        ttl: float,
        cards: CardQuery | None = None,
        take: bool = False,
    ) -> tuple[int, SendGrant | None]:
        # One process owns the file: every lease is its own, the check always passes (``begin_send``), and neither
        # half suspends.
        item_id = await self.enqueue(
            lane=lane, kind=kind, body=body, token=token, now=now, digest=digest, window=window
        )
        return item_id, await self.begin_send(lane, owner, item_id, ttl, cards=cards)

    @_translated
    async def pending(self, lane: str | None = None, *, after: int = 0) -> list[OutboxItem]:
        query = "SELECT id, lane, kind, body, token, created_at, attempts FROM outbox WHERE state = ? AND id > ?"
        params: tuple[str | int, ...] = (ItemState.PENDING.value, after)
        if lane is not None:
            query, params = query + " AND lane = ?", (*params, lane)
        rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [
            OutboxItem(item_id, lane, ItemKind(kind), json.loads(body), token, created_at, attempts)
            for item_id, lane, kind, body, token, created_at, attempts in rows
        ]

    @_translated
    async def record_attempt(self, item_id: int) -> None:
        self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    @_translated
    async def delivered(self, item_id: int, *, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        if card is None:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
            return
        async with self.transaction():
            await self.save_card(card, keys)
            self._db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    @_translated
    async def failed(self, item_id: int, *, error: str, now: float) -> None:
        async with self.transaction():
            row = self._db.execute("SELECT state, body FROM outbox WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                return
            if row[0] == ItemState.FAILED.value:  # failed again: a new reason, nothing more kept
                self._db.execute("UPDATE outbox SET error = ?, finished_at = ? WHERE id = ?", (error, now, item_id))
                return
            kept = failed_body(row[1], MAX_FAILED_ITEM_BYTES)
            self._db.execute(
                "UPDATE outbox SET state = ?, error = ?, finished_at = ?, body = ? WHERE id = ?",
                (ItemState.FAILED.value, error, now, kept.decode(), item_id),
            )
            total = self._failed_total() if self._failed_bytes is None else self._failed_bytes + len(kept)
            self._failed_bytes = total
            if total > MAX_FAILED_BYTES:
                self._fit_failed(int(MAX_FAILED_BYTES * FAILED_BYTES_KEPT_AFTER_DROP))

    def _failed_total(self) -> int:
        """The bytes failed items keep, counted (their bodies as stored, UTF-8)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(length(CAST(body AS BLOB))), 0) FROM outbox WHERE state = ?",
            (ItemState.FAILED.value,),
        ).fetchone()
        return int(row[0])

    def _fit_failed(self, most: int) -> int:
        """Drop the oldest failed items until the rest keep at most ``most`` bytes (counted first: the running
        total may be high); how many went."""
        total = self._failed_total()
        doomed: list[int] = []
        if total > most:
            for item_id, size in self._db.execute(
                "SELECT id, length(CAST(body AS BLOB)) FROM outbox WHERE state = ? ORDER BY id",
                (ItemState.FAILED.value,),
            ):
                if total <= most:
                    break
                doomed.append(int(item_id))
                total -= int(size)
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(item_id,) for item_id in doomed])
        self._failed_bytes = total
        return len(doomed)

    @_translated
    async def outbox_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())

    @_translated
    async def failed_items(self, limit: int = 100) -> list[tuple[int, str, str]]:
        return self._db.execute(
            "SELECT id, lane, error FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?",
            (ItemState.FAILED.value, limit),
        ).fetchall()

    @_translated
    async def outbox_entries(
        self, state: ItemState, limit: int = 100, *, unreadable: list[str] | None = None
    ) -> list[OutboxEntry]:
        order = "ASC" if state is ItemState.PENDING else "DESC"
        rows = self._db.execute(
            "SELECT id, lane, kind, body, token, created_at, attempts, error, finished_at FROM outbox "
            f"WHERE state = ? ORDER BY id {order} LIMIT ?",
            (state.value, max(0, limit)),
        ).fetchall()
        entries: list[OutboxEntry] = []
        for item_id, lane, kind, body, token, created_at, attempts, error, finished_at in rows:
            try:
                item = OutboxItem(item_id, lane, ItemKind(kind), json.loads(body), token, created_at, attempts)
                entries.append(readable_entry(OutboxEntry(item, state, error or "", finished_at)))
            except (ValueError, TypeError):  # not JSON, another kind, a number that is not: left out, named
                if unreadable is not None:
                    unreadable.append(f"outbox item {item_id}")
        return entries

    @_translated
    async def retry_item(self, item_id: int, *, now: float) -> bool:
        cursor = self._db.execute(
            "UPDATE outbox SET state = ?, error = '', finished_at = NULL, attempts = 0, created_at = ? "
            "WHERE id = ? AND state = ?",
            (ItemState.PENDING.value, now, item_id, ItemState.FAILED.value),
        )
        return cursor.rowcount == 1

    @_translated
    async def drop_item(self, item_id: int) -> bool:
        return self._db.execute("DELETE FROM outbox WHERE id = ?", (item_id,)).rowcount == 1

    _CARD_COLUMNS = (
        "c.bot, c.channel_id, c.ts, c.target, c.status, c.notified, c.token, c.actor, c.actor_name, "
        "c.acted_at, c.resolved_at, c.updated_at, c.id"
    )

    @staticmethod
    def _card(row: tuple[Any, ...] | None) -> CardRecord | None:
        if row is None:
            return None
        bot, channel_id, ts, target, status, *rest = row
        return CardRecord(bot, channel_id, ts, target, CardStatus(status), *rest)

    def _channel_id(self, bot: str, target: str) -> str | None:
        if is_channel_id(target):
            return target
        row = self._db.execute(
            "SELECT channel_id FROM channel_names WHERE bot IN (?, ?) AND name = ? ORDER BY bot DESC LIMIT 1",
            (bot, LEGACY_BOT, target),
        ).fetchone()
        return str(row[0]) if row else None

    @_translated
    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        return strongest_card(keys, self._found(bot, target, keys))

    def _found(self, bot: str, target: str, keys: Sequence[str]) -> list[FoundCard]:
        """The cards ``keys`` point to in ``bot``'s channel ``target``, each with its names (none needed at position
        0: the strongest name wins whatever they are). Synchronous: one process owns the file."""
        channel_id = self._channel_id(bot, target) if keys else None
        if channel_id is None:
            return []
        found = []
        for position, key in enumerate(keys):
            card = self._card(
                self._db.execute(
                    f"SELECT {self._CARD_COLUMNS} FROM alert_card_keys k JOIN alert_cards c ON c.id = k.card_id "
                    "WHERE k.bot IN (?, ?) AND k.channel_id = ? AND k.alert_key = ? ORDER BY k.bot DESC LIMIT 1",
                    (bot, LEGACY_BOT, channel_id, key),
                ).fetchone()
            )
            if card is None:
                continue
            if position == 0:  # nothing can contradict the strongest name: no need to look further
                return [FoundCard(0, card, ())]
            names = self._db.execute("SELECT alert_key FROM alert_card_keys WHERE card_id = ?", (card.id,))
            found.append(FoundCard(position, card, tuple(k for (k,) in names)))
        return found

    @_translated
    async def card_by_message(self, channel_id: str, ts: str) -> CardRecord | None:
        return self._card(
            self._db.execute(
                f"SELECT {self._CARD_COLUMNS} FROM alert_cards c WHERE c.channel_id = ? AND c.ts = ?", (channel_id, ts)
            ).fetchone()
        )

    @_translated
    async def save_card(self, record: CardRecord, keys: Sequence[str] = ()) -> None:
        values = (
            record.bot,
            record.channel_id,
            record.ts,
            record.target,
            record.status.value,
            record.notified,
            record.token,
            record.actor,
            record.actor_name,
            record.acted_at,
            record.resolved_at,
            record.updated_at,
        )
        async with self.transaction():
            if record.id:
                self._db.execute(
                    "UPDATE alert_cards SET bot = ?, channel_id = ?, ts = ?, target = ?, status = ?, "
                    "notified = ?, token = ?, actor = ?, actor_name = ?, acted_at = ?, resolved_at = ?, "
                    "updated_at = ? WHERE id = ?",
                    (*values, record.id),
                )
            else:
                cursor = self._db.execute(
                    "INSERT INTO alert_cards (bot, channel_id, ts, target, status, notified, token, actor, "
                    "actor_name, acted_at, resolved_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                record.id = int(cursor.lastrowid or 0)
            self._db.executemany(
                "INSERT OR REPLACE INTO alert_card_keys (bot, channel_id, alert_key, card_id) VALUES (?, ?, ?, ?)",
                [(record.bot, record.channel_id, key, record.id) for key in keys],
            )
            if keys and record.target != record.channel_id:
                self._db.execute(
                    "INSERT OR REPLACE INTO channel_names (bot, name, channel_id) VALUES (?, ?, ?)",
                    (record.bot, record.target, record.channel_id),
                )

    @_translated
    async def prune(self, now: float) -> int:
        removed = 0
        async with self.transaction():
            for statement, params in (
                (
                    "DELETE FROM outbox WHERE state = ? AND finished_at < ?",
                    (ItemState.FAILED.value, now - FAILED_ITEM_RETENTION_SECONDS),
                ),
                (
                    "DELETE FROM outbox WHERE state = ? AND id < (SELECT id FROM outbox WHERE state = ? "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (ItemState.FAILED.value, ItemState.FAILED.value, MAX_FAILED_ITEMS - 1),
                ),
                ("DELETE FROM action_claims WHERE claimed_at < ?", (now - CLAIM_RETENTION_SECONDS,)),
                ("DELETE FROM audit WHERE at < ?", (now - AUDIT_RETENTION_SECONDS,)),
                (
                    "DELETE FROM audit WHERE id < (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (MAX_AUDIT_RECORDS - 1,),
                ),
                (
                    "DELETE FROM alert_card_keys WHERE card_id IN (SELECT id FROM alert_cards WHERE updated_at < ? OR "
                    "(status = ? AND updated_at < ?))",
                    (
                        now - OPEN_CARD_RETENTION_SECONDS,
                        CardStatus.RESOLVED.value,
                        now - RESOLVED_CARD_RETENTION_SECONDS,
                    ),
                ),
                (
                    "DELETE FROM alert_cards WHERE updated_at < ? OR (status = ? AND updated_at < ?)",
                    (
                        now - OPEN_CARD_RETENTION_SECONDS,
                        CardStatus.RESOLVED.value,
                        now - RESOLVED_CARD_RETENTION_SECONDS,
                    ),
                ),
                (
                    "DELETE FROM channel_names WHERE NOT EXISTS (SELECT 1 FROM alert_cards c WHERE "
                    "c.channel_id = channel_names.channel_id)",
                    (),
                ),
            ):
                removed += self._db.execute(statement, params).rowcount
            removed += self._fit_failed(MAX_FAILED_BYTES)
        return removed

    @_translated
    async def pending_ids(self, lane: str) -> list[int]:
        rows = self._db.execute(
            "SELECT id FROM outbox WHERE state = ? AND lane = ? ORDER BY id", (ItemState.PENDING.value, lane)
        )
        return [int(row[0]) for row in rows]

    @_translated
    async def item_state(self, item_id: int) -> tuple[ItemState, str] | None:
        row = self._db.execute("SELECT state, error FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return (ItemState(row[0]), str(row[1])) if row else None

    @_translated
    async def pending_lanes(self) -> list[str]:
        return [
            row[0]
            for row in self._db.execute("SELECT DISTINCT lane FROM outbox WHERE state = ?", (ItemState.PENDING.value,))
        ]

    async def seen_recently(self, digest: str, window: float) -> bool:
        return self._seen.is_repeat(digest, window)

    async def forget_seen(self, digest: str) -> None:
        self._seen.forget(digest)

    @_translated
    async def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        self._db.execute("INSERT OR IGNORE INTO shared_secrets (name, value) VALUES (?, ?)", (name, make()))
        return str(self._db.execute("SELECT value FROM shared_secrets WHERE name = ?", (name,)).fetchone()[0])

    # Leases: the data-directory lock already makes this process the only one delivering from this store.
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        return True

    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        return True

    async def release_lease(self, name: str, owner: str, *, idle: bool = False) -> None:
        return None

    async def renew_leases(self, names: Sequence[str], owner: str, ttl: float) -> list[bool]:
        return [True for _ in names]

    @_translated
    async def begin_send(
        self, lane: str, owner: str, item_id: int, ttl: float, *, force: bool = False, cards: CardQuery | None = None
    ) -> SendGrant:
        # One process owns the file: its lease is its own, and nothing else sends; the cards as find_card sees them.
        return SendGrant(
            SendOutcome.GO, cards=() if cards is None else tuple(self._found(cards.bot, cards.target, cards.keys))
        )

    async def sync_secret(self, name: str, current: str) -> tuple[str, list[str]]:
        return current, [current]  # one process: nobody else made another

    async def events(self) -> AsyncGenerator[OutboxEvent, None]:
        return  # one process: it knows what it queued and settled
        yield  # an async generator that ends at once

    # Pacing budgets: one process owns this store and paces in memory (bot.delivery.pacer); nothing to share.
    async def take_slot(self, bucket: str, rate: float, burst: int) -> float:
        return 0.0

    async def pause_slot(self, bucket: str, seconds: float) -> None:
        return None

    def describe(self) -> str:
        return f"embedded SQLite at {self.path}"

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._db.close()
        self._lock.release()
