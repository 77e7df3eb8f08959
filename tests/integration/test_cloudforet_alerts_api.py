"""The two-way actions' client (``bot.cloudforet.alerts_api.AlertsApi``) against the fake of Cloudforet's alert API on
loopback, both generations: the requests it sends, the token it sends them with, how each gRPC error maps to an
outcome, the one retry on UNAVAILABLE, the bounded wait, and no key in a log line or a result."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import grpc
import pytest

from bot.cloudforet.alerts_api import MAX_ATTEMPTS, TOKEN_METADATA, AlertsApi
from bot.cloudforet.apis import AppKeys, CloudforetApi, parse_endpoint
from bot.ports.alerts import AlertAction, Outcome
from tests.fakes.cloudforet_alerts import FakeAlertApi

KEY = "eyJhbGciOiJIUzI1NiJ9.eyJkaWQiOiJkb21haW4tb25lIn0.one-signature-value"
OTHER_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJkaWQiOiJkb21haW4tdHdvIn0.two-signature-value"
DOMAIN, OTHER_DOMAIN = "domain-one", "domain-two"
ALERT = "alert-1234"


@pytest.fixture(params=list(CloudforetApi), ids=lambda api: api.value)
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeAlertApi]:
    api: CloudforetApi = request.param
    async with FakeAlertApi(api) as server:
        server.add_app(KEY, DOMAIN)
        server.add_app(OTHER_KEY, OTHER_DOMAIN)
        server.add_alert(ALERT, DOMAIN)
        yield server


def client(fake: FakeAlertApi, keys: AppKeys | None = None, timeout: float = 2.0) -> AlertsApi:
    return AlertsApi(fake.api, parse_endpoint(fake.endpoint), keys or AppKeys(KEY), timeout=timeout, retry_delay=0.01)


async def test_resolve_acknowledge_and_note_reach_cloudforet(fake: FakeAlertApi) -> None:
    api = client(fake)
    try:
        acknowledged = await api.acknowledge(ALERT, DOMAIN)
        assert (acknowledged.outcome, acknowledged.action, acknowledged.attempts) == (
            Outcome.DONE,
            AlertAction.ACKNOWLEDGE,
            1,
        )
        assert fake.state(ALERT) == "ACKNOWLEDGED"
        assert (await api.resolve(ALERT, DOMAIN)).ok
        assert fake.state(ALERT) == "RESOLVED"
        assert (await api.add_note(ALERT, DOMAIN, "Resolved from Slack by Alice (alice@example.com)")).ok
    finally:
        await api.close()
    assert fake.notes(ALERT) == ["Resolved from Slack by Alice (alice@example.com)"]
    assert {call.token for call in fake.calls} == {KEY}
    [first, _] = fake.calls_of("Alert.update")
    if fake.api is CloudforetApi.NOTIFICATION:
        assert first.fields == {"alert_id": ALERT, "state": "ACKNOWLEDGED", "domain_id": DOMAIN}
    else:
        assert first.fields == {"alert_id": ALERT, "status": 2}  # AlertUpdateRequest.ACKNOWLEDGED


async def test_a_domain_gets_its_own_key(fake: FakeAlertApi) -> None:
    fake.add_alert("alert-other", OTHER_DOMAIN)
    api = client(fake, AppKeys(KEY, {OTHER_DOMAIN: OTHER_KEY}))
    try:
        assert (await api.resolve("alert-other", OTHER_DOMAIN)).ok
        assert (await api.resolve(ALERT, DOMAIN)).ok
    finally:
        await api.close()
    assert [call.token for call in fake.calls] == [OTHER_KEY, KEY]


async def test_no_key_for_the_domain_calls_nothing(fake: FakeAlertApi) -> None:
    api = client(fake, AppKeys(None, {OTHER_DOMAIN: OTHER_KEY}))
    try:
        result = await api.resolve(ALERT, DOMAIN)
    finally:
        await api.close()
    assert (result.outcome, result.attempts) == (Outcome.REFUSED_KEY, 0)
    assert "BOT_CLOUDFORET_APP_KEYS" in result.detail
    assert fake.calls == []


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, Outcome.REFUSED_KEY),
        (grpc.StatusCode.PERMISSION_DENIED, Outcome.REFUSED_KEY),
        (grpc.StatusCode.NOT_FOUND, Outcome.NOT_FOUND),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Outcome.TIMEOUT),
        (grpc.StatusCode.INVALID_ARGUMENT, Outcome.FAILED),
        (grpc.StatusCode.INTERNAL, Outcome.FAILED),
    ],
)
async def test_each_error_maps_to_its_outcome_without_a_retry(
    fake: FakeAlertApi, code: grpc.StatusCode, outcome: Outcome
) -> None:
    fake.fail("Alert.update", code)
    api = client(fake)
    try:
        result = await api.resolve(ALERT, DOMAIN)
    finally:
        await api.close()
    assert (result.outcome, result.attempts) == (outcome, 1)
    assert len(fake.calls_of("Alert.update")) == 1
    assert fake.state(ALERT) == "TRIGGERED"


async def test_a_refused_key_and_an_unknown_alert_as_cloudforet_answers_them(fake: FakeAlertApi) -> None:
    fake.add_app("eyJhbGciOiJIUzI1NiJ9.eyJyZWFkIjoib25seSJ9.read-only-signature", DOMAIN, may_write=False)
    wrong, read_only = (
        client(fake, AppKeys("not-a-key-cloudforet-knows")),
        client(fake, AppKeys("eyJhbGciOiJIUzI1NiJ9.eyJyZWFkIjoib25seSJ9.read-only-signature")),
    )
    right = client(fake)
    try:
        refused = await wrong.resolve(ALERT, DOMAIN)
        denied = await read_only.add_note(ALERT, DOMAIN, "a note")
        unknown = await right.resolve("alert-gone", DOMAIN)
        bad_note = await right.add_note(ALERT, DOMAIN, " ")
    finally:
        for api in (wrong, read_only, right):
            await api.close()
    assert refused.outcome is Outcome.REFUSED_KEY and "UNAUTHENTICATED" in refused.detail
    assert denied.outcome is Outcome.REFUSED_KEY and "PERMISSION_DENIED" in denied.detail
    assert unknown.outcome is Outcome.NOT_FOUND
    assert bad_note.outcome is Outcome.FAILED and "INVALID_ARGUMENT" in bad_note.detail


async def test_unavailable_is_tried_once_more_and_no_more(fake: FakeAlertApi) -> None:
    fake.fail("Alert.update", grpc.StatusCode.UNAVAILABLE, times=1)
    api = client(fake)
    try:
        recovered = await api.resolve(ALERT, DOMAIN)
        fake.fail("Note.create", grpc.StatusCode.UNAVAILABLE, times=5)
        given_up = await api.add_note(ALERT, DOMAIN, "a note")
    finally:
        await api.close()
    assert (recovered.outcome, recovered.attempts) == (Outcome.DONE, 2)
    assert fake.state(ALERT) == "RESOLVED"
    assert (given_up.outcome, given_up.attempts) == (Outcome.UNAVAILABLE, MAX_ATTEMPTS)
    assert len(fake.calls_of("Note.create")) == MAX_ATTEMPTS == 2
    assert fake.notes(ALERT) == []


async def test_a_slow_cloudforet_is_a_timeout_after_the_bound(fake: FakeAlertApi) -> None:
    fake.delay = 1.0
    api = client(fake, timeout=0.2)
    try:
        result = await api.acknowledge(ALERT, DOMAIN)
    finally:
        await api.close()
    assert (result.outcome, result.attempts) == (Outcome.TIMEOUT, 1)
    assert result.elapsed < 0.9


async def test_nothing_listening_is_unavailable_after_one_retry() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = AlertsApi(
        CloudforetApi.NOTIFICATION, parse_endpoint(f"grpc://127.0.0.1:{port}"), AppKeys(KEY), retry_delay=0.01
    )
    try:
        result = await api.resolve(ALERT, DOMAIN)
    finally:
        await api.close()
    assert (result.outcome, result.attempts) == (Outcome.UNAVAILABLE, 2)
    assert f"127.0.0.1:{port}" in result.detail


async def test_check_lists_nothing_and_tells_the_key_apart(fake: FakeAlertApi) -> None:
    good, bad = client(fake), client(fake, AppKeys("not-a-key-cloudforet-knows"))
    try:
        ok, refused = await good.check(), await bad.check()
    finally:
        await good.close()
        await bad.close()
    assert (ok.outcome, refused.outcome) == (Outcome.DONE, Outcome.REFUSED_KEY)
    [listed, _] = fake.calls_of("Alert.list")
    assert listed.fields["alert_id"] == "alert-slack-chatops-doctor-check"


async def test_the_key_is_in_no_log_line_and_no_result(fake: FakeAlertApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("Alert.update", grpc.StatusCode.PERMISSION_DENIED)
    fake.fail("Note.create", grpc.StatusCode.UNAVAILABLE, times=2)
    api = client(fake)
    try:
        results = [
            await api.resolve(ALERT, DOMAIN),
            await api.add_note(ALERT, DOMAIN, f"echo {KEY}"),
            await api.acknowledge(ALERT, DOMAIN),
        ]
    finally:
        await api.close()
    assert [r.outcome for r in results] == [Outcome.REFUSED_KEY, Outcome.UNAVAILABLE, Outcome.DONE]
    assert fake.calls and all(call.token == KEY for call in fake.calls)  # it was sent: to Cloudforet only
    text = caplog.text + " ".join(f"{r!r} {r.detail}" for r in results) + repr(api)
    assert "cloudforet resolve alert-1234: refused_key" in caplog.text
    for part in KEY.split("."):
        assert part not in text
    assert TOKEN_METADATA == "token"
