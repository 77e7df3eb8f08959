"""The shared store's URL (BOT_STORE_URL), read before anything connects: what redis-py would refuse when it opens
a connection, or read otherwise than it says, is refused at once, naming the setting and never the password. No
Redis and no socket: ``RedisStore.connect`` is stopped where it would first talk to Redis."""

from __future__ import annotations

import pytest

from bot.store import RedisStore


class Reached(Exception):
    """``connect`` got past the URL to its first command; the message says where the store says it is."""


@pytest.fixture(autouse=True)
def no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    async def reached(store: RedisStore) -> None:
        raise Reached(repr(store))

    monkeypatch.setattr(RedisStore, "_check", reached)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis://:pa55word@redis-host:6379/notadb", "its path is not a database number"),
        ("redis://:pa55word@redis-host:6379/1/2", "its path is not a database number"),
        ("redis://:pa55word@redis-host:6379/-1", "its path is not a database number"),
        ("redis://:pa55word@redis-host:6379/0?db=-3", "the database (db) must be a number from 0"),
        ("redis://:pa55word@redis-host:6379/0?socket_timeout=abc", "Invalid value for 'socket_timeout'"),
        ("redis://:pa55word@redis-host:6379/0?max_connections=-1", "max_connections"),
        ("redis://:pa55word@redis-host:6379/0?ssl_cert_reqs=none", "no option 'ssl_cert_reqs' in a redis:// URL"),
        ("rediss://:pa55word@redis-host:6379/0?ssl_cert_reqs=pa55word", "Requirements Flag: [password]"),
    ],
)
async def test_a_url_redis_py_would_refuse_or_misread_is_refused_before_connecting(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=r"^BOT_STORE_URL cannot be used: ") as refused:
        await RedisStore.connect(url)
    assert why in str(refused.value) and "pa55word" not in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("redis://redis-host", "redis-host:6379/0"),
        ("redis://redis-host:6379/", "redis-host:6379/0"),
        ("redis://:pa55word@redis-host:6379/15", "redis-host:6379/15"),
        ("redis://redis-host/3/", "redis-host:6379/3"),
        ("redis://redis-host:6379/0?db=2&socket_timeout=1.5&health_check_interval=10", "redis-host:6379/2"),
        ("rediss://user:pa55word@redis-host:6380/0?ssl_cert_reqs=none&ssl_check_hostname=false", "redis-host:6380/0"),
    ],
)
async def test_a_url_redis_py_takes_goes_on_to_connect_naming_the_database_it_uses(url: str, where: str) -> None:
    with pytest.raises(Reached) as reached:
        await RedisStore.connect(url)
    assert str(reached.value) == f"RedisStore({where}, prefix='slack-chatops')"
