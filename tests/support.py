"""Test support: a live stack (fake Slack + the real plugin runtime) on a background event loop.

Tests drive it over real sockets with the synchronous gRPC client, the way Cloudforet does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc

from bot.cloudforet._proto.spaceone.api.notification.plugin import (
    notification_pb2,
    notification_pb2_grpc,
    protocol_pb2_grpc,
)
from bot.cloudforet.servicers import dict_to_struct
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.store import SqliteStore
from tests.fakes.slack import FakeSlack
from tests.samples import APP_TOKEN, TOKEN

T = TypeVar("T")
CHANNEL_ID = "C0ALERTS01"


class BackgroundLoop:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def populate(slack: FakeSlack) -> None:
    """The Slack workspace every test starts from."""
    slack.add_token(TOKEN, scopes=("chat:write", "usergroups:read"))
    slack.add_app_token(APP_TOKEN)
    slack.add_token("xoxb-inactive-1", inactive=True)
    slack.add_channel("alerts", CHANNEL_ID)
    slack.add_channel("old-alerts", "C0ARCHIVED", archived=True)
    slack.add_channel("secret-ops", "G0PRIVATE1", is_private=True, bot_member=False)
    for i in range(100):
        slack.add_channel(f"team-{i}", f"C0TEAM{i:04d}")


def dispatch_request(
    message: dict[str, Any],
    *,
    channel_data: dict[str, Any] | None = None,
    secret_data: dict[str, Any] | None = None,
    notification_type: str = "ERROR",
) -> notification_pb2.PluginDispatchRequest:
    """A dispatch request as Cloudforet sends it (to ``#alerts`` with the test token unless told otherwise)."""
    return notification_pb2.PluginDispatchRequest(
        options=dict_to_struct({}),
        message=dict_to_struct(message),
        notification_type=notification_type,  # by name: protobuf refuses a name it does not know
        secret_data=dict_to_struct(secret_data or {}),
        channel_data=dict_to_struct(
            channel_data if channel_data is not None else {"token": TOKEN, "channel": "#alerts"}
        ),
    )


def notification_type_number(number: int) -> notification_pb2.PluginDispatchRequest.NotificationType:
    """Any int32 as a notification type: proto3 enums are open, so a number the plugin does not know travels as
    is, but protoc's ``.pyi`` types the field with the known values only."""
    return cast(notification_pb2.PluginDispatchRequest.NotificationType, number)


def details_of(error: grpc.RpcError) -> str:
    """A gRPC error's details (grpc types them as optional; every error this plugin answers has some)."""
    details = error.details()
    assert details is not None, f"{error.code()} came without details"
    return details


class Stack:
    """A fake Slack and a plugin runtime pointed at it, plus gRPC stubs over a real socket."""

    def __init__(self, loop: BackgroundLoop, slack: FakeSlack, runtime: Runtime) -> None:
        self.loop = loop
        self.slack = slack
        self.runtime = runtime
        self.channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
        self.protocol = protocol_pb2_grpc.ProtocolStub(self.channel)
        self.notification = notification_pb2_grpc.NotificationStub(self.channel)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.runtime.grpc_port}"

    def dispatch(self, message: dict[str, Any], *, timeout: float = 30, **kwargs: Any) -> Any:
        return self.notification.dispatch(dispatch_request(message, **kwargs), timeout=timeout)

    def posted(self, channel_id: str = CHANNEL_ID) -> list[Any]:
        return list(self.slack.messages.get(channel_id, []))


def sqlite_path(runtime: Runtime) -> Path:
    """The database file of a runtime on the embedded store (tests that lock or delete it)."""
    assert isinstance(runtime.store, SqliteStore)
    return runtime.store.path


async def _built(settings: Settings) -> Runtime:
    return await open_runtime(settings)


@contextmanager
def live_stack(data_dir: Path, fake: FakeSlack | None = None, **settings: Any) -> Iterator[Stack]:
    loop = BackgroundLoop()
    slack = fake or FakeSlack()
    populate(slack)
    loop.run(slack.start())
    values: dict[str, Any] = {
        "grpc_port": 0,
        "grpc_host": "127.0.0.1",
        "http_port": 0,
        "http_host": "127.0.0.1",
        "slack_api_url": slack.base_url,
        "data_dir": data_dir,
        "post_rate": 0,
        "update_rate": 0,
        "dispatch_wait": 5,
        "drain_seconds": 2,
    }
    values.update(settings)
    runtime = loop.run(_built(Settings(**values)))  # on the loop, as ``serve`` builds it: its HTTP clients need one
    loop.run(runtime.start())
    stack = Stack(loop, slack, runtime)
    try:
        yield stack
    finally:
        stack.channel.close()
        loop.run(runtime.stop(0))
        loop.run(slack.stop())
        loop.close()
