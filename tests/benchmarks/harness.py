"""Processes for benchmarks: the fake Slack and the plugin server, each in its own process, on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.process import ROOT, server_process
from tests.samples import TOKEN

CHANNELS = [f"C0BENCH{i:04d}" for i in range(100)]


@contextmanager
def fake_slack_process(*extra: str) -> Iterator[str]:
    """Start ``python -m tests.fakes.slack``; yield its API base URL."""
    args = [
        sys.executable,
        "-m",
        "tests.fakes.slack",
        "--port",
        "0",
        "--token",
        TOKEN,
        *[arg for i, cid in enumerate(CHANNELS) for arg in ("--channel", f"bench-{i}:{cid}")],
        *extra,
    ]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().split()
        if not line or line[0] != "READY":
            raise RuntimeError("fake Slack did not start")
        yield f"http://127.0.0.1:{line[1]}/api/"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


@contextmanager
def stack_processes(data_dir: Path, *slack_args: str, **env: str) -> Iterator[tuple[str, str]]:
    """Fake Slack and plugin server; yield (gRPC endpoint, Slack API base URL)."""
    with fake_slack_process(*slack_args) as slack_url, server_process(data_dir, slack_url, **env) as server:
        yield server.endpoint, slack_url
