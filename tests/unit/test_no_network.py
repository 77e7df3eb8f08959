"""The unit suite's guard (tests/unit/conftest.py): loopback, a listening socket, a name lookup and asyncio's
connections are all refused inside tests/unit, while a socket pair (what an event loop uses to wake itself) works."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.unit.conftest import NetworkUsed


def test_a_loopback_connection_is_refused() -> None:
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 6379), timeout=0.1)
    with socket.socket() as sock:
        with pytest.raises(NetworkUsed, match=r"^tests/unit needs no network: socket.connect\(\('127.0.0.1', 6379\)\)"):
            sock.connect(("127.0.0.1", 6379))
    with socket.socket() as sock, pytest.raises(NetworkUsed):
        sock.connect_ex(("127.0.0.1", 6379))


def test_listening_and_sending_datagrams_are_refused() -> None:
    with socket.socket() as sock, pytest.raises(NetworkUsed, match=r"socket\.bind"):
        sock.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock, pytest.raises(NetworkUsed, match=r"socket\.sendto"):
        sock.sendto(b"x", ("::1", 53))


def test_a_name_lookup_is_refused() -> None:
    with pytest.raises(NetworkUsed, match="getaddrinfo"):
        socket.getaddrinfo("localhost", 80)
    with pytest.raises(NetworkUsed, match="gethostbyname"):
        socket.gethostbyname("localhost")


async def test_asyncio_cannot_connect_or_serve() -> None:
    with pytest.raises(NetworkUsed):
        await asyncio.open_connection("127.0.0.1", 6379)
    with pytest.raises(NetworkUsed):
        await asyncio.open_connection("redis-host", 6379)  # by name: the lookup itself is refused
    with pytest.raises(NetworkUsed):
        await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)


def test_a_socket_pair_still_works() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"


@pytest.mark.parametrize("name", ["redis_server", "own_redis", "stack", "fake_slack", "cloudforet_client"])
def test_a_server_fixture_is_refused(request: pytest.FixtureRequest, name: str) -> None:
    """A unit test asking for a server fixture fails at once (no redis-server started), naming the fixture."""
    with pytest.raises(pytest.fail.Exception, match=f"the '{name}' fixture starts a server; move the test to tests/"):
        request.getfixturevalue(name)
