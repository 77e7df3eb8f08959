"""``requirements.lock``: what the Docker image installs, hash-pinned, in step with ``pyproject.toml``.

Offline: nothing is resolved here. The lock and ``pyproject.toml`` are read and compared with ``packaging``: every
runtime dependency is pinned at a version inside its range, every pin has its hashes, and nothing is pinned that
no runtime dependency needs (pip-compile's ``# via`` lines say who needs what). After changing the dependencies,
regenerate it with the command in its header (CONTRIBUTING, "Dependencies").
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
DOCKERFILE = ROOT / "Dockerfile"
PROJECT = "slack-chatops (pyproject.toml)"  # how pip-compile names the project in a ``# via`` line
PIN_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)\s*\\?$")
HASH_RE = re.compile(r"^--hash=sha256:[0-9a-f]{64}\s*\\?$")


@dataclass
class Pin:
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def read_lock(text: str) -> tuple[str, dict[NormalizedName, Pin]]:
    """The lock's header comment and its pins by canonical name (version, hashes, who needs it)."""
    pins: dict[NormalizedName, Pin] = {}
    header: list[str] = []
    current: Pin | None = None
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if raw.startswith("#"):
            header.append(line)
            continue
        if found := PIN_RE.match(raw):
            name = canonicalize_name(found["name"])
            assert name not in pins, f"{name} pinned twice"
            current = pins[name] = Pin(Version(found["version"]))
            in_via = False
            continue
        assert current is not None, f"{line!r} before the first pin"
        if HASH_RE.match(line):
            current.hashes.append(line)
        elif line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest  # "# via" alone: one name per line follows
            if rest:
                current.via.add(rest)
        elif in_via and line.startswith("#   "):
            current.via.add(line.removeprefix("#").strip())
        else:
            raise AssertionError(f"not a pin, a hash or a '# via' line: {line!r}")
    return "\n".join(header), pins


def runtime_dependencies(pyproject: str) -> list[Requirement]:
    return [Requirement(spec) for spec in tomllib.loads(pyproject)["project"]["dependencies"]]


def out_of_step(lock_text: str, pyproject: str) -> list[str]:
    """What makes the lock disagree with pyproject.toml's runtime dependencies (empty when in step)."""
    _, pins = read_lock(lock_text)
    problems: list[str] = []
    direct: set[NormalizedName] = set()
    for requirement in runtime_dependencies(pyproject):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this platform (none is, today)
        name = canonicalize_name(requirement.name)
        direct.add(name)
        if name not in pins:
            problems.append(f"{requirement} is not pinned")
        elif not requirement.specifier.contains(pins[name].version, prereleases=True):
            problems.append(f"{name}=={pins[name].version} is outside {requirement}")
    claimed = {name for name, pin in pins.items() if PROJECT in pin.via}
    problems += [
        f"{name} is pinned as a dependency of pyproject.toml, which has none" for name in sorted(claimed - direct)
    ]
    reached, frontier = set(direct), list(direct)
    while frontier:  # what the runtime dependencies need, and what that needs, by the lock's "# via" lines
        needer = frontier.pop()
        for name, pin in pins.items():
            if name not in reached and needer in {canonicalize_name(via) for via in pin.via}:
                reached.add(name)
                frontier.append(name)
    problems += [
        f"{name} is pinned but no runtime dependency needs it" for name in sorted(set(pins) - reached - claimed)
    ]
    problems += [f"{name}=={pin.version} has no --hash" for name, pin in pins.items() if not pin.hashes]
    return problems


def test_the_lock_is_in_step_with_pyproject() -> None:
    """Every runtime dependency pinned inside its range, with hashes; nothing pinned that none of them needs (no
    test tool, not the otel extra the image does not install, nothing left from a dependency since removed)."""
    problems = out_of_step(LOCK.read_text(), PYPROJECT.read_text())
    assert not problems, "requirements.lock is out of step (regenerate it: its header says how): " + "; ".join(problems)


def test_the_header_says_how_it_was_made_and_for_the_images_python() -> None:
    header, pins = read_lock(LOCK.read_text())
    assert len(pins) > len(runtime_dependencies(PYPROJECT.read_text()))  # the dependencies' own, too
    assert "pip-compile" in header and "--generate-hashes" in header, "the header says how to regenerate it"
    [base] = set(re.findall(r"^FROM python:(3\.\d+)\.\d+-slim", DOCKERFILE.read_text(), re.MULTILINE))
    assert f"autogenerated by pip-compile with Python {base}\n" in header + "\n"
    assert not [line for line in LOCK.read_text().splitlines() if line.startswith("--")], "no index or options in it"


def test_the_image_installs_the_lock_then_the_project_without_its_dependencies() -> None:
    commands = [c.strip() for c in re.split(r"&&|\n(?!\s)", DOCKERFILE.read_text().replace("\\\n", " "))]
    installs = [c for c in commands if re.search(r"\bpip\b.*\b(?:install|wheel)\b", c)]
    locked = [c for c in installs if re.search(r"-r \S*requirements\.lock\b", c)]
    assert locked and all("--require-hashes" in c for c in locked), "the lock's pins installed with their hashes"
    own = [c for c in installs if c not in locked]
    assert own and all("--no-deps" in c for c in own), f"the project installed without resolving: {own}"


PYPROJECT_SAMPLE = """
[project]
dependencies = ["aiohttp>=3.9,<4", "redis>=5"]
"""
HASH = "    --hash=sha256:" + "0" * 64 + " \\\n"


def _pin(name: str, version: str, *via: str) -> str:
    lines = f"{name}=={version} \\\n{HASH}" + HASH.rstrip(" \\\n") + "\n"
    if len(via) == 1:
        return lines + f"    # via {via[0]}\n"
    return lines + "    # via\n" + "".join(f"    #   {v}\n" for v in via)


IN_STEP = (
    _pin("aiohttp", "3.10.0", PROJECT)
    + _pin("multidict", "6.0", "aiohttp", "yarl")
    + _pin("redis", "5.2", PROJECT)
    + _pin("yarl", "1.9", "aiohttp")
)


@pytest.mark.parametrize(
    ("lock_text", "problem"),
    [
        (IN_STEP.replace("redis==5.2", "redis==4.6"), "redis==4.6 is outside redis>=5"),
        (IN_STEP.replace("aiohttp==3.10.0", "aiohttp==4.0.0a1"), "aiohttp==4.0.0a1 is outside aiohttp<4,>=3.9"),
        (IN_STEP.split("redis==")[0] + "yarl==" + IN_STEP.split("yarl==")[1], "redis>=5 is not pinned"),
        (
            IN_STEP + _pin("pytest", "8.0", PROJECT),
            "pytest is pinned as a dependency of pyproject.toml, which has none",
        ),
        (IN_STEP + _pin("iniconfig", "2.0", "pytest"), "iniconfig is pinned but no runtime dependency needs it"),
        (IN_STEP.replace(HASH, "").replace(HASH.rstrip(" \\\n") + "\n", ""), "aiohttp==3.10.0 has no --hash"),
    ],
)
def test_a_lock_out_of_step_is_found(lock_text: str, problem: str) -> None:
    assert out_of_step(IN_STEP, PYPROJECT_SAMPLE) == []
    assert problem in out_of_step(lock_text, PYPROJECT_SAMPLE)
