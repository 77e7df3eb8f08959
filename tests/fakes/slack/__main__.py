"""The fake Slack as its own process, for the benchmarks::

    python -m tests.fakes.slack --port 0 --token xoxb-1 --channel alerts:C0ALERTS [--app-token xapp-1]

It prints ``READY <port>`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from tests.fakes.slack.fake import FakeSlack


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack", description="Fake Slack Web API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", action="append", default=[], help="bot token to accept (repeatable)")
    parser.add_argument("--app-token", action="append", default=[], help="Socket Mode app token (repeatable)")
    parser.add_argument(
        "--scope", action="append", default=[], help="scope granted to every --token (default chat:write)"
    )
    parser.add_argument("--channel", action="append", default=[], metavar="NAME:ID", help="repeatable")
    parser.add_argument("--post-rate", type=float, default=None, help="chat.postMessage per channel per second")
    parser.add_argument("--post-burst", type=int, default=3)
    parser.add_argument("--update-rate", type=float, default=None, help="chat.update per channel per second")
    parser.add_argument("--retry-after", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeSlack(
        post_rate_per_channel=args.post_rate,
        post_burst=args.post_burst,
        update_rate_per_channel=args.update_rate,
        retry_after=args.retry_after,
    )
    fake.delay = args.delay
    scopes = tuple(args.scope) or ("chat:write",)
    for token in args.token:
        fake.add_token(token, scopes=scopes)
    for app_token in args.app_token:
        fake.add_app_token(app_token)
    for spec in args.channel:
        name, sep, channel_id = spec.partition(":")
        if not sep or not name or not channel_id:
            raise SystemExit(f"--channel expects NAME:ID, got {spec!r}")
        fake.add_channel(name, channel_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await fake.start(args.host, args.port)
    try:
        sys.stdout.write(f"READY {fake.port}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
