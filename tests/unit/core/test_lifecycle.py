"""The pure lifecycle of an alert's card, and the pacer that keeps delivery within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from bot.core.alerts import alert_id_from_url
from bot.core.cards import CardState, CardStatus
from bot.core.compact import compact_message
from bot.core.lifecycle import (
    AlertPhase,
    AlertRef,
    CardAction,
    acknowledged_line,
    alert_key,
    alert_keys,
    alert_ref,
    next_transition,
    phase_of,
)
from bot.core.models import DOMAIN_ID_KEY, Message
from tests.samples import alerting_message, resolved_message

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def test_alert_key_from_callback_link_or_alert_number() -> None:
    assert alert_key(Message.from_struct(alerting_message())) == "alert:alert-x1v2c3v456"
    assert alert_key(Message.from_struct(resolved_message())) == "alert:alert-x1v2c3v456"  # via the link
    tagged = {"title": "x", "domain_name": "acme", "tags": [{"key": "Alert Number", "value": "#42"}]}
    assert alert_key(Message.from_struct(tagged)) == "number:acme:#42"
    assert alert_key(Message.from_struct({"title": "a plain notification"})) is None


def test_every_name_of_an_alert_is_found() -> None:
    webhook = "https://hook.example.test/monitoring/v1/domain/domain-1/alert/alert-q1/accesskey"
    for link in (
        f"https://console.example.test/alert-public-detail?alert_url={webhook}",
        f"https://console.example.test/alert-public-detail?monitoring_url={quote(webhook, safe='')}",
        "https://console.example.test/alert-manager/alert/alert-q1",
    ):
        message = {
            "title": "[Resolved] x",
            "link": link,
            "domain_name": "acme",
            "tags": [{"key": "Alert Number", "value": "#7"}],
        }
        assert alert_keys(Message.from_struct(message)) == ["alert:alert-q1", "number:acme:#7"]
    broken = {"title": "x", "link": "http://[oops", "callbacks": [{"url": "http://[x"}]}
    assert alert_keys(Message.from_struct(broken)) == []
    assert alert_id_from_url("https://console.example.test/page?next=https://[broken/alert/a1/") is None


def test_a_domain_scopes_every_name_and_no_domain_changes_nothing() -> None:
    """2.x requests name their domain: the same alert id in two domains is two alerts. 1.x requests name none,
    and their keys are exactly those from before domains existed."""
    plain = alerting_message()
    assert alert_keys(Message.from_struct(plain)) == ["alert:alert-x1v2c3v456", "number:acme:#108664"]
    assert alert_keys(Message.from_struct({**plain, DOMAIN_ID_KEY: ""})) == alert_keys(Message.from_struct(plain))
    in_a = alert_keys(Message.from_struct({**plain, DOMAIN_ID_KEY: "domain-a"}))
    in_b = alert_keys(Message.from_struct({**plain, DOMAIN_ID_KEY: " domain-b "}))
    assert in_a == ["alert:domain-a/alert-x1v2c3v456", "number:domain-a/acme:#108664"]
    assert in_b == ["alert:domain-b/alert-x1v2c3v456", "number:domain-b/acme:#108664"]
    assert not set(in_a) & set(in_b) and not set(in_a) & set(alert_keys(Message.from_struct(plain)))


def test_the_domain_survives_the_outbox() -> None:
    """What the outbox keeps of a message reads back with its domain, so a card found after a restart is found by
    the same names."""
    message = Message.from_struct({**alerting_message(), DOMAIN_ID_KEY: "domain-a"})
    kept, cut = compact_message(message)
    assert not cut and kept[DOMAIN_ID_KEY] == "domain-a"
    assert alert_keys(Message.from_struct(kept)) == alert_keys(message)


def test_phases() -> None:
    assert phase_of(Message.from_struct(alerting_message())) is AlertPhase.ALERTING
    assert phase_of(Message.from_struct(resolved_message())) is AlertPhase.RESOLVED
    assert (
        phase_of(Message.from_struct({"title": "x", "tags": [{"key": "State", "value": "resolved"}]}))
        is AlertPhase.RESOLVED
    )
    assigned = Message.from_struct({"title": "[Assigned to me] x"})
    assert phase_of(assigned) is AlertPhase.OTHER


def test_transitions() -> None:
    alerting = Message.from_struct(alerting_message())
    resolved = Message.from_struct(resolved_message())
    first = next_transition(None, AlertPhase.ALERTING, alerting, NOW)
    assert first.action is CardAction.POST and first.state == CardState()
    again = next_transition(first.state, AlertPhase.ALERTING, alerting, NOW)
    assert again.action is CardAction.UPDATE and again.state.notified == 2
    assert again.thread_line is not None and "notified 2×" in again.thread_line
    acked = CardState(status=CardStatus.ACKNOWLEDGED, actor="U1", acted_at=NOW, notified=2)
    done = next_transition(acked, AlertPhase.RESOLVED, resolved, NOW)
    assert done.action is CardAction.UPDATE and done.state.status is CardStatus.RESOLVED
    assert done.state.actor == "U1" and done.state.resolved_at == resolved.occurred_at
    late = next_transition(done.state, AlertPhase.ALERTING, alerting, NOW)
    assert late.action is CardAction.IGNORE and late.state.status is CardStatus.RESOLVED
    first_resolved = next_transition(None, AlertPhase.RESOLVED, resolved, NOW)
    assert first_resolved.action is CardAction.POST and first_resolved.state.status is CardStatus.RESOLVED


def test_acknowledged_line_never_mentions() -> None:
    line = acknowledged_line("<@U123> <!channel>", NOW)
    assert "<@" not in line and "<!channel>" not in line and "Acknowledged by" in line


def test_an_alerts_domain_comes_from_the_request_else_its_url_else_the_apps_setting() -> None:
    v1_url = "https://hook.example.test/monitoring/v1/alert/alert-9/k3y/ACKNOWLEDGED"  # 1.x: no domain in the path
    v2_url = "https://hook.example.test/monitoring/v1/domain/domain-url/alert/alert-9/k3y/ACKNOWLEDGED"
    v1 = Message.from_struct({"title": "x", "callbacks": [{"url": v1_url, "label": "Acknowledge"}]})
    assert alert_ref(v1) is None  # no domain known: no two-way action
    assert alert_ref(v1, "domain-app") == AlertRef("alert-9", "domain-app")
    v2 = Message.from_struct({"title": "x", "callbacks": [{"url": v2_url, "label": "Acknowledge"}]})
    assert alert_ref(v2, "domain-app") == AlertRef("alert-9", "domain-url")
    named = Message.from_struct({"title": "x", "domain_id": "domain-req", "callbacks": [{"url": v2_url, "label": "A"}]})
    assert alert_ref(named, "domain-app") == AlertRef("alert-9", "domain-req")
