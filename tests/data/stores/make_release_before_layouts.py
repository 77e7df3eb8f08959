"""Write ``release-before-layouts.json``: what the release before layout versions (commit 7eef1d0) keeps in each
store, made by that release's own code, for tests/integration/test_store_upgrade.py to read with this one.

Run it with that release's ``bot`` first on the path and a redis-server on ``REDIS_URL`` (empty, a test database):
    git archive 7eef1d0 | tar -x -C /tmp/old && PYTHONPATH=/tmp/old REDIS_URL=redis://127.0.0.1:PORT/0 \\
        .venv/bin/python tests/data/stores/make_release_before_layouts.py
It writes one pending dispatch (as ``Outbox.submit`` writes it), one card found by its alert's names, and one done
click claim, in both stores, then records the SQLite file as SQL and the Redis keys as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.button_keys import ButtonKeys
from bot.core.cards import CardStatus
from bot.core.lifecycle import alert_keys
from bot.core.models import Message
from bot.core.sealed import fingerprint
from bot.delivery.cards import dispatch_body
from bot.delivery.outbox import lane_key
from bot.delivery.tokens import TokenVault
from bot.store import CardRecord, ItemKind, RedisStore, SqliteStore, Store
from tests.delivery_support import SECRET, request
from tests.samples import TOKEN, alert_tags, alerting_message

OUT = Path(__file__).with_name("release-before-layouts.json")
PREFIX = "upgrade"
QUEUED_ALERT = 5001  # the pending dispatch's alert (no card yet: its delivery posts one)
CARDED_ALERT = 5002  # the alert whose card was posted
CLAIM_KEY = "alert:5002:ACK"


def alert_message(number: int) -> dict[str, Any]:
    """A Cloudforet alert's notification, its every name (number, links) its own."""
    link = f"https://console.example.com/alert-manager/alert/alert-{number}"
    callback = f"https://console.example.com/callback/alert-{number}?token=t"
    return alerting_message(callback_url=callback, link=link, tags=alert_tags(number))


async def fill(store: Store, tokens: TokenVault) -> None:
    body, _ = dispatch_body(request(alert_message(QUEUED_ALERT)))
    await store.enqueue(
        lane=lane_key(TOKEN, "#alerts"), kind=ItemKind.DISPATCH, body=body, token=tokens.seal(TOKEN), now=time.time()
    )
    carded = alert_message(CARDED_ALERT)
    record = CardRecord(
        bot=fingerprint(TOKEN),
        channel_id="C0ALERTS01",
        ts="1700000000.000100",
        target="#alerts",
        status=CardStatus.ACKNOWLEDGED,
        notified=2,
        token=tokens.seal(TOKEN),
        actor="U0CLICKER",
        actor_name="Clicker",
        acted_at=1_700_000_100.0,
        updated_at=time.time(),
    )
    await store.save_card(record, alert_keys(Message.from_struct(carded)))
    await store.claim_action(CLAIM_KEY, "U0CLICKER", stale_after=40)
    await store.finish_action(CLAIM_KEY, done=True)


async def redis_keys(store: RedisStore) -> list[dict[str, Any]]:
    raw = store._redis  # decodes responses: every key and value is text
    keys: list[dict[str, Any]] = []
    for key in sorted(str(k) for k in await raw.keys(f"{PREFIX}:*")):
        kind = str(await raw.type(key))
        value: Any
        if kind == "string":
            value = await raw.get(key)
        elif kind == "hash":
            value = await raw.hgetall(key)
        elif kind == "set":
            value = sorted(await raw.smembers(key))
        else:
            value = await raw.zrange(key, 0, -1, withscores=True)
        keys.append({"key": key.removeprefix(f"{PREFIX}:"), "type": kind, "value": value})
    return keys


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        tokens = TokenVault(ButtonKeys([SECRET], data_dir))
        embedded = SqliteStore(data_dir / "store", lock_wait=0)
        await fill(embedded, tokens)
        await embedded.close()
        db = sqlite3.connect(data_dir / "store" / "slack-chatops.sqlite3")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        sql = list(db.iterdump())
        db.close()
        shared = await RedisStore.connect(os.environ["REDIS_URL"], prefix=PREFIX)
        await fill(shared, tokens)
        keys = await redis_keys(shared)
        await shared.close()
    OUT.write_text(
        json.dumps(
            {
                "release": "7eef1d0",
                "button_key": SECRET,
                "queued_alert": QUEUED_ALERT,
                "carded_alert": CARDED_ALERT,
                "claim_key": CLAIM_KEY,
                "sqlite": {"user_version": version, "sql": sql},
                "redis": keys,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    asyncio.run(main())
