"""The README's operator sections (installing, the supervisor, Kubernetes, troubleshooting) checked against the code and
the files they describe, so they cannot drift: every error code has its row, the supervisor's settings are settings the
plugin reads (secrets by reference), every file and command they name exists, the endpoints they give are the
manifests' own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.errors import ErrorCode
from bot.settings import Settings
from bot.startup import is_secret

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
SECRET_ALIASES = {str(field.alias) for name, field in Settings.model_fields.items() if is_secret(name)}
# Keys of the Secret that are not the plugin's settings: the redis-server component's password.
OTHER_SECRET_KEYS = {"REDIS_PASSWORD"}


def section(title: str) -> str:
    """A README section from its heading to the next heading of the same or a higher level (``#`` lines inside code
    blocks are shell comments, not headings)."""
    lines = README.splitlines(keepends=True)
    heading = next(i for i, line in enumerate(lines) if re.fullmatch(rf"(#+) {re.escape(title)}\n", line))
    level = len(lines[heading]) - len(lines[heading].lstrip("#"))
    fenced = False
    for i in range(heading + 1, len(lines)):
        if lines[i].startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", lines[i]):
            return "".join(lines[heading + 1 : i])
    return "".join(lines[heading + 1 :])


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_troubleshooting_says_what_to_do_for_every_error_code() -> None:
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `(ERROR_[A-Z_]+)` \|(.*)\|\s*$", section("Troubleshooting"), re.MULTILINE)
    }
    assert set(rows) == {code.value for code in ErrorCode}
    for code, row in rows.items():
        meaning, what_to_do = (cell.strip() for cell in row.split("|"))
        assert meaning and what_to_do, code


def test_troubleshooting_covers_each_start_up_failure() -> None:
    text = section("Troubleshooting")
    for setting in ("BOT_GRPC_PORT", "BOT_HTTP_HOST", "BOT_DATA_DIR", "BOT_STORE_URL", "invalid settings"):
        assert f"`cannot start: {setting}" in text, setting
    assert "exit status 2" in text


@pytest.fixture(scope="module")
def supervisor_values() -> dict[str, Any]:
    (block,) = code_blocks(section("2. Run the plugin in Cloudforet"), "yaml")
    values = yaml.safe_load(block)
    connector: dict[str, Any] = values["supervisor"]["application_scheduler"]["CONNECTORS"]["KubernetesConnector"]
    return connector


def test_the_supervisor_gets_settings_the_plugin_reads_and_secrets_only_by_reference(
    supervisor_values: dict[str, Any],
) -> None:
    aliases = {field.alias for field in Settings.model_fields.values()}
    env = {var["name"]: var for var in supervisor_values["env"]}
    assert set(env) <= aliases and "BOT_STORE_URL" in env
    for name, var in env.items():
        if name in SECRET_ALIASES:
            assert set(var) == {"name", "valueFrom"} and var["valueFrom"]["secretKeyRef"]["key"] == name, name
    assert not {"SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"} & set(env)  # per channel, not supervisor-wide


def test_the_replica_key_is_this_plugins(supervisor_values: dict[str, Any]) -> None:
    plugin = yaml.safe_load((ROOT / "manifests" / "cloudforet-plugin.yaml").read_text())
    assert supervisor_values["replica"] == {f"{plugin['resource_type']}?{plugin['plugin_id']}": 2}
    assert f"`{plugin['resource_type']}?{plugin['plugin_id']}`" in README


def test_the_fixed_endpoint_is_the_manifests_grpc_service() -> None:
    services = {
        doc["metadata"]["name"]: doc for doc in yaml.safe_load_all((KUSTOMIZE / "base" / "services.yaml").read_text())
    }
    (port,) = services["slack-chatops-grpc"]["spec"]["ports"]
    namespace = yaml.safe_load((KUSTOMIZE / "overlays" / "redis" / "kustomization.yaml").read_text())["namespace"]
    assert f"grpc://slack-chatops-grpc.{namespace}.svc.cluster.local:{port['port']}" in README


def test_the_secrets_the_readme_creates_are_ones_the_manifests_read() -> None:
    keys = set(re.findall(r"--from-literal=([A-Z_]+)=", README))
    assert keys <= SECRET_ALIASES | OTHER_SECRET_KEYS, keys - SECRET_ALIASES - OTHER_SECRET_KEYS
    assert {"BOT_STORE_URL", "REDIS_PASSWORD", "BOT_BUTTON_KEY", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"} <= keys
    assert "kubectl -n slack-chatops create secret generic slack-chatops" in README
    for overlay in ("redis", "single"):
        assert f"kubectl apply -k deploy/kubernetes/overlays/{overlay}" in README


def test_every_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?<![\w/.-])((?:deploy|examples|manifests)/[\w./*-]*[\w/*])", README))
    assert len(named) >= 10
    missing = sorted(path for path in named if not list(ROOT.glob(path.rstrip("/"))))
    assert missing == []


def test_every_overlay_and_component_is_described() -> None:
    text = section("Run it on Kubernetes")
    for kind in ("overlays", "components"):
        for path in (KUSTOMIZE / kind).iterdir():
            assert f"`{kind}/{path.name}`" in text, path


# --------------------------------------------------------------------------------------------------------------------
# The set-up: what the test command needs, the first card, and the figures below it
# --------------------------------------------------------------------------------------------------------------------

SET_UP = "Set-up: two commands"


def test_the_test_command_is_cis_and_names_what_ci_installs_for_it() -> None:
    """`.ci/run` installs Debian packages for the tests when their command is missing and then runs the README's
    test command: the set-up shows that command and names each package and command, so a first run is not a
    surprise (redis-server is needed; promtool only checks the alerting rules when it is there)."""
    ci = (ROOT / ".ci" / "run").read_text()
    needs = re.findall(r"command -v (\S+) >/dev/null \|\| packages\+=\((\S+)\)", ci)
    assert ("redis-server", "redis-server") in needs and ("promtool", "prometheus") in needs
    text = section(SET_UP)
    (install,) = [line for line in text.splitlines() if line.startswith("sudo apt-get install ")]
    for command, package in needs:
        assert f"`{command}`" in text, command
        assert package in install.split("#")[0].split(), package
    (test_command,) = re.findall(r"^(python3 -m venv .*pytest)$", ci, re.MULTILINE)
    assert test_command in code_blocks(text, "sh")[-1]
    assert "`promtool`" in text and "optional" in text and "skipped otherwise" in text


def test_the_set_up_shows_a_first_card_and_the_figures_come_after_it() -> None:
    text = section(SET_UP)
    assert "slack-chatops send --channel '#alerts'" in text and "SLACK_BOT_TOKEN" in text
    assert "| figure |" not in text and "python -m tests.benchmarks" not in text
    figures = section("Speed and memory: measured figures")
    assert "| figure | measured | target |" in figures and "**Short of the targets, and why.**" in figures
    assert README.index("## Speed and memory: measured figures") > README.index(f"## {SET_UP}")


def test_every_operator_command_and_its_options_are_described() -> None:
    import argparse

    from bot.ops import add_commands

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    add_commands(commands)
    text = section("Operator commands")
    for name, command in commands.choices.items():
        assert f"`slack-chatops {name}" in text, name
        for action in command._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in text, (name, option)


def test_the_upgrade_section_gives_the_layouts_the_code_has() -> None:
    from bot.ports.schema import REDIS_LAYOUT
    from bot.store.sqlite import SCHEMA_VERSION

    text = " ".join(section("Upgrading and rolling back").split())
    assert f"`PRAGMA user_version` ({SCHEMA_VERSION} in this release)" in text
    assert f"`slack-chatops:layout` ({REDIS_LAYOUT})" in text
    assert f"layout {SCHEMA_VERSION + 1}, this release reads up to {SCHEMA_VERSION}; roll forward" in text
    assert "is not a SQLite database (corrupt? SQLite says:" in text


def test_the_upgrade_section_describes_each_overlays_strategy_as_deployed() -> None:
    text = " ".join(section("Upgrading and rolling back").split())
    for overlay, manifest in (("single", "embedded-store.yaml"), ("redis", "shared-store.yaml")):
        strategy = yaml.safe_load((KUSTOMIZE / "overlays" / overlay / manifest).read_text())["spec"]["strategy"]
        if strategy["type"] == "Recreate":
            assert f"**`{overlay}` (Recreate)**" in text and "fails at Cloudforet with gRPC `UNAVAILABLE`" in text
        else:
            rolling = strategy["rollingUpdate"]
            assert f"**`{overlay}` (rolling update, `maxUnavailable: {rolling['maxUnavailable']}`, " in text
            assert f"`maxSurge: {rolling['maxSurge']}`)**" in text


def test_the_changelog_says_what_an_upgrade_does_to_stored_data() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## (.+)$", changelog, re.MULTILINE)
    assert releases[0] == "Unreleased" and "0.1.0" in releases
    unreleased = changelog.split("\n## ")[1]
    assert re.findall(r"^### (.+)$", unreleased, re.MULTILINE)[0] == "Migration"
    assert "rolling back to 0.1.0 keeps" in " ".join(unreleased.split())


def test_the_supervisor_gets_one_secret_and_not_the_button_key(supervisor_values: dict[str, Any]) -> None:
    secrets = [var["name"] for var in supervisor_values["env"] if "valueFrom" in var]
    assert secrets == ["BOT_STORE_URL"]
    text = " ".join(section("2. Run the plugin in Cloudforet").split())
    assert "the button key is already shared through the store" in text
    assert "redis://slack-chatops:<password>@" in text  # the restricted user, not Redis' admin password
