"""The command line, the only entry point: ``serve`` runs everything, ``preview`` renders a card offline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot import __version__
from bot.ops import add_commands as add_operator_commands


def _preview(path: str) -> int:
    from bot.button_keys import ButtonKeys
    from bot.core.models import Message, NotificationType
    from bot.slack.card_builder import build_card

    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text()
        data: Any = json.loads(raw)
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(data, dict):
        print("expected a JSON object: a dispatch request or a message", file=sys.stderr)
        return 2
    message = data.get("message", data) if "message" in data else data
    notification_type = NotificationType.parse(data.get("notification_type"))
    parsed = Message.from_struct(message if isinstance(message, dict) else {})
    with tempfile.TemporaryDirectory() as tmp:  # buttons sealed with a throw-away key
        card = build_card(parsed, notification_type, ButtonKeys([], Path(tmp)))
    json.dump(card.payload(), sys.stdout, indent=2, ensure_ascii=False)
    print()
    if card.truncated:
        print("shortened: " + "; ".join(card.truncated), file=sys.stderr)
    return 0


def _serve() -> int:
    from pydantic import ValidationError

    from bot.logging_setup import configure_logging
    from bot.runtime import serve
    from bot.settings import Settings
    from bot.store import DataDirInUse, StoreError

    try:
        settings = Settings()
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors(include_input=False))
        print(f"invalid settings: {fields}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (DataDirInUse, StoreError, ValueError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slack-chatops", description="Cloudforet notification plugin for Slack")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the gRPC plugin API (and Slack interactivity) until stopped")
    preview = commands.add_parser("preview", help="print the Block Kit JSON of a dispatch request, without Slack")
    preview.add_argument("request", help="JSON file with a dispatch request or a message ('-' for stdin)")
    add_operator_commands(commands)  # doctor, outbox, audit (bot.ops)
    args = parser.parse_args(argv)
    if hasattr(args, "run"):
        return int(args.run(args))
    if args.command == "preview":
        return _preview(args.request)
    return _serve()
