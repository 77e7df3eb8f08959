"""Tests for the fake Cloudforet alert callback endpoints (tests/fakes/cloudforet_callbacks.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.fakes.cloudforet_callbacks import FakeCloudforet

CONSOLE = "https://console.example.test"


@pytest.fixture
async def cf() -> AsyncIterator[FakeCloudforet]:
    async with FakeCloudforet(CONSOLE) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str, str]:
    async with http.post(url, allow_redirects=False, **kwargs) as resp:
        return resp.status, resp.headers.get("Location", ""), await resp.text()


async def test_binds_loopback_and_issues_2x_urls(cf: FakeCloudforet) -> None:
    assert cf.url == f"http://127.0.0.1:{cf.port}" and cf.port > 0
    url = cf.issue_key("alert-123", "domain-9")
    parts = urlsplit(url).path.split("/")
    assert parts[:6] == ["", "monitoring", "v1", "domain", "domain-9", "alert"]
    assert parts[6] == "alert-123" and parts[8] == "ACKNOWLEDGED" and len(parts[7]) >= 16
    assert url.startswith(cf.url)
    assert cf.issue_key("alert-123") != cf.issue_key("alert-123")  # random keys
    assert cf.alerts["alert-123"] == {"state": "TRIGGERED", "responder": None}


async def test_2x_post_acknowledges_and_redirects_to_detail(cf: FakeCloudforet, http: aiohttp.ClientSession) -> None:
    url = cf.issue_key("alert-1", "domain-1")
    status, location, _ = await _post(http, url, json={"responder": "alice@example.com"})
    assert status == 307
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == CONSOLE
    assert parts.path == "/alert-public-detail/alert-1"
    assert parse_qs(parts.query) == {"domain_id": ["domain-1"]}
    assert cf.alerts["alert-1"] == {"state": "ACKNOWLEDGED", "responder": "alice@example.com"}
    (req,) = cf.requests
    assert (req.method, req.path) == ("POST", urlsplit(url).path)
    assert req.json == {"responder": "alice@example.com"}
    assert req.headers["Content-Type"] == "application/json"
    assert '"responder"' in req.body
    assert req.time == pytest.approx(time.time(), abs=5)


async def test_2x_get_works_and_repeat_ack_changes_nothing(cf: FakeCloudforet, http: aiohttp.ClientSession) -> None:
    url = cf.issue_key("alert-2")
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 307
        assert "/alert-public-detail/alert-2" in resp.headers["Location"]
    assert cf.alerts["alert-2"] == {"state": "ACKNOWLEDGED", "responder": None}
    assert cf.requests[0].json is None and cf.requests[0].body == ""
    status, location, _ = await _post(http, url, json={"responder": "bob"})
    assert status == 307 and "/alert-public-detail/alert-2" in location
    assert cf.alerts["alert-2"] == {"state": "ACKNOWLEDGED", "responder": None}
    assert len(cf.requests) == 2


async def test_2x_expired_unknown_and_mismatched_keys(cf: FakeCloudforet, http: aiohttp.ClientSession) -> None:
    expired = cf.issue_key("alert-3")
    cf.expire(expired)
    aged = cf.issue_key("alert-3", expires_in=0.05)
    await asyncio.sleep(0.1)
    good = cf.issue_key("alert-4")
    forged = good.replace(urlsplit(good).path.split("/")[7], "0" * 32)
    other_alert = good.replace("/alert/alert-4/", "/alert/alert-3/")
    for url in (expired, aged, forged, other_alert):
        status, location, _ = await _post(http, url, json={"responder": "eve"})
        assert (status, location) == (307, f"{CONSOLE}/expired-link"), url
    assert cf.alerts["alert-3"]["state"] == "TRIGGERED"
    assert cf.alerts["alert-4"]["state"] == "TRIGGERED"
    assert len(cf.requests) == 4


async def test_1x_post_answers_json(cf: FakeCloudforet, http: aiohttp.ClientSession) -> None:
    url = cf.issue_v1_url("alert-5")
    assert urlsplit(url).path.split("/")[1:4] == ["monitoring", "v1", "alert"]
    assert url.endswith("/ACKNOWLEDGED")
    async with http.post(url, json={"responder": "carol"}, allow_redirects=False) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["alert_id"] == "alert-5" and body["state"] == "ACKNOWLEDGED"
    assert cf.alerts["alert-5"] == {"state": "ACKNOWLEDGED", "responder": "carol"}
    resolved = cf.issue_v1_url("alert-5", state="RESOLVED")
    async with http.post(resolved, json={}, allow_redirects=False) as resp:
        assert (await resp.json())["state"] == "RESOLVED"
    assert cf.alerts["alert-5"]["state"] == "RESOLVED"
    # A key is for its own state and alert.
    status, _, _ = await _post(http, resolved.replace("/RESOLVED", "/ACKNOWLEDGED"), json={})
    assert status == 500


async def test_1x_redirect_style(http: aiohttp.ClientSession) -> None:
    async with FakeCloudforet(CONSOLE, v1_style="redirect") as cf:
        url = cf.issue_v1_url("alert-6")
        status, location, _ = await _post(http, url, json={"code": "TIME_OUT"})
        assert (status, location) == (307, f"{CONSOLE}/monitoring/alert-manager/alert/alert-6")
        assert cf.alerts["alert-6"]["state"] == "TRIGGERED"
        status, location, _ = await _post(http, url, json={"responder": "dan"})
        assert status == 307 and cf.alerts["alert-6"]["state"] == "ACKNOWLEDGED"
        cf.expire(url)
        status, _, text = await _post(http, url, json={})
        assert status == 500 and "detail" in text


async def test_fail_answers_the_status_for_that_url_only(cf: FakeCloudforet, http: aiohttp.ClientSession) -> None:
    broken = cf.issue_key("alert-7")
    fine = cf.issue_key("alert-8")
    cf.fail(broken, status=502)
    status, location, text = await _post(http, broken, json={"responder": "x"})
    assert (status, location) == (502, "")
    assert 0 < len(text) < 200
    assert cf.alerts["alert-7"]["state"] == "TRIGGERED"
    assert (await _post(http, fine, json={"responder": "x"}))[0] == 307
    v1 = cf.issue_v1_url("alert-9")
    cf.fail(v1)
    assert (await _post(http, v1, json={}))[0] == 500
    cf.heal(broken)
    assert (await _post(http, broken, json={"responder": "x"}))[0] == 307
    assert len(cf.requests) == 4


async def test_slow_url_and_global_delay(cf: FakeCloudforet, http: aiohttp.ClientSession) -> None:
    slow = cf.issue_key("alert-10")
    quick = cf.issue_key("alert-11")
    cf.slow(slow, 0.3)
    with pytest.raises(TimeoutError):
        async with http.post(slow, json={}, timeout=aiohttp.ClientTimeout(total=0.1)):
            pass
    assert len(cf.requests) == 1  # recorded on arrival
    started = time.perf_counter()
    assert (await _post(http, quick, json={}))[0] == 307
    assert time.perf_counter() - started < 0.2
    cf.delay = 0.2
    started = time.perf_counter()
    assert (await _post(http, quick, json={}))[0] == 307
    assert time.perf_counter() - started >= 0.2


async def test_stop_is_idempotent_and_key_parsing_is_strict() -> None:
    cf = FakeCloudforet()
    await cf.start()
    with pytest.raises(RuntimeError):
        await cf.start()
    with pytest.raises(ValueError):
        cf.fail("http://x/")
    with pytest.raises(KeyError):
        cf.expire(f"{cf.url}/monitoring/v1/alert/a/unknown-key/ACKNOWLEDGED")
    await cf.stop()
    await cf.stop()
