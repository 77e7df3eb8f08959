"""The keys that seal and open callback button values, derived from deployment settings.

Sealing uses ``BOT_BUTTON_KEY`` when it is set (the operator's choice, the same on every replica). Otherwise, on a
shared store, the random key kept in the store: every replica has it, whatever else it is configured with (a
standalone deployment with a signing secret and the supervisor's pods without one seal alike, so either opens what
the other sealed). On the embedded store, the first of ``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN``, or a random key
kept in ``BOT_DATA_DIR``. Opening tries all of them, so a click still works after a key source is added or the
sealing key changed.
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
    def __init__(
        self, configured: list[str], data_dir: Path, *, shared: str | None = None, explicit: bool = False
    ) -> None:
        """``configured``: the secrets of the settings, ``BOT_BUTTON_KEY`` first when ``explicit`` (it is set).
        ``shared``: the random key kept in the shared store, which then stands in for the data directory's."""
        self._configured = [SealKey.derive(secret) for secret in configured if secret]
        self._explicit = explicit and bool(self._configured)
        self._data_dir = data_dir
        self._shared = shared is not None
        self.shared_secret = shared  # the shared store's random key as this process uses it (``adopt``)
        self._local: SealKey | None = SealKey.derive(shared) if shared is not None else None
        self._older: list[SealKey] = []  # shared keys other processes made (after the store lost the first)
        self._older_secrets: set[str] = set()
        self.generation = 0  # changes whenever the sealing key does

    def adopt(self, current: str, known: list[str]) -> bool:
        """The shared store's random key as the store has it now, and every one it had (see ``Store.sync_secret``):
        seal with ``current``, open with all of them. True when the sealing key changed."""
        if not self._shared:
            return False
        changed = current != self.shared_secret
        if changed:
            self.shared_secret, self._local = current, SealKey.derive(current)
            if not self._explicit:
                self.generation += 1
        older = {secret for secret in known if secret != current}
        if older != self._older_secrets:
            self._older_secrets, self._older = older, [SealKey.derive(secret) for secret in sorted(older)]
        return changed

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
        if self._explicit or (self._configured and not self._shared):
            return self._configured[0]
        return self._local_key()

    @property
    def opening_keys(self) -> list[SealKey]:
        keys = list(self._configured)
        if self._shared or not keys or (self._data_dir / KEY_FILE).exists():
            keys.append(self._local_key())
        keys.extend(self._older)
        return keys
