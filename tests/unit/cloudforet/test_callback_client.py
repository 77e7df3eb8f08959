"""Pure and local parts of click handling: alert correlation, card updates, callback rules, the store."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cloudforet.callback_client import (
    CallbackRefused,
    Outcome,
    check_url,
    forbidden_address,
    host_allowed,
    read_outcome,
)
from bot.core.cards import is_callback_button, iter_buttons, render_card
from bot.core.models import Message, NotificationType
from tests.samples import alerting_message

V2 = "https://cf.example.test/monitoring/v1/domain/domain-1/alert/alert-123/key456/ACKNOWLEDGED"


def has_callback_buttons(payload: dict[str, Any]) -> bool:
    return any(is_callback_button(button) for button in iter_buttons(payload))


def _card() -> dict[str, Any]:
    card = render_card(Message.from_struct(alerting_message()), NotificationType.ERROR, callback_values=["sealed"])
    return card.payload()


def test_callback_outcomes() -> None:
    assert read_outcome(307, "https://console/alert-public-detail/a").outcome is Outcome.DONE
    assert read_outcome(307, "https://console/expired-link").outcome is Outcome.EXPIRED
    assert read_outcome(302, "https://elsewhere/").outcome is Outcome.FAILED
    assert read_outcome(200, "").outcome is Outcome.DONE
    assert read_outcome(500, "").outcome is Outcome.FAILED


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/",
        "ftp://cf.example.test/x",
        "not a url",
    ],
)
def test_forbidden_callback_targets(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_url(url, None)


def test_allowed_hosts() -> None:
    assert host_allowed("cf.example.test", None)
    assert host_allowed("CF.example.test", ["cf.example.test"])
    assert host_allowed("a.b.example.test", ["*.example.test"])
    assert not host_allowed("example.test.evil", ["*.example.test"])
    assert not host_allowed("other.test", ["cf.example.test"])
    with pytest.raises(CallbackRefused, match="not allowed"):
        check_url(V2, ["other.test"])
    assert forbidden_address("169.254.0.1") and not forbidden_address("10.0.0.1")


def test_cloudforet_1x_redirect_to_the_alert_page_is_done() -> None:
    result = read_outcome(307, "https://console.example.test/monitoring/alert-manager/alert/alert-1")
    assert result.outcome is Outcome.DONE


@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",  # Alibaba Cloud ECS metadata
        "192.0.0.192",  # Oracle Cloud's older metadata address
        "168.63.129.16",  # Azure's WireServer
        "fd20:ce::254",  # Google Cloud metadata on IPv6-only VMs
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fe80::a9fe:a9fe%eth0",  # OpenStack's IPv6 metadata, with a zone
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::ffff:100.100.100.200",
        "::169.254.169.254",  # IPv4-compatible (deprecated, still parsed)
        "::ffff:0:169.254.169.254",  # IPv4-translated (SIIT)
        "64:ff9b::a9fe:a9fe",  # 169.254.169.254 through the well-known NAT64 prefix (RFC 6052)
        "64:ff9b::100.100.100.200",
        "64:ff9b:1::a9fe:a9fe",  # the local-use NAT64 prefix (RFC 8215), as a /96
        "64:ff9b:1:a9fe:a9:fe00::",  # ... as a /48 (RFC 6052's layout skips bits 64-71)
        "64:ff9b:1:a9:fe:a9fe::",  # ... as a /56
        "64:ff9b:1:0:a9:fea9:fe00:0",  # ... as a /64
        "2002:a9fe:a9fe::1",  # 6to4 (RFC 3056)
    ],
)
def test_metadata_addresses_in_every_spelling_are_forbidden(address: str) -> None:
    assert forbidden_address(address)
    host = f"[{address.split('%')[0]}]" if ":" in address else address
    with pytest.raises(CallbackRefused, match="link-local or metadata"):
        check_url(f"http://{host}/latest/meta-data/", None)


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "100.100.100.199", "8.8.8.8", "64:ff9b::a00:1", "64:ff9b::808:808", "2001:db8::1", "::ffff:10.0.0.1"],
)
def test_ordinary_addresses_are_not_forbidden(address: str) -> None:
    assert not forbidden_address(address)
