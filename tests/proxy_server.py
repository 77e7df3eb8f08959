"""A private forward proxy for tests: Debian's ``tinyproxy`` on a free loopback port, with its own config and log.

Never a fake: the real binary (``.ci/run`` installs it when missing; without it these tests fail, they do not
skip). It takes clients on 127.0.0.1 only, forwards plain ``http://`` requests (the fake Slack's Web API, fake
Cloudforet callbacks) and tunnels ``CONNECT`` to any port (``wss://`` and ``https://``); no upstream proxy.
:meth:`TinyProxy.requests` reads what it was asked from its log: ``POST http://127.0.0.1:…/api/auth.test`` or
``CONNECT 127.0.0.1:…``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tests.process import free_port, wait_for_port

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
# tinyproxy's log line for each request a client makes: "Request (file descriptor 5): POST http://… HTTP/1.1".
_REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+ \S+) HTTP/")


class TinyProxy:
    def __init__(self, directory: Path, *, credentials: tuple[str, str] | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.credentials = credentials
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy as HTTPS_PROXY / HTTP_PROXY name it (with ``user:password@`` when it asks for them)."""
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "tinyproxy.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def requests(self) -> list[str]:
        """``METHOD target`` of every request clients made through the proxy, in order."""
        return _REQUEST.findall(self.log())

    def start(self) -> TinyProxy:
        if not os.access(TINYPROXY, os.X_OK):
            raise RuntimeError("tinyproxy is not installed (apt-get install tinyproxy; .ci/run does it)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Allow 127.0.0.1",
            "Timeout 30",
            "MaxClients 50",
            f'LogFile "{self.log_path}"',
            "LogLevel Connect",  # each client's connection and request: what the tests read
            "DisableViaHeader Yes",
            # No ConnectPort line: CONNECT may go to any port (the tests' TLS servers are on free ports).
        ]
        if self.credentials:
            lines.append(f"BasicAuth {self.credentials[0]} {self.credentials[1]}")
        config.write_text("\n".join(lines) + "\n")
        self._process = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port, START_TIMEOUT_SECONDS, self._process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"tinyproxy did not start: {exc}: {self.log()[-2000:]}") from exc
        self.clear()
        return self

    def clear(self) -> None:
        """Forget what the log holds so far (the next ``requests`` lists only what comes after)."""
        self.log_path.write_text("")

    def wait_for(self, needle: str, timeout: float = 10.0) -> list[str]:
        """The requests once one contains ``needle`` (tinyproxy writes its log as it goes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.requests()
            if any(needle in request for request in seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"the proxy saw no request with {needle!r}: {self.requests()}")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
