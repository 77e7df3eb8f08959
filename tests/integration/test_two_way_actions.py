"""Two-way actions end to end on loopback (issue 19): signed clicks on Resolve (and on an expired Acknowledge) into
the real HTTP interactivity endpoint and Bolt app, the click service calling the fake Cloudforet alert API (generated
stubs, token and request fields checked), and the card updated in the fake Slack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from bot.cloudforet.apis import CloudforetApi
from bot.core.cards import RESOLVE_ACTION_ID, iter_buttons
from tests.fakes.cloudforet_alerts import FakeAlertApi
from tests.interactivity_support import ClickStack, click_stack, wait_for
from tests.samples import ALERT_ID, TOKEN, resolved_message
from tests.support import CHANNEL_ID, BackgroundLoop

APP_KEY = "app-secret-4f9c2d1e8b7a6350"
DOMAIN = "domain-1"  # the domain the fake callbacks put in their (2.x) URLs


@pytest.fixture
def generation() -> CloudforetApi:
    """Which alert API the fake serves and the client speaks (a test parametrizes it to run both)."""
    return CloudforetApi.NOTIFICATION


@pytest.fixture
def alert_api(generation: CloudforetApi) -> Iterator[FakeAlertApi]:
    """The fake alert API on its own loop (it must listen before the plugin's settings can name it)."""
    loop = BackgroundLoop()
    fake = FakeAlertApi(generation)
    loop.run(fake.start())
    fake.add_app(APP_KEY, DOMAIN)
    fake.add_alert(ALERT_ID, DOMAIN)
    try:
        yield fake
    finally:
        loop.run(fake.stop())
        loop.close()


def _stack(tmp_path: Path, api: FakeAlertApi) -> Any:
    return click_stack(tmp_path, cloudforet_endpoint=api.endpoint, cloudforet_app_key=APP_KEY)


@pytest.fixture
def two_way(tmp_path: Path, alert_api: FakeAlertApi, generation: CloudforetApi) -> Iterator[ClickStack]:
    """A stack with two-way actions on, its client speaking the fake's generation of the alert API (the dispatches
    stay 1.x's: the stack's notifications come through 1.x's plugin protocol, which the card does not depend on)."""
    with _stack(tmp_path, alert_api) as stack:
        assert stack.stack.runtime.alerts is not None
        stack.stack.runtime.alerts.api = generation
        yield stack


def _action_ids(stack: ClickStack, ts: str) -> list[str]:
    return [str(b.get("action_id")) for b in iter_buttons(stack.card(ts).__dict__)]


def _updates(api: FakeAlertApi) -> list[Any]:
    return [c for c in api.calls_of("Alert.update") if c.status is grpc.StatusCode.OK]


def test_without_the_settings_there_is_no_resolve_button(tmp_path: Path) -> None:
    with click_stack(tmp_path) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        assert stack.stack.runtime.alerts is None
        assert _action_ids(stack, ts) == ["open_link", "callback_0"]


@pytest.mark.parametrize("generation", [CloudforetApi.NOTIFICATION, CloudforetApi.ALERT_MANAGER])
def test_resolve_updates_the_alert_notes_who_and_resolves_the_card(
    two_way: ClickStack, alert_api: FakeAlertApi
) -> None:
    ts, _ = two_way.post_alert(ALERT_ID)
    assert _action_ids(two_way, ts) == ["open_link", "callback_0", RESOLVE_ACTION_ID]
    result = two_way.click(two_way.payload(ts, RESOLVE_ACTION_ID))
    assert result.status == 200
    wait_for(lambda: "*Resolved* by <@U0CLICKER>" in two_way.card_text(ts), what="resolved card")
    assert alert_api.state(ALERT_ID) == "RESOLVED"
    [update] = _updates(alert_api)
    assert update.token == APP_KEY
    [note] = alert_api.notes(ALERT_ID)
    assert note == "Resolved from Slack by alice (Slack U0CLICKER)"
    assert _action_ids(two_way, ts) == ["open_link"]  # the action buttons went
    assert two_way.cloudforet.requests == []  # no callback URL was called
    card = two_way.card(ts)
    wait_for(lambda: any("Resolved by alice" in str(r.text) for r in card.replies), what="thread line")
    [audit] = two_way.stack.loop.run(two_way.stack.runtime.store.audit())
    assert (audit.actor, audit.target, audit.outcome) == ("U0CLICKER", ALERT_ID, "done")
    # Cloudforet's own [Resolved] notification later: the card is already resolved, nothing new is posted
    before = len(two_way.stack.posted())
    updates = len(card.updates)
    two_way.stack.dispatch(resolved_message())
    time.sleep(0.3)
    assert len(two_way.stack.posted()) == before
    assert len(two_way.card(ts).updates) == updates


def test_ten_concurrent_resolve_clicks_make_one_update(tmp_path: Path, alert_api: FakeAlertApi) -> None:
    alert_api.delay = 0.3
    with _stack(tmp_path, alert_api) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        payloads = [stack.payload(ts, RESOLVE_ACTION_ID, user_id=f"U{i:04d}", user_name=f"u{i}") for i in range(10)]

        async def all_clicks() -> list[int]:
            return [r.status for r in await asyncio.gather(*(stack.click_async(p) for p in payloads))]

        assert stack.stack.loop.run(all_clicks()) == [200] * 10
        wait_for(lambda: "*Resolved* by" in stack.card_text(ts), what="resolved card")
        wait_for(lambda: len(stack.slack.ephemerals) >= 9, what="9 ephemerals")
        time.sleep(0.5)
        assert len(alert_api.calls_of("Alert.update")) == 1
        assert len(alert_api.notes(ALERT_ID)) == 1
        assert all("already" in str(e.get("text")) for e in stack.slack.ephemerals)


@pytest.mark.parametrize(
    ("setup", "expected", "advice"),
    [
        ("refused", "refused the App key", "BOT_CLOUDFORET_APP_KEY"),
        ("not_found", "does not know the alert", "may have been deleted"),
        ("unavailable", "unreachable", "Try again"),
        ("failed", "answered INVALID_ARGUMENT", "see where it stands"),
    ],
)
def test_a_failed_resolve_keeps_the_buttons_and_tells_the_clicker(
    tmp_path: Path,
    alert_api: FakeAlertApi,
    caplog: pytest.LogCaptureFixture,
    setup: str,
    expected: str,
    advice: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    if setup == "refused":
        alert_api.add_app(APP_KEY, DOMAIN, may_write=False)  # the App's role may only read
    elif setup == "not_found":
        alert_api.fail("Alert.update", grpc.StatusCode.NOT_FOUND)
    elif setup == "unavailable":
        alert_api.fail("Alert.update", grpc.StatusCode.UNAVAILABLE, times=2)  # the first try and its one retry
    else:
        alert_api.fail("Alert.update", grpc.StatusCode.INVALID_ARGUMENT)
    with _stack(tmp_path, alert_api) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        stack.click(stack.payload(ts, RESOLVE_ACTION_ID))
        [text] = wait_for(stack.ephemerals_for, what="ephemeral")
        assert expected in text and advice in text
        wait_for(lambda: len(stack.card(ts).updates) == 2, what="restored card")
        assert _action_ids(stack, ts) == ["open_link", "callback_0", RESOLVE_ACTION_ID]
        assert alert_api.state(ALERT_ID) == "TRIGGERED" and alert_api.notes(ALERT_ID) == []
        [audit] = stack.stack.loop.run(stack.stack.runtime.store.audit())
        assert audit.outcome == "failed" and setup in audit.detail
        # the claim was released: a later click tries again, and goes through once Cloudforet does
        alert_api.add_app(APP_KEY, DOMAIN)
        stack.click(stack.payload(ts, RESOLVE_ACTION_ID))
        wait_for(lambda: alert_api.state(ALERT_ID) == "RESOLVED", what="resolved on retry")
    assert APP_KEY not in caplog.text


def test_an_expired_acknowledge_link_acknowledges_through_the_api(tmp_path: Path, alert_api: FakeAlertApi) -> None:
    with _stack(tmp_path, alert_api) as stack:
        ts, url = stack.post_alert(ALERT_ID)
        stack.cloudforet.expire(url)
        stack.click(stack.payload(ts))
        wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in stack.card_text(ts), what="acknowledged card")
        assert len(stack.cloudforet.requests) == 1  # the expired link was tried first
        assert alert_api.state(ALERT_ID) == "ACKNOWLEDGED"
        assert alert_api.notes(ALERT_ID) == ["Acknowledged from Slack by alice (Slack U0CLICKER)"]
        assert stack.ephemerals_for() == []
        # acknowledged, not resolved: Resolve stays on the card
        assert _action_ids(stack, ts) == ["open_link", RESOLVE_ACTION_ID]
        [audit] = stack.stack.loop.run(stack.stack.runtime.store.audit())
        assert audit.outcome == "done" and "link had expired" in audit.detail


def test_an_expired_link_without_the_settings_still_says_expired(tmp_path: Path) -> None:
    with click_stack(tmp_path) as stack:
        ts, url = stack.post_alert(ALERT_ID)
        stack.cloudforet.expire(url)
        stack.click(stack.payload(ts))
        [text] = wait_for(stack.ephemerals_for, what="ephemeral")
        assert "expired" in text
        assert CHANNEL_ID and _action_ids(stack, ts) == ["open_link", "callback_0"]


def test_resolve_over_socket_mode(tmp_path: Path, alert_api: FakeAlertApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with click_stack(
        tmp_path, transport="socket", cloudforet_endpoint=alert_api.endpoint, cloudforet_app_key=APP_KEY
    ) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        assert stack.click(stack.payload(ts, RESOLVE_ACTION_ID)).status == 200
        wait_for(lambda: "*Resolved* by <@U0CLICKER>" in stack.card_text(ts), what="resolved card")
        assert [c.fields["state"] for c in _updates(alert_api)] == ["RESOLVED"]
        assert alert_api.notes(ALERT_ID) == ["Resolved from Slack by alice (Slack U0CLICKER)"]
    assert "cloudforet resolve" in caplog.text and APP_KEY not in caplog.text


def test_the_note_names_the_clicker_by_e_mail_when_slack_gives_it(tmp_path: Path, alert_api: FakeAlertApi) -> None:
    with _stack(tmp_path, alert_api) as stack:
        stack.slack.add_token(TOKEN, scopes=("chat:write", "usergroups:read", "users:read", "users:read.email"))
        stack.slack.add_user("U0CLICKER", "alice", email="Alice@Example.com")
        ts, _ = stack.post_alert(ALERT_ID)
        stack.click(stack.payload(ts, RESOLVE_ACTION_ID, user_name="Alice"))
        wait_for(lambda: alert_api.notes(ALERT_ID), what="note")
        assert alert_api.notes(ALERT_ID) == ["Resolved from Slack by Alice (alice@example.com)"]
