"""Calls a Cloudforet callback URL for a click, the way Cloudforet expects, and reads the outcome.

``POST`` with JSON ``{"responder": ...}``, redirects not followed. Cloudforet 2.x always answers a 307: a
``Location`` containing ``alert-public-detail`` means done, ``expired-link`` means the key expired (1 hour) or
failed. Cloudforet 1.x answers 2xx JSON, or (its REST handler) a 307 to the console's alert page
(``…/alert-manager/alert/{id}``), also done. Anything else, or no answer within the timeout, is a failure.

Callback hosts can be restricted to an allow-list; link-local and cloud-metadata addresses are always refused,
also when an IPv6 address carries one (IPv4-mapped, NAT64, 6to4), for literal IPs and for every address a host
name resolves to (checked inside the resolver, so a DNS answer cannot change between the check and the
connection, and a DNS64 answer for a metadata address is refused too). The client holds the allow-list:
``check`` is the one check of a callback URL, and ``call`` takes only a URL that passed it (a ``CallbackUrl``).

Callbacks go through the proxy the environment names (``bot.proxies``: ``HTTP_PROXY``/``HTTPS_PROXY``; Cloudforet
is usually inside the network, and a host in ``NO_PROXY`` is called directly). Through a proxy the proxy resolves
the host, so before a URL is handed to it the host is resolved here and refused when any of its addresses is
forbidden, or when it does not resolve here at all (then nothing can be checked).

The client's connection pool is opened by its constructor, which runs on the event loop, and closed by ``close``.
"""

from __future__ import annotations

import ipaddress
import socket
import time

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot import __version__, proxies, tracing
from bot.core.text import echo, web_url_parts
from bot.ports.callbacks import CallbackRefused, CallbackResult, CallbackUrl, Outcome

__all__ = ["CallbackClient", "CallbackRefused", "CallbackResult", "CallbackUrl", "Outcome", "check_url"]

# Where no callback may go: link-local networks and the addresses cloud providers serve instance metadata (and
# with it the instance's credentials) on. Each from the provider's own documentation of its metadata service.
FORBIDDEN_NETWORKS = (
    # IPv4 link-local (RFC 3927): 169.254.169.254 (AWS, Google Cloud, Azure, Oracle Cloud, DigitalOcean,
    # OpenStack), 169.254.170.2 (AWS ECS task metadata), 169.254.0.23 (Tencent Cloud)
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local, incl. OpenStack's IPv6 metadata fe80::a9fe:a9fe
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IMDS over IPv6 (Nitro instances)
    ipaddress.ip_network("fd20:ce::254/128"),  # Google Cloud's metadata server on IPv6-only VMs
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud ECS metadata
    ipaddress.ip_network("192.0.0.192/32"),  # Oracle Cloud's older metadata address
    ipaddress.ip_network("168.63.129.16/32"),  # Azure's WireServer (host agent: extension settings, certificates)
)
# IPv6 prefixes that carry an IPv4 address, which a gateway or the host's own stack may reach for the IPv6 one.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 2.5.5.1 (deprecated; Python still parses it)
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: an operator's NAT64 prefix inside it
# RFC 6052 2.2: where the IPv4 address sits after a NAT64 prefix of each length that fits inside 64:ff9b:1::/48
# (bit offsets from the left; bits 64-71 are always skipped), as (offset, width) pieces.
_NAT64_LAYOUTS = (
    ((48, 16), (72, 16)),  # a /48 prefix
    ((56, 8), (72, 24)),  # a /56 prefix
    ((72, 32),),  # a /64 prefix
    ((96, 32),),  # a /96 prefix
)


def _bits(value: int, offset: int, width: int) -> int:
    """``width`` bits of a 128-bit ``value`` starting ``offset`` bits from the left."""
    return (value >> (128 - offset - width)) & ((1 << width) - 1)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address may stand for: IPv4-mapped, -compatible and -translated forms, NAT64
    (the well-known prefix, and every RFC 6052 layout of the local-use one), 6to4 and Teredo's client."""
    value = int(ip)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL_USE:
        for layout in _NAT64_LAYOUTS:
            v4 = 0
            for offset, width in layout:
                v4 = (v4 << width) | _bits(value, offset, width)
            found.append(ipaddress.IPv4Address(v4))
    return found


# Callbacks in flight at once: each click holds one for the callback's duration (up to the timeout).
MAX_CONNECTIONS = 512


