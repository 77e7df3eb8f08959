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
