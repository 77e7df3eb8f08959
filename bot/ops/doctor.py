"""``slack-chatops doctor``: check a deployment's set-up and say what to fix, as a pass/fail list.

Checks, in order: the store (it opens and answers; queued and failed notifications), the callback allow-list,
Cloudforet's alert API with each App key when two-way actions are set up (a harmless read: "ok", "key refused" or
"unreachable"), how clicks come in (the signing secret for HTTP, the app-level token for Socket Mode, with a real
Socket Mode connection opened and closed), and, with ``SLACK_BOT_TOKEN`` set, the bot token (``auth.test``), its
scopes against those the plugin uses, and each ``--channel`` (the bot can post there, or the invite it needs).
Looking at a channel needs ``channels:read`` (``groups:read`` for private ones), which the plugin itself does not:
without them that check warns rather than fails.

Slack's Web API is called through the plugin's own client (``bot.slack.web_api.SlackSender``, one try per call),
through the proxy the environment names (``bot.proxies``), as the WebSocket is. A call that gets no answer says
whether the proxy could not be reached ("proxy unreachable"), or Slack ("Slack unreachable (proxy? DNS?
firewall?)"), apart from Slack refusing a token ("token refused").
Exit status 1 when any check fails, 0 otherwise (warnings included). Nothing printed holds a secret: tokens are
named by their kind, Slack's answers by their error codes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot import proxies
from bot.cloudforet.alerts_api import AlertsApi
from bot.core.models import is_channel_id
from bot.core.text import echo, escape_controls
from bot.ops.common import FAILED, OK, CommandError, describe_store, fail, json_text, load_settings, open_ops_store
from bot.ports.alerts import Outcome
from bot.redact import redact
from bot.settings import Settings
from bot.slack.errors import AUTH_ERRORS, SlackCallError
from bot.slack.scopes import OPTIONAL_SCOPES, REQUIRED_SCOPES
from bot.slack.web_api import PROXY_REFUSED, PROXY_UNREACHABLE, USER_AGENT, SlackSender
from bot.store import Store

BOT_TOKEN_VARIABLE = "SLACK_BOT_TOKEN"
# Slack answers in well under a second; a check that waits longer than this reports Slack as unreachable.
SLACK_TIMEOUT_SECONDS = 10.0
# Slack sends "hello" as soon as a Socket Mode WebSocket opens.
HELLO_TIMEOUT_SECONDS = 10.0
# A Slack app's signing secret: 32 lowercase hex digits (Basic Information → App Credentials).
SIGNING_SECRET = re.compile(r"[0-9a-f]{32}")
# conversations.list pages looked through to find a channel by name (1,000 channels a page).
MAX_CHANNEL_PAGES = 20
# Only for the channel check, never asked for by the manifests: the scope that lets the bot list each kind of
# conversation (https://api.slack.com/methods/conversations.list).
CHANNEL_SCOPES = {"public_channel": "channels:read", "private_channel": "groups:read"}


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    detail: str


def _reason(exc: SlackCallError, proxy: str | None = None) -> str:
    """Slack's answer for the operator: its error code, or why there was none: the proxy (``proxy``, the one the
    call went through), or Slack, unreachable."""
    if exc.status == 0:
        if exc.error.startswith(PROXY_UNREACHABLE) and proxy:
            return f"{PROXY_UNREACHABLE}: nothing answers at {proxies.shown(proxy)}"
        if exc.error.startswith((PROXY_UNREACHABLE, PROXY_REFUSED)):
            return exc.error
        cause = exc.error.removeprefix("connection failed (").removesuffix(")")
        return f"Slack unreachable (proxy? DNS? firewall?): {cause}"
    if exc.error in AUTH_ERRORS:
        return f"token refused ({echo(exc.error, 40)})"
    if exc.error:
        return echo(exc.error, 60)
    return f"unreadable answer (HTTP {exc.status})"


def check_proxy() -> Result | None:
    """The proxies in use (no credentials), when the environment names one."""
    return Result("proxy", Status.PASS, proxies.describe()) if proxies.configured() else None


# -- the store and the settings ------------------------------------------------------------------------------------


async def check_store(store: Store) -> list[Result]:
    where = describe_store(store)
    if not await store.ping():
        return [Result("store", Status.FAIL, f"{where} does not answer")]
    counts = await store.outbox_counts()
    pending, failed = counts.get("pending", 0), counts.get("failed", 0)
    results = [Result("store", Status.PASS, f"{where} answers; outbox: {pending} pending, {failed} failed")]
    if failed:
        results.append(
            Result(
                "failed notifications",
                Status.WARN,
                f"{failed} notification(s) failed for good: see `slack-chatops outbox` for why, then retry or drop",
            )
        )
    return results


def check_callback_hosts(settings: Settings) -> Result:
    hosts = settings.callback_allowed_hosts or []
    if not hosts:
        return Result(
            "callback allow-list",
            Status.WARN,
            "BOT_CALLBACK_ALLOWED_HOSTS is unset: a click calls whatever host its notification named (but link-local "
            "and metadata addresses); set it to the host names of Cloudforet's webhook",
        )
    bad = [h for h in hosts if "/" in h or "@" in h or re.fullmatch(r"[^:\[\]]+:\d+", h)]
    if bad:
        return Result(
            "callback allow-list",
            Status.FAIL,
            f"BOT_CALLBACK_ALLOWED_HOSTS holds {', '.join(echo(redact(h), 40) for h in bad)}: list host names "
            "(console.example.com, *.example.com), without scheme, port or path",
        )
    return Result("callback allow-list", Status.PASS, f"callbacks may go to {', '.join(hosts)}")


async def check_alert_api(settings: Settings) -> list[Result]:
    """With BOT_CLOUDFORET_ENDPOINT and an App key set (two-way actions), a harmless read (listing alerts by an id
    none has) with each key: "ok", "key refused" or "unreachable". Nothing when two-way actions are not set up."""
    endpoint, keys = settings.alert_endpoint(), settings.app_keys()
    if endpoint is None and not keys:
        return []
    name = "Cloudforet alert API"
    if endpoint is None or not keys:
        missing = "BOT_CLOUDFORET_ENDPOINT" if endpoint is None else "BOT_CLOUDFORET_APP_KEY(S)"
        return [Result(name, Status.FAIL, f"{missing} is not set: two-way actions need the endpoint and a key")]
    api = AlertsApi(settings.cloudforet_api, endpoint, keys)
    domains: list[str | None] = [None] if keys.has_default else []
    results: list[Result] = []
    try:
        for domain in [*domains, *keys.domains]:
            check = f"{name} ({'default key' if domain is None else domain})"
            found = await api.check(domain)
            if found.outcome is Outcome.DONE:
                results.append(Result(check, Status.PASS, f"ok: {endpoint} answers and accepts the key"))
            elif found.outcome is Outcome.REFUSED_KEY:
                results.append(Result(check, Status.FAIL, f"key refused: {found.detail}"))
            elif found.outcome in (Outcome.UNAVAILABLE, Outcome.TIMEOUT):
                results.append(Result(check, Status.FAIL, f"unreachable: {found.detail}"))
            else:
                results.append(Result(check, Status.FAIL, found.detail))
    finally:
        await api.close()
    return results


# -- clicks: HTTP and Socket Mode ----------------------------------------------------------------------------------


async def check_socket_mode(slack: SlackSender, session: aiohttp.ClientSession, app_token: str) -> Result:
    name = "Socket Mode"
    if not app_token.startswith("xapp-"):
        return Result(name, Status.FAIL, "SLACK_APP_TOKEN is not an app-level token (xapp-…)")
    try:
        url = await slack.socket_mode_url(app_token)
    except SlackCallError as exc:
        hint = " (a token with scope connections:write, from Basic Information → App-Level Tokens)"
        if exc.status == 0:
            return Result(name, Status.FAIL, f"apps.connections.open failed: {_reason(exc, slack.proxy)}")
        why = echo(exc.error, 60) if exc.error else _reason(exc)  # Slack's code: "refused" is said already
        return Result(name, Status.FAIL, f"Slack refused SLACK_APP_TOKEN: {why}{hint}")
    if not url:
        return Result(name, Status.FAIL, "apps.connections.open gave no WebSocket URL")
    proxy = proxies.proxy_for(url)
    try:
        async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=2.0), proxy=proxy) as ws:
            message = await ws.receive(timeout=HELLO_TIMEOUT_SECONDS)
    except aiohttp.ClientProxyConnectionError:
        shown = proxies.shown(proxy or "")
        return Result(name, Status.FAIL, f"proxy unreachable: nothing answers at {shown} (HTTPS_PROXY)")
    except aiohttp.ClientHttpProxyError as exc:
        return Result(
            name,
            Status.FAIL,
            f"the proxy refused the WebSocket (HTTP {exc.status}): does it allow CONNECT to Slack's wss:// port 443?",
        )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Result(
            name,
            Status.FAIL,
            f"the WebSocket Slack handed out could not be opened ({type(exc).__name__}): is outbound wss:// "
            "blocked by a firewall or proxy?",
        )
    if message.type is not aiohttp.WSMsgType.TEXT or json.loads(message.data).get("type") != "hello":
        return Result(name, Status.FAIL, "the WebSocket opened but Slack did not say hello")
    return Result(name, Status.PASS, "SLACK_APP_TOKEN accepted; a WebSocket opened and Slack said hello")


async def check_interactivity(
    settings: Settings, store: Store | None, slack: SlackSender, session: aiohttp.ClientSession
) -> list[Result]:
    results: list[Result] = []
    secret = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
    app_token = settings.app_token.get_secret_value() if settings.app_token else ""
    if secret:
        if SIGNING_SECRET.fullmatch(secret.strip()):
            results.append(Result("signing secret", Status.PASS, "set: clicks over HTTP at /slack/events"))
        else:
            results.append(
                Result(
                    "signing secret",
                    Status.WARN,
                    "SLACK_SIGNING_SECRET does not look like a Slack signing secret (32 hex digits, Basic "
                    "Information → App Credentials); every click over HTTP will be refused if it is wrong",
                )
            )
    if app_token:
        results.append(await check_socket_mode(slack, session, app_token))
    remembered = len(await store.app_tokens()) if store is not None else 0
    if not secret and not app_token:
        if remembered:
            results.append(
                Result(
                    "interactivity",
                    Status.PASS,
                    f"{remembered} app-level token(s) from channels are remembered for Socket Mode",
                )
            )
        else:
            results.append(
                Result(
                    "interactivity",
                    Status.FAIL,
                    "no way for clicks to arrive: set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode), "
                    "or paste an app-level token into a Cloudforet channel",
                )
            )
    return results


# -- the bot token, its scopes, its channels -----------------------------------------------------------------------


def check_scopes(granted: frozenset[str] | None) -> list[Result]:
    if granted is None:
        return [Result("scopes", Status.WARN, "Slack did not say which scopes the token has (no X-OAuth-Scopes)")]
    results: list[Result] = []
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if missing:
        needs = "; ".join(f"{scope} ({REQUIRED_SCOPES[scope]})" for scope in missing)
        results.append(Result("scopes", Status.FAIL, f"missing {needs}: add it under OAuth & Permissions, reinstall"))
    else:
        results.append(Result("scopes", Status.PASS, f"{', '.join(sorted(REQUIRED_SCOPES))} granted"))
    for scope, purpose in OPTIONAL_SCOPES.items():
        if scope not in granted:
            results.append(Result(f"scope {scope}", Status.WARN, f"not granted: no {purpose}"))
    return results


async def _channel_id(slack: SlackSender, token: str, wanted: str, granted: frozenset[str]) -> str | Result:
    """The ID of ``wanted`` (an ID already, or a name looked up), or the result that says why not."""
    if is_channel_id(wanted):
        return wanted
    name = wanted.lstrip("#")
    types = [kind for kind, scope in CHANNEL_SCOPES.items() if scope in granted]
    if not types:
        return Result(
            f"channel {wanted}",
            Status.WARN,
            "cannot look a channel up by name without channels:read (groups:read for private channels): give its "
            "ID (C…), or grant the scope",
        )
    cursor = ""
    for _ in range(MAX_CHANNEL_PAGES):
        try:
            channels, cursor = await slack.channel_page(token, types, cursor)
        except SlackCallError as exc:
            return Result(f"channel {wanted}", Status.FAIL, f"conversations.list failed: {_reason(exc)}")
        for channel in channels:
            if channel.get("name") == name:
                return str(channel.get("id"))
        if not cursor:
            break
    return Result(
        f"channel {wanted}",
        Status.FAIL,
        f"no channel named #{echo(name, 80)} the bot can see: check the name; a private channel is visible only "
        "once the bot is invited (/invite @<bot>)",
    )


async def check_channel(slack: SlackSender, token: str, wanted: str, granted: frozenset[str], bot: str) -> Result:
    found = await _channel_id(slack, token, wanted, granted)
    if isinstance(found, Result):
        return found
    name = f"channel {wanted}"
    try:
        channel = await slack.channel_info(token, found)
    except SlackCallError as exc:
        if exc.error == "missing_scope":
            return Result(
                name,
                Status.WARN,
                "cannot look at channels without channels:read (groups:read for private ones); the first post "
                "will tell (ERROR_SLACK_NOT_IN_CHANNEL with the invite to make)",
            )
        if exc.error == "channel_not_found":
            return Result(
                name,
                Status.FAIL,
                f"Slack knows no channel {echo(found, 40)} this bot can see: check the ID; invite the bot to a "
                f"private channel first (/invite @{bot})",
            )
        return Result(name, Status.FAIL, f"conversations.info failed: {_reason(exc)}")
    label = f"#{channel.get('name', '?')} ({found})"
    if channel.get("is_archived"):
        return Result(name, Status.FAIL, f"{label} is archived: unarchive it or send alerts elsewhere")
    if channel.get("is_member"):
        return Result(name, Status.PASS, f"{label}: the bot is a member")
    if not channel.get("is_private") and "chat:write.public" in granted:
        return Result(name, Status.PASS, f"{label}: not a member, but chat:write.public lets the bot post there")
    return Result(name, Status.FAIL, f"{label}: the bot is not a member: invite it with /invite @{bot}")


async def check_bot(slack: SlackSender, token: str, channels: list[str]) -> list[Result]:
    if not token.startswith("xoxb-"):
        return [Result("bot token", Status.FAIL, f"{BOT_TOKEN_VARIABLE} is not a bot token (xoxb-…)")]
    try:
        me = await slack.identity(token)
    except SlackCallError as exc:
        reason = _reason(exc, slack.proxy)
        hint = " (a revoked or mistyped token?)" if reason.startswith("token refused") else ""
        why = f"auth.test failed: {reason}{hint}"
        unchecked = "not checked: the bot token does not work"
        return [Result("bot token", Status.FAIL, why)] + [
            Result(f"channel {c}", Status.FAIL, unchecked) for c in channels
        ]
    bot = me.user or "the bot"
    team = f"{me.team or '?'} ({me.team_id or '?'})"
    results = [Result("bot token", Status.PASS, f"auth.test: @{bot} ({me.user_id or '?'}) in {team}")]
    results += check_scopes(me.scopes)
    granted = me.scopes or frozenset()
    for channel in channels:
        results.append(await check_channel(slack, token, channel, granted, bot))
    return results


# -- running it ----------------------------------------------------------------------------------------------------


async def _guarded(name: str, check: Callable[[], Awaitable[list[Result]]]) -> list[Result]:
    """A check that breaks unexpectedly is a failed check, named by the exception's type (no message: no secret)."""
    try:
        return await check()
    except Exception as exc:
        return [Result(name, Status.FAIL, f"the check itself failed ({type(exc).__name__})")]


