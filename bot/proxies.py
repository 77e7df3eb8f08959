"""Egress proxies: which proxy a connection goes through, read from the environment the way curl does.

``HTTPS_PROXY`` for ``https://`` and ``wss://`` (Slack, its Socket Mode WebSocket), ``HTTP_PROXY`` for ``http://``
and ``ws://``, each in either case (lower case wins, as in curl and urllib); ``NO_PROXY`` (either case) lists what
is reached directly: host names, domains (``example.com`` and ``.example.com`` both cover every subdomain),
``host:port``, IP addresses and networks (``10.0.0.0/8``, as curl and requests read them), or ``*`` for
everything. Loopback is not implied: list ``localhost,127.0.0.1`` to keep it direct. A proxy written without a
scheme (``proxy.example.com:3128``) is ``http://``, as curl reads it.

The variables are read with the standard library's ``urllib.request.getproxies_environment`` and
``proxy_bypass_environment`` (what requests and aiohttp's ``trust_env`` read too), plus networks. aiohttp's own
``trust_env`` is not used: it looks a ``wss://`` URL up under ``WSS_PROXY`` rather than ``HTTPS_PROXY``, sends the
destination credentials from ``~/.netrc``, and reads the environment in a thread for every request.

A proxy URL may carry ``user:password@``: it is handed to aiohttp as it is (aiohttp sends it as
``Proxy-Authorization``) and only ever shown through :func:`shown`, which leaves the credentials out.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

# NO_PROXY's host and domain rule, as urllib applies it (in the standard library, absent from typeshed's stubs).
proxy_bypass_environment: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]

# Which proxy variable serves which scheme (curl: HTTPS_PROXY for https and wss, HTTP_PROXY for http and ws).
PROXY_FOR_SCHEME = {"https": "https", "wss": "https", "http": "http", "ws": "http"}
DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}


def _with_scheme(proxy: str) -> str:
    proxy = proxy.strip()
    return proxy if "://" in proxy else f"http://{proxy}"


def _no_proxy() -> str:
    return getproxies_environment().get("no", "")


def _in_networks(host: str, no_proxy: str) -> bool:
    """Whether ``host`` is an IP address inside an address or network ``NO_PROXY`` lists."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        try:
            if address in ipaddress.ip_network(entry.strip().strip("[]"), strict=False):
                return True
        except ValueError:
            continue
    return False


def bypassed(host: str, port: int | None = None) -> bool:
    """Whether ``NO_PROXY`` sends a connection to ``host`` (and ``port``) direct."""
    no_proxy = _no_proxy()
    if not no_proxy.strip():
        return False
    if _in_networks(host, no_proxy):
        return True
    bare = host.strip("[]")
    if ":" in bare:  # an IPv6 address: only its networks (above) or the address itself may be listed
        return any(entry.strip().strip("[]").lower() == bare.lower() for entry in no_proxy.split(","))
    where = bare if port is None else f"{bare}:{port}"
    return bool(proxy_bypass_environment(where, {"no": no_proxy}))


def proxy_for(url: str) -> str | None:
    """The proxy a connection to ``url`` goes through (credentials included: never log it, see :func:`shown`), or
    None for a direct connection: no proxy set for its scheme, or ``NO_PROXY`` lists its host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None  # not a URL the client can open either: it fails there, with its own error
    variable = PROXY_FOR_SCHEME.get(parts.scheme.lower())
    if variable is None or not parts.hostname:
        return None
    proxy = getproxies_environment().get(variable, "").strip()
    if not proxy or bypassed(parts.hostname, port or DEFAULT_PORTS[parts.scheme.lower()]):
        return None
    return _with_scheme(proxy)


def shown(proxy: str) -> str:
    """``proxy`` for a log line or a message: ``host:port`` (``over TLS`` for an https:// proxy), never
    ``user:password@``; written without ``scheme://`` so that log redaction (``bot.redact``) leaves it readable."""
    try:
        parts = urlsplit(_with_scheme(proxy))
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a proxy URL that cannot be read)"
    if not host:
        return "(a proxy URL without a host)"
    scheme = parts.scheme.lower()
    where = f"[{host}]" if ":" in host else host
    port = port or {"https": 443, "http": 80}.get(scheme)
    notes = [] if scheme == "http" else ["over TLS"] if scheme == "https" else [f"{scheme}, not supported"]
    if parts.username is not None or parts.password is not None:
        notes.append("with credentials, not shown")
    described = f"{where}:{port}" if port else where
    return f"{described} ({', '.join(notes)})" if notes else described


def configured() -> bool:
    """Whether the environment names a proxy (for https:// or http://)."""
    proxies = getproxies_environment()
    return bool(proxies.get("https", "").strip() or proxies.get("http", "").strip())


def describe() -> str:
    """The proxies in use, for the start-up log and ``doctor``: no credentials, ``NO_PROXY`` as set."""
    proxies = getproxies_environment()
    lines = []
    for variable, schemes in (("https", "https:// and wss://"), ("http", "http:// and ws://")):
        proxy = proxies.get(variable, "").strip()
        if proxy:
            lines.append(f"{schemes} through {shown(proxy)}")
    if not lines:
        return "none (direct connections; HTTPS_PROXY, HTTP_PROXY unset)"
    no_proxy = _no_proxy().strip()
    return "; ".join(lines) + (f"; direct to NO_PROXY={no_proxy}" if no_proxy else "; NO_PROXY unset")
