"""The plugin as users run it: ``python -m bot serve`` in a subprocess, with its log captured to a file."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVE = ("-m", "bot", "serve")  # the plugin's command line, after the interpreter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    grpc_port: int
    http_port: int
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def server_process(data_dir: Path, slack_api_url: str, /, **env: str) -> Iterator[ServerProcess]:
    with limited_server_process(data_dir, slack_api_url, None, env) as server:
        yield server


@contextmanager
def server_process_of(
    args: tuple[str, ...], data_dir: Path, slack_api_url: str, /, **env: str
) -> Iterator[ServerProcess]:
    """``python <args>`` in place of ``python -m bot serve`` (a benchmark's variant of the server), the same way."""
    with limited_server_process(data_dir, slack_api_url, None, env, args=args) as server:
        yield server


@contextmanager
def limited_server_process(
    data_dir: Path, slack_api_url: str, nofile: int | None, env: dict[str, str], *, args: tuple[str, ...] = SERVE
) -> Iterator[ServerProcess]:
    """``python -m bot serve`` with ``env`` on top of the test's settings; ``nofile`` lowers its descriptor limit."""
    grpc_port, http_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SLACK_"))}
    environment.update(
        {
            "BOT_GRPC_PORT": str(grpc_port),
            "BOT_GRPC_HOST": "127.0.0.1",
            "BOT_HTTP_PORT": str(http_port),
            "BOT_HTTP_HOST": "127.0.0.1",
            "BOT_SLACK_API_URL": slack_api_url,
            "BOT_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
        }
    )
    environment.update(env)
    log_path = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=None if nofile is None else lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile)),
        )
    server = ServerProcess(process, grpc_port, http_port, log_path)
    try:
        wait_for_port(grpc_port, process=process)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
