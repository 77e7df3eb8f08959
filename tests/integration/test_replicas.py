"""Several replicas on one Redis, as Cloudforet's supervisor runs them: dispatches spread round-robin over real
``slack-chatops serve`` processes, a real ``redis-server`` (AOF on), the fake Slack enforcing its per-channel limit.

One card per alert, per-channel order and Slack's pace hold across replicas; a replica killed mid-storm loses
nothing accepted; concurrent clicks on any replica make one callback; fresh pods resume from Redis alone; Redis
going away makes dispatches fail fast and coded, never hang, and loses nothing accepted.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2_grpc
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import SIGNING_SECRET, wait_for
from tests.process import ServerProcess, server_process
from tests.redis_server import RedisServer
from tests.samples import alerting_message
from tests.support import CHANNEL_ID, BackgroundLoop, dispatch_request, populate

pytestmark = pytest.mark.storm
RATE = 20
ENV = {
    "BOT_SLACK_POST_RATE": str(RATE),
    "BOT_SLACK_POST_BURST": "3",
    "BOT_SLACK_UPDATE_RATE": str(RATE),
    "BOT_DISPATCH_WAIT": "1",
    "BOT_REPEAT_WINDOW": "0",
    "BOT_DRAIN_SECONDS": "1",
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
}


@pytest.fixture
def paced_slack(background: BackgroundLoop) -> Iterator[FakeSlack]:
    slack = FakeSlack(post_rate_per_channel=RATE, post_burst=3)
    populate(slack)
    background.run(slack.start())
    yield slack
    background.run(slack.stop())


@contextmanager
def replicas(
    count: int, tmp_path: Path, slack: FakeSlack, redis_server: RedisServer, first: int = 0, **env: str
) -> Iterator[list[ServerProcess]]:
    """``count`` plugin processes, each with its own (throw-away) data directory, all on one Redis."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                server_process(
                    tmp_path / f"pod-{first + i}", slack.base_url, BOT_STORE_URL=redis_server.url, **{**ENV, **env}
                )
            )
            for i in range(count)
        ]
        yield servers


