"""One process per data directory: an advisory lock (``flock``) held for the life of the process.

Two plugins on one SQLite outbox would both resume its queued items and post each twice (a rolling update that
starts the new pod before the old one stopped). The lock is released by the kernel when the holder exits, even on
SIGKILL, so a restart after a crash never finds a stale lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)
LOCK_FILE = "slack-chatops.lock"
POLL_SECONDS = 0.2


class DataDirInUse(Exception):
    """Another running plugin holds the data directory."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, wait: float) -> None:
        """Take the lock, waiting up to ``wait`` seconds for a previous process to finish draining."""
        deadline = time.monotonic() + wait
        announced = False
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise DataDirInUse(
                        f"BOT_DATA_DIR {self.path.parent} is in use by another running plugin (pid {holder}); one "
                        "data directory serves one process: stop the other one, give this one its own BOT_DATA_DIR, "
                        "or share state through BOT_STORE_URL"
                    ) from None
                if not announced:
                    logger.warning(
                        "waiting up to %g s for the plugin with pid %s to release %s", wait, holder, self.path.parent
                    )
                    announced = True
                time.sleep(POLL_SECONDS)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._fd = fd
            return

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
