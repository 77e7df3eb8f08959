"""Alert correlation: which Cloudforet alert a callback URL or link is about.

Cloudforet names an alert in several places, and a message carries only some of them: an ``[Alerting]`` message has
the callback URL (alert id in its path); a ``[Resolved]`` one only the console ``link``, whose alert id may sit in a
query parameter (``…/alert-public-detail?alert_url=<webhook URL with /alert/{alert_id}/…>``); both carry the
``Alert Number`` tag. Every parser here takes untrusted text and never raises.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl

from bot.core.text import split_url

# 2.x: {webhook}/monitoring/v1/domain/{domain_id}/alert/{alert_id}/{access_key}/{STATE}
# 1.x: {webhook}/monitoring/v1/alert/{alert_id}/{access_key}/{STATE}
# link: {console}/…/alert/{alert_id}[?…], or {console}/alert-public-detail?alert_url={webhook URL as above}
# (the console's route reads ``monitoring_url`` in some versions: any query value holding such a URL counts)
_ALERT_IN_PATH = re.compile(r"/alert/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?=/|$)")
_STATE = re.compile(r"/([A-Z_]{3,32})/?$")
_DOMAIN_IN_PATH = re.compile(r"/domain/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})/alert/")


def _path(url: str) -> str:
    parts = split_url(url)
    return parts.path if parts else ""


def _id_in_path(url: str) -> str | None:
    match = _ALERT_IN_PATH.search(_path(url))
    return match.group(1) if match else None


def alert_id_from_url(url: str) -> str | None:
    """The alert id in a callback URL or console link, from its path or from a URL in its query; None if none."""
    found = _id_in_path(url)
    if found:
        return found
    parts = split_url(url)
    for _, value in parse_qsl(parts.query) if parts else ():
        if "/alert/" in value and (found := _id_in_path(value)):
            return found
    return None


def domain_from_url(url: str) -> str | None:
    """The domain id a 2.x callback URL names in its path (``…/domain/{domain_id}/alert/…``); None if none."""
    match = _DOMAIN_IN_PATH.search(_path(url))
    return match.group(1) if match else None


def resolve_key(alert_id: str, domain_id: str) -> str:
    """The claim key of resolving an alert: the same as a callback URL setting RESOLVED (``action_key``)."""
    return f"alert:{domain_id}/{alert_id}:RESOLVED" if domain_id else f"alert:{alert_id}:RESOLVED"


def callback_state(url: str) -> str | None:
    """The state a callback URL sets (e.g. ``ACKNOWLEDGED``), from its last path segment."""
    match = _STATE.search(_path(url))
    return match.group(1) if match else None


def action_key(url: str) -> str:
    """What makes two clicks 'the same action': the alert (in its domain, when the URL names one) and the state it
    sets, else the whole URL."""
    alert_id, state = alert_id_from_url(url), callback_state(url)
    if alert_id and state:
        domain = _DOMAIN_IN_PATH.search(_path(url))
        return f"alert:{domain.group(1)}/{alert_id}:{state}" if domain else f"alert:{alert_id}:{state}"
    return "url:" + hashlib.sha256(url.encode()).hexdigest()[:32]


def done_label(url: str, label: str) -> str:
    """How the card names a completed action: 'Acknowledged' for an ack callback, else the button label."""
    state = callback_state(url)
    if state == "ACKNOWLEDGED" or label.strip().lower().startswith("acknowledge"):
        return "Acknowledged"
    if state:
        return state.replace("_", " ").capitalize()
    return label.strip() or "Done"