class RoundRobin:
    """Cloudforet's plugin service: each call to the next replica."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.channels = [grpc.insecure_channel(server.endpoint) for server in servers]
        self.stubs = [notification_pb2_grpc.NotificationStub(channel) for channel in self.channels]
        self._next = 0
        self._lock = threading.Lock()

    def dispatch(self, message: dict[str, Any], **kwargs: Any) -> Any:
        with self._lock:
            stub = self.stubs[self._next % len(self.stubs)]
            self._next += 1
        return stub.dispatch(dispatch_request(message, **kwargs), timeout=30)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def _alert(number: int, title: str = "[Alerting]") -> dict[str, Any]:
    alert_id = f"alert-{number:04d}"
    return {
        "title": f"{title} replica alert {number:04d}",
        "description": "disk full",
        "link": f"https://console.example.test/alert-manager/alert/{alert_id}",
        "tags": [{"key": "Alert Number", "value": f"#{number}", "options": {"short": True}}],
        "domain_name": "acme",
    }


def _numbers(slack: FakeSlack) -> list[str]:
    titles = [str((m.blocks or [{}])[0].get("text", {}).get("text", "")) for m in slack.messages.get(CHANNEL_ID, [])]
    return [title.split("replica alert ")[1] for title in titles if "replica alert " in title]


def test_three_replicas_one_card_per_alert_in_order_at_slacks_pace(
    tmp_path: Path, paced_slack: FakeSlack, own_redis: RedisServer
) -> None:
    with replicas(3, tmp_path, paced_slack, own_redis) as servers:
        cloudforet = RoundRobin(servers)
        for number in range(40):
            cloudforet.dispatch(_alert(number))
            cloudforet.dispatch(_alert(number))  # an escalation step: the same card again
            if number % 3 == 0:
                cloudforet.dispatch(_alert(number, "[Resolved]"), notification_type="SUCCESS")
        cloudforet.close()
        wait_for(lambda: len(_numbers(paced_slack)) == 40, timeout=60, what="40 cards")
        time.sleep(1.0)  # nothing more arrives
        assert _numbers(paced_slack) == [f"{n:04d}" for n in range(40)]  # one top-level post each, in order
        for number, card in enumerate(paced_slack.messages[CHANNEL_ID]):
            wait_for(partial(_updated, card), timeout=30, what=f"card {number} updated")
            if number % 3 == 0:
                wait_for(partial(_resolved, card), timeout=30, what="resolved card")
        assert paced_slack.rate_limited <= 5, paced_slack.rate_limited  # paced together, not three times over


def _updated(card: Any) -> bool:
    return bool(card.updates)


def _resolved(card: Any) -> bool:
    return bool(card.attachments) and card.attachments[0]["color"] == "#2EB67D"


def _lane_holder(redis_server: RedisServer) -> str:
    client = redis.Redis.from_url(redis_server.url)
    try:
        [key] = client.keys("slack-chatops:lease:lane:*")
        return str(client.get(key).decode())  # type: ignore[union-attr]
    finally:
        client.close()


def test_a_replica_killed_mid_storm_loses_nothing(
    tmp_path: Path, paced_slack: FakeSlack, own_redis: RedisServer
) -> None:
    accepted: list[int] = []
    with replicas(3, tmp_path, paced_slack, own_redis) as servers:
        cloudforet = RoundRobin(servers)

        def send(number: int) -> None:
            try:
                cloudforet.dispatch(_alert(number))
            except grpc.RpcError:
                return  # in flight at the replica that died: never answered OK, so not accepted
            accepted.append(number)

        with ThreadPoolExecutor(12) as pool:
            sending = pool.map(send, range(150))
            wait_for(lambda: len(_numbers(paced_slack)) >= 30, what="delivery under way")
            holder = _lane_holder(own_redis)
            victim = next(s for s in servers if f":{s.process.pid}:" in holder)  # the replica delivering the lane
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(10)
            list(sending)
        cloudforet.close()
        wait_for(
            lambda: {f"{n:04d}" for n in accepted} <= set(_numbers(paced_slack)),
            timeout=60,
            what="every accepted alert, delivered by the survivors",
        )
    assert len(accepted) >= 100  # most dispatches reached a survivor or were accepted before the kill
    delivered = _numbers(paced_slack)
    assert len(delivered) == len(set(delivered))  # and none twice


def test_concurrent_clicks_on_three_replicas_make_one_callback(
    tmp_path: Path, paced_slack: FakeSlack, own_redis: RedisServer, background: BackgroundLoop
) -> None:
    cloudforet_callbacks = FakeCloudforet()
    background.run(cloudforet_callbacks.start())
    try:
        url = cloudforet_callbacks.issue_key("alert-clicked")
        cloudforet_callbacks.slow(url, 0.5)
        with replicas(3, tmp_path, paced_slack, own_redis) as servers:
            cloudforet = RoundRobin(servers)
            cloudforet.dispatch(alerting_message(callback_url=url))
            cloudforet.close()
            [card] = paced_slack.messages[CHANNEL_ID]

            async def click(server: ServerProcess) -> int:
                events = f"http://127.0.0.1:{server.http_port}/slack/events"
                payload = paced_slack.block_actions_payload(CHANNEL_ID, card.ts, "callback_0")  # its own response_url
                return (await paced_slack.click(events, SIGNING_SECRET, payload)).status

            async def all_at_once() -> list[int]:
                return list(await asyncio.gather(*(click(servers[i % 3]) for i in range(20))))

            assert background.run(all_at_once()) == [200] * 20
            wait_for(lambda: "*Acknowledged* by" in str(card.attachments), what="the card acknowledged")
            time.sleep(1.0)
        assert len(cloudforet_callbacks.requests) == 1  # one callback, whichever replica each click reached
    finally:
        background.run(cloudforet_callbacks.stop())


def test_fresh_pods_resume_from_redis_alone(
    tmp_path: Path, paced_slack: FakeSlack, own_redis: RedisServer, background: BackgroundLoop
) -> None:
    cloudforet_callbacks = FakeCloudforet()
    background.run(cloudforet_callbacks.start())
    try:
        url = cloudforet_callbacks.issue_key("alert-kept-across-pods")
        with replicas(2, tmp_path, paced_slack, own_redis) as old:
            cloudforet = RoundRobin(old)
            cloudforet.dispatch(alerting_message(callback_url=url))  # the card whose button must keep working
            paced_slack.outage(60)
            for number in range(5):
                cloudforet.dispatch(_alert(number))  # queued: Slack is down
            cloudforet.close()
            for server in old:  # the pods go away for good, their disks with them
                server.process.send_signal(signal.SIGKILL)
                server.process.wait(10)
        paced_slack.outage(0)
        [card] = paced_slack.messages[CHANNEL_ID]
        with replicas(2, tmp_path, paced_slack, own_redis, first=2) as fresh:
            wait_for(lambda: len(_numbers(paced_slack)) == 5, timeout=30, what="the queued notifications")
            cloudforet = RoundRobin(fresh)
            cloudforet.dispatch(alerting_message(callback_url=url))  # a repeat [Alerting] of the old alert
            cloudforet.close()
            wait_for(lambda: "notified 2×" in str(card.attachments), what="the old card updated")
            assert len(paced_slack.messages[CHANNEL_ID]) == 6  # no new card for it
            payload = paced_slack.block_actions_payload(CHANNEL_ID, card.ts, "callback_0")
            events = f"http://127.0.0.1:{fresh[0].http_port}/slack/events"
            assert background.run(paced_slack.click(events, SIGNING_SECRET, payload)).status == 200
            wait_for(lambda: "*Acknowledged* by" in str(card.attachments), what="the old button works")
        assert len(cloudforet_callbacks.requests) == 1
    finally:
        background.run(cloudforet_callbacks.stop())


def test_redis_away_for_a_while_delivers_straight_to_slack_loses_nothing_and_hangs_nothing(
    tmp_path: Path, paced_slack: FakeSlack, own_redis: RedisServer
) -> None:
    accepted: list[int] = []
    refused: list[str] = []
    slowest = 0.0
    with replicas(2, tmp_path, paced_slack, own_redis) as servers:
        cloudforet = RoundRobin(servers)

        def send(number: int) -> None:
            nonlocal slowest
            started = time.monotonic()
            try:
                cloudforet.dispatch(_alert(number))
                accepted.append(number)
            except grpc.RpcError as exc:
                refused.append(f"{exc.code().name} {exc.details()}")
            slowest = max(slowest, time.monotonic() - started)

        for number in range(10):
            send(number)
        own_redis.stop()
        for number in range(10, 14):  # straight to Slack from the replica each reaches (degraded mode)
            send(number)
        own_redis.start()
        time.sleep(5)  # the replicas notice Redis is back, and write down the cards posted meanwhile
        for number in range(14, 24):
            send(number)
        send(11)  # the next message of an alert carded while Redis was away
        cloudforet.close()
        wait_for(
            lambda: {f"{n:04d}" for n in accepted} <= set(_numbers(paced_slack)),
            timeout=60,
            what="every accepted alert",
        )
        time.sleep(2)
    assert refused == [] and sorted(set(accepted)) == list(range(24)), refused  # every one answered OK
    numbers = _numbers(paced_slack)
    assert sorted(numbers) == [f"{n:04d}" for n in range(24)]  # each posted once: none lost, none twice
    [card] = [m for m in paced_slack.messages[CHANNEL_ID] if "replica alert 0011" in str(m.blocks)]
    assert card.updates  # its next message updated the card posted while Redis was away
    assert slowest < 10  # a bounded wait, never a hang
