"""Shared fixtures: live stacks (fake Slack + plugin) on loopback, and Cloudforet's real client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloudforet.client_venv import CloudforetClient
from tests.fakes.slack_api import FakeSlack
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


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fake Slack on a background loop, for tests that run the plugin as a subprocess."""
    loop = BackgroundLoop()
    slack = FakeSlack()
    populate(slack)
    loop.run(slack.start())
    try:
        yield slack
    finally:
        loop.run(slack.stop())
        loop.close()
