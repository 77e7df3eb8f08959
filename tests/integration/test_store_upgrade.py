"""Layout versions across releases (``bot.ports.schema``).

An upgrade keeps what the release before layout versions wrote (``tests/data/stores/release-before-layouts.json``,
made by that release's own code: a pending dispatch, a card, a done click claim, on SQLite and on Redis): the queue
is delivered, the card found, the claim honoured. A store a newer release wrote refuses to start in one line naming
both layouts (exit 2); one outbox item of a newer layout is failed with that reason, and its lane goes on.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest

from bot.button_keys import ButtonKeys
from bot.core.cards import CardStatus
from bot.core.lifecycle import alert_keys
from bot.core.models import Message
from bot.core.sealed import fingerprint
from bot.delivery.cards import CardKeeper
from bot.delivery.outbox import Outbox, lane_key
from bot.delivery.tokens import TokenVault
from bot.ports.schema import ITEM_LAYOUT, REDIS_LAYOUT
from bot.slack.web_api import SlackSender
from bot.store import ClaimStatus, ItemKind, ItemState, RedisStore, SqliteStore, Store
from bot.store.sqlite import DB_FILE, SCHEMA_VERSION
from tests.data.stores.make_release_before_layouts import alert_message
from tests.delivery_support import Parts, delivery_parts, eventually
from tests.fakes.slack import FakeSlack
from tests.integration.test_cli import serve, the_one_line
from tests.process import ROOT
from tests.redis_server import RedisServer
from tests.samples import TOKEN
from tests.support import CHANNEL_ID, populate

FIXTURE = json.loads((Path(__file__).parents[1] / "data/stores/release-before-layouts.json").read_text())


def load_sqlite(data_dir: Path) -> None:
    """The embedded store exactly as the release before layouts left it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(data_dir / DB_FILE)) as db:
        db.executescript("\n".join(FIXTURE["sqlite"]["sql"]))
        db.execute(f"PRAGMA user_version={int(FIXTURE['sqlite']['user_version'])}")


