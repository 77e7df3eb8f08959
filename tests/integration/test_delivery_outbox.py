"""The outbox on its own (real store, vault and card keeper, the fake Slack): lanes named by their channel, repeats
dropped until a failure, the vault told who posted where, stored items resumed (or failed with a reason), idle lanes
reaped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.sealed import fingerprint, seal
from bot.delivery.cards import dispatch_body
from bot.delivery.outbox import Lane, lane_key
from bot.pacing import Pacer
from bot.store import ItemKind, SqliteStore
from tests.delivery_support import delivery_parts, eventually, request
from tests.samples import TOKEN
from tests.support import CHANNEL_ID

WINDOW = 60.0


def test_a_lane_is_labelled_by_its_channel_never_by_its_token() -> None:
    lane = Lane(lane_key(TOKEN, "alerts"), "alerts", Pacer(0, 1))
    assert lane.label == "alerts"
    assert lane.key == f"{fingerprint(TOKEN)}:alerts" and TOKEN not in lane.key


async def test_a_repeat_is_dropped_until_its_delivery_failed_for_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with delivery_parts(tmp_path) as parts:
        to_nowhere = request({"title": "x"}, channel="#no-such-channel")
        first = await parts.outbox.submit(to_nowhere, digest="d1", window=WINDOW)
        assert first is not None
        assert (await parts.outbox.submit(to_nowhere, digest="d1", window=WINDOW)) is None  # a retry from Cloudforet
        with caplog.at_level(logging.WARNING), pytest.raises(BotError) as failed:
            await asyncio.wait_for(first.future, 10)
        assert failed.value.code is ErrorCode.SLACK_CHANNEL_NOT_FOUND
        assert "a notification to no-such-channel failed for good" in caplog.text  # its lane's label
        assert TOKEN not in caplog.text and fingerprint(TOKEN) not in caplog.text
        assert (await parts.outbox.submit(to_nowhere, digest="d1", window=WINDOW)) is not None  # may be sent again
        assert (await parts.store.failed_items())[0][1] == lane_key(TOKEN, "no-such-channel")


async def test_the_vault_learns_which_bot_posts_in_a_channel(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        assert parts.tokens.token_for_channel(CHANNEL_ID) is None
        submission = await parts.outbox.submit(request({"title": "hello"}), digest=None, window=0)
        assert submission is not None
        await asyncio.wait_for(submission.future, 10)
        assert parts.tokens.token_for_channel(CHANNEL_ID) == TOKEN  # for user-group look-ups on clicks


async def test_stored_items_are_resumed_and_unopenable_ones_fail_with_a_reason(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        body, _ = dispatch_body(request({"title": "left over from the last run"}))
        lane = lane_key(TOKEN, "alerts")
        await parts.store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=body, token=parts.tokens.seal(TOKEN), now=1)
        await parts.store.enqueue(
            lane=lane, kind=ItemKind.DISPATCH, body=body, token="v1.gone.sealed-by-old-keys", now=2
        )
        not_a_token = seal({"u": "https://hook.example.test/x"}, parts.keys.sealing_key)  # ours, but a button's
        await parts.store.enqueue(lane=lane, kind=ItemKind.DISPATCH, body=body, token=not_a_token, now=3)
        assert [item.kind for item in await parts.store.pending()] == [ItemKind.DISPATCH] * 3
        await parts.outbox.start()
        await parts.outbox.drain(10)
        assert [reason for _, _, reason in await parts.store.failed_items()] == [
            "ERROR_TOKEN_UNREADABLE: the bot token cannot be opened with the current keys (BOT_BUTTON_KEY or the "
            "signing secret changed)"
        ] * 2
        [posted] = parts.slack.messages[CHANNEL_ID]
        assert (posted.text or "").endswith("left over from the last run")
        assert await parts.store.outbox_counts() == {"failed": 2}


async def _counts(store: SqliteStore, expected: dict[str, int]) -> bool:
    """Whether the store's outbox holds ``expected`` (for ``eventually``)."""
    return await store.outbox_counts() == expected


async def test_a_dispatch_is_written_down_only_while_it_waits(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        parts.slack.outage(0.3)
        submission = await parts.outbox.submit(request({"title": "held back"}), digest=None, window=0)
        assert submission is not None
        await parts.outbox.persist(submission.job)
        assert await parts.store.outbox_counts() == {"pending": 1}
        await asyncio.wait_for(submission.future, 10)  # retried after the outage; answered, then recorded
        await eventually(lambda: _counts(parts.store, {}), "the delivered item recorded")
        quick = await parts.outbox.submit(request({"title": "quick"}), digest=None, window=0)
        assert quick is not None
        await asyncio.wait_for(quick.future, 10)
        await parts.outbox.persist(quick.job)  # already delivered: nothing to write
        assert await parts.store.outbox_counts() == {} and len(parts.slack.messages[CHANNEL_ID]) == 2


async def test_idle_lanes_end_and_come_back_when_needed(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path, lane_idle_seconds=0.05) as parts:
        for channel in ("#alerts", "#team-1", "#team-2"):
            submission = await parts.outbox.submit(request({"title": "x"}, channel=channel), digest=None, window=0)
            assert submission is not None
            await asyncio.wait_for(submission.future, 10)
        assert parts.outbox.lane_count() == 3
        await eventually(lambda: parts.outbox.lane_count() == 0, "idle lanes reaped")
        again = await parts.outbox.submit(request({"title": "again"}), digest=None, window=0)
        assert again is not None
        await asyncio.wait_for(again.future, 10)  # answered once posted; the lane moves on once it is recorded
        await eventually(lambda: parts.outbox.backlog() == 0, "the item recorded")
        assert len(parts.slack.messages[CHANNEL_ID]) == 2
