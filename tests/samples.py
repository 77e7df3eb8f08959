"""Sample Cloudforet messages, shaped like those its monitoring service sends."""

from __future__ import annotations

import time
from typing import Any

from bot.core.cards import CardStatus
from bot.store import CardRecord

ALERT_ID = "alert-x1v2c3v456"
ACCESS_KEY = "8f2ede36213dqw4d7d5awe07ds32d883"
CALLBACK_URL = f"https://monitoring-webhook.example.test/monitoring/v1/alert/{ALERT_ID}/{ACCESS_KEY}/ACKNOWLEDGED"
LINK = f"https://console.example.test/alert-manager/alert/{ALERT_ID}?access_key={ACCESS_KEY}"
TOKEN = "xoxb-1111-2222-SECRETbottoken"
APP_TOKEN = "xapp-1-A0APP-1-socketsecret"


def alert_tags(number: int = 108664, state: str = "TRIGGERED") -> list[dict[str, Any]]:
    return [
        {"key": "Alert Number", "value": f"#{number}", "options": {"short": True}},
        {"key": "State", "value": state, "options": {"short": True}},
        {"key": "Urgency", "value": "HIGH", "options": {"short": True}},
        {"key": "Triggered by", "value": "kubectl-webhook", "options": {"short": True}},
        {"key": "Project", "value": "SpaceONE > Project1"},
        {"key": "Resource", "value": "spaceone-api"},
        {"key": "Assigned to", "value": "admin"},
        {"key": "Account", "value": "123456789012"},
    ]


def alerting_message(callback_url: str = CALLBACK_URL, link: str = LINK, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "title": "[Alerting] Notification of access to the SpaceONE",
        "description": "SSH Access to spaceone-api from admin",
        "tags": alert_tags(),
        "occurred_at": "2022-06-27T09:22:57.967Z",
        "callbacks": [{"url": callback_url, "label": "Acknowledge Alerts"}],
        "link": link,
        "domain_name": "acme",
    }
    message.update(extra)
    return message


def resolved_message(link: str = LINK) -> dict[str, Any]:
    return {
        "title": "[Resolved] Notification of access to the SpaceONE",
        "description": "The alert was resolved.",
        "tags": alert_tags(state="RESOLVED"),
        "occurred_at": "2022-06-27T10:00:00.000Z",
        "link": link,
    }


def card_record(
    bot: str = "bot-a",
    channel_id: str = "C0ALERTS01",
    ts: str = "1.0",
    target: str = "alerts",
    status: CardStatus = CardStatus.OPEN,
) -> CardRecord:
    """A card record as the store keeps one (store tests on either backend)."""
    return CardRecord(
        bot=bot,
        channel_id=channel_id,
        ts=ts,
        target=target,
        status=status,
        notified=1,
        token="sealed",
        updated_at=time.time(),
    )