async def load_redis(server: RedisServer, prefix: str) -> None:
    """The Redis keys exactly as the release before layouts left them, under ``prefix``."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        for entry in FIXTURE["redis"]:
            key, kind, value = f"{prefix}:{entry['key']}", entry["type"], entry["value"]
            if kind == "string":
                await client.set(key, value)
            elif kind == "hash":
                await client.hset(key, mapping=value)
            elif kind == "set":
                await client.sadd(key, *value)
            else:
                await client.zadd(key, {member: score for member, score in value})
    finally:
        await client.aclose()


@asynccontextmanager
async def parts_on(store: Store, data_dir: Path) -> AsyncIterator[Parts]:
    """``delivery_parts`` over a given store (Redis here)."""
    slack = FakeSlack()
    populate(slack)
    await slack.start()
    sender = SlackSender(slack.base_url, retry_handlers=[])
    keys = ButtonKeys([FIXTURE["button_key"]], data_dir)
    tokens = TokenVault(keys)
    cards = CardKeeper(store, keys, tokens)
    outbox = Outbox(store, sender, cards, tokens, post_rate=0, post_burst=1, update_rate=0, update_burst=1)
    try:
        yield Parts(slack, store, keys, tokens, cards, outbox)  # type: ignore[arg-type]
    finally:
        await outbox.drain(0)
        await sender.close()
        await slack.stop()


async def kept_what_it_had(parts: Parts) -> None:
    """The claim is honoured, the card found, the queued dispatch delivered (its alert's card posted)."""
    store: Store = parts.store
    claim = await store.claim_action(FIXTURE["claim_key"], "U0SOMEONE", stale_after=40)
    assert (claim.status, claim.actor) == (ClaimStatus.DONE, "U0CLICKER")
    carded = alert_keys(Message.from_struct(alert_message(FIXTURE["carded_alert"])))
    card = await store.find_card(fingerprint(TOKEN), "#alerts", carded)
    assert card is not None and (card.ts, card.status, card.actor) == (
        "1700000000.000100",
        CardStatus.ACKNOWLEDGED,
        "U0CLICKER",
    )
    assert parts.tokens.open(card.token) == TOKEN  # the button key still opens what it sealed
    [queued] = await store.pending()
    await parts.outbox.start()
    await eventually(_delivered(store, queued.id), f"outbox item {queued.id} delivered")
    [posted] = parts.slack.messages[CHANNEL_ID]  # one new card: the queued alert's
    queued_keys = alert_keys(Message.from_struct(alert_message(FIXTURE["queued_alert"])))
    new_card = await store.find_card(fingerprint(TOKEN), "#alerts", queued_keys)
    assert new_card is not None and new_card.ts == posted.ts and new_card.id != card.id


def _delivered(store: Store, item_id: int) -> Any:
    async def gone() -> bool:
        return await store.item_state(item_id) is None

    return gone


async def test_an_upgrade_keeps_the_embedded_queue_cards_and_buttons(tmp_path: Path) -> None:
    load_sqlite(tmp_path / "data")
    async with delivery_parts(tmp_path / "data", secret=FIXTURE["button_key"]) as parts:
        await kept_what_it_had(parts)


async def test_an_upgrade_keeps_the_shared_queue_cards_and_buttons(tmp_path: Path, redis_server: RedisServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    await load_redis(redis_server, prefix)
    store = await RedisStore.connect(redis_server.url, prefix=prefix)
    try:
        assert await store._redis.get(f"{prefix}:layout") == str(REDIS_LAYOUT)  # recorded as it connected
        async with parts_on(store, tmp_path) as parts:
            await kept_what_it_had(parts)
    finally:
        await store.close()


def test_an_embedded_store_of_a_newer_release_refuses_to_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    load_sqlite(data_dir)
    with closing(sqlite3.connect(data_dir / DB_FILE)) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    line = the_one_line(serve({}, data_dir))
    assert line.startswith("cannot start: BOT_DATA_DIR: ERROR_STORE_TOO_NEW: the embedded store ")
    assert f"layout {SCHEMA_VERSION + 1}, this release reads up to {SCHEMA_VERSION}; roll forward" in line


def test_a_shared_store_of_a_newer_release_refuses_to_start(tmp_path: Path, own_redis: RedisServer) -> None:
    import redis

    with closing(redis.Redis.from_url(own_redis.url)) as client:
        client.set("slack-chatops:layout", REDIS_LAYOUT + 1)
    line = the_one_line(serve({"BOT_STORE_URL": own_redis.url}, tmp_path / "data"))
    assert line.startswith("cannot start: BOT_STORE_URL: ERROR_STORE_TOO_NEW: the shared store (Redis at 127.0.0.1:")
    assert f"layout {REDIS_LAYOUT + 1}, this release reads up to {REDIS_LAYOUT}; roll forward" in line
    with closing(redis.Redis.from_url(own_redis.url)) as client:
        assert client.get("slack-chatops:layout") == str(REDIS_LAYOUT + 1).encode()  # left as the newer one wrote it


def _written(data_dir: Path) -> bytes:
    """A real embedded store's file, with the release-before-layouts content, migrated and closed (checkpointed)."""
    load_sqlite(data_dir)
    asyncio.run(SqliteStore(data_dir, lock_wait=0).close())
    return (data_dir / DB_FILE).read_bytes()


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "written over": lambda real: bytes(range(256)) * 64,
    "cut short": lambda real: real[: len(real) // 2],
    "its header cut": lambda real: real[:50],
}


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_embedded_store_is_named_as_such_at_start(tmp_path: Path, how: str) -> None:
    data_dir = tmp_path / "data"
    corrupt = CORRUPTIONS[how](_written(data_dir))
    (data_dir / DB_FILE).write_bytes(corrupt)
    line = the_one_line(serve({}, data_dir))
    assert line.startswith(
        f"cannot start: BOT_DATA_DIR: {data_dir / DB_FILE} is not a SQLite database (corrupt? SQLite says: "
    )
    assert " — move it aside with its -wal and -shm files, or restore it from a backup, and start again" in line
    assert "permission" not in line and "may write" not in line  # not the directory's fault
    assert (data_dir / DB_FILE).read_bytes() == corrupt  # left as it was, for the operator to look at


def _ops(data_dir: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    """``slack-chatops …`` in its own process; the one line it prints on stderr, exit status 2."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BOT_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    return line


@pytest.mark.parametrize("command", ["outbox", "audit"])
def test_operator_commands_on_a_corrupt_or_newer_embedded_store_say_so_in_one_line(
    tmp_path: Path, command: str
) -> None:
    corrupt, newer = tmp_path / "corrupt", tmp_path / "newer"
    (corrupt / DB_FILE).parent.mkdir()
    (corrupt / DB_FILE).write_bytes(_written(tmp_path / "real")[:4096])
    assert _ops(corrupt, command).startswith(
        f"cannot open the store: {corrupt / DB_FILE} is not a SQLite database (corrupt? SQLite says: "
    )
    load_sqlite(newer)
    with closing(sqlite3.connect(newer / DB_FILE)) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    line = _ops(newer, command)
    assert line.startswith(f"cannot open the store: ERROR_STORE_TOO_NEW: the embedded store {newer / DB_FILE} was ")
    assert f"layout {SCHEMA_VERSION + 1}, this release reads up to {SCHEMA_VERSION}; roll forward" in line
    with closing(sqlite3.connect(newer / DB_FILE)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1  # not touched


@pytest.mark.parametrize("command", ["outbox", "audit"])
def test_operator_commands_on_a_newer_shared_store_say_so_in_one_line(
    tmp_path: Path, own_redis: RedisServer, command: str
) -> None:
    import redis

    with closing(redis.Redis.from_url(own_redis.url)) as client:
        client.set("slack-chatops:layout", REDIS_LAYOUT + 1)
    line = _ops(tmp_path, command, env={"BOT_STORE_URL": own_redis.url})
    assert line.startswith("cannot open the store: ERROR_STORE_TOO_NEW: the shared store (Redis at 127.0.0.1:")
    assert f"layout {REDIS_LAYOUT + 1}, this release reads up to {REDIS_LAYOUT}; roll forward" in line


async def test_an_item_of_a_newer_layout_is_failed_with_its_reason_and_its_lane_goes_on(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path / "data") as parts:
        sealed = parts.tokens.seal(TOKEN)
        lane = lane_key(TOKEN, "#alerts")
        newer = {"v": ITEM_LAYOUT + 1, "target": "#alerts", "what": "a field this release never heard of"}
        first = await parts.store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=newer, token=sealed, now=time.time())
        body = {"target": "#alerts", "message": alert_message(7001), "notification_type": "ERROR"}
        second = await parts.store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=body, token=sealed, now=time.time())
        await parts.outbox.start()
        await eventually(_delivered(parts.store, second), "the next item of the lane delivered")
        state = await parts.store.item_state(first)
        assert state is not None and state[0] is ItemState.FAILED
        assert state[1] == (
            f"ERROR_STORE_TOO_NEW: outbox item {first} was written by a newer release: layout {ITEM_LAYOUT + 1}, this "
            f"release reads up to {ITEM_LAYOUT}; roll forward to a release that reads layout {ITEM_LAYOUT + 1}, or "
            "retry it with that release"
        )
        [entry] = await parts.store.outbox_entries(ItemState.FAILED)
        assert entry.item.body == newer  # kept whole, for that release to deliver
