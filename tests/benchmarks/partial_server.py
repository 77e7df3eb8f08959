"""The plugin's server with parts of its dispatch path replaced by stand-ins, to measure what each part costs.

``python -m tests.benchmarks.partial_server`` runs ``python -m bot serve`` after replacing the parts named in
``BENCH_STAND_INS`` (comma-separated ``Part`` values); ``bench_cpu_parts`` measures each configuration's server
CPU per init+dispatch beside the do-nothing server's. Benchmark-only: nothing here is used by the plugin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import runpy
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from google.protobuf import empty_pb2

from bot.cloudforet import servicers
from bot.core.cards import Card
from bot.core.mentions import NO_MENTIONS, CardMentions
from bot.core.models import DispatchOutcome, Message, NotificationType
from bot.delivery import cards as card_keeper
from bot.dispatch import DispatchService
from bot.ports.slack import Posted
from bot.ports.store import CardRecord
from bot.slack.web_api import SlackSender
from bot.store.sqlite import SqliteStore

VARIABLE = "BENCH_STAND_INS"


class Part(StrEnum):
    """A part of the dispatch path that a stand-in can replace (each answers at once)."""

    HANDLER = "handler"  # Notification.dispatch answers Empty at once: gRPC and the servicer plumbing only
    DISPATCH = "dispatch"  # the request is parsed and digested; the dispatch service answers POSTED at once
    SLACK = "slack"  # chat.postMessage answers at once with a new ts (no HTTP at all)
    RAW_HTTP = "raw-http"  # chat.postMessage over a bare HTTP/1.1 keep-alive socket instead of aiohttp
    STORE = "store"  # the card index finds nothing and saving a card does nothing
    CARD = "card"  # the first card rendered is reused for every notification


def _handler() -> None:
    async def dispatch(self: servicers.PluginServicers, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    servicers.PluginServicers.dispatch = dispatch  # type: ignore[method-assign]


def _dispatch() -> None:
    async def dispatch(self: DispatchService, request: Any, *, digest: str | None = None) -> DispatchOutcome:
        return DispatchOutcome.POSTED

    DispatchService.dispatch = dispatch  # type: ignore[method-assign]


def _slack() -> None:
    numbers = itertools.count()

    async def post(
        self: SlackSender, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> Posted:
        return Posted(channel_id=channel, ts=f"1700000000.{next(numbers):06d}")

    SlackSender.post = post  # type: ignore[method-assign]


def _raw_http() -> None:
    """A keep-alive socket per concurrent post, plain HTTP to the fake Slack only: the least an HTTP call costs."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(
        self: SlackSender, token: str, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> Posted:
        body = {"channel": channel, "unfurl_links": False, "unfurl_media": False, **payload}
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        address = self._base_url.split("//", 1)[1].split("/", 1)[0]
        host, port = address.rsplit(":", 1)
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        head = (
            f"POST /api/chat.postMessage HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
        answer = json.loads(await reader.readexactly(length))
        idle.append((reader, writer))
        return Posted(channel_id=str(answer.get("channel") or channel), ts=str(answer.get("ts")))

    SlackSender.post = post  # type: ignore[method-assign]


def _store() -> None:
    async def find_card(self: SqliteStore, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        return None

    async def save_card(self: SqliteStore, record: CardRecord, keys: Sequence[str] = ()) -> None:
        return None

    SqliteStore.find_card = find_card  # type: ignore[method-assign]
    SqliteStore.save_card = save_card  # type: ignore[method-assign]


def _card() -> None:
    build = card_keeper.build_card  # type: ignore[attr-defined]
    first: list[Card] = []

    def build_once(
        message: Message,
        notification_type: NotificationType,
        keys: Any,
        state: Any = None,
        mentions: CardMentions = NO_MENTIONS,
        **options: Any,
    ) -> Card:
        if not first:
            first.append(build(message, notification_type, keys, state, mentions, **options))
        return first[0]

    card_keeper.build_card = build_once  # type: ignore[attr-defined]


STAND_INS = {
    Part.HANDLER: _handler,
    Part.DISPATCH: _dispatch,
    Part.SLACK: _slack,
    Part.RAW_HTTP: _raw_http,
    Part.STORE: _store,
    Part.CARD: _card,
}


def main() -> None:
    for name in filter(None, os.environ.get(VARIABLE, "").split(",")):
        STAND_INS[Part(name)]()
    sys.argv = ["bot", "serve"]
    runpy.run_module("bot", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
