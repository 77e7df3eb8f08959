"""Delivery that loses nothing when its own parts misbehave: a locked or deleted database, huge messages, many
channels, a second process on the same data directory; and one card per alert across the names Cloudforet uses."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from bot.core.sealed import fingerprint
from bot.store.sqlite import DB_FILE
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import wait_for
from tests.process import ROOT, free_port, server_process
from tests.samples import ACCESS_KEY, ALERT_ID, CALLBACK_URL, TOKEN, alert_tags, alerting_message
from tests.support import CHANNEL_ID, Stack, live_stack, sqlite_path


def _queued_rows(stack: Stack) -> list[str]:
    with sqlite3.connect(sqlite_path(stack.runtime)) as db:
        return [row[0] for row in db.execute("SELECT body FROM outbox WHERE state = 'pending'")]


def test_a_store_failure_in_a_lane_does_not_silence_the_channel(tmp_path: Path) -> None:
    """The database is locked by another program just as a queued card goes out: the lane waits for the store
    (without posting twice) and keeps delivering afterwards."""
    with live_stack(tmp_path, dispatch_wait=0.2) as stack:
        stack.slack.outage(1.0)
        stack.dispatch({"title": "first"})  # answered once written down: the outage holds it back
        assert stack.loop.run(stack.runtime.store.outbox_counts()) == {"pending": 1}
        other = sqlite3.connect(sqlite_path(stack.runtime), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        wait_for(lambda: len(stack.posted()) == 1, what="the queued card posted after the outage")
        time.sleep(0.5)  # the lane now retries its bookkeeping against the locked store
        other.execute("ROLLBACK")
        other.close()
        stack.dispatch({"title": "second"})
        wait_for(lambda: len(stack.posted()) == 2, what="the next card to the same channel")
        assert [m.text for m in stack.posted()].count(stack.posted()[0].text) == 1  # the first was not re-posted
        wait_for(lambda: stack.loop.run(stack.runtime.store.outbox_counts()) == {}, what="the outbox emptied")


def test_a_locked_database_neither_stalls_the_plugin_nor_loses_the_notification(tmp_path: Path) -> None:
    with live_stack(tmp_path, dispatch_wait=0.2) as stack:
        stack.slack.outage(2.0)
        other = sqlite3.connect(sqlite_path(stack.runtime), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(stack.dispatch, {"title": "cannot be written down"})
            health: list[float] = []
            while not answer.done():
                started = time.monotonic()
                with urllib.request.urlopen(f"http://127.0.0.1:{stack.runtime.http_port}/healthz", timeout=5) as r:
                    assert r.status == 200
                health.append(time.monotonic() - started)
                time.sleep(0.1)
            with pytest.raises(grpc.RpcError) as caught:
                answer.result()
        other.execute("ROLLBACK")
        other.close()
        error: Any = caught.value
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details().startswith("ERROR_STORE_UNAVAILABLE")
        assert health and max(health) < 1.0  # the event loop kept answering (SQLite's busy wait held it 5 s)
        # not accepted means not delivered: it was taken back, and its repeat is not swallowed either
        time.sleep(2.5)  # Slack is back by now
        assert stack.posted() == []
        stack.dispatch({"title": "cannot be written down"})
        wait_for(lambda: len(stack.posted()) == 1, what="the dispatch sent again, delivered")
        time.sleep(0.5)
        assert len(stack.posted()) == 1


def test_a_database_that_cannot_be_written_does_not_hold_notifications_back(tmp_path: Path) -> None:
    """Degraded mode on the embedded store: while another program holds the database's write lock, a notification
    is still posted and answered OK; its card is written down once the lock goes, so the alert's next message
    updates it rather than starting a second card."""
    with live_stack(tmp_path, repeat_window=0) as stack:  # the same message twice: an escalation step
        other = sqlite3.connect(sqlite_path(stack.runtime), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            stack.dispatch(alerting_message())  # answered OK: posted, though its card cannot be written down
            assert len(stack.posted()) == 1
        finally:
            other.execute("ROLLBACK")
            other.close()
        time.sleep(3)  # the heartbeat writes the card down
        stack.dispatch(alerting_message())  # the same alert's next message
        wait_for(lambda: bool(stack.posted()[0].updates), what="the card updated")
        assert len(stack.posted()) == 1  # no second card


def test_idle_lanes_are_reaped(tmp_path: Path) -> None:
    with live_stack(tmp_path) as stack:
        stack.runtime.outbox._lane_idle_seconds = 0.2
        for i in range(30):  # each to an unknown channel: refused for good
            with pytest.raises(grpc.RpcError):
                stack.dispatch(
                    {"title": f"to nowhere {i}", "description": "x" * 100_000},
                    channel_data={"token": TOKEN, "channel": f"no-such-{i}"},
                )
        stack.dispatch({"title": "fine"})
        assert stack.loop.run(_lane_count(stack)) > 0
        wait_for(lambda: stack.loop.run(_lane_count(stack)) == 0, what="idle lanes reaped")
        stack.dispatch({"title": "a reaped lane comes back when needed"})
        assert len(stack.posted()) == 2


async def _lane_count(stack: Stack) -> int:
    return stack.runtime.outbox.lane_count()


def test_a_huge_message_is_kept_compact_while_queued(tmp_path: Path) -> None:
    with live_stack(tmp_path, dispatch_wait=0.2) as stack:
        stack.slack.outage(1.0)
        huge = "word " * 350_000  # 1.75 MB, twice over
        stack.dispatch({"title": "huge", "description": huge, "unknown": huge, "tags": alert_tags()})
        [body] = _queued_rows(stack)
        assert len(body) < 100_000  # not the 3.5 MB received
        wait_for(lambda: len(stack.posted()) == 1, what="delivery")
        [card] = stack.posted()
        assert "Alert Number" in json.dumps(card.attachments) and stack.slack.errors()[-1].status == 503


def test_grpc_requests_are_bounded_at_4_mib(tmp_path: Path) -> None:
    with live_stack(tmp_path) as stack:
        stack.dispatch({"title": "big but fine", "description": "x" * (3 * 1024 * 1024)})
        with pytest.raises(grpc.RpcError) as caught:
            stack.dispatch({"title": "too big", "description": "x" * (5 * 1024 * 1024)})
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(stack.posted()) == 1


def test_a_database_deleted_while_running_loses_nothing_queued(tmp_path: Path) -> None:
    with live_stack(tmp_path, dispatch_wait=0.2) as stack:
        stack.slack.outage(1.5)
        for i in range(3):
            stack.dispatch({"title": f"queued {i}"})
        assert stack.loop.run(stack.runtime.store.outbox_counts()) == {"pending": 3}
        for path in tmp_path.glob(DB_FILE + "*"):
            path.unlink()
        stack.loop.run(stack.runtime.check_store())
        assert stack.loop.run(stack.runtime.store.outbox_counts()) == {"pending": 3}  # written back to a fresh file
        wait_for(lambda: len(stack.posted()) == 3, what="all three delivered")
        wait_for(lambda: stack.loop.run(stack.runtime.store.outbox_counts()) == {}, what="and forgotten")
        assert [m.text for m in stack.posted()] == sorted(m.text for m in stack.posted())  # in order


def test_a_second_plugin_on_the_same_data_directory_refuses_to_start(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with server_process(tmp_path, fake_slack.base_url) as first:
        env = {
            "BOT_GRPC_PORT": str(free_port()),
            "BOT_HTTP_PORT": str(free_port()),
            "BOT_GRPC_HOST": "127.0.0.1",
            "BOT_HTTP_HOST": "127.0.0.1",
            "BOT_DATA_DIR": str(tmp_path),
            "BOT_SLACK_API_URL": fake_slack.base_url,
            "BOT_LOCK_WAIT": "0.5",
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
        }
        second = subprocess.run(
            [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) <= 2 and "BOT_DATA_DIR" in lines[-1] and "Traceback" not in second.stderr
        assert first.process.poll() is None  # the first one is undisturbed


def _public_detail_link(alert_id: str = ALERT_ID) -> str:
    """The console link Cloudforet 2.x puts in alert notifications: the alert id only inside the query."""
    webhook = f"https://monitoring-webhook.example.test/monitoring/v1/domain/domain-1/alert/{alert_id}/{ACCESS_KEY}"
    return f"https://console.example.test/alert-public-detail?alert_url={webhook}"


def _color(stack: Stack, ts: str) -> object:
    """The colour of the card posted at ``ts`` in the alerts channel."""
    card = stack.slack.find(CHANNEL_ID, ts)
    assert card is not None and card.attachments, ts
    return card.attachments[0]["color"]


@pytest.mark.parametrize("resolved_names", ["link with the id in its query", "alert number only"])
def test_resolved_updates_the_card_whatever_names_the_alert(tmp_path: Path, resolved_names: str) -> None:
    with live_stack(tmp_path) as stack:
        stack.dispatch(alerting_message(callback_url=CALLBACK_URL, link=_public_detail_link()))
        resolved: dict[str, Any] = {
            "title": "[Resolved] Notification of access to the SpaceONE",
            "tags": alert_tags(state="RESOLVED"),
            "domain_name": "acme",
        }
        if resolved_names.startswith("link"):
            resolved["link"] = _public_detail_link()
            resolved["domain_name"] = "another-domain-name"  # so the Alert Number cannot be what matched
        stack.dispatch(resolved, notification_type="SUCCESS")
        [card] = stack.posted()  # one card, updated in place
        wait_for(lambda: _color(stack, card.ts) == "#2EB67D", what="the card turned green")


def test_the_same_alert_from_two_workspaces_makes_two_cards(tmp_path: Path) -> None:
    fake = FakeSlack()
    other_token = "xoxb-9999-8888-OTHERworkspace"
    fake.add_token(other_token, team_id="T0OTHER", team="other", user_id="U0BOT2", bot_id="B0BOT2")
    fake.add_channel("alerts", "C0OTHER001", team_id="T0OTHER")
    with live_stack(tmp_path, fake) as stack:
        stack.dispatch(alerting_message())
        stack.dispatch(alerting_message(), channel_data={"token": other_token, "channel": "#alerts"})
        assert len(stack.posted(CHANNEL_ID)) == 1 and len(stack.posted("C0OTHER001")) == 1
        assert stack.slack.errors() == []
        for token, channel_id in ((TOKEN, CHANNEL_ID), (other_token, "C0OTHER001")):
            card = stack.loop.run(stack.runtime.store.find_card(fingerprint(token), "alerts", [f"alert:{ALERT_ID}"]))
            assert card is not None and card.channel_id == channel_id
