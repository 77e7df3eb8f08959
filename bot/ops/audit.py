"""``slack-chatops audit``: recent clicks on the plugin's buttons (who, what, when, where, with what outcome)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from bot.ops.common import (
    OK,
    CommandError,
    fail,
    json_text,
    load_settings,
    open_ops_store,
    report_unreadable,
    table,
    utc,
)
from bot.redact import redact
from bot.store import AuditRecord


def _record(record: AuditRecord) -> dict[str, object]:
    fields = dataclasses.asdict(record)
    fields["detail"] = redact(record.detail)
    fields["time"] = utc(record.at)
    return fields


async def _run(limit: int, as_json: bool) -> int:
    store = await open_ops_store(load_settings())
    unreadable: list[str] = []
    try:
        records = [_record(r) for r in await store.audit(limit, unreadable=unreadable)]
    finally:
        await store.close()
    report_unreadable(unreadable)  # on stderr: what follows on stdout is the records that could be read
    if as_json:
        print(json_text(records))
        return OK
    if not records:
        print("no clicks recorded")
        return OK
    rows = [["time (UTC)", "who", "action", "channel", "alert", "outcome", "detail"]]
    rows += [
        [
            str(r["time"]),
            str(r["actor"]),
            str(r["action"]),
            str(r["channel"]),
            str(r["target"]),
            str(r["outcome"]),
            str(r["detail"]),
        ]
        for r in records
    ]
    print(table(rows))
    return OK


def main(args: argparse.Namespace) -> int:
    if args.limit < 1:
        return fail("--limit must be at least 1")
    try:
        return asyncio.run(_run(args.limit, args.json))
    except CommandError as exc:
        return fail(str(exc))
    except Exception as exc:  # the store failed (StoreError) or another surprise: one line, no traceback
        return fail(f"the audit trail could not be read: {redact(str(exc)) or type(exc).__name__}")
