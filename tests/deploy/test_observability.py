"""deploy/observability: the Prometheus alerting rules and the Grafana dashboard.

They parse (``promtool check rules`` and ``promtool test rules`` when promtool is installed, as Debian's
``prometheus`` package installs it, or ``PROMTOOL`` names it; the YAML and JSON structure always), and every metric,
label and label value their PromQL names is one the plugin serves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import bot.runtime  # noqa: F401  # imports every module that counts, as the server does
from bot import metrics

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy" / "observability"
RULES = HERE / "prometheus-rules.yaml"
RULE_TESTS = HERE / "prometheus-rules.test.yaml"
DASHBOARD = HERE / "grafana-dashboard.json"
# Labels Prometheus adds to every scraped series, not the plugin.
TARGET_LABELS = {"job", "instance", "le"}
_SELECTOR = re.compile(r"\b((?:slack_chatops|process|python)_[a-z_]+)\b(\{[^}]*\})?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def _promtool() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for panel in _dashboard()["panels"] for t in panel.get("targets", [])]


def _served() -> dict[str, dict[str, set[str]]]:
    """Each series name the plugin serves, with its labels and their values."""
    served: dict[str, dict[str, set[str]]] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            labels = served.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
    return served


def _check_names(expr: str, where: str) -> None:
    served = _served()
    selectors = _SELECTOR.findall(expr)
    assert selectors, f"{where}: names no metric of the plugin: {expr}"
    known_labels: set[str] = set(TARGET_LABELS)
    for name, matchers in selectors:
        assert name in served, f"{where}: {name} is not a metric the plugin serves"
        assert name in metrics.metric_names()
        labels = served[name]
        known_labels |= set(labels)
        for label, operator, value in _MATCHER.findall(matchers or ""):
            if label in TARGET_LABELS:
                continue
            assert label in labels, f"{where}: {name} has no label {label}"
            if operator in ("=", "!="):
                assert value in labels[label], f"{where}: {name}{{{label}}} is never {value!r}"
    for grouping in _GROUPING.findall(expr):
        for label in (part.strip() for part in grouping.split(",") if part.strip()):
            assert label in known_labels, f"{where}: groups by {label}, which its metrics do not have"


def test_every_rule_is_an_alert_with_a_severity_and_words_for_people() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)) >= 8
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
    # the situations the issue names
    assert {
        "SlackChatopsOutboxGrowing",
        "SlackChatopsOutboxStale",
        "SlackChatopsNotificationsFailing",
        "SlackChatopsSocketModeDown",
        "SlackChatopsRateLimited",
    } <= set(names)


def test_every_metric_and_label_the_rules_name_exists() -> None:
    for rule in _rules():
        _check_names(rule["expr"], rule["alert"])


def test_every_metric_and_label_the_dashboard_names_exists() -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) >= 25
    for expr in exprs:
        _check_names(expr, "dashboard")


def test_the_dashboard_is_importable() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "slack-chatops" and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["gridPos"]["x"] >= 0 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        for target in panel["targets"]:
            assert '{job=~"$job"' in target["expr"], panel["title"]  # every query follows the job picker


@pytest.mark.skipif(_promtool() is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
def test_promtool_checks_the_rules_and_their_unit_tests(tmp_path: Path) -> None:
    promtool = _promtool()
    assert promtool is not None
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name], cwd=HERE, capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # the dashboard's queries are PromQL too: checked as recording rules, Grafana's variables filled in
    recorded = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m").replace("$job", ".*")}
        for i, expr in enumerate(_dashboard_exprs())
    ]
    queries = tmp_path / "dashboard-queries.yaml"
    queries.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    checked = subprocess.run([promtool, "check", "rules", str(queries)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
