"""The process's Prometheus metrics (``prometheus_client``), served at ``/metrics`` by ``bot.slack.http_app``.

Names follow Prometheus' conventions (``slack_chatops_`` prefix, base units, ``_total`` counters) and echo
Alertmanager's notifier metrics (``alertmanager_notifications_total``, ``alertmanager_notifications_failed_total
{reason}``, ``alertmanager_notification_latency_seconds``) so dashboards and alerts built for one read the other.
Every series exists from the start: each label value this code can set is created at zero when the module (or the
module that owns the values, for enums defined elsewhere) is imported. Label values come from fixed sets (error
codes, outcomes, Slack method names), never from input, so no series carries a secret or grows without bound.

Gauges that describe live state (outbox depth, lanes, Socket Mode, the store) are read when scraped from the
runtimes registered with :func:`watch`, summed over them (one per process in production).

Each process serves its own numbers; replicas are added up in PromQL (``sum without (instance, pod) (...)``).
"""

from __future__ import annotations

import gzip
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from bot import __version__
from bot.core.errors import ErrorCode

# The ``_created`` series prometheus_client adds beside each counter and histogram double the page for nothing an
# alert uses (Prometheus reads resets from the counters themselves).
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client

PREFIX = "slack_chatops"
# Bodies smaller than this go out uncompressed even when the scraper accepts gzip (the header costs more).
GZIP_MIN_BYTES = 1024

# Seconds. Dispatch answers take milliseconds, up to BOT_DISPATCH_WAIT (5 s) when Slack is slow; callbacks up to
# BOT_CALLBACK_TIMEOUT (10 s); Slack calls up to the sender's 15 s HTTP timeout.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# A notification waits in the outbox from milliseconds (a quiet channel) to minutes (a storm at Slack's pace) and,
# through an outage, for up to a day (the outbox's MAX_ITEM_AGE_SECONDS).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
# A click is acknowledged within milliseconds; Slack gives up on the ack after 3 s.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0)


class SlackMethod(StrEnum):
    """The Web API methods the plugin calls (the ``method`` label)."""

    AUTH_TEST = "auth.test"
    CHAT_POST_MESSAGE = "chat.postMessage"
    CHAT_UPDATE = "chat.update"
    USERGROUPS_USERS_LIST = "usergroups.users.list"
    USERGROUPS_LIST = "usergroups.list"
    USERS_INFO = "users.info"
    USERS_LOOKUP_BY_EMAIL = "users.lookupByEmail"
    APPS_CONNECTIONS_OPEN = "apps.connections.open"
    OTHER = "other"  # a method not listed here (kept out of the label so the label set stays fixed)


class RequestFailure(StrEnum):
    """Why a Slack Web API request failed (the ``reason`` label of ``slack_chatops_slack_requests_failed_total``)."""

    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER_ERROR = "server_error"  # HTTP 5xx, or an HTTP 200 that is not Slack's JSON (a proxy)
    CONNECTION = "connection"  # no answer: refused, reset, timed out
    API_ERROR = "api_error"  # Slack answered ok: false (invalid_auth, channel_not_found, …)


class Transport(StrEnum):
    """How a click reached the plugin."""

    HTTP = "http"
    SOCKET_MODE = "socket_mode"


class Refusal(StrEnum):
    """Why a request to the interactivity endpoint was refused before it reached Bolt."""

    SIGNATURE = "signature"  # missing, invalid or stale signature: forged, or not from Slack (401)
    DISABLED = "disabled"  # no SLACK_SIGNING_SECRET: every request is refused (401)
    MALFORMED = "malformed"  # signed, but not what Slack sends; over Socket Mode, an envelope that is not a click
    TOO_LARGE = "too_large"  # over the body limit (413)
    TOO_SLOW = "too_slow"  # the body did not arrive in time (408)


class CardChange(StrEnum):
    """What delivering a notification did to its card in Slack."""

    POSTED = "posted"  # a new message (the alert's first card, a plain notification, or a card deleted in Slack)
    UPDATED = "updated"  # the alert's card edited in place
    IGNORED = "ignored"  # a late notification for a resolved alert: nothing sent


def _series(metric: Counter | Histogram, **values: Iterable[str]) -> None:
    """Create every combination of the given label values at zero (one label, or two)."""
    names = list(values)
    if len(names) == 1:
        for value in values[names[0]]:
            metric.labels(value)
        return
    first, second = names
    for a in values[first]:
        for b in values[second]:
            metric.labels(a, b)


# -- notifications (Cloudforet's side) ---------------------------------------------------------------------------

