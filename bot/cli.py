"""The command line, the only entry point: ``serve`` runs everything, ``preview`` renders a card offline."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from bot import __version__
from bot.ops import add_commands as add_operator_commands

logger = logging.getLogger("bot.startup")
HELP_WIDTH = 100
# The type names a preview file may give (Cloudforet 1.x's NotificationType names; NONE is short for its zero value).
NONE_ALIAS = "NONE"


def settings_help() -> str:
    """Every setting of ``bot.settings.Settings``: its variable, default and meaning (read from the model, so the
    help cannot drift from what ``serve`` reads)."""
    from bot.settings import Settings
    from bot.startup import describe_default, is_secret

    lines = [
        "settings (environment variables; each has a default, none is needed to start):",
        "",
    ]
    for name, field in Settings.model_fields.items():
        secret = " (secret: give it from a secret store)" if is_secret(name) else ""
        lines.append(f"  {field.alias}  [default: {describe_default(field.default)}]{secret}")
        lines.extend(
            textwrap.wrap(field.description or "", HELP_WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6)
        )
    lines += [
        "",
        "A setting that cannot be used stops the start with one line naming it, and exit status 2.",
    ]
    return "\n".join(lines)


class PreviewError(Exception):
    """A preview file the card cannot be made from."""


def _notification_type(data: dict[str, Any]) -> Any:
    from bot.core.models import NotificationType

    if "notification_type" not in data:
        return NotificationType.NONE
    name = data["notification_type"]
    if name == NONE_ALIAS:
        return NotificationType.NONE
    try:
        return NotificationType(name)
    except ValueError:
        known = ", ".join(t.name for t in NotificationType)
        raise PreviewError(
            f"unknown notification_type {json.dumps(name)[:80]}: use one of {known} (Cloudforet's names)"
        ) from None


def _preview(path: str) -> int:
    from bot.button_keys import ButtonKeys
    from bot.core.models import Message
    from bot.delivery.card_builder import build_card

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
    try:
        notification_type = _notification_type(data)
    except PreviewError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    parsed = Message.from_struct(message if isinstance(message, dict) else {})
    with tempfile.TemporaryDirectory() as tmp:  # buttons sealed with a throw-away key
        card = build_card(parsed, notification_type, ButtonKeys([], Path(tmp)))
    try:
        json.dump(card.payload(), sys.stdout, indent=2, ensure_ascii=False)
        print()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): not an error. Point stdout at /dev/null so the interpreter's own
        # flush at exit does not fail again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    if card.truncated:
        print("shortened: " + "; ".join(card.truncated), file=sys.stderr)
    return 0


def _serve() -> int:
    from pydantic import ValidationError

    from bot.logging_setup import configure_logging
    from bot.runtime import serve
    from bot.settings import Settings
    from bot.startup import (
        EXIT_STATUS,
        check_ports,
        explain,
        explain_invalid_settings,
        explain_slack_secrets,
        explain_two_way,
        unknown_variable_warnings,
    )

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"cannot start: {explain_invalid_settings(exc)}", file=sys.stderr)
        return EXIT_STATUS
    refused = explain_slack_secrets(settings) or explain_two_way(settings)
    if refused is not None:
        print(f"cannot start: {refused}", file=sys.stderr)
        return EXIT_STATUS
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError:
        level = Settings.model_fields["log_level"]
        print(
            f"cannot start: invalid settings: BOT_LOG_LEVEL={settings.log_level[:80]!r} is not valid: use "
            f"{level.description}; unset it for {level.default}",
            file=sys.stderr,
        )
        return EXIT_STATUS
    for warning in unknown_variable_warnings(os.environ):
        logger.warning(warning)
    try:
        check_ports(settings)
        asyncio.run(serve(settings))
    except Exception as exc:
        line = explain(exc, settings)
        if line is None:
            raise
        print(f"cannot start: {line}", file=sys.stderr)
        return EXIT_STATUS
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slack-chatops", description="Cloudforet notification plugin for Slack")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve",
        help="serve the gRPC plugin API (and Slack interactivity) until stopped",
        description=textwrap.fill(
            "Serve the gRPC plugin API (and Slack interactivity over HTTP or Socket Mode) until SIGTERM, then drain. "
            "Configured by environment variables only.",
            HELP_WIDTH,
        ),
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preview = commands.add_parser("preview", help="print the Block Kit JSON of a dispatch request, without Slack")
    preview.add_argument("request", help="JSON file with a dispatch request or a message ('-' for stdin)")
    add_operator_commands(commands)  # doctor, outbox, audit (bot.ops)
    args = parser.parse_args(argv)
    if hasattr(args, "run"):
        return int(args.run(args))
    if args.command == "preview":
        return _preview(args.request)
    return _serve()
