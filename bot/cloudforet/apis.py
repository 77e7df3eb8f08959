"""Which of Cloudforet's plugin APIs a deployment speaks: one per process (``BOT_CLOUDFORET_API``).

Cloudforet's client (spaceone-core's ``SpaceConnector``) discovers a plugin's services through reflection and binds
them by their short names (``Protocol``, ``Notification``), the last one listed winning. Reflection lists services
sorted by full name, so a port serving both packages would have every caller reach
``spaceone.api.notification.plugin`` and never the alert manager's package (``tests/integration/
test_cloudforet_alert_manager.py`` shows it with the real client). Hence one package per deployment.

Kept free of gRPC imports: the settings read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit


class CloudforetApi(StrEnum):
    """The value of ``BOT_CLOUDFORET_API``."""

    NOTIFICATION = "notification"  # Cloudforet 1.x: the notification service's protocol plugins
    ALERT_MANAGER = "alert-manager"  # Cloudforet 2.x: the alert manager's notification protocol plugins

    @property
    def proto_package(self) -> str:
        """The protobuf package of the plugin services this API serves."""
        return PROTO_PACKAGES[self]


PROTO_PACKAGES: dict[CloudforetApi, str] = {
    CloudforetApi.NOTIFICATION: "spaceone.api.notification.plugin",
    CloudforetApi.ALERT_MANAGER: "spaceone.api.alert_manager.plugin",
}


# -- two-way actions: where Cloudforet's alert API is, and the App keys it takes (issue 19) ---------------------------

# BOT_CLOUDFORET_ENDPOINT's schemes, and whether each is TLS.
ENDPOINT_SCHEMES: dict[str, bool] = {"grpc": False, "grpc+ssl": True}
# A Cloudforet domain id as BOT_CLOUDFORET_APP_KEYS names it (Cloudforet's are ``domain-<hex>``; any such name).
DOMAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# An App key as the gRPC metadata ``token`` carries it: printable ASCII, no white space (Cloudforet's are JWTs).
APP_KEY = re.compile(r"[\x21-\x7e]+")
# BOT_CLOUDFORET_APP_KEYS given as a file: at most this many bytes are read (a key is under 4 KiB; 1,000 domains).
MAX_KEYS_FILE_BYTES = 4 * 1024 * 1000


@dataclass(frozen=True)
class AlertEndpoint:
    """Where Cloudforet's alert API listens: 1.x's monitoring service, or 2.x's alert manager."""

    host: str
    port: int
    tls: bool

    @property
    def target(self) -> str:
        """``host:port`` as gRPC dials it (an IPv6 address in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{'grpc+ssl' if self.tls else 'grpc'}://{self.target}"


def parse_endpoint(text: str) -> AlertEndpoint:
    """``grpc://host:port`` (plaintext) or ``grpc+ssl://host:port`` (TLS); ``ValueError`` saying what is wrong."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a URL with a port of 1-65535") from None
    if parts.scheme not in ENDPOINT_SCHEMES:
        raise ValueError("the scheme must be grpc:// (plaintext) or grpc+ssl:// (TLS)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("it must hold no user or password: the App key goes in BOT_CLOUDFORET_APP_KEY")
    if not parts.hostname:
        raise ValueError("it names no host")
    if port is None or not 1 <= port <= 65535:
        raise ValueError("it needs a port of 1-65535 (grpc://host:port)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("it must be just scheme, host and port: no path, query or fragment")
    return AlertEndpoint(parts.hostname, port, ENDPOINT_SCHEMES[parts.scheme])


def check_app_key(key: str) -> None:
    """``ValueError`` unless ``key`` can be sent as gRPC metadata; the error never quotes it."""
    if APP_KEY.fullmatch(key):
        return
    if APP_KEY.fullmatch(key.strip()):
        raise ValueError("it has white space or a line break around it (a file that ends in a newline?)")
    raise ValueError("it is empty or holds white space or characters other than printable ASCII")


def _entries(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [entry.strip() for line in lines for entry in line.split(",") if entry.strip()]


def parse_app_keys(text: str) -> dict[str, str]:
    """``domain-id=key,…``, or the path of a file holding such entries (one a line or comma-separated; lines starting
    with ``#`` are comments): the key of each domain. ``ValueError`` naming the entry by its position and its domain,
    never a key."""
    text = text.strip()
    if text and "=" not in text:
        path = Path(text)
        try:
            with path.open("rb") as file:
                raw = file.read(MAX_KEYS_FILE_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"names no readable file ({exc.strerror or type(exc).__name__})") from None
        if len(raw) > MAX_KEYS_FILE_BYTES:
            raise ValueError(f"the file is larger than {MAX_KEYS_FILE_BYTES} bytes")
        text = raw.decode("utf-8", errors="replace")
    keys: dict[str, str] = {}
    for number, entry in enumerate(_entries(text), start=1):
        domain, equals, key = entry.partition("=")
        domain, key = domain.strip(), key.strip()
        if not equals or not DOMAIN_ID.fullmatch(domain):
            raise ValueError(f"entry {number} is not domain-id=key")
        try:
            check_app_key(key)
        except ValueError as exc:
            raise ValueError(f"the key of entry {number} ({domain}) is not a key: {exc}") from None
        if domain in keys:
            raise ValueError(f"{domain} is given twice (entry {number})")
        keys[domain] = key
    if not keys:
        raise ValueError("it holds no domain-id=key entry")
    return keys


class AppKeys:
    """The App keys: one per domain (``BOT_CLOUDFORET_APP_KEYS``), and the default for every other domain
    (``BOT_CLOUDFORET_APP_KEY``). Its repr names the domains, never a key."""

    def __init__(self, default: str | None = None, by_domain: Mapping[str, str] | None = None) -> None:
        self._default = default or None
        self._by_domain = dict(by_domain or {})

    def for_domain(self, domain_id: str | None) -> str | None:
        """The key to use for ``domain_id`` (None: the default), None when there is none."""
        if domain_id and domain_id in self._by_domain:
            return self._by_domain[domain_id]
        return self._default

    @property
    def domains(self) -> list[str]:
        return sorted(self._by_domain)

    @property
    def has_default(self) -> bool:
        return self._default is not None

    def __bool__(self) -> bool:
        return self._default is not None or bool(self._by_domain)

    def secrets(self) -> list[str]:
        """Every key, for a last scrub of text about to be shown."""
        return [key for key in [self._default, *self._by_domain.values()] if key]

    def __repr__(self) -> str:
        return f"AppKeys(default={'set' if self._default else 'unset'}, domains={self.domains})"
