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
    assert set(manifest["oauth_config"]["scopes"]["bot"]) <= {"chat:write", "chat:write.public"}
    socket = manifest["settings"]["socket_mode_enabled"]
    assert socket == ("socket" in path.name)
    assert ("request_url" in manifest["settings"]["interactivity"]) != socket


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
