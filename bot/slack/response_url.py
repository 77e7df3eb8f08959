"""A click's ``response_url``: talked to only when it is Slack's, and never through a redirect.

Slack gives every interaction a ``response_url`` (``https://hooks.slack.com/actions/…``) through which the app
replaces the clicked card or tells the clicker something. It takes no token, and the plugin sends the card's
content there, so the address must be Slack's: a payload naming another one would have the plugin post to it.
Accepted are https on ``hooks.slack.com`` and the origin of ``BOT_SLACK_API_URL`` (its scheme, host and port:
Slack's own, GovSlack's, a proxy's, or the fake Slack's on loopback in tests), and https on ``hooks.`` + that
host (GovSlack's ``hooks.slack-gov.com``); nothing else, and no user name or password in the address. With the
default ``BOT_SLACK_API_URL`` that is https on ``hooks.slack.com`` and ``slack.com`` only.

A redirect is never followed: Slack answers a response_url with 200 or an error, and a 3xx is not Slack's
answer. An answer other than 200 is logged (a warning with the status and Slack's error, as the SDK's webhook
client, which raised nothing, left it unlogged); no answer at all raises :class:`ResponseUrlFailed`. Neither
names the address (the URL is a capability). Posts go through the proxy the environment names for the URL
(``bot.proxies``: ``HTTPS_PROXY``, ``NO_PROXY``).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, NamedTuple, NewType

import aiohttp

from bot import __version__, proxies
from bot.core.text import echo, web_url_parts

logger = logging.getLogger(__name__)
# Where Slack's response_urls point (api.slack.com/interactivity/handling#message_responses).
SLACK_RESPONSE_HOST = "hooks.slack.com"
# GovSlack and the like serve their hooks on "hooks." + the API host (hooks.slack-gov.com beside slack-gov.com).
HOOKS_PREFIX = "hooks."
DEFAULT_PORTS = {"https": 443, "http": 80}
# slack_sdk's webhook client, which the plugin used before, waits 30 s; bot/runtime.py's CLAIM_MARGIN_SECONDS
# counts on a card redraw giving up within that.
RESPONSE_TIMEOUT_SECONDS = 30.0
# Slack answers "ok" or a short error ("expired_url", "invalid_blocks"); what is read of an answer at most.
MAX_ANSWER_BYTES = 4096


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


class ResponseUrlRefused(ValueError):
    """The response_url is not Slack's; the message names no address."""


class ResponseUrlFailed(Exception):
    """A message sent to a response_url got no answer; the message names no address."""


# A response_url that passed ``ResponseUrls.check``.
ResponseUrl = NewType("ResponseUrl", str)


def origin_of(url: str) -> Origin | None:
    """The scheme, host and port ``url`` talks to, or None when it is not a web address without credentials."""
    parts = web_url_parts(url)
    if parts is None or parts.hostname is None or parts.username is not None or parts.password is not None:
        return None
    scheme = parts.scheme.lower()
    return Origin(scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def slack_origins(slack_api_url: str) -> frozenset[Origin]:
    """Where response_urls may point, given the Slack Web API base the plugin is configured with."""
    origins = {Origin("https", SLACK_RESPONSE_HOST, DEFAULT_PORTS["https"])}
    api = origin_of(slack_api_url)
    if api is not None:
        origins.add(api)
        if api.scheme == "https" and not _is_ip(api.host) and not api.host.startswith(HOOKS_PREFIX):
            origins.add(Origin("https", HOOKS_PREFIX + api.host, DEFAULT_PORTS["https"]))
    return frozenset(origins)


def _message(text: str, blocks: Any = None, attachments: Any = None, **flags: Any) -> dict[str, Any]:
    """A response_url message as Slack's SDKs build it: empty block and attachment lists are left out."""
    message: dict[str, Any] = {"text": text}
    if blocks:
        message["blocks"] = blocks
    if attachments:
        message["attachments"] = attachments
    message.update(flags)
    return message


class ResponseUrls:
    """Checks response_urls and posts to them over one connection pool, opened at the first post (on the event
    loop) and closed by ``close``."""

    def __init__(self, slack_api_url: str, *, timeout: float = RESPONSE_TIMEOUT_SECONDS) -> None:
        self.origins = slack_origins(slack_api_url)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def check(self, url: str) -> ResponseUrl:
        """``url`` as one ``post`` may use; raises ``ResponseUrlRefused`` when it is not Slack's."""
        if origin_of(url) not in self.origins:
            raise ResponseUrlRefused("its response_url is not one of Slack's (https on hooks.slack.com)")
        return ResponseUrl(url)

    async def post(self, url: ResponseUrl, message: dict[str, Any]) -> bool:
        """Send ``message`` to a checked response_url: whether Slack took it (any other answer is logged, and a
        redirect not followed); raise ``ResponseUrlFailed`` when there is no answer."""
        if self._closed:
            raise ResponseUrlFailed("the plugin is stopping")
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": f"slack-chatops/{__version__}"})
        try:
            async with self._session.post(
                url,
                json=message,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                proxy=proxies.proxy_for(url),
            ) as answer:
                status = answer.status
                body = (await answer.content.read(MAX_ANSWER_BYTES)).decode("utf-8", "replace")
        except TimeoutError:
            raise ResponseUrlFailed(f"Slack did not answer within {self._timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ResponseUrlFailed(f"could not reach Slack ({type(exc).__name__})") from None
        if status == 200:
            return True
        if 300 <= status < 400:
            logger.warning("a click's response_url answered a redirect (HTTP %d): not followed", status)
        else:
            logger.warning("Slack refused a message to a click's response_url: HTTP %d %s", status, echo(body.strip()))
        return False

    async def replace(self, url: ResponseUrl, payload: dict[str, Any]) -> bool:
        """Replace the clicked message with ``payload`` (``text``, ``blocks``, ``attachments``)."""
        return await self.post(url, _message(replace_original=True, **payload))

    async def tell(self, url: ResponseUrl, text: str) -> bool:
        """A message only the clicker sees."""
        return await self.post(url, _message(text, response_type="ephemeral", replace_original=False))

    async def close(self) -> None:
        """Close the connection pool; a later ``post`` fails without sending anything."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
