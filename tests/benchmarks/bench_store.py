"""Store benchmark: dispatch latency (concurrency 1) and throughput (concurrency 64, 100 channels) on one replica
with the embedded SQLite store, one replica on Redis, and three replicas on Redis called round-robin; then the
storm over three replicas. Redis is a private ``redis-server`` on this machine (AOF on, ``appendfsync everysec``).

Targets: Redis adds at most 0.5 ms to p50 over SQLite; the storm ratio stays <= 1.15 with three replicas.

``--latency`` measures only the two latency targets, alternated in one run so the machine's drift falls on every
configuration alike (``latency``): one dispatch at a time, in turn to one replica on SQLite, one on Redis, and two
replicas on Redis (another database of the same server), the last two for a channel whose lane the first of them
holds: once through the holder, once through the other replica (written down there, posted by the holder, answered
when the other learns it from Redis pub/sub). Targets: Redis p50 at most 0.5 ms above SQLite's; a dispatch reaching
the replica that does not hold its lane at most 10 ms above one reaching the holder.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import grpc

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2_grpc
from tests.benchmarks import bench_storm
from tests.benchmarks.bench_dispatch import _request, percentile
from tests.benchmarks.harness import CHANNELS, fake_slack_process
from tests.process import server_process
from tests.redis_server import RedisServer


async def measure(endpoints: list[str], sequential: int, concurrent: int, workers: int) -> dict[str, float]:
    channels = [grpc.aio.insecure_channel(endpoint) for endpoint in endpoints]
    stubs = [notification_pb2_grpc.NotificationStub(channel) for channel in channels]
    counter = iter(range(10**9))

    async def dispatch(number: int) -> None:
        await stubs[next(counter) % len(stubs)].dispatch(_request(CHANNELS[number % len(CHANNELS)], number), timeout=60)

    try:
        for i in range(200):  # warm up: connections, leases, caches
            await dispatch(1_000_000 + i)
        latencies: list[float] = []
        for number in range(sequential):
            started = time.perf_counter()
            await dispatch(number)
            latencies.append((time.perf_counter() - started) * 1000)
        queue = list(range(sequential, sequential + concurrent))

        async def worker() -> None:
            while queue:
                await dispatch(queue.pop())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
    finally:
        for channel in channels:
            await channel.close()
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "throughput": concurrent / elapsed,
    }


def one(label: str, replicas: int, store_url: str | None, sequential: int, concurrent: int) -> dict[str, float]:
    env = {"BOT_SLACK_POST_RATE": "0"}
    if store_url:
        env["BOT_STORE_URL"] = store_url
    with tempfile.TemporaryDirectory() as tmp, fake_slack_process() as slack_url, ExitStack() as stack:
        servers = [
            stack.enter_context(server_process(Path(tmp) / f"pod-{i}", slack_url, **env)) for i in range(replicas)
        ]
        figures = asyncio.run(measure([s.endpoint for s in servers], sequential, concurrent, 64))
    print(
        f"{label:<28} p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms (concurrency 1); "
        f"{figures['throughput']:.0f} dispatches/s (concurrency 64, {len(CHANNELS)} channels)"
    )
    return figures


def run(sequential: int = 1000, concurrent: int = 5000, storm_rate: float = 1.0) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            results = {"sqlite": one("1 replica, SQLite", 1, None, sequential, concurrent)}
            results["redis"] = one("1 replica, Redis", 1, redis_server.url, sequential, concurrent)
            results["redis-3"] = one("3 replicas, Redis", 3, redis_server.url, sequential, concurrent)
            added = results["redis"]["p50_ms"] - results["sqlite"]["p50_ms"]
            print(f"Redis adds {added:.2f} ms to p50 over SQLite (target <= 0.5 ms)")
            results["storm-3"] = bench_storm.run(300, storm_rate, replicas=3, store_url=redis_server.url)
        finally:
            redis_server.stop()
    return results


# The latency comparison: dispatches per configuration (each in turn, so all see the same machine state), and the
# targets it checks (issue 17).
LATENCY_ROUNDS = 500
LATENCY_WARMUP = 50
REDIS_OVER_SQLITE_TARGET_MS = 0.5
OTHER_REPLICA_OVER_HOLDER_TARGET_MS = 10.0
# The replica pair's Redis database: apart from the single Redis replica's (database 0), so neither takes the
# other's lanes over.
PAIR_DATABASE = 1


async def alternate(endpoints: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """One dispatch at a time, to each configuration in turn (the order rotated every round); the latencies in ms.
    ``holder`` and ``other`` address one channel whose lane the ``holder`` replica took with the warm-up."""
    names = list(endpoints)
    channels = {name: grpc.aio.insecure_channel(endpoint) for name, endpoint in endpoints.items()}
    stubs = {name: notification_pb2_grpc.NotificationStub(channel) for name, channel in channels.items()}
    # One channel per configuration (the holder and the other replica share one: the lane under test).
    channel_of = {"sqlite": CHANNELS[0], "redis": CHANNELS[1], "holder": CHANNELS[2], "other": CHANNELS[2]}
    numbers = iter(range(10**9))

    async def dispatch(name: str) -> float:
        request = _request(channel_of[name], next(numbers))  # a distinct alert each time: a new card is posted
        started = time.perf_counter()
        await stubs[name].dispatch(request, timeout=60)
        return (time.perf_counter() - started) * 1000

    latencies: dict[str, list[float]] = {name: [] for name in names}
    try:
        for name in ("holder", *names):  # the holder first: it takes the shared channel's lane
            for _ in range(LATENCY_WARMUP):
                await dispatch(name)
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                latencies[name].append(await dispatch(name))
    finally:
        for channel in channels.values():
            await channel.close()
    return latencies


def latency(rounds: int = LATENCY_ROUNDS) -> dict[str, float]:
    """The two latency targets, measured alternated in one run (see the module docstring); prints and returns each
    configuration's p50 and the two differences."""
    env = {"BOT_SLACK_POST_RATE": "0"}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        stack.callback(redis_server.stop)
        pair_url = redis_server.url.rsplit("/", 1)[0] + f"/{PAIR_DATABASE}"
        slack_url = stack.enter_context(fake_slack_process())

        def server(name: str, **extra: str) -> str:
            return stack.enter_context(server_process(Path(tmp) / name, slack_url, **env, **extra)).endpoint

        endpoints = {
            "sqlite": server("sqlite"),
            "redis": server("redis", BOT_STORE_URL=redis_server.url),
            "holder": server("holder", BOT_STORE_URL=pair_url),
            "other": server("other", BOT_STORE_URL=pair_url),
        }
        latencies = asyncio.run(alternate(endpoints, rounds))
    figures = {f"{name}_p50_ms": statistics.median(values) for name, values in latencies.items()}
    figures.update({f"{name}_p99_ms": percentile(values, 0.99) for name, values in latencies.items()})
    figures["redis_over_sqlite_ms"] = figures["redis_p50_ms"] - figures["sqlite_p50_ms"]
    figures["other_over_holder_ms"] = figures["other_p50_ms"] - figures["holder_p50_ms"]
    print(f"dispatch latency, {rounds} dispatches per configuration, alternated, concurrency 1, fake Slack unpaced:")
    labels = {
        "sqlite": "1 replica, SQLite",
        "redis": "1 replica, Redis",
        "holder": "2 replicas, the lane's holder",
        "other": "2 replicas, the other replica",
    }
    for name, label in labels.items():
        print(f"  {label:<32} p50 {figures[f'{name}_p50_ms']:.2f} ms, p99 {figures[f'{name}_p99_ms']:.2f} ms")
    print(
        f"  Redis adds {figures['redis_over_sqlite_ms']:.2f} ms to p50 over SQLite "
        f"(target <= {REDIS_OVER_SQLITE_TARGET_MS} ms)"
    )
    print(
        f"  the replica not holding the lane adds {figures['other_over_holder_ms']:.2f} ms to p50 over the holder "
        f"(target <= {OTHER_REPLICA_OVER_HOLDER_TARGET_MS} ms)"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the storm at 20 posts/s instead of 1/s")
    parser.add_argument("--latency", action="store_true", help="only the alternated latency comparison")
    parser.add_argument("--rounds", type=int, default=LATENCY_ROUNDS, help="dispatches per configuration")
    args = parser.parse_args(argv)
    if args.latency:
        latency(args.rounds)
    else:
        run(storm_rate=20.0 if args.quick else 1.0)


if __name__ == "__main__":
    main(sys.argv[1:])