async def diagnose(settings: Settings, bot_token: str, channels: list[str]) -> list[Result]:
    results: list[Result] = []
    store: Store | None = None
    try:
        store = await open_ops_store(settings)
    except CommandError as exc:
        results.append(Result("store", Status.FAIL, str(exc)))
    try:
        if store is not None:
            opened = store
            results += await _guarded("store", lambda: check_store(opened))
        results.append(check_callback_hosts(settings))
        results += await _guarded("Cloudforet alert API", lambda: check_alert_api(settings))
        proxy = check_proxy()
        if proxy is not None:
            results.append(proxy)
        timeout = aiohttp.ClientTimeout(total=SLACK_TIMEOUT_SECONDS)
        # The Web API through the plugin's own client, one try per call (but a connection that is closed or reset,
        # as a pooled one a proxy closed after forwarding a request is, is tried again at once on a fresh one); a
        # session of its own for the WebSocket.
        stale = AsyncConnectionErrorRetryHandler(
            max_retry_count=1,
            interval_calculator=FixedValueRetryIntervalCalculator(0.0),
            error_types=[aiohttp.ServerDisconnectedError, aiohttp.ClientOSError],
        )
        slack = SlackSender(settings.slack_api_url, retry_handlers=[stale], timeout=SLACK_TIMEOUT_SECONDS)
        try:
            async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as s:
                results += await _guarded("interactivity", lambda: check_interactivity(settings, store, slack, s))
            if bot_token:
                results += await _guarded("bot token", lambda: check_bot(slack, bot_token, channels))
            else:
                results.append(
                    Result(
                        "bot token",
                        Status.WARN,
                        f"{BOT_TOKEN_VARIABLE} is not set: set it (in the environment, not on the command line) "
                        "to check a bot token, its scopes and channels",
                    )
                )
                results += [
                    Result(f"channel {c}", Status.FAIL, f"not checked: set {BOT_TOKEN_VARIABLE}") for c in channels
                ]
        finally:
            await slack.close()
    finally:
        if store is not None:
            await store.close()
    return results


