"""Two-way actions end to end on loopback (issue 19): signed clicks on Resolve (and on an expired Acknowledge) into
the real HTTP interactivity endpoint and Bolt app, the click service calling the fake Cloudforet alert API (generated
stubs, token and request fields checked), and the card updated in the fake Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from bot.cloudforet.apis import CloudforetApi
from bot.core.cards import NOTE_ACTION_ID, RESOLVE_ACTION_ID, iter_buttons
from bot.core.notes import NOTE_BLOCK_ID, NOTE_CALLBACK_ID, NOTE_INPUT_ACTION_ID
from tests.fakes.cloudforet_alerts import FakeAlertApi
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack
from tests.integration.test_replicas import RoundRobin, replicas
from tests.interactivity_support import SIGNING_SECRET, ClickStack, click_stack, wait_for
from tests.process import ServerProcess
from tests.redis_server import RedisServer
from tests.samples import ALERT_ID, TOKEN, alerting_message, resolved_message
from tests.support import CHANNEL_ID, BackgroundLoop, populate

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
    assert _action_ids(two_way, ts) == ["open_link", "callback_0", RESOLVE_ACTION_ID, NOTE_ACTION_ID]
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
        assert _action_ids(stack, ts) == ["open_link", "callback_0", RESOLVE_ACTION_ID, NOTE_ACTION_ID]
        assert alert_api.state(ALERT_ID) == "TRIGGERED" and alert_api.notes(ALERT_ID) == []
        [audit] = stack.stack.loop.run(stack.stack.runtime.store.audit())
        assert audit.outcome == "failed" and setup in audit.detail
        # the claim was released: a later click tries again, and goes through once Cloudforet does
        alert_api.add_app(APP_KEY, DOMAIN)
        stack.click(stack.payload(ts, RESOLVE_ACTION_ID))
        wait_for(lambda: alert_api.state(ALERT_ID) == "RESOLVED", what="resolved on retry")
    assert APP_KEY not in caplog.text


@pytest.mark.parametrize("transport", ["http", "socket"])
def test_an_expired_acknowledge_link_acknowledges_through_the_api(
    tmp_path: Path, alert_api: FakeAlertApi, transport: str
) -> None:
    with click_stack(
        tmp_path, transport=transport, cloudforet_endpoint=alert_api.endpoint, cloudforet_app_key=APP_KEY
    ) as stack:
        ts, url = stack.post_alert(ALERT_ID)
        stack.cloudforet.expire(url)
        stack.click(stack.payload(ts))
        wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in stack.card_text(ts), what="acknowledged card")
        assert len(stack.cloudforet.requests) == 1  # the expired link was tried first
        assert alert_api.state(ALERT_ID) == "ACKNOWLEDGED"
        assert alert_api.notes(ALERT_ID) == ["Acknowledged from Slack by alice (Slack U0CLICKER)"]
        assert stack.ephemerals_for() == []
        # acknowledged, not resolved: Resolve stays on the card
        assert _action_ids(stack, ts) == ["open_link", RESOLVE_ACTION_ID, NOTE_ACTION_ID]
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


def _open_note_modal(stack: ClickStack, ts: str) -> dict[str, Any]:
    """Click Add note on the card; the modal the fake Slack opened for that click's trigger id."""
    payload = stack.payload(ts, NOTE_ACTION_ID)
    assert stack.click(payload).status == 200
    [opened] = wait_for(lambda: stack.slack.opened_views, what="views.open")
    assert opened["trigger_id"] == payload["trigger_id"] and opened["user"] == "U0CLICKER"
    return opened


def _submit(stack: ClickStack, opened: dict[str, Any], text: str, **kwargs: Any) -> dict[str, Any] | None:
    """Submit the note modal with ``text``; Slack's answer as the plugin gave it (None: an empty 200, the modal
    closes)."""
    result = stack.click(stack.slack.view_submission_payload(opened, {NOTE_INPUT_ACTION_ID: text}, **kwargs))
    assert result.status == 200
    return json.loads(result.body) if result.body else None


def _replies(stack: ClickStack, ts: str) -> list[str]:
    return [str(r.text) for r in stack.card(ts).replies]


