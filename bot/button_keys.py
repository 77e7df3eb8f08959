"""The keys that seal and open callback button values, derived from deployment settings.

Sealing uses the first available of: ``BOT_BUTTON_KEY``, ``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN``, or a
random key kept in ``BOT_DATA_DIR`` (made on first use). Opening tries all of them, so a click still works after
a key source is added, and on every replica that shares the same settings.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from bot.core.sealed import SealKey

logger = logging.getLogger(__name__)
KEY_FILE = "button-seal.key"


class ButtonKeys:
    def __init__(self, configured: list[str], data_dir: Path) -> None:
        self._configured = [SealKey.derive(secret) for secret in configured if secret]
        self._data_dir = data_dir
        self._local: SealKey | None = None

    def _local_key(self) -> SealKey:
        if self._local is None:
            path = self._data_dir / KEY_FILE
            try:
                if path.exists():
                    secret = path.read_text().strip()
                else:
                    self._data_dir.mkdir(parents=True, exist_ok=True)
                    secret = secrets.token_hex(32)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w") as handle:
                        handle.write(secret)
            except FileExistsError:
                secret = path.read_text().strip()
            except OSError as exc:
                logger.warning(
                    "cannot keep a button key in %s (%s); buttons sealed now will not open after a "
                    "restart: set BOT_BUTTON_KEY",
                    self._data_dir,
                    type(exc).__name__,
                )
                secret = secrets.token_hex(32)
            self._local = SealKey.derive(secret)
        return self._local

    @property
    def sealing_key(self) -> SealKey:
        return self._configured[0] if self._configured else self._local_key()

    @property
    def opening_keys(self) -> list[SealKey]:
        keys = list(self._configured)
        if (self._data_dir / KEY_FILE).exists() or not keys:
            keys.append(self._local_key())
        return keys
