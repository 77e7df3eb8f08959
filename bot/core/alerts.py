"""Alert correlation: which Cloudforet alert a callback URL or link is about."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

# 2.x: {webhook}/monitoring/v1/domain/{domain_id}/alert/{alert_id}/{access_key}/{STATE}
# 1.x: {webhook}/monitoring/v1/alert/{alert_id}/{access_key}/{STATE}
# link: {console}/…/alert/{alert_id}[?…]
_ALERT_IN_PATH = re.compile(r"/alert/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?=/|$)")
_STATE = re.compile(r"/([A-Z_]{3,32})/?$")


def alert_id_from_url(url: str) -> str | None:
    path = urlsplit(url).path
    match = _ALERT_IN_PATH.search(path)
    return match.group(1) if match else None


def callback_state(url: str) -> str | None:
    """The state a callback URL sets (e.g. ``ACKNOWLEDGED``), from its last path segment."""
    match = _STATE.search(urlsplit(url).path)
    return match.group(1) if match else None


def action_key(url: str) -> str:
    """What makes two clicks 'the same action': the alert and the state it sets, else the whole URL."""
    alert_id, state = alert_id_from_url(url), callback_state(url)
    if alert_id and state:
        return f"alert:{alert_id}:{state}"
    return "url:" + hashlib.sha256(url.encode()).hexdigest()[:32]


def done_label(url: str, label: str) -> str:
    """How the card names a completed action: 'Acknowledged' for an ack callback, else the button label."""
    state = callback_state(url)
    if state == "ACKNOWLEDGED" or label.strip().lower().startswith("acknowledge"):
        return "Acknowledged"
    if state:
        return state.replace("_", " ").capitalize()
    return label.strip() or "Done"
