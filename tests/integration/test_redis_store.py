"""The shared store when Redis misbehaves: each test runs its own ``redis-server`` (AOF on) and takes it away.

A password never appears in an error; Redis stopped or hung makes calls fail with ``StoreError`` within a few
seconds (never a hang); Redis back (restarted on the same port, from its append-only file) serves again, with what
was written before it went.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import pytest

from bot.store import ItemKind, RedisStore, StoreError, open_store
from bot.store.redis import COMMAND_TIMEOUT_SECONDS
from tests.process import free_port
from tests.redis_server import RedisServer

PASSWORD = "pa55-Redis-s3cret"
# How long a call may take to fail when Redis is down or hung: the command timeout and a little scheduling slack.
FAIL_WITHIN_SECONDS = COMMAND_TIMEOUT_SECONDS + 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    running = RedisServer(tmp_path / "redis", password=PASSWORD).start()
    yield running
    running.stop()


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[RedisStore]:
    opened = await RedisStore.connect(server.url)
    yield opened
    await opened.close()


async def _fails_fast(call: Awaitable[object]) -> StoreError:
    started = time.monotonic()
    with pytest.raises(StoreError) as failure:
        await call
    assert time.monotonic() - started < FAIL_WITHIN_SECONDS
    return failure.value


async def test_no_password_in_any_error(server: RedisServer, store: RedisStore) -> None:
    location = f"127.0.0.1:{server.port}"
    wrong = server.url.replace(PASSWORD, "wr0ng-Pa55word")
    refused = await _fails_fast(RedisStore.connect(wrong))
    assert location in str(refused) and "wr0ng-Pa55word" not in str(refused)
    assert "password" in str(refused).lower()  # the reason is kept (the wrong password is not)
    encoded = server.url.replace(PASSWORD, "p%40ss%3Aword")  # percent-encoded in the URL: neither form shown
    refused = await _fails_fast(RedisStore.connect(encoded))
    assert "p@ss:word" not in str(refused) and "p%40ss%3Aword" not in str(refused)
    assert PASSWORD not in repr(store)
    server.stop()
    down = await _fails_fast(store.pending())
    assert location in str(down) and PASSWORD not in str(down)
    assert down.__cause__ is None and down.__suppress_context__  # nothing of the client's error chained on
    unreachable = await _fails_fast(open_store(server.url, server.directory / "unused", lock_wait=0))
    assert location in str(unreachable) and PASSWORD not in str(unreachable)


async def test_nothing_listening_fails_at_once(tmp_path: Path) -> None:
    port = free_port()
    failure = await _fails_fast(RedisStore.connect(f"redis://:{PASSWORD}@127.0.0.1:{port}/0"))
    assert f"127.0.0.1:{port}" in str(failure) and PASSWORD not in str(failure)


async def test_redis_stopped_fails_calls_fast_and_restarted_serves_what_it_kept(
    server: RedisServer, store: RedisStore
) -> None:
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={"n": 1}, token="t", now=1)
    assert await store.remember_app_token("id-1", "sealed-1", now=1)
    secret = await store.shared_secret("button-key", lambda: "made-before")
    server.stop()
    assert not await store.ping()
    await _fails_fast(store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=2))
    await _fails_fast(store.claim_action("k", "U1", stale_after=40))  # a script, too
    await _fails_fast(store.seen_recently("digest", 60))
    server.start()  # the same port and directory: the append-only file is read back
    assert await store.ping()
    assert [p.id for p in await store.pending()] == [item]
    assert await store.app_tokens() == ["sealed-1"]
    assert await store.shared_secret("button-key", lambda: "made-after") == secret
    # scripts are loaded again after the restart forgot them (EVALSHA, then SCRIPT LOAD)
    assert (await store.claim_action("k", "U1", stale_after=40)).actor == "U1"
    assert await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=3) > item


async def test_redis_hung_fails_calls_within_the_timeout_and_recovers(server: RedisServer, store: RedisStore) -> None:
    """A frozen Redis (SIGSTOP) accepts connections and answers nothing: calls time out, they do not hang."""
    await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    server.pause()
    try:
        hung = await _fails_fast(store.pending())
        assert "Timeout" in str(hung) and PASSWORD not in str(hung)
        started = time.monotonic()
        assert not await store.ping()
        assert time.monotonic() - started < FAIL_WITHIN_SECONDS
    finally:
        server.resume()
    assert await store.ping()
    assert len(await store.pending()) == 1


async def test_a_restart_between_calls_goes_unnoticed(server: RedisServer, store: RedisStore) -> None:
    """The pooled connection a restarted Redis dropped is replaced at once: the next call does not fail."""
    item = await store.enqueue(lane="l", kind=ItemKind.DISPATCH, body={}, token="t", now=1)
    server.stop()
    server.start()
    assert [p.id for p in await store.pending()] == [item]
