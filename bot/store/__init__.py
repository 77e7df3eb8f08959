"""The store: what the plugin remembers (outbox, alert cards, clicks, audit trail, app tokens), behind one interface."""

from bot.store.base import (
    AuditRecord,
    CardRecord,
    Claim,
    ClaimStatus,
    ItemKind,
    ItemState,
    OutboxItem,
    Store,
    StoreError,
)
from bot.store.lock import DataDirInUse
from bot.store.sqlite import SqliteStore

__all__ = [
    "AuditRecord",
    "CardRecord",
    "Claim",
    "ClaimStatus",
    "DataDirInUse",
    "ItemKind",
    "ItemState",
    "OutboxItem",
    "SqliteStore",
    "Store",
    "StoreError",
]
