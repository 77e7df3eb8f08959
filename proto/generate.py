"""Regenerate the protobuf and gRPC modules in ``bot/cloudforet/_proto`` from the ``.proto`` files here.

Run ``python proto/generate.py`` after editing a ``.proto`` file (needs ``grpcio-tools``, part of
the ``test`` extra). Two kinds of ``.proto`` file live here, each a copy of Cloudforet's (cloudforet-io/api, same
paths): the plugin protocols Cloudforet calls (``spaceone/api/{notification,alert_manager}/plugin``), and the subset
of Cloudforet's own alert APIs the plugin calls for two-way actions (``spaceone/api/monitoring/v1`` for 1.x,
``spaceone/api/alert_manager/v1`` for 2.x; each file's header says what it keeps). ``--check`` regenerates into a
temporary folder and exits 1 when the committed modules differ, which is what
``tests/unit/cloudforet/test_proto_fresh.py`` runs.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_ROOT = PROTO_ROOT.parent / "bot" / "cloudforet" / "_proto"
PROTO_FILES = sorted(PROTO_ROOT.rglob("*.proto"))
# Generated modules import each other by proto package path (``from spaceone.api.<package> import``); inside
# our package they live under bot.cloudforet._proto, so every such import is rewritten, whichever Cloudforet
# package it names (notification.plugin and monitoring.v1 for 1.x, alert_manager.plugin and alert_manager.v1 for
# 2.x). google.protobuf stays as it is.
IMPORT_FROM = re.compile(r"^(\s*)from spaceone\.", re.MULTILINE)
IMPORT_TO = r"\1from bot.cloudforet._proto.spaceone."


def rewrite_imports(text: str) -> str:
    """A generated module's imports of other generated modules, pointed into ``bot.cloudforet._proto``."""
    return IMPORT_FROM.sub(IMPORT_TO, text)


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc  # imported here: a test-only dependency

    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in PROTO_FILES],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in out_dir.rglob("*.py*"):
        text = path.read_text()
        path.write_text(rewrite_imports(text))
    for folder in [out_dir, *[p for p in out_dir.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()


def differences(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    diff = sorted(str(p) for p in files_a ^ files_b)
    diff += sorted(str(p) for p in files_a & files_b if not filecmp.cmp(a / p, b / p, shallow=False))
    return diff


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when bot/cloudforet/_proto is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "_proto"
        generate(fresh)
        if args.check:
            stale = differences(fresh, PACKAGE_ROOT)
            if stale:
                print("bot/cloudforet/_proto is stale; run python proto/generate.py. Differs:", *stale, sep="\n  ")
                return 1
            print("bot/cloudforet/_proto is up to date")
            return 0
        shutil.rmtree(PACKAGE_ROOT, ignore_errors=True)
        shutil.copytree(fresh, PACKAGE_ROOT)
    print(f"generated {PACKAGE_ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
