"""Cloudforet's real gRPC client (spaceone-core's SpaceConnector), run from its own venv.

spaceone-core pins protobuf 3 and pydantic 1, which cannot share an interpreter with our
protobuf 7 / pydantic 2 code, so ``ensure_client_venv()`` builds (once, cached, under a
file lock) a separate virtual environment with it, and ``CloudforetClient`` keeps one
long-lived ``runner.py`` process in it that performs the calls; the two talk JSON lines.

    with CloudforetClient() as client:
        answer = client.call("grpc://127.0.0.1:50051", "Protocol.init", {"options": {}})
        # {"ok": True, "result": {"metadata": {...}}}  or
        # {"ok": False, "status": "FAILED_PRECONDITION", "details": "ERROR_...: ...",
        #  "error": "ERROR_INTERNAL_API(error_code=ERROR_..., status_code=...): ...", ...}
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path
from types import TracebackType
from typing import IO, Any

SPACEONE_CORE_VERSION = "2.0.144"
# spaceone-core's own requirements are unpinned, and the newest releases of many of them
# need protobuf >= 4/5 or pydantic 2 while spaceone-core needs protobuf 3 and pydantic 1.
# pip does find a working set, but only by backtracking through ~300 downloads (100+
# fastapi versions alone); pinning the set it lands on makes the build quick and stable.
REQUIREMENTS: tuple[str, ...] = (
    f"spaceone-core=={SPACEONE_CORE_VERSION}",
    "protobuf==3.20.3",
    "pydantic==1.10.27",
    "grpcio>=1.66,<2",
    "grpcio-reflection==1.48.2",
    "grpcio-health-checking==1.48.2",
    "google-api-core==2.29.0",
    "googleapis-common-protos==1.73.0",
    "proto-plus==1.27.1",
    "fastapi==0.125.0",
    "opentelemetry-api==1.27.0",
    "opentelemetry-sdk==1.27.0",
    "opentelemetry-proto==1.27.0",
    "opentelemetry-exporter-otlp-proto-grpc==1.27.0",
    "opentelemetry-instrumentation==0.48b0",
    "opentelemetry-instrumentation-logging==0.48b0",
    "opentelemetry-exporter-prometheus==0.48b0",
)
IMPORT_CHECK = "from spaceone.core.connector.space_connector import SpaceConnector"
VENV_ENV_VAR = "SLACK_CHATOPS_CLIENT_VENV"
RUNNER = Path(__file__).resolve().with_name("runner.py")

_MARKER = ".slack-chatops-client-ready"  # written only after a successful build
_BUILDING = ".slack-chatops-client-building"  # proves a half-built directory is ours
_BUILD_TIMEOUT = 1800.0
_ready_python: dict[Path, Path] = {}


def _log(message: str) -> None:
    print(f"[cloudforet-client] {message}", file=sys.stderr, flush=True)


def requirements_hash() -> str:
    """Short hash of the pinned requirements and the Python version the venv is built with."""
    text = "\n".join([f"python{sys.version_info[0]}.{sys.version_info[1]}", *REQUIREMENTS])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def client_venv_dir() -> Path:
    """Where the client venv lives: ``$SLACK_CHATOPS_CLIENT_VENV`` or the user cache."""
    configured = os.environ.get(VENV_ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "slack-chatops" / f"spaceone-client-{requirements_hash()}"


def _child_env() -> dict[str, str]:
    """Environment for processes in the client venv: nothing of ours may leak in."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"):
        env.pop(name, None)
    return env


