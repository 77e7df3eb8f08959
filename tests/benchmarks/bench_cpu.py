"""CPU per notification with Cloudforet's real client, the plugin beside the do-nothing grpc.aio server.

Cloudforet's notification service calls ``Protocol.init`` before each ``Notification.dispatch`` (``SpaceConnector``
in its own venv, ``tests/cloudforet``). Against the plugin (SQLite, fake Slack answering at once, pacing off) and
against ``noop_server`` (reflection, init and dispatch answering empty messages), alternated round by round so that
both see the same machine state, this reads from ``/proc``:

- the server's CPU per init+dispatch, at concurrency 1 and 64, and the plugin's as a multiple of the floor's
  (issue 17's target: at most 2x);
- the client's CPU per notification (the runner process: SpaceConnector, its pure-Python protobuf 3, and the
  runner's own JSON lines, the same on both sides).

``--compare [NAME=]grpc://HOST:PORT`` (repeatable) measures more servers, already running, in the same alternated
rounds (issue 17 measures Cloudforet's official Slack plugin that way, and the plugin as it was); their server CPU is
read too when the process listening on that port is on this machine. Every server gets the same requests, whose
``channel_data`` names the channel by ``channel_id`` as well (the official plugin posts to ``#<channel>`` without
it); a dispatch such a server refuses (no Slack behind it) still costs the client its round trip and is counted,
not fatal.

``python -m tests.benchmarks.bench_cpu [--rounds N] [--count N] [--compare [NAME=]URL ...]``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count as numbers
from pathlib import Path

from bot.cloudforet.servicers import struct_to_dict
from tests.benchmarks.bench_dispatch import _request
from tests.benchmarks.harness import CHANNELS, fake_slack_process
from tests.cloudforet.client_venv import CloudforetClient
from tests.process import ROOT, server_process

CONCURRENCIES = (1, 64)
ISSUE_TARGET_RATIO = 2.0  # issue 17: the plugin's server CPU per init+dispatch at most 2x the do-nothing server's


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    name: str
    endpoint: str  # grpc://host:port
    pid: int | None  # None: a server measured from outside, whose CPU is not read
    tolerant: bool = False  # a refused dispatch is counted, not fatal (a third server may have no Slack to reach)


@dataclass(frozen=True)
class Figures:
    server_ms: float  # server CPU per init+dispatch (NaN when the server's process is not known)
    client_ms: float  # client CPU per notification
    p50_ms: float
    refused: int = 0  # dispatches the server refused (a tolerant target only)


# Every notification a distinct alert (a repeat would be suppressed, or update a card at Slack's pace for edits),
# across runs too: a --compare server may be the plugin still holding the cards of the run before. A run uses far
# fewer numbers than milliseconds pass before the next one starts.
_numbers = numbers(time.time_ns() // 1_000_000)


def _params(number: int) -> dict[str, object]:
    request = _request(CHANNELS[number % len(CHANNELS)], number)
    return {
        "options": {},
        "message": struct_to_dict(request.message),
        "notification_type": "ERROR",
        "secret_data": {},
        # Both names: Cloudforet's official plugin posts to ``#<channel>`` unless ``channel_id`` is given.
        "channel_data": {**struct_to_dict(request.channel_data), "channel_id": CHANNELS[number % len(CHANNELS)]},
    }


def _notify(client: CloudforetClient, target: Target) -> tuple[float, bool]:
    """One notification as Cloudforet sends it: its latency, and whether the dispatch was taken."""
    params = _params(next(_numbers))
    started = time.perf_counter()
    assert client.call(target.endpoint, "Protocol.init", {"options": {}}, discard=True)["ok"]
    answer = client.call(target.endpoint, "Notification.dispatch", params, discard=True)
    assert answer["ok"] or target.tolerant, answer
    return (time.perf_counter() - started) * 1000, bool(answer["ok"])


def _server_cpu(target: Target) -> float:
    return math.nan if target.pid is None else cpu_seconds(target.pid)


def measure(client: CloudforetClient, target: Target, count: int, concurrency: int) -> Figures:
    with ThreadPoolExecutor(concurrency) as pool:
        server, runner = _server_cpu(target), cpu_seconds(client.pid)
        calls = list(pool.map(lambda _: _notify(client, target), range(count)))
        server, runner = _server_cpu(target) - server, cpu_seconds(client.pid) - runner
    latencies = [latency for latency, _ in calls]
    refused = sum(1 for _, taken in calls if not taken)
    return Figures(server * 1000 / count, runner * 1000 / count, statistics.median(latencies), refused)


@contextmanager
def noop_process() -> Iterator[Target]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.noop_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().split()[1]
        yield Target("floor", f"grpc://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def plugin_process() -> Iterator[Target]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_slack_process() as slack_url,
        server_process(Path(tmp), slack_url, BOT_SLACK_POST_RATE="0") as server,
    ):
        yield Target("plugin", f"grpc://{server.endpoint}", server.process.pid)


def listening_pid(port: int) -> int | None:
    """The process on this machine listening on TCP ``port`` (read from ``/proc``), or None."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()  # sl, local address:port (hex), remote, state (0A: LISTEN), ..., inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{fields[9]}]")
    for descriptors in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in sockets for fd in descriptors.iterdir()):
                return int(descriptors.parent.name)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return None


