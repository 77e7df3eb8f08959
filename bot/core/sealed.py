"""Sealed button values: a callback URL encrypted and authenticated into an opaque string.

A button's ``value`` is visible to every channel member who reads the message JSON, and a callback URL
carries an access key, so the URL is never put there in the clear. AES-256-GCM seals it; any replica that
holds the same key (derived from the same settings) can open it, and a tampered value does not open.
Format: ``v1.<key id>.<base64url(nonce | ciphertext+tag)>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
_AAD = b"slack-chatops/button/v1"


class SealError(ValueError):
    """The value was not sealed by any key we hold, or was altered."""


@dataclass(frozen=True)
class SealKey:
    """One 256-bit key derived from a secret, named by a short id so the right key is tried first."""

    key: bytes
    key_id: str
    aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aead", AESGCM(self.key))

    @classmethod
    def derive(cls, secret: str | bytes, purpose: str = "button-seal") -> SealKey:
        raw = secret.encode() if isinstance(secret, str) else secret
        key = hmac.new(raw, purpose.encode(), hashlib.sha256).digest()
        key_id = hashlib.sha256(key).hexdigest()[:8]
        return cls(key=key, key_id=key_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(payload: dict[str, str], key: SealKey) -> str:
    """Encrypt and authenticate a small JSON payload."""
    nonce = os.urandom(12)
    body = json.dumps(payload, separators=(",", ":")).encode()
    sealed = key.aead.encrypt(nonce, body, _AAD)
    return f"{VERSION}.{key.key_id}.{_b64(nonce + sealed)}"


def unseal(value: str, keys: Sequence[SealKey]) -> dict[str, str]:
    """Open a sealed value with whichever key sealed it; raise SealError otherwise."""
    try:
        version, key_id, data = value.split(".", 2)
        blob = _unb64(data)
    except (ValueError, TypeError) as exc:
        raise SealError("not a sealed value") from exc
    if version != VERSION or len(blob) < 12 + 16:
        raise SealError("not a sealed value")
    ordered = sorted(keys, key=lambda k: k.key_id != key_id)
    for key in ordered:
        try:
            body = key.aead.decrypt(blob[:12], blob[12:], _AAD)
        except InvalidTag:
            continue
        payload = json.loads(body)
        if isinstance(payload, dict):
            return payload
    raise SealError("value was not sealed by this deployment or was altered")


def fingerprint(secret: str) -> str:
    """A short, stable name for a secret (a bot or app token) that reveals nothing of it: keys lanes and cards."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
