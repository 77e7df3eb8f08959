"""Store benchmark: dispatch latency (concurrency 1) and throughput (concurrency 64, 100 channels) on one replica
with the embedded SQLite store, one replica on Redis, and three replicas on Redis called round-robin; then the
storm over three replicas. Redis is a private ``redis-server`` on this machine (AOF on, ``appendfsync everysec``).

Targets: Redis adds at most 0.5 ms to p50 over SQLite; the storm ratio stays <= 1.15 with three replicas.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    run(storm_rate=20.0 if "--quick" in sys.argv else 1.0)