def compare_target(argument: str) -> Target:
    """A server already running, ``[NAME=]grpc://host:port``, measured beside the plugin."""
    name, _, endpoint = argument.rpartition("=")
    if not endpoint.startswith("grpc://"):
        raise ValueError(f"--compare takes [NAME=]grpc://host:port, not {argument!r}")
    host, _, port = endpoint.removeprefix("grpc://").rpartition(":")
    pid = listening_pid(int(port)) if host in ("127.0.0.1", "localhost", "[::1]") else None
    return Target(name or endpoint, endpoint, pid, tolerant=True)


def run(rounds: int = 3, count: int = 300, compare: tuple[Target, ...] = ()) -> dict[str, float]:
    """Alternate floor, plugin and the ``compare`` servers ``rounds`` times at each concurrency; print and return
    the medians."""
    results: dict[tuple[str, int], list[Figures]] = {}
    with noop_process() as floor, plugin_process() as plugin, CloudforetClient() as client:
        targets = (floor, plugin, *compare)
        for target in targets:  # warm up: reflection, connections, caches
            measure(client, target, 100, 8)
        for _ in range(rounds):
            for concurrency in CONCURRENCIES:
                for target in targets:
                    results.setdefault((target.name, concurrency), []).append(
                        measure(client, target, count, concurrency)
                    )
    figures: dict[str, float] = {}
    print(
        f"Cloudforet's real client, init + dispatch per notification, {rounds} alternated rounds of {count} "
        f"(medians; server CPU from /proc; the floor is a grpc.aio server that answers empty messages):"
    )
    for concurrency in CONCURRENCIES:
        base, ours = results["floor", concurrency], results["plugin", concurrency]
        floor_ms = statistics.median(f.server_ms for f in base)
        plugin_ms = statistics.median(f.server_ms for f in ours)
        ratio = statistics.median(o.server_ms / b.server_ms for o, b in zip(ours, base, strict=True))
        client_floor = statistics.median(f.client_ms for f in base)
        client_plugin = statistics.median(f.client_ms for f in ours)
        print(
            f"  concurrency {concurrency:>2}: server CPU per init+dispatch: plugin {plugin_ms:.2f} ms, "
            f"floor {floor_ms:.2f} ms, ratio {ratio:.2f}x (target <= {ISSUE_TARGET_RATIO:g}x); "
            f"client CPU per notification: {client_plugin:.2f} ms (against the floor {client_floor:.2f} ms); "
            f"p50 {statistics.median(f.p50_ms for f in ours):.2f} ms (floor "
            f"{statistics.median(f.p50_ms for f in base):.2f} ms)"
        )
        figures.update(
            {
                f"plugin_cpu_ms_c{concurrency}": plugin_ms,
                f"floor_cpu_ms_c{concurrency}": floor_ms,
                f"ratio_c{concurrency}": ratio,
                f"client_cpu_ms_c{concurrency}": client_plugin,
                f"client_floor_cpu_ms_c{concurrency}": client_floor,
            }
        )
        for target in compare:
            figures.update(_print_compared(target, results[target.name, concurrency], base, concurrency))
    return figures


def _print_compared(target: Target, measured: list[Figures], base: list[Figures], concurrency: int) -> dict[str, float]:
    client_ms = statistics.median(f.client_ms for f in measured)
    server_ms = statistics.median(f.server_ms for f in measured)
    server = "not read (not a process here)" if math.isnan(server_ms) else f"{server_ms:.2f} ms"
    refused = sum(f.refused for f in measured)
    print(
        f"  concurrency {concurrency:>2}, {target.name}: client CPU per notification {client_ms:.2f} ms "
        f"(against the floor {statistics.median(f.client_ms for f in base):.2f} ms); server CPU per init+dispatch "
        f"{server}; p50 {statistics.median(f.p50_ms for f in measured):.2f} ms; dispatches refused: {refused}"
    )
    return {
        f"{target.name}_client_cpu_ms_c{concurrency}": client_ms,
        f"{target.name}_cpu_ms_c{concurrency}": server_ms,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--count", type=int, default=300, help="notifications per measurement (default 300)")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="[NAME=]URL",
        help="another server to measure alongside, grpc://host:port (repeatable)",
    )
    arguments = parser.parse_args()
    try:
        compared = tuple(compare_target(argument) for argument in arguments.compare)
    except ValueError as exc:
        parser.error(str(exc))
    names = [target.name for target in compared]
    if len(set(names)) != len(names) or {"floor", "plugin"} & set(names):
        parser.error("each --compare needs its own NAME, neither floor nor plugin")
    run(arguments.rounds, arguments.count, compared)
