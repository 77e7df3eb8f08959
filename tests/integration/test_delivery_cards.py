"""The card keeper on its own (with the real store, vault and outbox, and the fake Slack): one living card per
alert, where its alert stands as an enum, and acknowledgements recorded on the card and in its thread."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.button_keys import ButtonKeys
from bot.core.cards import CardStatus
from bot.delivery.cards import CardKeeper
from bot.delivery.tokens import TokenVault
from bot.store import CardRecord, SqliteStore
from tests.delivery_support import Parts, delivery_parts, eventually, request
from tests.samples import alerting_message, resolved_message
from tests.support import CHANNEL_ID

AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


async def _deliver(parts: Parts, message: dict[str, object], notification_type: str = "ERROR") -> None:
    submission = await parts.outbox.submit(request(message, notification_type=notification_type), digest=None, window=0)
    assert submission is not None
    await asyncio.wait_for(submission.future, 10)  # answered once posted: its card is recorded just after
    await eventually(lambda: parts.outbox.backlog() == 0, "the item and its card recorded")


async def test_an_alert_keeps_one_card_whose_status_is_an_enum(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        await _deliver(parts, alerting_message())
        [card] = parts.slack.messages[CHANNEL_ID]
        status = await parts.cards.card_status(CHANNEL_ID, card.ts)
        assert status is CardStatus.OPEN
        await _deliver(parts, alerting_message())  # an escalation step updates the same card
        await _deliver(parts, resolved_message(), "SUCCESS")
        assert len(parts.slack.messages[CHANNEL_ID]) == 1 and len(card.updates) == 2
        assert await parts.cards.card_status(CHANNEL_ID, card.ts) is CardStatus.RESOLVED
        assert parts.slack.find(CHANNEL_ID, card.ts) is not None and card.replies  # "Escalated", "Resolved" lines


async def test_a_message_that_is_no_alert_card_has_no_status(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        await _deliver(parts, {"title": "a plain notification"})  # posted, but no alert to keep a card for
        [message] = parts.slack.messages[CHANNEL_ID]
        assert await parts.cards.card_status(CHANNEL_ID, message.ts) is None
        assert await parts.cards.card_status(CHANNEL_ID, "1.000001") is None


async def test_an_acknowledgement_is_recorded_on_the_card_and_in_its_thread(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        await _deliver(parts, alerting_message())
        [card] = parts.slack.messages[CHANNEL_ID]
        await parts.cards.record_ack(CHANNEL_ID, card.ts, actor="U0CLICKER", actor_name="jane", at=AT)
        record = await parts.store.card_by_message(CHANNEL_ID, card.ts)
        assert record is not None and record.status is CardStatus.ACKNOWLEDGED and record.actor_name == "jane"
        await eventually(lambda: len(card.replies) == 1, "the acknowledgement's line in the card's thread")
        assert "jane" in (card.replies[0].text or "")
        with sqlite3.connect(parts.store.path) as db:  # stored as the enum's value, as before it was an enum
            assert db.execute("SELECT status FROM alert_cards").fetchall() == [("acknowledged",)]
        await eventually(lambda: _outbox_empty(parts), "the thread line's item forgotten once delivered")


async def test_a_resolved_card_takes_no_acknowledgement(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        await _deliver(parts, alerting_message())
        await _deliver(parts, resolved_message(), "SUCCESS")
        [card] = parts.slack.messages[CHANNEL_ID]
        replies = len(card.replies)
        await parts.cards.record_ack(CHANNEL_ID, card.ts, actor="U0LATE", actor_name="late", at=AT)
        record = await parts.store.card_by_message(CHANNEL_ID, card.ts)
        assert record is not None and record.status is CardStatus.RESOLVED and record.actor is None
        assert await parts.store.outbox_counts() == {} and len(card.replies) == replies


async def test_an_acknowledgement_on_a_card_whose_token_no_longer_opens_is_still_recorded(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        await _deliver(parts, alerting_message())
        [card] = parts.slack.messages[CHANNEL_ID]
    # the next run has other keys (BOT_BUTTON_KEY changed): the card's sealed bot token cannot be opened
    async with delivery_parts(tmp_path, secret="a-new-key") as parts:
        await parts.cards.record_ack(CHANNEL_ID, card.ts, actor="U0CLICKER", actor_name="jane", at=AT)
        record = await parts.store.card_by_message(CHANNEL_ID, card.ts)
        assert record is not None and record.status is CardStatus.ACKNOWLEDGED
        assert await parts.store.outbox_counts() == {}  # no thread line could be sent with that token


async def test_a_card_keeper_outside_an_outbox_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, lock_wait=0)
    try:
        keys = ButtonKeys(["k"], tmp_path)
        tokens = TokenVault(keys)
        await store.save_card(
            CardRecord(
                bot="b",
                channel_id=CHANNEL_ID,
                ts="1.0",
                target="alerts",
                status=CardStatus.OPEN,
                notified=1,
                token=tokens.seal("xoxb-1"),
                updated_at=1.0,
            )
        )
        with pytest.raises(RuntimeError, match="no outbox"):
            await CardKeeper(store, keys, tokens).record_ack(CHANNEL_ID, "1.0", actor="U1", actor_name="a", at=AT)
    finally:
        await store.close()


async def _outbox_empty(parts: Parts) -> bool:
    return await parts.store.outbox_counts() == {}
