"""The store: what the plugin remembers (outbox, alert cards, clicks, audit trail, app tokens), behind one interface.

``open_store`` picks the backend: the embedded SQLite store in ``BOT_DATA_DIR`` (one process), or Redis when
``BOT_STORE_URL`` is set (any number of replicas sharing it).
"""

from pathlib import Path
from urllib.parse import urlsplit

from bot.ports.store import (
    AuditRecord,
    CardQuery,
    CardRecord,
    Claim,
    ClaimStatus,
    EventKind,
    FoundCard,
    ItemKind,
    ItemState,
    OutboxEntry,
    OutboxEvent,
    OutboxItem,
    SendGrant,
    SendOutcome,
    Store,
    StoreError,
    strongest_card,
)
from bot.store.lock import DataDirInUse
from bot.store.redis import SCHEMES as REDIS_SCHEMES
from bot.store.redis import RedisStore
from bot.store.sqlite import CorruptStore, SqliteStore


async def open_store(url: str | None, data_dir: Path, lock_wait: float) -> Store:
    """The embedded store in ``data_dir`` when ``url`` (``BOT_STORE_URL``) is unset or empty, else the Redis it names
    (``redis://`` or ``rediss://``). ``StoreError`` when Redis does not answer, ``ValueError`` for another kind of
    URL; neither message shows the URL (it may hold a password)."""
    if url is None or not url.strip():
        return SqliteStore(data_dir, lock_wait=lock_wait)
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in REDIS_SCHEMES:
        raise ValueError(
            "BOT_STORE_URL must be a Redis URL, redis://[user:password@]host:port/db or rediss://… (its value is not "
            "shown: it may hold a password); leave it unset for the embedded store in BOT_DATA_DIR"
        )
    return await RedisStore.connect(url.strip())


__all__ = [
    "AuditRecord",
    "CardQuery",
    "CardRecord",
    "Claim",
    "ClaimStatus",
    "CorruptStore",
    "DataDirInUse",
    "EventKind",
    "FoundCard",
    "ItemKind",
    "ItemState",
    "OutboxEntry",
    "OutboxEvent",
    "OutboxItem",
    "RedisStore",
    "SendGrant",
    "SendOutcome",
    "SqliteStore",
    "Store",
    "StoreError",
    "open_store",
    "strongest_card",
]
