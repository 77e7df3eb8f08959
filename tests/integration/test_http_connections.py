"""The HTTP listener under connections that hold it open: silent ones, header tricklers, idle kept-alive ones, and
more of them than the process has descriptors. Real sockets against the real plugin on 127.0.0.1."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interactivity_support import wait_for
from tests.process import limited_server_process, wait_for_port
from tests.support import Stack, live_stack

HEADER_TIMEOUT = 0.5  # the test's BOT_HTTP_HEADER_TIMEOUT
IDLE_TIMEOUT = 1.5  # the test's BOT_HTTP_IDLE_TIMEOUT
MARGIN = 1.0  # how late a close may come (a loaded 2-core machine)
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: plugin\r\n\r\n"
HEALTHZ_ANSWERS_WITHIN = 1.0  # seconds; the listener answers in milliseconds when nothing holds it up


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with live_stack(tmp_path, http_header_timeout=HEADER_TIMEOUT, http_idle_timeout=IDLE_TIMEOUT) as stack:
        yield stack


def connect(port: int, timeout: float = 2.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setblocking(False)
    return sock


def is_closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (EOF or reset); False while it is open and has nothing to read."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:  # a reset: closed with bytes unread
        return True


def read_answer(sock: socket.socket, timeout: float = HEALTHZ_ANSWERS_WITHIN) -> bytes:
    """One /healthz answer (its body is "ok\\n", its end)."""
    deadline = time.monotonic() + timeout
    answer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while not answer.endswith(b"\r\n\r\nok\n"):
            left = deadline - time.monotonic()
            assert left > 0 and selector.select(left), f"no whole answer within {timeout} s: {answer!r}"
            chunk = sock.recv(4096)
            assert chunk, f"closed mid-answer: {answer!r}"
            answer += chunk
    return answer


def healthz_seconds(port: int) -> float:
    """How long a fresh connection takes to get /healthz answered (fails beyond HEALTHZ_ANSWERS_WITHIN)."""
    started = time.monotonic()
    with connect(port, timeout=HEALTHZ_ANSWERS_WITHIN) as sock:
        sock.sendall(HEALTHZ)
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
    return time.monotonic() - started


def closed_after(socks: dict[socket.socket, float], within: float, trickle: set[socket.socket]) -> dict[int, float]:
    """Watch ``socks`` (each with when it was opened, or last answered) for up to ``within`` seconds, sending a
    header byte every 0.1 s on those in ``trickle``; return how long after its start each one was closed."""
    closed: dict[int, float] = {}
    deadline = time.monotonic() + within
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for sock, started in socks.items():
            if sock.fileno() in closed:
                continue
            if is_closed(sock):
                closed[sock.fileno()] = time.monotonic() - started
            elif sock in trickle:
                try:
                    sock.send(b"a")
                except OSError:
                    closed[sock.fileno()] = time.monotonic() - started
        time.sleep(0.1)
    return closed


def test_silent_and_trickling_connections_are_closed_at_the_header_deadline(stack: Stack) -> None:
    port = stack.runtime.http_port
    silent = {connect(port): time.monotonic() for _ in range(100)}
    tricklers: dict[socket.socket, float] = {}
    for _ in range(100):
        sock = connect(port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: plugin\r\nX-Slow: ")  # a head never finished
        tricklers[sock] = time.monotonic()
    try:
        assert healthz_seconds(port) < HEALTHZ_ANSWERS_WITHIN  # all of them open, the listener still answers
        closed = closed_after({**silent, **tricklers}, HEADER_TIMEOUT + MARGIN + 1, trickle=set(tricklers))
        assert len(closed) == 200, f"{200 - len(closed)} connections still open"
        # closed by the header deadline, however busily a trickler kept sending, and not before it
        assert min(closed.values()) >= HEADER_TIMEOUT * 0.8 and max(closed.values()) <= HEADER_TIMEOUT + MARGIN
        assert healthz_seconds(port) < HEALTHZ_ANSWERS_WITHIN
        wait_for(lambda: stack.runtime.http_guard.open_connections == 0, timeout=1, what="the guard to count none")
    finally:
        for sock in [*silent, *tricklers]:
            sock.close()


def test_a_kept_alive_connection_lasts_the_idle_timeout_and_each_request_head_the_header_timeout(
    stack: Stack,
) -> None:
    port = stack.runtime.http_port
    with connect(port) as idle, connect(port) as slow_second:
        for sock in (idle, slow_second):
            sock.sendall(HEALTHZ)
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
        # idle past the header timeout: a kept-alive connection waits for its next request for the idle timeout
        time.sleep(HEADER_TIMEOUT + 0.3)
        assert not is_closed(idle) and not is_closed(slow_second)
        idle.sendall(HEALTHZ)
        assert read_answer(idle).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        # the next request's head starts arriving, and then trickles: the header deadline runs from its first byte
        slow_second.sendall(b"GET /healthz HTTP/1.1\r\n")
        first_byte = time.monotonic()
        closed = closed_after({idle: answered, slow_second: first_byte}, IDLE_TIMEOUT + MARGIN, {slow_second})
        assert slow_second.fileno() in closed and idle.fileno() in closed, f"still open; closed: {closed}"
        assert HEADER_TIMEOUT * 0.8 <= closed[slow_second.fileno()] <= HEADER_TIMEOUT + MARGIN
        assert IDLE_TIMEOUT * 0.8 <= closed[idle.fileno()] <= IDLE_TIMEOUT + MARGIN


NOFILE = 256  # the plugin's descriptor limit in the next test; its connection cap is then a quarter: 64
UPLOADS = 100  # connections that send a /slack/events head and then hold back the body (10 s allowed for it)
CONNECTIONS = 400  # more than NOFILE: without the cap, accept() fails and nothing is answered
UPLOAD = (
    b"POST /slack/events HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 1000\r\n\r\npayload="
)


def test_more_connections_than_descriptors_leave_healthz_answering(tmp_path: Path) -> None:
    """The plugin as run, under a 256 descriptor limit, with uploads that stall and then 400 silent connections
    opened and held: each new one past the cap closes the oldest one not being answered, so /healthz is answered at
    once (timeouts long enough not to help)."""
    env = {
        "BOT_HTTP_HEADER_TIMEOUT": "60",
        "BOT_HTTP_IDLE_TIMEOUT": "60",
        "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd9912e3a785a5",  # so /slack/events waits for the body
    }
    with limited_server_process(tmp_path, "http://127.0.0.1:9/api/", NOFILE, env) as server:
        wait_for_port(server.http_port, process=server.process)
        held: list[socket.socket] = []
        try:
            for i in range(UPLOADS + CONNECTIONS):
                try:  # 3 s: time for a SYN sent again after 1 s, when the listen queue was full for a moment
                    sock = connect(server.http_port, timeout=3)
                except OSError:  # the listener stopped accepting
                    break
                held.append(sock)
                if i < UPLOADS:
                    sock.sendall(UPLOAD)
                time.sleep(0.001)  # as fast as the listener takes them, so its listen queue never overflows
            assert len(held) == UPLOADS + CONNECTIONS
            for _ in range(5):
                assert healthz_seconds(server.http_port) < HEALTHZ_ANSWERS_WITHIN
            time.sleep(0.2)
            assert all(is_closed(sock) for sock in held[: UPLOADS + 100])  # the oldest ones made room
            assert not any(is_closed(sock) for sock in held[-30:])  # the newest are still open
        finally:
            for sock in held:
                sock.close()
        log = server.log()
        assert "at most 64 connections" in log
        assert "connections open, its cap" in log
        assert "out of system resource" not in log and "Traceback" not in log
