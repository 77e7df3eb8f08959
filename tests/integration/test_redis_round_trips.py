"""How many times one delivered dispatch goes to Redis and back (issue 17: at most two round trips per delivered
item beyond the enqueue). A real ``redis-server`` of the test's own; the store, card keeper and outbox in the
test's event loop, delivering to the fake Slack on loopback. Every packet a Redis connection sends is one round
trip (a pipeline or a script is one packet), counted by the task that sent it: the dispatch's own (the enqueue) and
the lane's (everything its delivery needs); the replica's background loops (heartbeat, takeover scan, events,
watched items) are per replica, not per item, and are not counted."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio.connection import AbstractConnection

from bot.button_keys import ButtonKeys
from bot.delivery import outbox as outbox_module
from bot.delivery.cards import CardKeeper
from bot.delivery.outbox import Outbox
from bot.delivery.tokens import TokenVault
from bot.slack.web_api import SlackSender
from bot.store import RedisStore
from tests.delivery_support import SECRET, eventually, request
from tests.fakes.slack import FakeSlack
from tests.redis_server import RedisServer
from tests.samples import alerting_message
from tests.support import CHANNEL_ID, populate

# The bound of issue 17: what the lane's holder sends to Redis per delivered item (the enqueue is the dispatch's):
# the fencing check with the alert's card, then the item settled with its card saved.
MAX_TRIPS_PER_DELIVERED_ITEM = 2
# A dispatch that finds its lane idle makes the fencing check and the card look-up with its enqueue (one script): the
# lane then only settles the item.
MAX_TRIPS_PER_ITEM_OF_AN_IDLE_LANE = 1
# An update also draws from the workspace's chat.update budget, one token bucket in Redis shared by every replica
# (not yet folded into the fencing check's script).
UPDATE_SLOT_TRIPS = 1
ENQUEUE_TRIPS = 1
DISPATCHES = 12
# Updates per second and burst: paced by the shared bucket in Redis, as in production, but never made to wait.
UNHURRIED_UPDATE_RATE = 1000
# A command's name at the start of each RESP array in a packet (for the failure message: which calls they were).
_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


@dataclass
class Trips:
    """The packets sent to Redis, by the name of the task that sent them."""

    scripts: dict[str, str] = field(default_factory=dict)  # sha -> the store's attribute naming the script
    sent: list[tuple[str, str]] = field(default_factory=list)  # (task name, what the packet asked)

    def record(self, packet: Iterable[bytes]) -> None:
        task = asyncio.current_task()
        data = b"".join(bytes(chunk) for chunk in packet)
        names = [name.decode().upper() for name in _COMMAND.findall(data)]
        if names and names[0] == "EVALSHA":
            sha = data.split(b"\r\n")[4].decode()
            names[0] = f"EVALSHA {self.scripts.get(sha, sha[:8])}"
        self.sent.append((task.get_name() if task else "", "+".join(names)))

    def since(self, mark: int, task_prefix: str) -> list[str]:
        return [what for task, what in self.sent[mark:] if task.startswith(task_prefix)]


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Trips:
    counted = Trips()
    send = AbstractConnection.send_packed_command

    # Counted where the caller's task sends it (redis-py writes the packet in a task of its own under a timeout).
    async def counting(
        self: AbstractConnection, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if isinstance(command, str):
            command = command.encode()
        command = [command] if isinstance(command, bytes) else list(command)
        counted.record(command)
        await send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    # The lane's periodic look at the store catches what a broken event stream missed, once a second whatever the
    # traffic: not a cost of an item, so kept out of the count (an item announced by the events is still looked up).
    monkeypatch.setattr(outbox_module, "LANE_SYNC_SECONDS", 3600.0)
    return counted


@asynccontextmanager
async def replica(url: str, slack: FakeSlack, data_dir: Path, trips: Trips) -> AsyncIterator[Outbox]:
    """One replica's delivery parts on the Redis at ``url``, started as the runtime starts them, unpaced."""
    store = await RedisStore.connect(url)
    trips.scripts.update({script.sha: name for name, script in vars(store).items() if hasattr(script, "sha")})
    sender = SlackSender(slack.base_url, retry_handlers=[])
    keys = ButtonKeys([SECRET], data_dir)
    tokens = TokenVault(keys)
    # Updates paced through the shared budget as in production (its slot is a round trip), never waiting here.
    outbox = Outbox(
        store,
        sender,
        CardKeeper(store, keys, tokens),
        tokens,
        post_rate=0,
        post_burst=1,
        update_rate=UNHURRIED_UPDATE_RATE,
        update_burst=UNHURRIED_UPDATE_RATE,
    )
    await outbox.start()
    try:
        yield outbox
    finally:
        await outbox.drain(0)
        await sender.close()
        await store.close()


async def _dispatch(outbox: Outbox, number: int, *, alert: str | None = None) -> None:
    alert = alert or f"alert-trips{number}"
    message = alerting_message(
        title=f"[Alerting] round trips {number}",
        callback_url=f"https://cf.example.test/monitoring/v1/domain/d-1/alert/{alert}/key{number}/ACKNOWLEDGED",
        link=f"https://console.example.test/alert-manager/alert/{alert}",
    )
    submission = await outbox.submit(request(message, channel="#alerts"), digest=None, window=0)
    assert submission is not None
    async with asyncio.timeout(10):
        await submission.future


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    populate(fake)
    await fake.start()
    yield fake
    await fake.stop()


