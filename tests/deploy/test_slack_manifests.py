"""The Slack app manifests validate against Slack's own JSON Schema and ask only for the scopes we need."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.slack.scopes import METHOD_SCOPES, SCOPE_NAMES

ROOT = Path(__file__).resolve().parents[2]
# A copy of Slack's manifest schema (MIT, licence beside it), so the suite runs on a bare clone.
SCHEMA_PATH = ROOT / "tests" / "data" / "slack-manifest-schema" / "manifest.schema.1.0.0.json"
MANIFESTS = sorted((ROOT / "manifests").glob("slack-app-*.yaml"))
# The one list of scopes (bot/slack/scopes.py); checked here against the manifests, the README and the code.
BOT_SCOPES = set(SCOPE_NAMES)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft7Validator(schema)


def test_there_are_http_and_socket_mode_variants() -> None:
    assert {p.name for p in MANIFESTS} == {"slack-app-http.yaml", "slack-app-socket-mode.yaml"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_for_slack(path: Path, validator: jsonschema.Draft7Validator) -> None:
    manifest = yaml.safe_load(path.read_text())
    errors = [e.message for e in validator.iter_errors(manifest)]
    assert errors == []
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["oauth_config"]["scopes"]["bot"] == list(SCOPE_NAMES)  # exactly the one list, nothing twice
    socket = manifest["settings"]["socket_mode_enabled"]
    assert socket == ("socket" in path.name)
    assert ("request_url" in manifest["settings"]["interactivity"]) != socket


def test_every_scope_asked_for_is_explained_in_the_readme() -> None:
    """Each scope comes with a line saying what stops working without it; Slack grants users:read.email only with
    users:read, so both are asked for."""
    readme = (ROOT / "README.md").read_text()
    assert "users:read" in BOT_SCOPES and "users:read.email" in BOT_SCOPES
    section = readme[readme.index("### Slack scopes") :]
    section = section[: section.index("\n## ")]
    rows = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert rows == list(SCOPE_NAMES)  # every scope explained, and no other


def test_the_plugin_calls_no_method_whose_scope_is_not_asked_for() -> None:
    called = set()
    for path in (ROOT / "bot").rglob("*.py"):
        if path == ROOT / "bot" / "slack" / "scopes.py":  # the list itself
            continue
        text = path.read_text()
        called |= {m for m in METHOD_SCOPES if f'"{m}"' in text}
    assert called == set(METHOD_SCOPES)  # the one list names the plugin's own methods, no more, no less


def test_schema_catches_unknown_keys(validator: jsonschema.Draft7Validator) -> None:
    manifest = yaml.safe_load(MANIFESTS[0].read_text())
    manifest["settings"]["interactivity"]["requst_url"] = "https://typo"
    assert list(validator.iter_errors(manifest))


def test_the_suite_needs_nothing_beside_the_clone() -> None:
    """The schema is part of the repository, and no code or test reads the steering folder next to it."""
    assert SCHEMA_PATH.is_file() and ROOT in SCHEMA_PATH.parents
    steering = "sha" + "red"  # spelt in two, so this file does not name it
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("bot", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if f'"{steering}"' in path.read_text() or f"../{steering}" in path.read_text()
    ]
    assert offenders == []
