"""Reading the plugin's metrics in unit tests: a series' value now, so a test can assert what it added."""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """The value of one series (``slack_chatops_clicks_total`` with ``outcome="done"``), 0 when it has none yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
