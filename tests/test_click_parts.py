"""Pure and local parts of click handling: alert correlation, card updates, callback rules, the store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cloudforet.callback_client import (
    CallbackRefused,
    Outcome,
    check_url,
    forbidden_address,
    host_allowed,
    read_outcome,
)
from bot.core.alerts import action_key, alert_id_from_url, callback_state, done_label
from bot.core.card_updates import apply_state
from bot.core.cards import CardState, CardStatus, is_callback_button, iter_buttons, render_card
from bot.core.models import Message, NotificationType
from bot.store import AuditRecord, ClaimStatus, SqliteStore
from bot.store.sqlite import SCHEMA_VERSION
from tests.fakes.slack import validate_blocks
from tests.samples import CALLBACK_URL, LINK, alerting_message

V2 = "https://cf.example.test/monitoring/v1/domain/domain-1/alert/alert-123/key456/ACKNOWLEDGED"


def test_alert_ids_from_callback_urls_and_links() -> None:
    assert alert_id_from_url(V2) == "alert-123"
    assert alert_id_from_url(CALLBACK_URL) == "alert-x1v2c3v456"
    assert alert_id_from_url(LINK) == "alert-x1v2c3v456"
    assert alert_id_from_url("https://x.test/other/path") is None
    assert callback_state(V2) == "ACKNOWLEDGED"
    assert action_key(V2) == "alert:alert-123:ACKNOWLEDGED"
    assert action_key(V2.replace("key456", "other")) == action_key(V2)  # same alert and state: same action
    assert action_key("https://x.test/a").startswith("url:")
    assert done_label(V2, "Acknowledge Alerts") == "Acknowledged"
    assert done_label("https://x.test/hook", "Restart pod") == "Restart pod"


def has_callback_buttons(payload: dict) -> bool:
    return any(is_callback_button(button) for button in iter_buttons(payload))


def _card() -> dict:
    card = render_card(Message.from_struct(alerting_message()), NotificationType.ERROR, callback_values=["sealed"])
    return card.payload()


def test_pending_and_acknowledged_cards_drop_the_callback_button_and_stay_valid() -> None:
    original = _card()
    pending = apply_state(original, CardState(status=CardStatus.PENDING, actor="U1", action_label="Acknowledge"))
    assert not has_callback_buttons(pending) and has_callback_buttons(original)
    assert "<@U1> clicked *Acknowledge*" in str(pending)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    done = apply_state(original, CardState(status=CardStatus.ACKNOWLEDGED, actor="U1", acted_at=at,
                                           action_label="Acknowledged"))
    assert [b["action_id"] for b in iter_buttons(done)] == ["open_link"]
    assert done["attachments"][0]["color"] != original["attachments"][0]["color"]
    assert f"*Acknowledged* by <@U1> at <!date^{int(at.timestamp())}" in str(done)
    for payload in (pending, done):
        assert validate_blocks(payload["blocks"], payload["attachments"])[0] == []
    restored = apply_state(pending, CardState())
    assert "clicked" not in str(restored)


def test_callback_outcomes() -> None:
    assert read_outcome(307, "https://console/alert-public-detail/a").outcome is Outcome.DONE
    assert read_outcome(307, "https://console/expired-link").outcome is Outcome.EXPIRED
    assert read_outcome(302, "https://elsewhere/").outcome is Outcome.FAILED
    assert read_outcome(200, "").outcome is Outcome.DONE
    assert read_outcome(500, "").outcome is Outcome.FAILED


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[fe80::1]/x",
    "http://[::ffff:169.254.169.254]/", "ftp://cf.example.test/x", "not a url",
])
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


def test_store_claims_are_exclusive_until_released_or_stale(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    assert store.claim_action("k", "U1", now=100, stale_after=40).status is ClaimStatus.CLAIMED
    second = store.claim_action("k", "U2", now=101, stale_after=40)
    assert (second.status, second.actor) == (ClaimStatus.IN_PROGRESS, "U1")
    store.finish_action("k", done=False, now=102)
    assert store.claim_action("k", "U2", now=103, stale_after=40).status is ClaimStatus.CLAIMED
    assert store.claim_action("k", "U3", now=200, stale_after=40).status is ClaimStatus.CLAIMED  # U2's went stale
    store.finish_action("k", done=True, now=201)
    done = store.claim_action("k", "U4", now=300, stale_after=40)
    assert (done.status, done.actor, done.at) == (ClaimStatus.DONE, "U3", 201)


def test_store_is_created_versioned_and_survives_reopening(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    assert store.schema_version == SCHEMA_VERSION
    store.add_audit(AuditRecord(at=1, actor="U1", action="Ack", channel="C1", message_ts="1.0", target="alert-1",
                                outcome="done"))
    assert store.remember_app_token("id-1", "sealed-1", now=1)
    assert not store.remember_app_token("id-1", "sealed-again", now=2)
    store.close()
    reopened = SqliteStore(tmp_path)
    assert reopened.audit()[0].target == "alert-1" and reopened.app_tokens() == ["sealed-1"]
    journal = sqlite3.connect(reopened.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    assert oct(reopened.path.stat().st_mode & 0o777) == "0o600"


def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    SqliteStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "slack-chatops.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteStore(tmp_path)


def test_cloudforet_1x_redirect_to_the_alert_page_is_done() -> None:
    result = read_outcome(307, "https://console.example.test/monitoring/alert-manager/alert/alert-1")
    assert result.outcome is Outcome.DONE
