"""``slack-chatops outbox``: what is still queued and what failed (with the reason and age); retry or drop an item.

A retried item is queued again in the store, keeping its place in its lane's order. The running plugin takes it in
within a second or two, on Redis and on the embedded store alike: it looks for stored lanes every second
(``bot.delivery.outbox.TAKEOVER_SECONDS``), and a lane it delivers reads the store as often. Dropping a pending
item keeps it from going out after a restart; a running plugin that already holds it in memory may still deliver
it. A failed item keeps at most 256 KiB of its notification (``MAX_FAILED_ITEM_BYTES``): one cut to fit says so in
its reason, and a retry posts what was kept.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bot.core.compact import TRIMMED_KEY
from bot.core.lifecycle import alert_key
from bot.core.models import Message
from bot.core.text import echo
from bot.delivery.outbox import lane_label
from bot.ops.common import (
    FAILED,
    OK,
    USAGE,
    CommandError,
    age,
    fail,
    json_text,
    load_settings,
    open_ops_store,
    report_unreadable,
    table,
    utc,
)
from bot.redact import redact
from bot.store import ItemKind, ItemState, OutboxEntry, Store

TITLE_CHARS = 60  # enough to recognise an alert; the card has the rest


def _about(entry: OutboxEntry) -> tuple[str, str]:
    """The alert an item is about and its title (a thread line: its text), redacted and short."""
    body = entry.item.body
    if entry.item.kind is ItemKind.NOTE:
        return "", echo(redact(str(body.get("text", ""))), TITLE_CHARS)
    message = body.get("message")
    try:
        parsed = Message.from_struct(message if isinstance(message, dict) else {})
    except Exception:  # a body this version cannot read: still listed, by id
        return "", ""
    return alert_key(parsed) or "", echo(redact(parsed.title), TITLE_CHARS)


def _record(entry: OutboxEntry, now: float) -> dict[str, Any]:
    alert, title = _about(entry)
    item = entry.item
    record: dict[str, Any] = {
        "id": item.id,
        "state": entry.state.value,
        "kind": item.kind.value,
        "channel": str(item.body.get("target") or lane_label(item.lane)),
        "alert": alert,
        "title": title,
        "accepted_at": utc(item.created_at),
        "age_seconds": round(max(0.0, now - item.created_at), 1),
        "attempts": item.attempts,
    }
    if entry.state is ItemState.FAILED:
        record["reason"] = redact(entry.error)
        record["failed_at"] = utc(entry.finished_at) if entry.finished_at is not None else ""
        trimmed = item.body.get(TRIMMED_KEY)
        if isinstance(trimmed, int) and not isinstance(trimmed, bool):  # kept cut to its bound: a retry posts less
            record["trimmed_from_bytes"] = trimmed
    return record


def _reason(record: dict[str, Any]) -> str:
    """A failed item's reason, and whether it was kept cut (a retry posts its card with less text)."""
    trimmed = record.get("trimmed_from_bytes")
    if trimmed is None:
        return str(record["reason"])
    return f"{record['reason']} (kept cut from {trimmed / 1_000_000:.1f} MB)"


def _print_list(pending: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
    print(f"pending: {len(pending)}")
    if pending:
        rows = [["id", "age", "attempts", "channel", "alert", "title"]]
        rows += [
            [str(r["id"]), age(r["age_seconds"]), str(r["attempts"]), r["channel"], r["alert"], r["title"]]
            for r in pending
        ]
        print(table(rows))
    print(f"failed: {len(failed)}")
    if failed:
        rows = [["id", "age", "failed at", "channel", "alert", "reason"]]
        rows += [
            [str(r["id"]), age(r["age_seconds"]), r["failed_at"], r["channel"], r["alert"], _reason(r)] for r in failed
        ]
        print(table(rows))
        print("retry one with `slack-chatops outbox retry ID`, or forget it with `slack-chatops outbox drop ID`")


async def _list(store: Store, limit: int, as_json: bool) -> int:
    now = time.time()
    unreadable: list[str] = []
    pending = [_record(e, now) for e in await store.outbox_entries(ItemState.PENDING, limit, unreadable=unreadable)]
    failed = [_record(e, now) for e in await store.outbox_entries(ItemState.FAILED, limit, unreadable=unreadable)]
    report_unreadable(unreadable)  # on stderr: what follows on stdout is the items that could be read
    if as_json:
        print(json_text({"pending": pending, "failed": failed}))
    else:
        _print_list(pending, failed)
    return OK


async def _retry(store: Store, item: int) -> int:
    if not await store.retry_item(item, now=time.time()):
        print(f"no failed item {item} (see `slack-chatops outbox`)")
        return FAILED
    print(f"item {item} is queued again; the running plugin delivers it within a second or two")
    return OK


async def _drop(store: Store, item: int) -> int:
    if not await store.drop_item(item):
        print(f"no item {item} in the outbox (see `slack-chatops outbox`)")
        return FAILED
    print(f"item {item} dropped from the outbox")
    return OK


async def _run(args: argparse.Namespace) -> int:
    store = await open_ops_store(load_settings())
    try:
        if args.action == "retry":
            return await _retry(store, args.item)
        if args.action == "drop":
            return await _drop(store, args.item)
        return await _list(store, args.limit, args.json)
    finally:
        await store.close()


def main(args: argparse.Namespace) -> int:
    if args.action in ("retry", "drop") and args.item is None:
        return fail(f"usage: slack-chatops outbox {args.action} ID (the id from `slack-chatops outbox`)")
    if args.action == "list" and args.item is not None:
        return fail("usage: slack-chatops outbox [list | retry ID | drop ID]")
    if args.limit < 1:
        return fail("--limit must be at least 1")
    try:
        return asyncio.run(_run(args))
    except CommandError as exc:
        return fail(str(exc))
    except Exception as exc:  # the store failed mid-way (StoreError) or another surprise: one line, no traceback
        return fail(f"the outbox could not be read or changed: {redact(str(exc)) or type(exc).__name__}")


__all__ = ["USAGE", "main"]
