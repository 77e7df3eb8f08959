"""What the operator commands share: the settings, the store (opened beside a running plugin), times for people,
and output a terminal only shows: what the store or Slack holds (an alert's title, a channel name) may carry
escape sequences or line breaks, printed escaped (``bot.core.text.escape_controls``: ``\\x1b``, ``\\n``)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from bot.core.text import CONTROL_CHARACTERS, escape_controls
from bot.settings import Settings
from bot.store import SqliteStore, Store, open_store
from bot.store.sqlite import DB_FILE

DEFAULT_LIMIT = 20
# Unreadable records named on the line that reports them; the rest are counted (the line stays readable).
MAX_NAMED_UNREADABLE = 10
# The exit statuses every command uses.
OK, FAILED, USAGE = 0, 1, 2


class CommandError(Exception):
    """Something that stops a command before it can do its work (exit 2); the message names no secret."""


def load_settings() -> Settings:
    """The settings from the environment, as ``serve`` reads them; ``CommandError`` naming the bad variables."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors(include_input=False))
        raise CommandError(f"invalid settings: {fields}") from None


def sqlite_file(settings: Settings) -> Path:
    return settings.data_dir / DB_FILE


async def open_ops_store(settings: Settings) -> Store:
    """The plugin's store, opened beside a running plugin: Redis when ``BOT_STORE_URL`` names it, else the SQLite
    file in ``BOT_DATA_DIR`` without taking the directory's lock (``owner=False``). A data directory without a store
    is an error, not a new empty store."""
    from bot.ports.schema import NewerLayout
    from bot.store import CorruptStore, StoreError

    url = settings.store_url.get_secret_value() if settings.store_url is not None else None
    try:
        if url and url.strip():
            return await open_store(url, settings.data_dir, 0)
        path = sqlite_file(settings)
        if not path.is_file():
            raise CommandError(
                f"no store at {path}: run this where the plugin's BOT_DATA_DIR is, or set BOT_DATA_DIR (or "
                "BOT_STORE_URL for a shared store)"
            )
        return SqliteStore(settings.data_dir, owner=False)
    except (StoreError, CorruptStore, NewerLayout, ValueError, OSError) as exc:
        raise CommandError(f"cannot open the store: {exc}") from None


def describe_store(store: Store) -> str:
    return store.describe()


def age(seconds: float) -> str:
    """A duration for people: ``45s``, ``3m 4s``, ``2h 5m``, ``3d 4h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def utc(epoch: float) -> str:
    """A time for people (ISO 8601, UTC); one the platform cannot show as a date (a record written by hand) as its
    number."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return repr(epoch)


def report_unreadable(unreadable: list[str]) -> None:
    """Say on stderr which records a listing left out because they could not be read (``Store.outbox_entries``,
    ``Store.audit``): written by hand or by another program, they are named so the operator can look at them."""
    if unreadable:
        shown = ", ".join(unreadable[:MAX_NAMED_UNREADABLE])
        more = f" and {len(unreadable) - MAX_NAMED_UNREADABLE} more" if len(unreadable) > MAX_NAMED_UNREADABLE else ""
        records = "record" if len(unreadable) == 1 else "records"
        print(
            escape_controls(f"{len(unreadable)} {records} could not be read (left out): {shown}{more}"), file=sys.stderr
        )


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    return char if char == "\n" else f"\\u{ord(char):04x}"  # a raw line break is the indentation's own


def json_text(value: Any) -> str:
    """``value`` as indented JSON, characters as they are (``ensure_ascii=False``) but for control characters: JSON
    escapes C0 ones itself and would write the others raw (DEL, C1 controls, bidirectional overrides), which become
    ``\\uXXXX`` too: still valid JSON, decoding to the same text, and nothing a terminal acts on."""
    return CONTROL_CHARACTERS.sub(_json_escape, json.dumps(value, indent=2, ensure_ascii=False))


def fail(message: str) -> int:
    print(escape_controls(message), file=sys.stderr)
    return USAGE


def table(rows: list[list[str]]) -> str:
    """Rows as aligned columns (the first row is the header), control characters in cells escaped."""
    rows = [[escape_controls(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
