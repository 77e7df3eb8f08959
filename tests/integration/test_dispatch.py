"""The dispatch service on its own (real outbox and fake Slack): what each dispatch is answered with, as an enum."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.models import DispatchOutcome
from bot.dispatch import DispatchService
from bot.slack.web_api import SlackSender
from tests.delivery_support import delivery_parts, request
from tests.samples import alerting_message
from tests.support import CHANNEL_ID


async def test_a_dispatch_is_posted_then_its_retry_is_a_repeat(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        service = DispatchService(parts.outbox, SlackSender(parts.slack.base_url), wait=5, repeat_window=60)
        assert await service.dispatch(request(alerting_message())) is DispatchOutcome.POSTED
        assert await service.dispatch(request(alerting_message())) is DispatchOutcome.REPEAT
        assert len(parts.slack.messages[CHANNEL_ID]) == 1 and await parts.store.outbox_counts() == {}


async def test_a_dispatch_held_back_by_an_outage_is_queued_durably(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        service = DispatchService(parts.outbox, SlackSender(parts.slack.base_url), wait=0.2, repeat_window=0)
        parts.slack.outage(2.0)
        assert await service.dispatch(request({"title": "later"})) is DispatchOutcome.QUEUED
        assert await parts.store.outbox_counts() == {"pending": 1}


async def test_a_permanent_error_is_raised_not_answered(tmp_path: Path) -> None:
    async with delivery_parts(tmp_path) as parts:
        service = DispatchService(parts.outbox, SlackSender(parts.slack.base_url), wait=5, repeat_window=60)
        with pytest.raises(BotError) as failed:
            await service.dispatch(request({"title": "x"}, channel="#no-such-channel"))
        assert failed.value.code is ErrorCode.SLACK_CHANNEL_NOT_FOUND
