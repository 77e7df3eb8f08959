"""Operator commands, on the same store and settings as the running plugin: ``doctor``, ``outbox``, ``audit``.

``add_commands`` registers them on the command line (``bot.cli``); each parser carries its ``run`` function, which
returns the exit status: 0 when all is well, 1 when a check failed or an item was not found, 2 for bad usage,
settings or a store that cannot be opened. None of them prints a secret: tokens are read from the environment,
never from the command line (which ``ps`` shows to every user of the machine). Nor does any print a control
character as it is: values from the store or Slack are shown escaped (``bot.ops.common``).
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.ops.common import DEFAULT_LIMIT


def _run(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        if name == "doctor":
            from bot.ops.doctor import main as command
        elif name == "outbox":
            from bot.ops.outbox import main as command
        else:
            from bot.ops.audit import main as command
        return command(args)

    return run


def add_commands(commands: Any) -> None:
    """Add ``doctor``, ``outbox`` and ``audit`` to ``commands`` (an argparse sub-parsers object)."""
    doctor = commands.add_parser(
        "doctor",
        help="check the set-up: bot token and scopes (SLACK_BOT_TOKEN), channels, interactivity, Socket Mode, "
        "the store, the callback allow-list",
        description="Checks the deployment as configured by the environment (the same variables as serve) and "
        "prints a pass/fail list; exits 1 when a check fails. The bot token to check is read from SLACK_BOT_TOKEN.",
    )
    doctor.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="a channel (ID C…/G…, or #name) the bot must post to; repeat for several",
    )
    doctor.add_argument("--json", action="store_true", help="the results as JSON")
    doctor.set_defaults(run=_run("doctor"))

    outbox = commands.add_parser(
        "outbox",
        help="notifications still queued and those that failed, with their reason and age; retry or drop one",
    )
    outbox.add_argument(
        "action", nargs="?", choices=("list", "retry", "drop"), default="list", help="what to do (default: list)"
    )
    outbox.add_argument("item", nargs="?", type=int, help="the item's id (retry, drop)")
    outbox.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"items of each state (default {DEFAULT_LIMIT})"
    )
    outbox.add_argument("--json", action="store_true", help="the list as JSON")
    outbox.set_defaults(run=_run("outbox"))

    audit = commands.add_parser("audit", help="recent clicks: who, what, when, with what outcome")
    audit.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"records (default {DEFAULT_LIMIT})")
    audit.add_argument("--json", action="store_true", help="the records as JSON, newest first")
    audit.set_defaults(run=_run("audit"))
