"""The store: what the plugin remembers (clicks in flight, audit trail, app tokens), behind one interface."""

from bot.store.base import AuditRecord, Claim, ClaimStatus, Store
from bot.store.sqlite import SqliteStore

__all__ = ["AuditRecord", "Claim", "ClaimStatus", "SqliteStore", "Store"]
