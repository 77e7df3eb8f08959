"""The metrics registry: every series named from the start, the live gauges, content negotiation."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from prometheus_client.parser import text_string_to_metric_families

import bot.runtime  # noqa: F401  # imports every module that counts, as the server does
from bot import metrics
from bot.clicks.service import ClickOutcome
from bot.core.errors import ErrorCode
from bot.core.models import DispatchOutcome
from bot.slack.socket_mode import TokenState


def _samples(accept: str = "") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.exposition(accept)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_every_labelled_series_exists_before_anything_happens() -> None:
    served = _samples()
    expected: list[tuple[str, dict[str, str] | None]] = (
        [("slack_chatops_notifications_total", {"outcome": o.value}) for o in DispatchOutcome]
        + [("slack_chatops_notifications_failed_total", {"reason": c.value}) for c in ErrorCode]
        + [("slack_chatops_clicks_total", {"outcome": o.value}) for o in ClickOutcome]
        + [("slack_chatops_cards_total", {"action": a.value}) for a in metrics.CardChange]
        + [("slack_chatops_slack_rate_limited_total", {"method": m.value}) for m in metrics.SlackMethod]
        + [
            ("slack_chatops_slack_requests_failed_total", {"method": m.value, "reason": r.value})
            for m in metrics.SlackMethod
            for r in metrics.RequestFailure
        ]
        + [
            ("slack_chatops_interactions_refused_total", {"transport": "http", "reason": r.value})
            for r in metrics.Refusal
        ]
        + [("slack_chatops_click_ack_duration_seconds_count", {"transport": t.value}) for t in metrics.Transport]
        + [("slack_chatops_dispatch_duration_seconds_count", {"outcome": o.value}) for o in DispatchOutcome]
        + [("slack_chatops_socket_mode_connections", {"state": s.value}) for s in TokenState]
        + [
            ("slack_chatops_outbox_depth", {}),
            ("slack_chatops_outbox_lanes", {}),
            ("slack_chatops_outbox_oldest_item_age_seconds", {}),
            ("slack_chatops_store_up", {}),
            ("slack_chatops_outbox_retries_total", {}),
            ("slack_chatops_notification_latency_seconds_count", {}),
            ("process_resident_memory_bytes", {}),
            ("python_info", None),
        ]
    )
    names = {name for name, _ in served}
    for name, labels in expected:
        if labels is None:
            assert name in names, name
        else:
            assert (name, tuple(sorted(labels.items()))) in served, (name, labels)
    assert not any(name.endswith("_created") for name in names)  # no _created series doubling the page


def test_slack_methods_outside_the_known_set_share_one_label() -> None:
    assert metrics.slack_method("chat.postMessage") == "chat.postMessage"
    assert metrics.slack_method("admin.users.remove") == metrics.SlackMethod.OTHER.value


@dataclass
class _Outbox:
    queued: list[float] = field(default_factory=list)  # acceptance times
    lanes: int = 0

    def backlog(self) -> int:
        return len(self.queued)

    def lane_count(self) -> int:
        return self.lanes

    def oldest(self) -> float | None:
        return min(self.queued, default=None)


@dataclass
class _Sockets:
    counts: dict[str, int] = field(default_factory=dict)

    def state_counts(self) -> Mapping[str, int]:
        return self.counts


@dataclass(eq=False)
class _Running:
    """What the gauges read from a runtime (the parts' own methods are tested with the real parts elsewhere)."""

    outbox: _Outbox
    socket_mode: _Sockets
    store_up: bool = True


@pytest.fixture
def running() -> Iterator[list[_Running]]:
    watched: list[_Running] = []
    yield watched
    for runtime in watched:
        metrics.unwatch(runtime)


def test_live_gauges_add_up_the_runtimes_watched(running: list[_Running]) -> None:
    now = time.time()
    first = _Running(_Outbox([now - 120, now - 5], lanes=2), _Sockets({"connected": 1}))
    second = _Running(_Outbox([now - 30], lanes=1), _Sockets({"connected": 1, "backing_off": 1}), store_up=False)
    running += [first, second]
    baseline = _samples()
    metrics.watch(first)
    metrics.watch(second)
    served = _samples()

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return served[key] - baseline.get(key, 0.0)

    assert moved("slack_chatops_outbox_depth") == 3
    assert moved("slack_chatops_outbox_lanes") == 3
    assert 119 <= served[("slack_chatops_outbox_oldest_item_age_seconds", ())] <= 125
    assert moved("slack_chatops_socket_mode_connections", state="connected") == 2
    assert moved("slack_chatops_socket_mode_connections", state="backing_off") == 1
    assert served[("slack_chatops_store_up", ())] == 0  # one store does not answer
    metrics.unwatch(second)
    assert _samples()[("slack_chatops_store_up", ())] == 1


def test_openmetrics_when_asked_for_the_text_format_otherwise() -> None:
    body, headers = metrics.exposition("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.rstrip().endswith(b"# EOF")
    body, headers = metrics.exposition("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE slack_chatops_notifications_total counter" in body
    assert b"# EOF" not in body


def test_gzip_only_when_accepted() -> None:
    plain, headers = metrics.exposition("", "")
    assert "Content-Encoding" not in headers and plain.startswith(b"# HELP")
    packed, headers = metrics.exposition("", "deflate, gzip;q=0.9")
    assert headers["Content-Encoding"] == "gzip"
    unpacked = gzip.decompress(packed)
    assert unpacked.startswith(b"# HELP") and b"slack_chatops_clicks_total" in unpacked
