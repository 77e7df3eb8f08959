"""Egress proxies with a real forward proxy (tinyproxy, tests/proxy_server.py) on loopback: the Web API and the
Socket Mode WebSocket go through it, callbacks to a host in NO_PROXY do not, response_urls and doctor use it, and
doctor tells a proxy that does not answer from Slack not answering and from a refused token.

Loopback is not implied in NO_PROXY (curl, urllib and aiohttp do not), so every test sets it as it needs.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.cloudforet.callback_client import FORBIDDEN_DETAIL, CallbackClient, Outcome
from bot.slack.response_url import ResponseUrls
from bot.slack.web_api import SlackSender
from bot.store.sqlite import SqliteStore
from tests.fakes.cloudforet_callbacks import FakeCloudforet
from tests.fakes.slack import FakeSlack
from tests.interactivity_support import wait_for
from tests.process import free_port, server_process
from tests.proxy_server import TinyProxy
from tests.samples import APP_TOKEN, TOKEN
from tests.support import CHANNEL_ID, BackgroundLoop, populate
from tests.tls import loopback_tls

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY")
PROXY_USER, PROXY_PASSWORD = "chatops", "pr0xy-Passw0rd"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the proxy variables each test sets (and none of the caller's BOT_* or SLACK_* settings)."""
    for name in list(os.environ):
        if name.upper() in PROXY_VARIABLES or name.startswith(("BOT_", "SLACK_")):
            monkeypatch.delenv(name)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[TinyProxy]:
    server = TinyProxy(tmp_path / "proxy").start()
    yield server
    server.stop()


def _through(proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """HTTP_PROXY and HTTPS_PROXY name ``proxy`` (the fakes speak plain http on loopback)."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


# -- the Web API, response_urls ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
async def test_web_api_calls_go_through_the_proxy(
    proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    async with FakeSlack() as fake:
        populate(fake)
        sender = SlackSender(fake.base_url)
        try:
            await sender.post(TOKEN, CHANNEL_ID, {"text": "through the proxy"})
        finally:
            await sender.close()
        assert fake.call_count("chat.postMessage", TOKEN) == 1
    assert proxy.requests() == [f"POST {fake.base_url}chat.postMessage"]


async def test_no_proxy_sends_the_web_api_direct(proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    _through(proxy, monkeypatch, NO_PROXY="localhost,127.0.0.1")
    async with FakeSlack() as fake:
        populate(fake)
        sender = SlackSender(fake.base_url)
        try:
            await sender.post(TOKEN, CHANNEL_ID, {"text": "direct"})
        finally:
            await sender.close()
        assert fake.call_count("chat.postMessage", TOKEN) == 1
    assert proxy.requests() == []


async def test_response_urls_go_through_the_proxy(proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    _through(proxy, monkeypatch)
    async with FakeSlack() as fake:
        responses = ResponseUrls(fake.base_url)
        try:
            url = responses.check(f"{fake.url}/actions/unknown-id")
            await responses.tell(url, "hello")  # the fake answers (an unknown response_url): no exception
        finally:
            await responses.close()
    assert proxy.requests() == [f"POST {fake.url}/actions/unknown-id"]


# -- Cloudforet callbacks ---------------------------------------------------------------------------------------


async def test_callbacks_to_a_host_in_no_proxy_do_not_go_through_the_proxy(
    proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeCloudforet() as cloudforet:
        _through(proxy, monkeypatch, no_proxy="127.0.0.1")
        client = CallbackClient(allowed_hosts=None, timeout=10)
        try:
            direct = await client.call(client.check(cloudforet.issue_key("alert-1")), "alice@example.com")
            monkeypatch.delenv("no_proxy")
            proxied = await client.call(client.check(cloudforet.issue_key("alert-2")), "bob@example.com")
        finally:
            await client.close()
        assert (direct.outcome, proxied.outcome) == (Outcome.DONE, Outcome.DONE)
        assert [r.json for r in cloudforet.requests] == [
            {"responder": "alice@example.com"},
            {"responder": "bob@example.com"},
        ]
    seen = proxy.requests()
    assert len(seen) == 1 and seen[0].startswith(f"POST {cloudforet.url}/monitoring/v1/domain/domain-1/alert/alert-2/")


class _Resolver:
    """Stands in for the callback client's own resolver: what a host name resolves to, or that it does not."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        self.asked.append(host)
        if not self.addresses:
            raise OSError(f"{host} does not resolve")
        return [
            {"hostname": host, "host": a, "port": port, "family": 2, "proto": 0, "flags": 0} for a in self.addresses
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("addresses", "detail"),
    [
        (["10.0.0.7", "169.254.169.254"], FORBIDDEN_DETAIL),  # one forbidden address is enough
        (["64:ff9b::a9fe:a9fe"], FORBIDDEN_DETAIL),
        ([], "could not reach Cloudforet (its host does not resolve here, so it cannot be checked)"),
    ],
)
async def test_a_callback_host_is_checked_before_it_is_handed_to_the_proxy(
    proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch, addresses: list[str], detail: str
) -> None:
    _through(proxy, monkeypatch)
    client = CallbackClient(allowed_hosts=None, timeout=10)
    resolver = _Resolver(addresses)
    monkeypatch.setattr(client, "_resolver", resolver)
    try:
        result = await client.call(client.check("http://metadata.example.test/computeMetadata/v1/"), "a@example.com")
    finally:
        await client.close()
    assert (result.outcome, result.detail) == (Outcome.FAILED, detail)
    assert resolver.asked == ["metadata.example.test"]
    assert proxy.requests() == []


# -- Socket Mode, start-up ----------------------------------------------------------------------------------------


@pytest.fixture
def slack(background: BackgroundLoop) -> Iterator[FakeSlack]:
    fake = FakeSlack()
    populate(fake)
    background.run(fake.start())
    yield fake
    background.run(fake.stop())


def test_socket_mode_connects_through_the_proxy_with_its_password_never_logged(
    tmp_path: Path, background: BackgroundLoop, slack: FakeSlack
) -> None:
    """As with Slack: apps.connections.open over https (here http, forwarded), the WebSocket on wss:// through
    the proxy's CONNECT, the proxy asking for a password."""
    proxy = TinyProxy(tmp_path / "proxy", credentials=(PROXY_USER, PROXY_PASSWORD)).start()
    try:
        ca, context = loopback_tls(tmp_path / "tls")
        tls_port = background.run(slack.serve_tls(context))
        env = {
            "HTTPS_PROXY": proxy.url,
            "HTTP_PROXY": proxy.url,
            "SSL_CERT_FILE": str(ca),
            "SLACK_APP_TOKEN": APP_TOKEN,
        }
        with server_process(tmp_path / "data", slack.base_url, **env) as server:
            wait_for(lambda: slack.socket_mode.open_connections_for(APP_TOKEN) == 1, 20, "a Socket Mode connection")
            wait_for(lambda: "Socket Mode connected" in server.log(), 10, "the plugin's log of it")
            log = server.log()
        seen = proxy.requests()
    finally:
        proxy.stop()
    assert f"POST {slack.base_url}apps.connections.open" in seen
    assert f"CONNECT 127.0.0.1:{tls_port}" in seen
    shown = f"127.0.0.1:{proxy.port} (with credentials, not shown)"
    assert f"outbound proxy: https:// and wss:// through {shown}; http:// and ws:// through {shown}" in log
    assert PROXY_PASSWORD not in log and f"{PROXY_USER}:" not in log


def test_socket_mode_honours_no_proxy(tmp_path: Path, slack: FakeSlack) -> None:
    """slack_sdk reads HTTPS_PROXY by itself and ignores NO_PROXY; the plugin does not let it."""
    nowhere = f"http://127.0.0.1:{free_port()}"  # no proxy listens there
    env = {"HTTPS_PROXY": nowhere, "HTTP_PROXY": nowhere, "NO_PROXY": "127.0.0.1", "SLACK_APP_TOKEN": APP_TOKEN}
    with server_process(tmp_path / "data", slack.base_url, **env) as server:
        wait_for(lambda: slack.socket_mode.open_connections_for(APP_TOKEN) == 1, 20, "a Socket Mode connection")
        assert "direct to NO_PROXY=127.0.0.1" in server.log()


# -- doctor -------------------------------------------------------------------------------------------------------


@pytest.fixture
def doctor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> FakeSlack:
    slack.add_token("xoxb-7777-8888-DOCTORproxy", scopes=("chat:write", "channels:read"))
    asyncio.run(SqliteStore(tmp_path / "data", lock_wait=0).close())
    for name, value in {
        "BOT_DATA_DIR": str(tmp_path / "data"),
        "BOT_SLACK_API_URL": slack.base_url,
        "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
        "SLACK_BOT_TOKEN": "xoxb-7777-8888-DOCTORproxy",
    }.items():
        monkeypatch.setenv(name, value)
    return slack


def _doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, Any]], str]:
    code = main(["doctor", "--json", "--channel", CHANNEL_ID])
    out = capsys.readouterr().out
    return code, {check["check"]: check for check in json.loads(out)["checks"]}, out


