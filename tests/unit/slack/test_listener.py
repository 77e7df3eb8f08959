"""The listener's guard as a single part: aiohttp's protocol behind it and asyncio's transport in front are stand-ins
that record what happens to them (no sockets; the real listener is in tests/integration/test_http_connections.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.slack.listener import (
    ConnectionGuard,
    GuardedConnection,
    Phase,
    connection_cap,
    connection_of,
    listen_backlog,
)


class Transport(asyncio.Transport):
    def __init__(self, buffered: int = 0) -> None:
        super().__init__()
        self.buffered = buffered
        self.closed_by: str | None = None
        self.protocol: asyncio.BaseProtocol | None = None

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def is_closing(self) -> bool:
        return self.closed_by is not None

    def close(self) -> None:
        self.closed_by = self.closed_by or "close"

    def abort(self) -> None:
        self.closed_by = self.closed_by or "abort"

    def get_write_buffer_size(self) -> int:
        return self.buffered


class Inner(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.events.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")


def phase(connection: GuardedConnection) -> Phase:
    return connection.phase  # read through a call: mypy would keep the phase narrowed across the calls between


def guard(cap: int = 10, header: float = 10.0, idle: float = 10.0) -> ConnectionGuard:
    return ConnectionGuard(header_timeout=header, idle_timeout=idle, max_connections=cap)


def connect(the_guard: ConnectionGuard, buffered: int = 0) -> tuple[GuardedConnection, Inner, Transport]:
    inner = Inner()
    connection = the_guard.factory(lambda: inner)()
    assert isinstance(connection, GuardedConnection)
    transport = Transport(buffered)
    transport.protocol = connection
    connection.connection_made(transport)
    return connection, inner, transport


def test_the_cap_and_the_backlog_follow_the_descriptor_limit() -> None:
    assert connection_cap(256, 1024) == 256  # Linux's usual limit: the setting as it is
    assert connection_cap(256, 256) == 64  # a quarter of the limit at most
    assert connection_cap(1000, None) == 1000  # unlimited
    assert connection_cap(256, 2) == 1
    assert listen_backlog(1024) == 128 and listen_backlog(256) == 32 and listen_backlog(None) == 128
    assert listen_backlog(4) == 1


async def test_over_the_cap_the_oldest_idle_connection_makes_room() -> None:
    the_guard = guard(cap=3)
    _, _, first_transport = connect(the_guard)
    busy, _, busy_transport = connect(the_guard)
    busy.request_started(with_body=False)
    third, _, _ = connect(the_guard)
    third.data_received(b"GET / HT")  # reading its head: idle too, but younger than the first
    _, fourth_inner, fourth_transport = connect(the_guard)
    assert first_transport.closed_by == "close"  # the oldest not handling a request
    assert busy_transport.closed_by is None and fourth_transport.closed_by is None
    assert fourth_inner.events == ["made"] and the_guard.open_connections == 3
    assert the_guard.closed_for_room == 1


async def test_a_connection_whose_request_body_is_still_arriving_makes_room_too() -> None:
    the_guard = guard(cap=2)
    uploading, _, uploading_transport = connect(the_guard)
    uploading.request_started(with_body=True)
    handled, _, handled_transport = connect(the_guard)
    handled.request_started(with_body=True)
    handled.body_read()
    assert phase(handled) is Phase.HANDLING
    connect(the_guard)
    assert uploading_transport.closed_by == "close" and handled_transport.closed_by is None


async def test_with_every_connection_busy_a_new_one_is_closed_at_once() -> None:
    the_guard = guard(cap=2)
    for _ in range(2):
        connect(the_guard)[0].request_started(with_body=False)
    refused, inner, transport = connect(the_guard)
    assert transport.closed_by == "abort" and inner.events == []  # aiohttp never saw it
    refused.data_received(b"GET / HTTP/1.1\r\n\r\n")
    refused.connection_lost(None)
    assert inner.events == [] and the_guard.open_connections == 2


async def test_a_connection_that_does_not_read_its_answer_is_dropped_not_left_closing() -> None:
    connection, _, transport = connect(guard(), buffered=65536)
    connection.close()
    assert transport.closed_by == "abort"


async def test_deadlines_follow_the_phases() -> None:
    the_guard = guard(header=0.05, idle=0.3)
    connection, inner, transport = connect(the_guard)
    connection.data_received(b"GET /healthz HTTP/1.1\r\n")
    assert phase(connection) is Phase.READING_HEAD
    connection.request_started(with_body=False)  # the head is in: no deadline while the app answers
    assert phase(connection) is Phase.HANDLING
    await asyncio.sleep(0.1)
    assert transport.closed_by is None
    connection.request_finished()
    assert phase(connection) is Phase.AWAITING
    await asyncio.sleep(0.1)  # past the header timeout, within the idle one
    assert transport.closed_by is None
    connection.data_received(b"G")  # the next request's head: the header deadline from now
    await asyncio.sleep(0.1)
    assert transport.closed_by == "close"
    connection.connection_lost(None)
    assert inner.events[-1] == "lost" and the_guard.open_connections == 0


async def test_a_silent_new_connection_gets_the_header_timeout_only() -> None:
    _, _, transport = connect(guard(header=0.05, idle=10))
    await asyncio.sleep(0.1)
    assert transport.closed_by == "close"


def test_a_request_finds_its_connection_through_its_transport() -> None:
    transport = Transport()
    assert connection_of(None) is None
    transport.protocol = Inner()
    assert connection_of(transport) is None  # the app served without the guard
    connection = GuardedConnection(guard(), Inner())
    transport.protocol = connection
    assert connection_of(transport) is connection