def _imports_cleanly(python: Path) -> bool:
    if not python.exists():
        return False
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", IMPORT_CHECK],
            env=_child_env(),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _stderr_target() -> Any:
    """sys.stderr when it is a real file (pytest's fd capture is), else inherit fd 2."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def _run_build_step(args: list[str]) -> None:
    sys.stderr.flush()
    target = _stderr_target()
    done = subprocess.run(args, env=_child_env(), stdout=target, stderr=target, timeout=_BUILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"client venv build step failed (exit {done.returncode}): {' '.join(args)}")


def _build(venv: Path) -> None:
    if venv.exists():
        is_ours = (venv / _MARKER).exists() or (venv / _BUILDING).exists() or not any(venv.iterdir())
        if not is_ours:
            raise RuntimeError(
                f"{venv} exists but is not a working spaceone-core venv and was not built here; "
                f"refusing to delete it. Fix it, remove it, or unset ${VENV_ENV_VAR}."
            )
        _log(f"removing broken client venv {venv}")
        shutil.rmtree(venv)
    venv.mkdir(parents=True)
    (venv / _BUILDING).write_text("")
    started = time.monotonic()
    _log(
        f"building Cloudforet client venv in {venv} (spaceone-core=={SPACEONE_CORE_VERSION}); "
        "this takes about a minute, longer on a cold pip cache"
    )
    _run_build_step([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run_build_step(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            *REQUIREMENTS,
        ]
    )
    if not _imports_cleanly(python):
        raise RuntimeError(f"client venv {venv} was built but `{IMPORT_CHECK}` fails in it")
    marker = {"requirements": list(REQUIREMENTS), "python": sys.version, "built_at": time.time()}
    tmp = venv / f"{_MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    tmp.replace(venv / _MARKER)
    (venv / _BUILDING).unlink()
    _log(f"client venv ready after {time.monotonic() - started:.0f} s")


def ensure_client_venv() -> Path:
    """Return the python executable of a venv with spaceone-core, building it if needed.

    Safe to call from parallel processes: the build runs under an exclusive ``fcntl`` lock
    next to the venv, and everyone re-checks after getting the lock. A venv given through
    ``$SLACK_CHATOPS_CLIENT_VENV`` is used as is when spaceone-core imports in it.
    """
    venv = client_venv_dir()
    if venv in _ready_python:
        return _ready_python[venv]
    python = venv / "bin" / "python"
    # A venv named by the user needs no marker; ours count only once fully built.
    trust_unmarked = bool(os.environ.get(VENV_ENV_VAR))

    def usable() -> bool:
        return ((venv / _MARKER).exists() or trust_unmarked) and _imports_cleanly(python)

    if not usable():
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f".{venv.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _log(f"waiting for another process to build {venv}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not usable():  # someone else may have built it meanwhile
                    _build(venv)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    _ready_python[venv] = python
    return python


class CloudforetClient:
    """One long-lived ``runner.py`` process calling plugins through SpaceConnector.

    Thread-safe: calls from several threads run concurrently in the runner and are
    matched to their answers by id.
    """

    def __init__(self, python: Path | str | None = None, *, startup_timeout: float = 60.0) -> None:
        self._python = Path(python) if python is not None else None
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._threads: list[threading.Thread] = []
        self._echo_stderr = bool(os.environ.get("SLACK_CHATOPS_CLIENT_DEBUG"))
        self.versions: dict[str, Any] = {}

    # lifecycle -------------------------------------------------------------------------

    def start(self) -> CloudforetClient:
        """Build the venv if needed, start the runner and wait until it answers a ping."""
        if self._process is not None:
            return self
        python = self._python or ensure_client_venv()
        self._process = subprocess.Popen(
            [str(python), "-I", "-u", str(RUNNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        for target, stream in ((self._read_answers, self._process.stdout), (self._read_stderr, self._process.stderr)):
            thread = threading.Thread(
                target=target, args=(stream,), daemon=True, name=f"cloudforet-client-{target.__name__}"
            )
            thread.start()
            self._threads.append(thread)
        try:
            answer = self.call("", "__ping__", {}, timeout=self._startup_timeout)
        except BaseException:
            self.close()
            raise
        if not answer.get("ok"):
            self.close()
            raise RuntimeError(f"Cloudforet client runner did not start: {answer}")
        self.versions = answer["result"]
        return self

    def close(self) -> None:
        """Stop the runner (idempotent). Pending calls fail with RuntimeError."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._fail_pending(RuntimeError("Cloudforet client closed"))

    def __enter__(self) -> CloudforetClient:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stderr_tail(self) -> str:
        """The runner's last stderr lines (spaceone-core logs, tracebacks)."""
        return "".join(self._stderr_tail)

    # calls -----------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The runner's process id (benchmarks read its CPU time)."""
        if self._process is None:
            raise RuntimeError("Cloudforet client is not started")
        return self._process.pid

    def call(
        self, endpoint: str, method: str, params: dict[str, Any], timeout: float = 60, *, discard: bool = False
    ) -> dict[str, Any]:
        """Call ``method`` ("Protocol.init", "Protocol.verify", "Notification.dispatch") like Cloudforet.

        ``endpoint`` is "grpc://host:port" ("host:port" gets the grpc:// prefix). Returns
        ``{"ok": True, "result": {...}}`` or ``{"ok": False, "status": <grpc StatusCode name>,
        "details": <server's details>, "error": <SpaceConnector's exception>, "origin":
        "server"|"client", "error_class", "error_code", "error_status", "error_message"}``.
        ``origin == "client"`` means SpaceConnector failed before getting a gRPC status (e.g.
        channel not ready within its 3 s, unknown method); ``details`` is then empty.
        Raises TimeoutError when no answer comes within ``timeout`` seconds. ``discard``: the runner leaves the
        result out (``{}``), so that writing it out adds nothing to the runner's CPU time (benchmarks).
        """
        process = self._process
        if process is None or process.stdin is None:
            raise RuntimeError("Cloudforet client is not started")
        if endpoint and "://" not in endpoint:
            endpoint = f"grpc://{endpoint}"
        call_id = next(self._ids)
        future: Future[dict[str, Any]] = Future()
        with self._pending_lock:
            self._pending[call_id] = future
        request = {"id": call_id, "endpoint": endpoint, "method": method, "params": params, "timeout": timeout}
        if discard:
            request["discard"] = True
        line = json.dumps(request)
        try:
            with self._write_lock:
                process.stdin.write(line + "\n")
                process.stdin.flush()
        except OSError as exc:
            with self._pending_lock:
                self._pending.pop(call_id, None)
            raise RuntimeError(f"Cloudforet client runner is gone: {exc}\n{self.stderr_tail}") from exc
        try:
            answer = future.result(timeout=timeout)
        except FutureTimeoutError:
            with self._pending_lock:
                self._pending.pop(call_id, None)
            raise TimeoutError(f"no answer to {method} on {endpoint} within {timeout} s") from None
        answer.pop("id", None)
        return answer

    def ping(self, timeout: float = 10) -> dict[str, Any]:
        """Round trip to the runner without network; returns its versions."""
        return self.call("", "__ping__", {}, timeout=timeout)

    def reset(self, endpoint: str = "") -> None:
        """Make spaceone-core forget its cached channel/stubs for ``endpoint`` (all if empty).

        Needed only when a different server with other services reuses the same port.
        """
        if endpoint and "://" not in endpoint:
            endpoint = f"grpc://{endpoint}"
        answer = self.call(endpoint, "__reset__", {}, timeout=10)
        if not answer.get("ok"):
            raise RuntimeError(f"reset failed: {answer}")

    # plumbing --------------------------------------------------------------------------

    def _read_answers(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                answer = json.loads(line)
            except ValueError:
                self._stderr_tail.append(f"[bad runner output] {line}")
                continue
            with self._pending_lock:
                future = self._pending.pop(answer.get("id"), None)
            if future is not None and not future.done():
                future.set_result(answer)
        self._fail_pending(RuntimeError(f"Cloudforet client runner exited\n{self.stderr_tail}"))

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr_tail.append(line)
            if self._echo_stderr:
                sys.stderr.write(f"[cloudforet-runner] {line}")

    def _fail_pending(self, error: Exception) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