NOTIFICATIONS = Counter(
    f"{PREFIX}_notifications",
    "Notification.dispatch calls by how they were answered: posted (the card is in Slack), queued (durably in the "
    "outbox), repeat (a retry within BOT_REPEAT_WINDOW, not posted again), failed (an error went back)",
    ["outcome"],
)
NOTIFICATIONS_FAILED = Counter(
    f"{PREFIX}_notifications_failed",
    "Notifications that failed for good, by reason (the ERROR_ code): refused at dispatch, or given up on by the "
    "outbox; counted once, where they failed",
    ["reason"],
)
_series(NOTIFICATIONS_FAILED, reason=[code.value for code in ErrorCode])
DISPATCH_SECONDS = Histogram(
    f"{PREFIX}_dispatch_duration_seconds",
    "Time to answer Notification.dispatch, by outcome (queued answers wait up to BOT_DISPATCH_WAIT)",
    ["outcome"],
    buckets=REQUEST_BUCKETS,
)
NOTIFICATION_LATENCY = Histogram(
    f"{PREFIX}_notification_latency_seconds",
    "Time from a notification's acceptance to its card in Slack (queueing, pacing, retries included)",
    buckets=LATENCY_BUCKETS,
)
CARDS = Counter(
    f"{PREFIX}_cards",
    "Alert cards posted, updated or left alone (late notification for a resolved alert) in Slack",
    ["action"],
)
_series(CARDS, action=[action.value for action in CardChange])

# -- the outbox ----------------------------------------------------------------------------------------------------

DEGRADED_DELIVERIES = Counter(
    f"{PREFIX}_degraded_deliveries",
    "Notifications sent to Slack while the store could not be written (degraded mode): straight from the replica "
    "they reached, or without looking up their alert's card",
)
OUTBOX_RETRIES = Counter(
    f"{PREFIX}_outbox_retries",
    "Deliveries that failed transiently (5xx, timeout, connection, 429) and will be tried again",
)

# -- Slack's Web API -----------------------------------------------------------------------------------------------

SLACK_REQUEST_SECONDS = Histogram(
    f"{PREFIX}_slack_request_duration_seconds",
    "Time of one Slack Web API HTTP request (each attempt), by method",
    ["method"],
    buckets=REQUEST_BUCKETS,
)
_series(SLACK_REQUEST_SECONDS, method=[m.value for m in SlackMethod])
SLACK_REQUESTS_FAILED = Counter(
    f"{PREFIX}_slack_requests_failed",
    "Slack Web API requests that failed (each attempt), by method and reason",
    ["method", "reason"],
)
_series(SLACK_REQUESTS_FAILED, method=[m.value for m in SlackMethod], reason=[r.value for r in RequestFailure])
SLACK_RATE_LIMITED = Counter(
    f"{PREFIX}_slack_rate_limited",
    "HTTP 429 answers from Slack, by method",
    ["method"],
)
_series(SLACK_RATE_LIMITED, method=[m.value for m in SlackMethod])
SLACK_RETRY_AFTER = Counter(
    f"{PREFIX}_slack_retry_after_seconds",
    "Seconds Slack asked the plugin to wait (Retry-After of its 429 answers), by method; waited inline or by "
    "pausing the channel's lane",
    ["method"],
)
_series(SLACK_RETRY_AFTER, method=[m.value for m in SlackMethod])

# -- clicks --------------------------------------------------------------------------------------------------------

CLICKS = Counter(f"{PREFIX}_clicks", "Button clicks handled, by outcome", ["outcome"])
CLICK_ACK_SECONDS = Histogram(
    f"{PREFIX}_click_ack_duration_seconds",
    "Time from a click's arrival to its acknowledgement to Slack (Slack gives up after 3 s), by transport",
    ["transport"],
    buckets=ACK_BUCKETS,
)
_series(CLICK_ACK_SECONDS, transport=[t.value for t in Transport])
CALLBACK_SECONDS = Histogram(
    f"{PREFIX}_callback_duration_seconds",
    "Time of the Cloudforet callback a click makes, by outcome",
    ["outcome"],
    buckets=REQUEST_BUCKETS,
)
INTERACTIONS_REFUSED = Counter(
    f"{PREFIX}_interactions_refused",
    "Requests to the interactivity endpoint (or Socket Mode envelopes) refused before reaching the Bolt app, by "
    "transport and reason; reason=signature counts forged or unsigned requests",
    ["transport", "reason"],
)
for _reason in Refusal:
    INTERACTIONS_REFUSED.labels(Transport.HTTP.value, _reason.value)
