"""Shared fixtures: live stacks (fake Slack + plugin) on loopback, and Cloudforet's real client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloudforet.client_venv import CloudforetClient
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack
from tests.redis_server import RedisServer
from tests.support import BackgroundLoop, Stack, live_stack, populate


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with live_stack(tmp_path) as running:
        yield running


@pytest.fixture(scope="session")
def cloudforet_client() -> Iterator[CloudforetClient]:
    """Cloudforet's real client (SpaceConnector) in its own cached virtual environment."""
    with CloudforetClient() as client:
        yield client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port (AOF on), shared by the session: tests keep apart by key
    prefix. Tests that stop or pause Redis start their own (``RedisServer(tmp_path).start()``)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that stop, pause, flush or restrict it."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def background() -> Iterator[BackgroundLoop]:
    """An event loop in a thread, for fakes serving a plugin that runs as a subprocess."""
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture
def fake_slack(background: BackgroundLoop) -> Iterator[FakeSlack]:
    slack = FakeSlack()
    populate(slack)
    background.run(slack.start())
    yield slack
    background.run(slack.stop())


@pytest.fixture
def fake_cloudforet(background: BackgroundLoop) -> Iterator[FakeCloudforet]:
    cloudforet = FakeCloudforet()
    background.run(cloudforet.start())
    yield cloudforet
    background.run(cloudforet.stop())
