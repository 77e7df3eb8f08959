"""The unit suite needs no network at all, not even loopback: every test here runs with the socket layer's ways out
closed (connect, bind, send to an address, name lookups), so a test that reaches for a server fails at once, naming
what it tried, instead of passing on a machine that has one. The fixtures that start servers (``redis_server``,
``own_redis``, the fakes and live stacks of ``tests/conftest.py``) are refused here too: such tests belong in
``tests/integration``. Local socket pairs (asyncio's self-pipe) and Unix-domain sockets stay open: they are not a
network."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

NETWORK_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
"""The address families the guard closes (Unix-domain sockets and socket pairs are inter-process, not network)."""


class NetworkUsed(AssertionError):
    """A unit test touched the network."""


def _refuse(what: str, target: object) -> NoReturn:
    raise NetworkUsed(
        f"tests/unit needs no network: {what}({target!r}) was refused; move the test to tests/integration"
    )


def _guarded(name: str, original: Any) -> Any:
    def method(self: socket.socket, address: Any, *args: Any) -> Any:
        if self.family in NETWORK_FAMILIES:
            _refuse(f"socket.{name}", address)
        return original(self, address, *args)

    return method


def _sendto(self: socket.socket, data: Any, *rest: Any) -> Any:
    if self.family in NETWORK_FAMILIES:
        _refuse("socket.sendto", rest[-1] if rest else None)
    return _ORIGINAL_SENDTO(self, data, *rest)


_ORIGINAL_SENDTO = socket.socket.sendto


def _lookup(name: str) -> Any:
    def lookup(host: Any, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(f"socket.{name}", host)

    return lookup


def _unit_only(name: str) -> NoReturn:
    pytest.fail(
        f"tests/unit needs no network: the {name!r} fixture starts a server; move the test to tests/integration"
    )


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Close the network for one test (function-scoped, so a run of tests/unit with tests/integration keeps it to the
    unit tests)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("connect", "connect_ex", "bind"):
            patch.setattr(socket.socket, name, _guarded(name, getattr(socket.socket, name)))
        patch.setattr(socket.socket, "sendto", _sendto)
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
            patch.setattr(socket, name, _lookup(name))
        yield


@pytest.fixture
def redis_server() -> None:
    _unit_only("redis_server")


@pytest.fixture
def own_redis() -> None:
    _unit_only("own_redis")


@pytest.fixture
def stack() -> None:
    _unit_only("stack")


@pytest.fixture
def fake_slack() -> None:
    _unit_only("fake_slack")


@pytest.fixture
def fake_cloudforet() -> None:
    _unit_only("fake_cloudforet")


@pytest.fixture
def cloudforet_client() -> None:
    _unit_only("cloudforet_client")
