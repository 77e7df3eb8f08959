"""``doctor`` checks Cloudforet's alert API when two-way actions are set up: the endpoint and each App key, by a
harmless read against the fake of Cloudforet's alert API on loopback: "ok", "key refused", "unreachable"."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from bot.cloudforet.apis import CloudforetApi
from bot.ops.doctor import Status, _scrubbed, _secrets, check_alert_api, report
from bot.settings import Settings
from tests.fakes.cloudforet_alerts import FakeAlertApi

KEY = "eyJhbGciOiJIUzI1NiJ9.eyJkaWQiOiJkb21haW4tb25lIn0.doctor-key-signature"
DOMAIN_KEY = "per-domain-key-0123456789"


@pytest.fixture(params=list(CloudforetApi), ids=lambda api: api.value)
async def fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAlertApi]:
    api: CloudforetApi = request.param
    monkeypatch.setenv("BOT_CLOUDFORET_API", api.value)
    for name in ("BOT_CLOUDFORET_ENDPOINT", "BOT_CLOUDFORET_APP_KEY", "BOT_CLOUDFORET_APP_KEYS"):
        monkeypatch.delenv(name, raising=False)
    async with FakeAlertApi(api) as server:
        server.add_app(KEY, "domain-one")
        server.add_app(DOMAIN_KEY, "domain-two")
        yield server


async def test_nothing_is_checked_without_two_way_settings(fake: FakeAlertApi) -> None:
    assert await check_alert_api(Settings()) == []
    assert fake.calls == []


async def test_accepted_keys_are_ok(fake: FakeAlertApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_CLOUDFORET_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEY", KEY)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEYS", f"domain-two={DOMAIN_KEY}")
    results = await check_alert_api(Settings())
    assert [(r.check, r.status) for r in results] == [
        ("Cloudforet alert API (default key)", Status.PASS),
        ("Cloudforet alert API (domain-two)", Status.PASS),
    ]
    assert all(r.detail.startswith("ok: ") for r in results)
    assert [call.token for call in fake.calls_of("Alert.list")] == [KEY, DOMAIN_KEY]


async def test_a_refused_key_is_said_and_never_shown(fake: FakeAlertApi, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = "eyJhbGciOiJIUzI1NiJ9.eyJub3BlIjoibm9wZSJ9.unknown-key-signature"
    monkeypatch.setenv("BOT_CLOUDFORET_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEY", unknown)
    settings = Settings()
    [result] = await check_alert_api(settings)
    assert result.status is Status.FAIL and result.detail.startswith("key refused: ")
    for as_json in (False, True):
        shown = _scrubbed(report([result], as_json), _secrets(settings, ""))
        assert "unknown-key-signature" not in shown and "key refused" in shown


async def test_nothing_listening_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("BOT_CLOUDFORET_API", "BOT_CLOUDFORET_APP_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_CLOUDFORET_ENDPOINT", f"grpc://127.0.0.1:{port}")
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEY", KEY)
    [result] = await check_alert_api(Settings())
    assert result.status is Status.FAIL and result.detail.startswith("unreachable: ")
    assert f"127.0.0.1:{port}" in result.detail