def test_doctor_goes_through_the_proxy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, proxy: TinyProxy, doctor_env: FakeSlack
) -> None:
    _through(proxy, monkeypatch)
    code, checks, out = _doctor(capsys)
    assert code == 0, out
    assert checks["proxy"]["detail"].startswith(f"https:// and wss:// through 127.0.0.1:{proxy.port};")
    assert checks["bot token"]["status"] == "pass"
    seen = proxy.requests()
    assert f"POST {doctor_env.base_url}auth.test" in seen and f"POST {doctor_env.base_url}conversations.info" in seen


def test_doctor_says_when_the_proxy_does_not_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, doctor_env: FakeSlack
) -> None:
    nowhere = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTP_PROXY", nowhere)
    code, checks, out = _doctor(capsys)
    assert code == 1
    detail = checks["bot token"]["detail"]
    port = nowhere.rsplit(":", 1)[1]
    assert f"proxy unreachable: nothing answers at 127.0.0.1:{port} (with credentials, not shown)" in detail
    assert "Slack unreachable" not in detail and "token" not in detail
    assert PROXY_PASSWORD not in out
    assert doctor_env.call_count("auth.test") == 0


def test_doctor_tells_slack_unreachable_from_a_refused_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, doctor_env: FakeSlack
) -> None:
    monkeypatch.setenv("BOT_SLACK_API_URL", f"http://127.0.0.1:{free_port()}/api/")  # nothing listens
    _, checks, _ = _doctor(capsys)
    assert checks["bot token"]["detail"].startswith("auth.test failed: Slack unreachable (proxy? DNS? firewall?)")
    assert "revoked" not in checks["bot token"]["detail"]
    monkeypatch.setenv("BOT_SLACK_API_URL", doctor_env.base_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-0000-notknown")
    _, checks, _ = _doctor(capsys)
    assert checks["bot token"]["detail"].startswith("auth.test failed: token refused (invalid_auth)")
