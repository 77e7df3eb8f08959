"""Operator commands, on the same store and settings as the running plugin: ``doctor``, ``outbox``, ``audit``; and
``send``, a sample alert through the running plugin.

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
        elif name == "send":
            from bot.ops.send import main as command
        else:
            from bot.ops.audit import main as command
        return command(args)

    return run


def add_commands(commands: Any) -> None:
    """Add ``doctor``, ``outbox``, ``audit`` and ``send`` to ``commands`` (an argparse sub-parsers object)."""
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

    types = ("NONE", "INFO", "ERROR", "SUCCESS", "WARNING")  # bot.core.models.NotificationType's names
    send = commands.add_parser(
        "send",
        help="send a sample alert through a running plugin, as Cloudforet would, to see a card in a channel",
        description="Sends a sample alert to a running plugin over gRPC, as Cloudforet does (Protocol.init, then "
        "Notification.dispatch), and prints where it went and how the plugin answered. The bot token is read from "
        "SLACK_BOT_TOKEN (in the environment, never on the command line).",
    )
    send.add_argument(
        "--channel", required=True, metavar="CHANNEL", help="the channel: '#name' (quote the #) or its ID (C…/G…)"
    )
    send.add_argument(
        "--endpoint",
        metavar="HOST:PORT",
        help="the plugin's gRPC address (default: 127.0.0.1 and BOT_GRPC_PORT, 50051 unless set)",
    )
    send.add_argument(
        "--type",
        default="ERROR",
        type=str.upper,
        choices=types,
        help="the notification type, as Cloudforet names it (default ERROR)",
    )
    send.add_argument(
        "--resolve",
        action="store_true",
        help="then send the same alert again as resolved, as Cloudforet does: the same card updates",
    )
    send.set_defaults(run=_run("send"))
