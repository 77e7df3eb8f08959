"""The HTTP listener's guard over its connections: a deadline for each request's head, an idle timeout between
requests, and a cap on the connections open at once.

aiohttp's server closes a connection only after its keep-alive timeout (3,630 s by default), and has no deadline
for a request's head at all: a client that connects and sends nothing, or trickles its headers a byte at a time,
holds a descriptor for an hour. A thousand of them use up a 1,024 descriptor limit, ``accept()`` then fails
(asyncio logs "socket.accept() out of system resource") and ``/healthz`` stops answering.

The guard is a protocol between asyncio's transport and aiohttp's request handler, which runs unchanged behind
it (aiohttp parses and answers as before). It follows each connection through the phases of :class:`Phase`:

* a new connection has ``header_timeout`` to send a whole request head (line and headers);
* once a request is answered, the connection may stay idle for ``idle_timeout``; the first byte of the next
  request gives it ``header_timeout`` from then for that request's head;
* while a request's body arrives and while it is handled there is no deadline here (``/slack/events`` bounds
  reading its body itself).

A connection past its deadline is closed. Over the cap, a new connection closes the oldest one that is not
handling a request (idle, or still sending its head or body: nginx does the same with its idle keep-alive
connections when it runs out), or, when every one is busy, is itself closed at once; either way its descriptor
is back at once and the listener keeps accepting, so ``/healthz`` answers whatever holds connections open.

aiohttp tells the guard where a request starts and ends through ``bot.slack.http_app.request_phases``, a
middleware of the HTTP app (:func:`connection_of` finds a request's connection from its transport). This module
itself uses only asyncio, so the settings can name its defaults.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from enum import Enum

logger = logging.getLogger(__name__)

# Slack sends a request's head (and body) at once; a client still sending its head after 10 s is trickling or
# gone (nginx's client_header_timeout does the same, with 60 s; Apache's mod_reqtimeout 20-40 s). The same as the
# body's BODY_READ_TIMEOUT_SECONDS in bot/slack/http_app.py.
HEADER_TIMEOUT_SECONDS = 10.0
# nginx's keepalive_timeout default. Above AWS ALB's default idle timeout (60 s): a load balancer in front closes
# an idle connection before the plugin does, so it never sends a request on one the plugin is closing.
IDLE_TIMEOUT_SECONDS = 75.0
# Connections open at once. Slack's clicks, probes and a Prometheus scrape need a few dozen at most; 256 is a
# quarter of Linux's usual 1,024 descriptor limit.
MAX_CONNECTIONS = 256
# How many connections may wait to be accepted: aiohttp's TCPSite default, which the listener had before the guard.
# asyncio also accepts up to this many at a time, before the guard sees any of them.
LISTEN_BACKLOG = 128
# The listener's descriptors, whatever the settings: at most a quarter of the process's limit (RLIMIT_NOFILE) for
# the connections it keeps, and an eighth for each accept burst (one accepted, one whose closed connections'
# descriptors are freed a loop turn later). Half the limit in all; the rest is the callback pool's, Slack's API's,
# gRPC's and the store's.
CONNECTIONS_SHARE = 4
BURST_SHARE = 8
# The warning that the cap was reached is logged at most this often (one line a minute, not one per connection).
CAP_WARNING_INTERVAL_SECONDS = 60.0


class Phase(Enum):
    """Where a connection is, and so which deadline it has."""

    AWAITING = "awaiting a request"  # connected, or between requests: no byte of the next request yet
    READING_HEAD = "reading a request head"  # some bytes of a request, not yet its whole head
    READING_BODY = "reading a request body"  # the head is in; its body still arriving
    HANDLING = "handling a request"  # the request is in; the app answers


def descriptor_limit() -> int | None:
    """The process's descriptor limit (its soft RLIMIT_NOFILE), None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(configured: int, limit: int | None) -> int:
    """``configured``, but at most the connections' share of the descriptor ``limit`` (never below 1)."""
    return configured if limit is None else max(1, min(configured, limit // CONNECTIONS_SHARE))


def listen_backlog(limit: int | None) -> int:
    """LISTEN_BACKLOG, but at most an accept burst's share of the descriptor ``limit`` (never below 1)."""
    return LISTEN_BACKLOG if limit is None else max(1, min(LISTEN_BACKLOG, limit // BURST_SHARE))


class ConnectionGuard:
    """Wraps the listener's protocol factory (``guard.factory(server)`` for ``loop.create_server``) and keeps
    its connections' deadlines and count. Use it on the event loop it serves."""

    def __init__(self, *, header_timeout: float, idle_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._open: dict[GuardedConnection, None] = {}  # in the order they connected
        self._warned_at: float | None = None
        self.closed_for_room = 0  # connections closed to make room for new ones, or new ones refused

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server``: each connection's ``inner`` protocol, guarded."""
        return lambda: GuardedConnection(self, inner())

    def admit(self, connection: GuardedConnection) -> bool:
        """Count a new connection in, making room if the cap is reached; False when no room can be made."""
        if len(self._open) >= self.max_connections:
            self._at_cap()
            idle = next((c for c in self._open if c.phase is not Phase.HANDLING), None)
            if idle is None:
                return False
            idle.close()
            self.forget(idle)
        self._open[connection] = None
        return True

    def forget(self, connection: GuardedConnection) -> None:
        self._open.pop(connection, None)

    def close_all(self) -> None:
        """Close every connection still open (when the listener stops, after requests in flight finished)."""
        for connection in list(self._open):
            connection.close()
            self.forget(connection)

    def _at_cap(self) -> None:
        self.closed_for_room += 1
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= CAP_WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            logger.warning(
                "the HTTP listener has %d connections open, its cap: closing the longest-waiting idle one for "
                "each new one (%d so far; BOT_HTTP_MAX_CONNECTIONS)",
                self.max_connections,
                self.closed_for_room,
            )


class GuardedConnection(asyncio.Protocol):
    """One connection: passes everything to aiohttp's protocol, and closes the connection at its deadline."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self._answered = 0  # requests answered on this connection
        self._timer: asyncio.TimerHandle | None = None
        self.phase = Phase.AWAITING

    # -- asyncio's side ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._guard.admit(self):
            transport.abort()  # over the cap and nothing to close instead: this one goes, at once
            return
        self._admitted = True
        self._inner.connection_made(transport)
        self._deadline(self._guard.header_timeout)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if data and self.phase is Phase.AWAITING:
            self.phase = Phase.READING_HEAD
            if self._answered:  # a new connection's deadline runs from connecting; a kept-alive one's from here
                self._deadline(self._guard.header_timeout)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._guard.forget(self)
        if self._admitted:
            self._admitted = False
            self._inner.connection_lost(exc)

    # -- aiohttp's side (through request_phases) -----------------------------------------------

    def request_started(self, *, with_body: bool) -> None:
        """The request's head is in; until ``body_read``, a request ``with_body`` is still arriving."""
        self.phase = Phase.READING_BODY if with_body else Phase.HANDLING
        self._cancel_timer()

    def body_read(self) -> None:
        if self.phase is Phase.READING_BODY:
            self.phase = Phase.HANDLING

    def request_finished(self) -> None:
        self._answered += 1
        self.phase = Phase.AWAITING
        self._deadline(self._guard.idle_timeout)

    # -- deadlines -----------------------------------------------------------------------------

    def _deadline(self, seconds: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.phase is not Phase.HANDLING:
            self.close()

    def close(self) -> None:
        """Close the connection now: gracefully when nothing is left to send, else dropped (a client that does not
        read its answer would otherwise keep the connection open)."""
        self._cancel_timer()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()


def connection_of(transport: asyncio.BaseTransport | None) -> GuardedConnection | None:
    """The guard's connection behind a request's transport (None when the app is served without the guard)."""
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedConnection) else None