def forbidden_address(address: str) -> bool:
    """Whether ``address`` (an IP literal, with or without an IPv6 zone) is link-local or a cloud metadata address,
    itself or through an IPv4 address it carries (``::ffff:169.254.169.254``, ``64:ff9b::a9fe:a9fe``). A host
    name is not an address: False (its addresses are checked when it resolves)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates.extend(embedded_ipv4(ip))
    return any(candidate in network for candidate in candidates for network in FORBIDDEN_NETWORKS)


def host_allowed(host: str, allowed: list[str] | None) -> bool:
    """Whether ``host`` is on the allow-list (exact names, or ``*.example.com`` for any subdomain)."""
    if not allowed:
        return True
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return True
        if host == entry:
            return True
    return False


# The one detail both ways of refusing a forbidden address give (the resolver's OSError, the check before a proxy).
FORBIDDEN_DETAIL = "could not reach Cloudforet (a forbidden address)"


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then drops forbidden addresses."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = [r for r in await self._inner.resolve(host, port, family) if not forbidden_address(r["host"])]
        if not results:
            raise OSError(f"{host} resolves only to forbidden (link-local or metadata) addresses")
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, allowed_hosts: list[str] | None) -> None:
    """Raise ``CallbackRefused`` unless ``url`` may be called."""
    parts = web_url_parts(url)
    if parts is None or not parts.hostname:
        raise CallbackRefused("the callback is not a web address")
    if forbidden_address(parts.hostname):
        raise CallbackRefused("the callback points at a link-local or metadata address")
    if not host_allowed(parts.hostname, allowed_hosts):
        raise CallbackRefused(f"callbacks to {echo(parts.hostname)} are not allowed (BOT_CALLBACK_ALLOWED_HOSTS)")


def read_outcome(status: int, location: str) -> CallbackResult:
    if 300 <= status < 400:
        if "alert-public-detail" in location or "/alert-manager/alert/" in location:
            return CallbackResult(Outcome.DONE, "Cloudforet confirmed", status)
        if "expired-link" in location:
            return CallbackResult(Outcome.EXPIRED, "Cloudforet says this link has expired", status)
        return CallbackResult(Outcome.FAILED, f"Cloudforet redirected somewhere unexpected (HTTP {status})", status)
    if 200 <= status < 300:
        return CallbackResult(Outcome.DONE, "Cloudforet confirmed", status)
    return CallbackResult(Outcome.FAILED, f"Cloudforet answered HTTP {status}", status)


class CallbackClient:
    """Calls callback URLs over one connection pool. Construct it on the event loop; ``close`` it when done."""

    def __init__(self, *, allowed_hosts: list[str] | None, timeout: float) -> None:
        self._allowed_hosts = allowed_hosts
        self._timeout = timeout
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=GuardedResolver(), limit=MAX_CONNECTIONS),
            headers={"User-Agent": f"slack-chatops/{__version__}"},
        )
        self._resolver = DefaultResolver()  # a proxied callback's host, checked before the proxy sees it

    def check(self, url: str) -> CallbackUrl:
        """``url`` as a URL ``call`` may call; raises ``CallbackRefused`` when it may not be called."""
        check_url(url, self._allowed_hosts)
        return CallbackUrl(url)

    async def call(self, url: CallbackUrl, responder: str) -> CallbackResult:
        """POST to a checked callback URL (see ``check``) and read what Cloudforet answers; never raises."""
        with tracing.span("cloudforet.callback", kind=tracing.Kind.CLIENT) as span:
            result = await self._call(url, responder)
            span.set("slack_chatops.outcome", result.outcome.value)
            if result.status is not None:
                span.set("http.response.status_code", result.status)
            return result

    async def _call(self, url: CallbackUrl, responder: str) -> CallbackResult:
        started = time.perf_counter()
        if self._session.closed:
            return CallbackResult(Outcome.FAILED, "could not reach Cloudforet (the plugin is stopping)")
        proxy = proxies.proxy_for(url)
        if proxy is not None:
            refused = await self._before_proxy(url)
            if refused is not None:
                return CallbackResult(refused.outcome, refused.detail, None, time.perf_counter() - started)
        try:
            async with self._session.post(
                url,
                json={"responder": responder},
                headers=tracing.headers(),  # Cloudforet's services continue the click's trace
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                proxy=proxy,
            ) as answer:
                await answer.read()
                result = read_outcome(answer.status, answer.headers.get("Location", ""))
        except TimeoutError:
            result = CallbackResult(Outcome.FAILED, f"Cloudforet did not answer within {self._timeout:g} s")
        except ValueError:  # a host the client cannot encode (an IDNA label over 63 characters, an empty label)
            result = CallbackResult(Outcome.REFUSED, "the callback is not a valid web address")
        except (aiohttp.ClientError, OSError) as exc:
            if "forbidden" in str(exc):
                result = CallbackResult(Outcome.FAILED, FORBIDDEN_DETAIL)
            elif isinstance(exc, aiohttp.ClientProxyConnectionError):
                result = CallbackResult(Outcome.FAILED, "could not reach Cloudforet (the proxy is unreachable)")
            else:
                result = CallbackResult(Outcome.FAILED, f"could not reach Cloudforet ({type(exc).__name__})")
        return CallbackResult(result.outcome, result.detail, result.status, time.perf_counter() - started)

    async def _before_proxy(self, url: CallbackUrl) -> CallbackResult | None:
        """Why a callback may not be handed to the proxy (the proxy would resolve its host, past the guarded
        resolver), or None: its host resolves here, to no forbidden address."""
        host = web_url_parts(url)
        if host is None or not host.hostname:
            return CallbackResult(Outcome.REFUSED, "the callback is not a valid web address")
        try:
            found = await self._resolver.resolve(host.hostname, 0, socket.AF_UNSPEC)
        except (OSError, ValueError):
            return CallbackResult(
                Outcome.FAILED, "could not reach Cloudforet (its host does not resolve here, so it cannot be checked)"
            )
        if not found or any(forbidden_address(r["host"]) for r in found):
            return CallbackResult(Outcome.FAILED, FORBIDDEN_DETAIL)
        return None

    async def close(self) -> None:
        """Close the connection pool; a later ``call`` fails (as FAILED) without calling anything."""
        await self._session.close()
        await self._resolver.close()
