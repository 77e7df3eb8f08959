"""No import cycle between bot's packages, and a pure core: read from the source with ``ast`` (every import, those
inside functions and under ``TYPE_CHECKING`` included), so the rule holds without import-linter too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
SKIPPED = {"_proto"}  # protoc's generated code imports only its own modules and protobuf


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """The package or top-level module of bot that ``module`` belongs to (``bot.slack.web_api`` -> ``bot.slack``)."""
    return ".".join(module.split(".")[:2])


def _imported(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of bot that a module's code imports."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            names.add(source)
            # ``from bot import metrics`` imports the module bot.metrics, not only the package
            names.update(f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known)
    return {name for name in names if name == "bot" or name.startswith("bot.")}


def import_graph(root: Path = BOT) -> dict[str, set[str]]:
    """Which of bot's packages and top-level modules each imports (itself left out)."""
    files = [p for p in root.rglob("*.py") if not SKIPPED & set(p.relative_to(root).parts)]
    known = {_module_name(p, root) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        module = _module_name(path, root)
        imported = _imported(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py", known)
        unit = _unit(module)
        graph.setdefault(unit, set()).update(_unit(name) for name in imported if _unit(name) != unit)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the path that closes it (``[a, b, a]``), or None when it has none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def test_no_package_of_bot_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    assert {"bot.core", "bot.slack", "bot.delivery", "bot.clicks", "bot.dispatch"} <= graph.keys()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_core_imports_nothing_else_of_bot() -> None:
    assert import_graph()["bot.core"] == set()


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),  # a diamond is no cycle
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"x": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_cycle_finder_finds_cycles_and_only_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Relative, ``from bot import <module>``, inside a function: each counts."""
    root = tmp_path / "bot"
    for name in ("core", "slack", "delivery"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "metrics.py").write_text("")
    (root / "core" / "text.py").write_text("from bot import metrics\n")
    (root / "slack" / "web_api.py").write_text("def f() -> None:\n    from ..delivery import pacer\n")
    (root / "delivery" / "pacer.py").write_text("from .. import core\n")
    assert import_graph(root) == {
        "bot": set(),
        "bot.core": {"bot", "bot.metrics"},
        "bot.slack": {"bot.delivery"},
        "bot.delivery": {"bot", "bot.core"},
        "bot.metrics": set(),
    }
