"""The Slack app manifests validate against Slack's own JSON Schema and ask only for the scopes we need."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# A copy of Slack's manifest schema (MIT, licence beside it), so the suite runs on a bare clone.
SCHEMA_PATH = ROOT / "tests" / "data" / "slack-manifest-schema" / "manifest.schema.1.0.0.json"
MANIFESTS = sorted((ROOT / "manifests").glob("slack-app-*.yaml"))
# What the plugin calls with the bot token, and the scope each needs (https://api.slack.com/methods/<method>).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "usergroups.users.list": "usergroups:read",
    "usergroups.list": "usergroups:read",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
}
# Those scopes, plus chat:write.public (posting to public channels without an /invite; optional) and nothing else.
BOT_SCOPES = {*METHOD_SCOPES.values(), "chat:write.public"}


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
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(set(scopes)) and set(scopes) == set(BOT_SCOPES)
    socket = manifest["settings"]["socket_mode_enabled"]
    assert socket == ("socket" in path.name)
    assert ("request_url" in manifest["settings"]["interactivity"]) != socket


def test_every_scope_asked_for_is_explained_in_the_readme() -> None:
    """Each scope comes with a line saying what stops working without it; Slack grants users:read.email only with
    users:read, so both are asked for."""
    readme = (ROOT / "README.md").read_text()
    assert "users:read" in BOT_SCOPES and "users:read.email" in BOT_SCOPES
    for scope in BOT_SCOPES:
        assert f"| `{scope}` |" in readme, scope


def test_the_plugin_calls_no_method_whose_scope_is_not_asked_for() -> None:
    called = set()
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text()
        called |= {m for m in METHOD_SCOPES if f'"{m}"' in text}
    assert called == set(METHOD_SCOPES)  # the table above is the plugin's own list, no more, no less


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
