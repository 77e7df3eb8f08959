"""Memory benchmark: the server's resident memory under inputs that used to make it grow without bound.

1. 10,000 dispatches, each to a channel Slack does not know (each a lane that used to live for ever);
2. 200 dispatches of ~3.5 MB each to one paced channel (queued for their turn: kept compact while they wait);
3. then idle past the lane timeout (60 s): what is left.
Server and fake Slack are separate processes; RSS is read from ``/proc``. Target: back near the baseline after
idling, and never in the hundreds of MB.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import grpc

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, notification_pb2_grpc
from bot.cloudforet.servicers import dict_to_struct
from bot.delivery.outbox import LANE_IDLE_SECONDS
from tests.benchmarks.harness import CHANNELS, fake_slack_process
from tests.process import server_process
from tests.samples import TOKEN


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _request(channel: str, title: str, description: str = "") -> notification_pb2.PluginDispatchRequest:
    return notification_pb2.PluginDispatchRequest(
        message=dict_to_struct({"title": title, "description": description}),
        notification_type=notification_pb2.PluginDispatchRequest.ERROR,
        channel_data=dict_to_struct({"token": TOKEN, "channel": channel}),
        secret_data=dict_to_struct({}),
    )


async def _send(endpoint: str, requests: list[notification_pb2.PluginDispatchRequest], workers: int) -> int:
    failed = 0
    options = [("grpc.max_send_message_length", 8 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(endpoint, options=options) as channel:
        stub = notification_pb2_grpc.NotificationStub(channel)
        queue = list(reversed(requests))

        async def worker() -> None:
            nonlocal failed
            while queue:
                try:
                    await stub.dispatch(queue.pop(), timeout=60)
                except grpc.aio.AioRpcError:
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return failed


def run(unknown_channels: int = 10_000, huge: int = 200) -> dict[str, float]:
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_slack_process() as slack_url,
        server_process(Path(tmp), slack_url, BOT_SLACK_POST_RATE="5", BOT_DISPATCH_WAIT="1") as server,
    ):
        pid = server.process.pid
        asyncio.run(_send(server.endpoint, [_request(CHANNELS[i % 100], f"warm {i}") for i in range(200)], 16))
        figures["baseline_mb"] = rss_mb(pid)
        requests = [_request(f"no-such-channel-{i}", f"lost {i}") for i in range(unknown_channels)]
        refused = asyncio.run(_send(server.endpoint, requests, 64))
        figures["after_unknown_mb"] = rss_mb(pid)
        description = "word " * 700_000  # 3.5 MB
        peak = 0.0
        big = [_request(CHANNELS[0], f"huge {i}", description) for i in range(huge)]

        async def send_and_watch() -> None:
            nonlocal peak
            sending = asyncio.ensure_future(_send(server.endpoint, big, 16))
            while not sending.done():
                peak = max(peak, rss_mb(pid))
                await asyncio.sleep(0.1)
            await sending

        asyncio.run(send_and_watch())
        delivered_by = time.monotonic() + huge / 5 + 5  # they go out at 5 posts/s
        while time.monotonic() < delivered_by:
            peak = max(peak, rss_mb(pid))
            time.sleep(0.5)
        figures["peak_huge_mb"] = peak
        time.sleep(LANE_IDLE_SECONDS + 5)
        figures["after_idle_mb"] = rss_mb(pid)
    print(
        f"server memory: baseline {figures['baseline_mb']:.0f} MB; after {unknown_channels:,} dispatches to "
        f"unknown channels ({refused:,} refused) {figures['after_unknown_mb']:.0f} MB; peak with {huge} × 3.5 MB "
        f"messages queued {figures['peak_huge_mb']:.0f} MB; after idling {figures['after_idle_mb']:.0f} MB"
    )
    return figures


if __name__ == "__main__":
    run()
