"""Shared fixtures: a live stack per test (fake Slack + plugin runtime on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Stack, live_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with live_stack(tmp_path) as running:
        yield running
