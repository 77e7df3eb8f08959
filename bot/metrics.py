"""Process-wide counters, served in Prometheus' text format at ``/metrics``."""

from __future__ import annotations

from collections import defaultdict

# Totals by metric name and sorted labels; floats, as some count seconds.
_counters: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
_HELP = {
    "chatops_dispatch_total": "Notification.dispatch calls by outcome",
    "chatops_clicks_total": "Button clicks handled, by outcome",
    "chatops_callback_seconds_total": "Time spent waiting for Cloudforet callbacks",
}


def inc(name: str, amount: float = 1, **labels: str) -> None:
    _counters[(name, tuple(sorted(labels.items())))] += amount


def render() -> str:
    lines: list[str] = []
    for name in sorted({n for n, _ in _counters}):
        if name in _HELP:
            lines.append(f"# HELP {name} {_HELP[name]}")
        lines.append(f"# TYPE {name} counter")
        for (metric, labels), amount in sorted(_counters.items()):
            if metric == name:
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {amount:g}" if label_text else f"{name} {amount:g}")
    return "\n".join(lines) + "\n"
