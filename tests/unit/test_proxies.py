"""bot.proxies: the proxy for each URL from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), as curl reads them."""

from __future__ import annotations

import pytest

from bot import proxies
from bot.redact import redact

VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


def test_nothing_set_is_direct() -> None:
    assert proxies.proxy_for("https://slack.com/api/") is None
    assert not proxies.configured()
    assert proxies.describe().startswith("none")


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy"])
def test_https_proxy_serves_https_and_wss_in_either_case(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "http://proxy.example.com:3128")
    assert proxies.proxy_for("https://slack.com/api/") == "http://proxy.example.com:3128"
    assert proxies.proxy_for("wss://wss-primary.slack.com/link/?ticket=1") == "http://proxy.example.com:3128"
    assert proxies.proxy_for("http://cloudforet.internal/") is None  # HTTP_PROXY's job
    assert proxies.proxy_for("ws://127.0.0.1:1/link/") is None


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
def test_http_proxy_serves_http_and_ws_in_either_case(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "http://proxy.example.com:3128")
    assert proxies.proxy_for("http://cloudforet.internal/x") == "http://proxy.example.com:3128"
    assert proxies.proxy_for("ws://127.0.0.1:1/link/") == "http://proxy.example.com:3128"
    assert proxies.proxy_for("https://slack.com/api/") is None


def test_lower_case_wins_as_in_curl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.example.com:1")
    monkeypatch.setenv("https_proxy", "http://lower.example.com:2")
    assert proxies.proxy_for("https://slack.com/") == "http://lower.example.com:2"


def test_a_proxy_without_a_scheme_is_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example.com:3128")
    assert proxies.proxy_for("https://slack.com/") == "http://proxy.example.com:3128"


@pytest.mark.parametrize("name", ["NO_PROXY", "no_proxy"])
@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("cloudforet.internal", "https://cloudforet.internal/cb", True),
        ("cloudforet.internal", "https://console.cloudforet.internal/cb", True),  # a domain covers subdomains
        (".svc,.cluster.local", "https://webhook.spaceone.svc/cb", True),
        ("cloudforet.internal", "https://notcloudforet.internal/cb", False),
        ("cloudforet.internal", "https://slack.com/api/", False),
        ("127.0.0.1", "https://127.0.0.1:8443/x", True),
        ("localhost", "https://127.0.0.1/x", False),  # loopback is not implied, nor a name for it
        ("10.0.0.0/8", "https://10.1.2.3/x", True),  # networks, as curl and requests read them
        ("10.0.0.0/8", "https://11.1.2.3/x", False),
        ("::1", "https://[::1]:8443/x", True),
        ("fd00::/8", "https://[fd12::1]/x", True),
        ("cloudforet.internal:8443", "https://cloudforet.internal:8443/x", True),
        ("cloudforet.internal:8443", "https://cloudforet.internal/x", False),
        ("*", "https://slack.com/", True),
        (" Cloudforet.Internal , other ", "https://cloudforet.internal/x", True),
    ],
)
def test_no_proxy(monkeypatch: pytest.MonkeyPatch, name: str, no_proxy: str, url: str, direct: bool) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv(name, no_proxy)
    assert (proxies.proxy_for(url) is None) is direct


def test_a_url_that_cannot_be_read_is_left_to_its_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert proxies.proxy_for("https://slack.com:99999/") is None
    assert proxies.proxy_for("mailto:someone@example.com") is None


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("http://alice:s3cret-pw@proxy.example.com:3128", "proxy.example.com:3128 (with credentials, not shown)"),
        ("alice:s3cret-pw@proxy.example.com:3128", "proxy.example.com:3128 (with credentials, not shown)"),
        ("http://proxy.example.com:3128", "proxy.example.com:3128"),
        ("http://proxy.example.com", "proxy.example.com:80"),
        ("https://proxy.example.com", "proxy.example.com:443 (over TLS)"),
        ("http://[fd00::1]:3128", "[fd00::1]:3128"),
    ],
)
def test_shown_never_holds_the_password(proxy: str, expected: str) -> None:
    assert proxies.shown(proxy) == expected
    assert redact(expected) == expected  # the log filter leaves it as it is


def test_describe_names_each_proxy_and_no_proxy_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://alice:s3cret-pw@proxy.example.com:3128")
    monkeypatch.setenv("no_proxy", ".svc,10.0.0.0/8")
    described = proxies.describe()
    assert proxies.configured()
    assert "s3cret-pw" not in described and "alice" not in described
    assert described == (
        "https:// and wss:// through proxy.example.com:3128 (with credentials, not shown); "
        "direct to NO_PROXY=.svc,10.0.0.0/8"
    )
    assert redact(described) == described


def test_describe_says_when_a_proxy_scheme_is_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "socks5://proxy.example.com:1080")
    assert "http:// and ws:// through proxy.example.com:1080 (socks5, not supported)" in proxies.describe()