def _secrets(settings: Settings, bot_token: str) -> list[str]:
    values = [bot_token] + [
        s.get_secret_value() for s in (settings.signing_secret, settings.app_token, settings.button_key) if s
    ]
    values += settings.app_keys().secrets()
    return [v for v in values if len(v) >= 8]


def _scrubbed(text: str, secrets: list[str]) -> str:
    """The last guard: whatever a check wrote, no secret leaves."""
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return redact(text)


def report(results: list[Result], as_json: bool) -> str:
    failed = sum(r.status is Status.FAIL for r in results)
    warned = sum(r.status is Status.WARN for r in results)
    if as_json:
        summary = {"ok": not failed, "failed": failed, "warnings": warned}
        return json_text({**summary, "checks": [asdict(r) for r in results]})
    checks = [escape_controls(r.check) for r in results]  # --channel as given; details quote Slack's names
    width = max(len(check) for check in checks)
    lines = [
        f"{r.status.value.upper():4}  {check.ljust(width)}  {escape_controls(r.detail)}"
        for r, check in zip(results, checks, strict=True)
    ]
    lines.append(f"{failed} failed, {warned} warning(s), {len(results) - failed - warned} passed")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except CommandError as exc:
        return fail(str(exc))
    bot_token = os.environ.get(BOT_TOKEN_VARIABLE, "").strip()
    results = asyncio.run(diagnose(settings, bot_token, list(args.channel)))
    print(_scrubbed(report(results, args.json), _secrets(settings, bot_token)))
    return FAILED if any(r.status is Status.FAIL for r in results) else OK
