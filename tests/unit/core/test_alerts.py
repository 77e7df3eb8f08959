"""Pure and local parts of click handling: alert correlation, card updates, callback rules, the store."""

from __future__ import annotations

from typing import Any

from bot.core.alerts import action_key, alert_id_from_url, callback_state, domain_from_url, done_label, resolve_key
from bot.core.cards import is_callback_button, iter_buttons, render_card
from bot.core.models import Message, NotificationType
from tests.samples import CALLBACK_URL, LINK, alerting_message

V2 = "https://cf.example.test/monitoring/v1/domain/domain-1/alert/alert-123/key456/ACKNOWLEDGED"


def has_callback_buttons(payload: dict[str, Any]) -> bool:
    return any(is_callback_button(button) for button in iter_buttons(payload))


def _card() -> dict[str, Any]:
    card = render_card(Message.from_struct(alerting_message()), NotificationType.ERROR, callback_values=["sealed"])
    return card.payload()


def test_alert_ids_from_callback_urls_and_links() -> None:
    assert alert_id_from_url(V2) == "alert-123"
    assert alert_id_from_url(CALLBACK_URL) == "alert-x1v2c3v456"
    assert alert_id_from_url(LINK) == "alert-x1v2c3v456"
    assert alert_id_from_url("https://x.test/other/path") is None
    assert callback_state(V2) == "ACKNOWLEDGED"
    assert action_key(V2) == "alert:domain-1/alert-123:ACKNOWLEDGED"
    assert action_key(V2.replace("domain-1", "domain-2")) != action_key(V2)  # the same id in two domains: two alerts
    assert action_key(V2.replace("key456", "other")) == action_key(V2)  # same alert and state: same action
    assert action_key("https://x.test/a").startswith("url:")
    assert done_label(V2, "Acknowledge Alerts") == "Acknowledged"
    assert done_label("https://x.test/hook", "Restart pod") == "Restart pod"


def test_domain_from_url_and_the_resolve_claim_key() -> None:
    v2 = "https://cf.example.test/monitoring/v1/domain/domain-1/alert/alert-123/key456/ACKNOWLEDGED"
    assert domain_from_url(v2) == "domain-1"
    assert domain_from_url("https://cf.example.test/monitoring/v1/alert/alert-123/key456/ACKNOWLEDGED") is None
    # resolving through the API and a RESOLVED callback on the same alert are the same action
    assert resolve_key("alert-123", "domain-1") == action_key(v2.replace("ACKNOWLEDGED", "RESOLVED"))
    assert resolve_key("alert-123", "") == "alert:alert-123:RESOLVED"
