"""Where the server's CPU per notification goes: the plugin with parts of its dispatch path replaced by stand-ins.

Each configuration is the plugin (SQLite, fake Slack answering at once, pacing off) with some parts replaced by
stand-ins that answer at once (``partial_server``), measured as ``bench_cpu`` measures: Cloudforet's real client,
``Protocol.init`` before each ``Notification.dispatch``, the server's CPU per init+dispatch from ``/proc``, beside
the do-nothing grpc.aio server, alternated round by round. The difference between two configurations is what the
replaced part costs; issue 17's target is the whole plugin at most 2x the do-nothing server.

``python -m tests.benchmarks.bench_cpu_parts [--rounds N] [--count N] [--concurrency N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.benchmarks.bench_cpu import Target, measure, noop_process
from tests.benchmarks.harness import fake_slack_process
from tests.benchmarks.partial_server import VARIABLE, Part
from tests.cloudforet.client_venv import CloudforetClient
from tests.process import server_process_of

# From the whole plugin down to gRPC alone: each row replaces one more part than the row above it.
CONFIGURATIONS: tuple[tuple[str, tuple[Part, ...]], ...] = (
    ("the plugin", ()),
    ("Slack's HTTP call over a bare socket", (Part.RAW_HTTP,)),
    ("no Slack call", (Part.SLACK,)),
    ("no Slack call, no card index", (Part.SLACK, Part.STORE)),
    ("no Slack call, no card index, one card", (Part.SLACK, Part.STORE, Part.CARD)),
    ("the request parsed, nothing delivered", (Part.DISPATCH,)),
    ("gRPC and the servicer only", (Part.HANDLER,)),
)


def run(rounds: int = 3, count: int = 300, concurrency: int = 1) -> dict[str, float]:
    """Measure every configuration and the floor ``rounds`` times, alternated; print and return the medians (ms)."""
    results: dict[str, list[float]] = {}
    with ExitStack() as stack:
        floor = stack.enter_context(noop_process())
        slack_url = stack.enter_context(fake_slack_process())
        targets = [floor]  # named "floor": the do-nothing grpc.aio server
        for name, parts in CONFIGURATIONS:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            env = {VARIABLE: ",".join(parts), "BOT_SLACK_POST_RATE": "0"}
            server = stack.enter_context(
                server_process_of(("-m", "tests.benchmarks.partial_server"), data_dir, slack_url, **env)
            )
            targets.append(Target(name, f"grpc://{server.endpoint}", server.process.pid))
        client = stack.enter_context(CloudforetClient())
        for target in targets:  # warm up: reflection, connections, caches
            measure(client, target, 100, 8)
        for _ in range(rounds):
            for target in targets:
                results.setdefault(target.name, []).append(measure(client, target, count, concurrency).server_ms)
    medians = {name: statistics.median(values) for name, values in results.items()}
    floor_ms = medians[floor.name]
    print(
        f"Server CPU per init+dispatch, Cloudforet's real client, concurrency {concurrency}, {rounds} alternated "
        f"rounds of {count} (medians), with parts replaced by stand-ins that answer at once:"
    )
    for name, value in medians.items():
        print(f"  {name:<45} {value:5.2f} ms  {value / floor_ms:4.2f}x the do-nothing server")
    return medians


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--count", type=int, default=300, help="notifications per measurement (default 300)")
    parser.add_argument("--concurrency", type=int, default=1, help="notifications at once (default 1)")
    arguments = parser.parse_args()
    run(arguments.rounds, arguments.count, arguments.concurrency)