INTERACTIONS_REFUSED.labels(Transport.SOCKET_MODE.value, Refusal.MALFORMED.value)

BUILD_INFO = Gauge(f"{PREFIX}_build_info", "Always 1: the plugin's version", ["version"])
BUILD_INFO.labels(__version__).set(1)


def outcomes(metric: Counter | Histogram, values: Iterable[str]) -> None:
    """Create ``metric``'s series for each outcome at zero: for enums owned by the modules that count them
    (``DispatchOutcome``, ``ClickOutcome``, the callback ``Outcome``), called where the enum is defined."""
    for value in values:
        metric.labels(value)


def slack_method(method: str) -> str:
    """``method`` as a label value: one of :class:`SlackMethod`, else ``other``."""
    try:
        return SlackMethod(method).value
    except ValueError:
        return SlackMethod.OTHER.value


# -- live state, read when scraped -------------------------------------------------------------------------------


class OutboxState(Protocol):
    def backlog(self) -> int:
        """Notifications queued in this process's lanes."""
        ...

    def lane_count(self) -> int: ...

    def oldest(self) -> float | None:
        """When the oldest queued notification was accepted (epoch seconds); None when nothing is queued."""
        ...


class SocketModeState(Protocol):
    def state_counts(self) -> Mapping[str, int]:
        """App-level tokens by connection state (every state named, zeros included)."""
        ...


class Watched(Protocol):
    """What the gauges read from a running plugin (``bot.runtime.Runtime``)."""

    @property
    def outbox(self) -> OutboxState: ...

    @property
    def socket_mode(self) -> SocketModeState: ...

    @property
    def store_up(self) -> bool: ...


_watched: weakref.WeakSet[Watched] = weakref.WeakSet()
_socket_states: list[str] = []


def watch(runtime: Watched) -> None:
    """Report ``runtime``'s live state in the gauges (until :func:`unwatch`, or until it is garbage)."""
    _watched.add(runtime)


def unwatch(runtime: Watched) -> None:
    _watched.discard(runtime)


def socket_mode_states(states: Iterable[str]) -> None:
    """The connection states the Socket Mode gauge reports (each at zero when no token is in it)."""
    _socket_states[:] = list(states)


class _LiveState(Collector):
    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        depth, lanes, age, store, sockets = families
        runtimes = list(_watched)
        now = time.time()
        depth.add_metric([], sum(r.outbox.backlog() for r in runtimes))
        lanes.add_metric([], sum(r.outbox.lane_count() for r in runtimes))
        oldest = [t for t in (r.outbox.oldest() for r in runtimes) if t is not None]
        age.add_metric([], max(0.0, now - min(oldest)) if oldest else 0.0)
        store.add_metric([], 1.0 if runtimes and all(r.store_up for r in runtimes) else 0.0)
        counts = [r.socket_mode.state_counts() for r in runtimes]
        for state in _socket_states:
            sockets.add_metric([state], sum(c.get(state, 0) for c in counts))
        return iter(families)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                f"{PREFIX}_outbox_depth", "Notifications queued for delivery in this process (all lanes)"
            ),
            GaugeMetricFamily(f"{PREFIX}_outbox_lanes", "Delivery lanes (bot and channel) active in this process"),
            GaugeMetricFamily(
                f"{PREFIX}_outbox_oldest_item_age_seconds",
                "Age of the oldest notification queued in this process (0 when none)",
            ),
            GaugeMetricFamily(f"{PREFIX}_store_up", "1 when the store (SQLite or Redis) answers, else 0"),
            GaugeMetricFamily(
                f"{PREFIX}_socket_mode_connections",
                "App-level tokens by Socket Mode state (connected, connecting, backing_off, …)",
                labels=["state"],
            ),
        )


REGISTRY.register(_LiveState())


def exposition(accept: str, accept_encoding: str = "") -> tuple[bytes, dict[str, str]]:
    """The metrics page and its headers, negotiated as Prometheus scrapers do: OpenMetrics when the ``Accept``
    header asks for it, else the text format 0.0.4; gzip when accepted and worth it."""
    encoder, content_type = choose_encoder(accept)
    body = encoder(REGISTRY)
    headers = {"Content-Type": content_type}
    if "gzip" in accept_encoding.lower() and len(body) >= GZIP_MIN_BYTES:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def metric_names() -> set[str]:
    """Every metric and series name the registry serves (``x_total``, ``x_bucket`` … and the family names), for
    checking that dashboards and alert rules name metrics that exist."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names