async def _settled(outbox: Outbox) -> None:
    """Wait until the lane has recorded its item (the dispatch is answered before that) and is idle again."""
    await eventually(lambda: outbox.backlog() == 0, "the lane recorded its item")


@pytest.mark.parametrize(
    ("idle", "bound"),
    [(False, MAX_TRIPS_PER_DELIVERED_ITEM), (True, MAX_TRIPS_PER_ITEM_OF_AN_IDLE_LANE)],
    ids=["back-to-back", "idle-lane"],
)
async def test_a_delivered_dispatch_costs_the_lane_holder_at_most_two_round_trips(
    own_redis: RedisServer, slack: FakeSlack, tmp_path: Path, trips: Trips, idle: bool, bound: int
) -> None:
    """Back to back (each dispatch sent as soon as the previous one is answered, while its lane records it), and
    each reaching an idle lane (its fencing check and card look-up made with its enqueue)."""
    async with replica(own_redis.url, slack, tmp_path, trips) as outbox:
        await _dispatch(outbox, 0)  # warm up: the lane's lease, the scripts loaded, the channel name learnt
        await _settled(outbox)
        await _dispatch(outbox, 1, alert="alert-trips0")  # and the update pacer's bucket (to an idle lane)
        await _dispatch(outbox, 2, alert="alert-trips0")  # (back to back)
        await _settled(outbox)
        posts, updates = [], []
        for number in range(3, 3 + DISPATCHES):  # new alerts: each posts a card
            posts.append(len(trips.sent))
            await _dispatch(outbox, number)
            if idle:
                await _settled(outbox)
        await _settled(outbox)
        for number in range(DISPATCHES):  # the same alert again (escalations): each updates its card
            updates.append(len(trips.sent))
            await _dispatch(outbox, 100 + number, alert="alert-trips0")
            if idle:
                await _settled(outbox)
        await _settled(outbox)
        end = len(trips.sent)
    assert len(slack.messages[CHANNEL_ID]) == 1 + DISPATCHES  # delivered: a card per alert (escalations update)

    def items(marks: list[int], prefix: str) -> list[list[str]]:
        bounds = [*marks[1:], updates[0] if marks is posts else end]
        return [
            [what for task, what in trips.sent[a:b] if task.startswith(prefix)]
            for a, b in zip(marks, bounds, strict=True)
        ]

    for label, marks, most in (("post", posts, bound), ("update", updates, bound + UPDATE_SLOT_TRIPS)):
        enqueues = items(marks, "Task-")  # the test's own task: the dispatch
        delivery = items(marks, "lane ")
        assert [sent for sent in enqueues if len(sent) != ENQUEUE_TRIPS] == [], label
        if idle:  # each item's trips fall between its dispatch and the next; the check went with the enqueue
            assert [sent for sent in delivery if len(sent) > most] == [], label
            assert all(sent == ["EVALSHA _enqueue_sending"] for sent in enqueues), (label, enqueues)
        else:  # an item is recorded after its dispatch is answered, maybe once the next is sent: counted together
            assert sum(len(sent) for sent in delivery) <= most * len(delivery), (label, delivery)


async def test_a_cold_lanes_dispatch_costs_one_round_trip_before_its_post(
    own_redis: RedisServer, slack: FakeSlack, tmp_path: Path, trips: Trips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sporadic alerts: each finds its lane released (idle), so nobody delivers it. The dispatch takes the lane's
    lease with its write, its fencing check and its card look-up (one script), and the lane, made then, has nothing
    older to look for: it only settles the item (was: the write, the lease, the check, the settlement)."""
    monkeypatch.setattr(outbox_module, "LANE_SYNC_SECONDS", 0.2)  # an idle lane is released within a fraction of a s
    async with replica(own_redis.url, slack, tmp_path, trips) as outbox:
        outbox._lane_idle_seconds = 0.0
        await _dispatch(outbox, 0)  # warm up: the scripts loaded, the channel name learnt
        await _settled(outbox)
        await _dispatch(outbox, 1_000, alert="alert-trips0")  # and the update pacer's bucket
        await _settled(outbox)
        for number in range(1, 1 + DISPATCHES // 2):
            await eventually(lambda: not outbox._lanes, "the lane released")
            mark = len(trips.sent)
            await _dispatch(outbox, number, alert="alert-trips0" if number % 2 else None)  # updates and posts
            await _settled(outbox)
            settled = len(trips.sent)
            enqueue = [what for task, what in trips.sent[mark:settled] if task.startswith("Task-")]
            delivery = [what for task, what in trips.sent[mark:settled] if task.startswith("lane ")]
            assert enqueue == ["EVALSHA _enqueue_sending"], number  # no lease taken, no check made apart
            most = MAX_TRIPS_PER_ITEM_OF_AN_IDLE_LANE + (UPDATE_SLOT_TRIPS if number % 2 else 0)
            assert len(delivery) <= most and not any("begin_send" in what for what in delivery), (number, delivery)
    assert len(slack.messages[CHANNEL_ID]) == 1 + DISPATCHES // 4  # a card per new alert (the others update one)