@pytest.mark.parametrize("generation", [CloudforetApi.NOTIFICATION, CloudforetApi.ALERT_MANAGER])
def test_add_note_opens_a_modal_and_the_submission_adds_the_note(
    two_way: ClickStack, alert_api: FakeAlertApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ts, _ = two_way.post_alert(ALERT_ID)
    opened = _open_note_modal(two_way, ts)
    view = opened["view"]
    assert view["type"] == "modal" and view["callback_id"] == NOTE_CALLBACK_ID
    assert len(view["title"]["text"]) <= 24 and view["submit"] and view["close"]
    [block] = view["blocks"]
    assert block["block_id"] == NOTE_BLOCK_ID and block["element"]["min_length"] == 1
    assert APP_KEY not in json.dumps(view) and ALERT_ID not in view["private_metadata"]  # sealed, no key
    assert alert_api.notes(ALERT_ID) == []  # opening the modal calls nothing
    assert _submit(two_way, opened, "Disk replaced on db-1.\nWatching it.") is None  # the modal closes
    assert alert_api.notes(ALERT_ID) == ["Disk replaced on db-1.\nWatching it.\n— alice (Slack U0CLICKER) from Slack"]
    [call] = alert_api.calls_of("Note.create")
    assert call.token == APP_KEY and call.status is grpc.StatusCode.OK
    line = wait_for(lambda: [r for r in _replies(two_way, ts) if "Note added by alice" in r], what="thread line")
    assert "Disk replaced on db-1. Watching it." in line[0]
    assert alert_api.state(ALERT_ID) == "TRIGGERED"  # a note changes nothing else
    [audit] = two_way.stack.loop.run(two_way.stack.runtime.store.audit())
    assert (audit.actor, audit.target, audit.outcome) == ("U0CLICKER", ALERT_ID, "done")
    assert APP_KEY not in caplog.text


def test_a_refused_key_answers_the_submission_with_an_error_on_the_input(
    tmp_path: Path, alert_api: FakeAlertApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alert_api.add_app(APP_KEY, DOMAIN, may_write=False)
    with _stack(tmp_path, alert_api) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        opened = _open_note_modal(stack, ts)
        answer = _submit(stack, opened, "Disk replaced")
        assert answer is not None and answer["response_action"] == "errors"
        assert "refused the App key" in answer["errors"][NOTE_BLOCK_ID]
        assert "BOT_CLOUDFORET_APP_KEY" in answer["errors"][NOTE_BLOCK_ID]
        assert alert_api.notes(ALERT_ID) == []
        time.sleep(0.3)
        assert not any("Note added" in r for r in _replies(stack, ts))
        [audit] = stack.stack.loop.run(stack.stack.runtime.store.audit())
        assert audit.outcome == "failed" and "refused_key" in audit.detail
    assert APP_KEY not in caplog.text


def test_a_submission_with_forged_metadata_is_refused(two_way: ClickStack, alert_api: FakeAlertApi) -> None:
    ts, _ = two_way.post_alert(ALERT_ID)
    opened = _open_note_modal(two_way, ts)
    resolve_value = next(
        b["value"] for b in iter_buttons(two_way.card(ts).__dict__) if b["action_id"] == RESOLVE_ACTION_ID
    )
    # not sealed at all; and sealed by this deployment, but a button's value rather than the modal's
    for forged in (json.dumps({"a": "note-modal", "i": ALERT_ID, "d": DOMAIN}), resolve_value):
        answer = _submit(two_way, opened, "Disk replaced", private_metadata=forged)
        assert answer is not None and "not issued by this plugin" in answer["errors"][NOTE_BLOCK_ID]
    assert alert_api.calls_of("Note.create") == []
    assert [a.outcome for a in two_way.stack.loop.run(two_way.stack.runtime.store.audit())] == ["refused", "refused"]


def test_a_responder_not_allowed_cannot_open_the_note_modal(tmp_path: Path, alert_api: FakeAlertApi) -> None:
    with click_stack(
        tmp_path, cloudforet_endpoint=alert_api.endpoint, cloudforet_app_key=APP_KEY, allowed_responders=["U0OTHER"]
    ) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        stack.click(stack.payload(ts, NOTE_ACTION_ID))
        [text] = wait_for(stack.ephemerals_for, what="ephemeral")
        assert "Nothing was done" in text
        assert stack.slack.opened_views == []


def test_add_note_over_socket_mode(tmp_path: Path, alert_api: FakeAlertApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with click_stack(
        tmp_path, transport="socket", cloudforet_endpoint=alert_api.endpoint, cloudforet_app_key=APP_KEY
    ) as stack:
        ts, _ = stack.post_alert(ALERT_ID)
        opened = _open_note_modal(stack, ts)
        alert_api.fail("Note.create", grpc.StatusCode.NOT_FOUND)
        submission = stack.slack.view_submission_payload(opened, {NOTE_INPUT_ACTION_ID: "Rebooted"})
        stack.click(submission)
        [ack] = [a for a in stack.slack.socket_acks if a.get("payload")]
        assert ack["payload"]["response_action"] == "errors"
        assert "may have been deleted" in ack["payload"]["errors"][NOTE_BLOCK_ID]
        stack.click(stack.slack.view_submission_payload(opened, {NOTE_INPUT_ACTION_ID: "Rebooted"}))
        assert alert_api.notes(ALERT_ID) == ["Rebooted\n— alice (Slack U0CLICKER) from Slack"]
        wait_for(lambda: [r for r in _replies(stack, ts) if "Note added by alice" in r], what="thread line")
    assert APP_KEY not in caplog.text


def test_a_slow_cloudforet_still_gets_the_submission_answered_in_time(
    two_way: ClickStack, alert_api: FakeAlertApi
) -> None:
    ts, _ = two_way.post_alert(ALERT_ID)
    opened = _open_note_modal(two_way, ts)
    alert_api.delay = 3.5  # past Slack's 3 s for the answer, within the plugin's 5 s for Cloudforet
    started = time.monotonic()
    answer = _submit(two_way, opened, "Slow but sure")
    assert time.monotonic() - started < 3.0
    assert answer is not None and "slow to answer" in answer["errors"][NOTE_BLOCK_ID]
    # the call went on: the note lands, and the thread says so
    wait_for(lambda: alert_api.notes(ALERT_ID), what="note")
    wait_for(lambda: [r for r in _replies(two_way, ts) if "Slow but sure" in r], what="thread line")


@pytest.mark.storm
def test_concurrent_resolve_clicks_over_three_replicas_on_redis_make_one_update(
    tmp_path: Path, alert_api: FakeAlertApi, own_redis: RedisServer, background: BackgroundLoop
) -> None:
    """The exactly-once claim holds across replicas: 20 Resolve clicks at once, spread over three `serve` processes
    on one Redis, make one Alert.update and one note."""
    alert_api.delay = 0.3  # the first call is still in flight when the others arrive
    callbacks = FakeCloudforet()
    background.run(callbacks.start())
    slack = FakeSlack()
    populate(slack)
    background.run(slack.start())
    try:
        url = callbacks.issue_key(ALERT_ID)
        endpoint = alert_api.endpoint
        with replicas(
            3, tmp_path, slack, own_redis, BOT_CLOUDFORET_ENDPOINT=endpoint, BOT_CLOUDFORET_APP_KEY=APP_KEY
        ) as servers:
            cloudforet = RoundRobin(servers)
            cloudforet.dispatch(alerting_message(callback_url=url))
            cloudforet.close()
            [card] = slack.messages[CHANNEL_ID]

            async def click(server: ServerProcess, n: int) -> int:
                events = f"http://127.0.0.1:{server.http_port}/slack/events"
                payload = slack.block_actions_payload(
                    CHANNEL_ID, card.ts, RESOLVE_ACTION_ID, user_id=f"U{n:04d}", user_name=f"u{n}"
                )
                return (await slack.click(events, SIGNING_SECRET, payload)).status

            async def all_at_once() -> list[int]:
                return list(await asyncio.gather(*(click(servers[n % 3], n) for n in range(20))))

            assert background.run(all_at_once()) == [200] * 20
            wait_for(lambda: "*Resolved* by" in str(card.attachments), what="the card resolved")
            time.sleep(1.0)
        assert len(_updates(alert_api)) == 1
        assert len(alert_api.notes(ALERT_ID)) == 1
        assert callbacks.requests == []
    finally:
        background.run(slack.stop())
        background.run(callbacks.stop())


def test_a_1x_notification_names_no_domain_so_the_apps_domain_setting_supplies_it(
    tmp_path: Path, alert_api: FakeAlertApi
) -> None:
    """1.x callback URLs (``…/monitoring/v1/alert/{id}/{key}/STATE``) and requests name no domain, which 1.x's alert
    API needs: without BOT_CLOUDFORET_DOMAIN_ID the card offers no Resolve; with it, Resolve works."""
    with _stack(tmp_path / "without", alert_api) as stack:
        ts, _ = stack.post_alert(ALERT_ID, callback_url=stack.cloudforet.issue_v1_url(ALERT_ID))
        assert _action_ids(stack, ts) == ["open_link", "callback_0"]
    with click_stack(
        tmp_path / "with",
        cloudforet_endpoint=alert_api.endpoint,
        cloudforet_app_key=APP_KEY,
        cloudforet_domain_id=DOMAIN,
    ) as stack:
        ts, _ = stack.post_alert(ALERT_ID, callback_url=stack.cloudforet.issue_v1_url(ALERT_ID))
        assert RESOLVE_ACTION_ID in _action_ids(stack, ts)
        stack.click(stack.payload(ts, RESOLVE_ACTION_ID))
        wait_for(lambda: "*Resolved* by <@U0CLICKER>" in stack.card_text(ts), what="resolved card")
    [update] = _updates(alert_api)
    assert update.fields["domain_id"] == DOMAIN and alert_api.state(ALERT_ID) == "RESOLVED"
