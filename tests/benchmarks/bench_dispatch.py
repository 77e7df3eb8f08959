"""Dispatch benchmark: round-trip latency at concurrency 1 and throughput at concurrency 64 over 100 channels.

The fake Slack answers at once and does not rate-limit; client, server and fake Slack are separate processes.
Every dispatch is a distinct alert, so each is a new card: accepted into the outbox, posted, recorded.
Targets (2-core machine): p50 <= 1.5 ms, >= 1,000 dispatches/s.

Two clients, since figures from different clients do not compare: a bare ``grpc.aio`` client (the plugin's own
cost), and Cloudforet's real client (``SpaceConnector`` in its own venv, ``Protocol.init`` before each
``Notification.dispatch`` as Cloudforet's notification service does), which is how other plugins are measured.
With the real client (``bench_cpu``) it reads the server's and the client's CPU time per notification from ``/proc``,
beside the do-nothing server's in the same run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, notification_pb2_grpc
from bot.cloudforet.servicers import dict_to_struct
from tests.benchmarks.harness import CHANNELS, stack_processes
from tests.process import ROOT
from tests.samples import TOKEN, alerting_message


def _request(channel_id: str, number: int) -> notification_pb2.PluginDispatchRequest:
    alert = f"alert-bench{number}"
    message = alerting_message(
        title=f"[Alerting] benchmark alert {number}",
        callback_url=f"https://cf.example.test/monitoring/v1/domain/d-1/alert/{alert}/key{number}/ACKNOWLEDGED",
        link=f"https://console.example.test/alert-manager/alert/{alert}",
    )
    return notification_pb2.PluginDispatchRequest(
        message=dict_to_struct(message),
        notification_type=notification_pb2.PluginDispatchRequest.ERROR,
        channel_data=dict_to_struct({"token": TOKEN, "channel": channel_id}),
        secret_data=dict_to_struct({}),
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(endpoint: str, sequential: int, concurrent: int, workers: int) -> dict[str, float]:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub = notification_pb2_grpc.NotificationStub(channel)
        # Every request is a distinct alert (a repeat would be suppressed, or would update an existing card).
        warmup = [_request(CHANNELS[i % len(CHANNELS)], 1_000_000 + i) for i in range(200)]
        requests = [_request(CHANNELS[i % len(CHANNELS)], i) for i in range(sequential + concurrent)]
        for request in warmup:  # warm up connections and caches
            await stub.dispatch(request, timeout=30)
        latencies: list[float] = []
        for request in requests[:sequential]:
            started = time.perf_counter()
            await stub.dispatch(request, timeout=30)
            latencies.append((time.perf_counter() - started) * 1000)

        queue: asyncio.Queue[notification_pb2.PluginDispatchRequest] = asyncio.Queue()
        for request in requests[sequential:]:
            queue.put_nowait(request)

        async def worker() -> None:
            while not queue.empty():
                await stub.dispatch(queue.get_nowait(), timeout=30)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "throughput": concurrent / elapsed,
    }


def floor(sequential: int, concurrent: int, workers: int) -> dict[str, float]:
    """The same measurement against a gRPC server that does nothing: what this machine allows at best."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.noop_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().split()[1]
        return asyncio.run(measure(f"127.0.0.1:{port}", sequential, concurrent, workers))
    finally:
        process.terminate()
        process.wait(10)


def run(sequential: int = 2000, concurrent: int = 10000, workers: int = 64) -> dict[str, float]:
    base = floor(sequential, concurrent, workers)
    print(
        f"floor (a gRPC server that does nothing, same client): p50 {base['p50_ms']:.2f} ms, "
        f"{base['throughput']:.0f} calls/s"
    )
    # Slack answering instantly with no rate limit: the plugin's own pacing is switched off to match.
    with tempfile.TemporaryDirectory() as tmp, stack_processes(Path(tmp), BOT_SLACK_POST_RATE="0") as (endpoint, _):
        figures = asyncio.run(measure(endpoint, sequential, concurrent, workers))
    print(
        f"dispatch latency at concurrency 1 ({sequential} calls): p50 {figures['p50_ms']:.2f} ms, "
        f"p99 {figures['p99_ms']:.2f} ms   (target p50 <= 1.5 ms)"
    )
    print(
        f"dispatch throughput at concurrency {workers}, {len(CHANNELS)} channels ({concurrent} calls): "
        f"{figures['throughput']:.0f} dispatches/s   (target >= 1,000/s)"
    )
    from tests.benchmarks import bench_cpu  # imports this module

    figures.update(bench_cpu.run())
    return figures


if __name__ == "__main__":
    run()
