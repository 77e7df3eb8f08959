"""The running process: builds the parts from settings, starts them on one event loop, stops them cleanly."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time

import grpc
from aiohttp import web

from bot import metrics, proxies, tracing
from bot.button_keys import ButtonKeys
from bot.clicks.responders import ResponderPolicy
from bot.clicks.service import ClickService
from bot.cloudforet.alerts_api import AlertsApi
from bot.cloudforet.callback_client import CallbackClient
from bot.cloudforet.server import start_grpc_server
from bot.core.backoff import Backoff
from bot.core.errors import BotError
from bot.core.sealed import SealError
from bot.delivery.cards import CardKeeper
from bot.delivery.outbox import Outbox
from bot.delivery.tokens import TokenVault
from bot.dispatch import DispatchService
from bot.mentions import ClickerEmails
from bot.settings import Settings
from bot.slack.bolt_app import build_bolt_app
from bot.slack.directory import SlackDirectory
from bot.slack.http_app import build_http_app
from bot.slack.listener import ConnectionGuard, connection_cap, descriptor_limit, listen_backlog
from bot.slack.response_url import ResponseUrls
from bot.slack.socket_mode import SocketModeConnections, app_token_id
from bot.slack.web_api import ModalOpener, SlackSender
from bot.startup import ListenError, next_step
from bot.store import SqliteStore, Store, StoreError, open_store

logger = logging.getLogger(__name__)
# On SIGTERM: in-flight gRPC calls get this long (a dispatch waits at most BOT_DISPATCH_WAIT, 5 s), then the outbox
# drains for BOT_DRAIN_SECONDS (15 s): 25 s together, inside Kubernetes' default 30 s grace period. With a shared
# store what is left is taken over by the other replicas once this one's leases are released.
SHUTDOWN_GRACE_SECONDS = 10
# How often the store is checked (a vanished database file, a shared store that stopped answering: readiness
# follows it within this), and pruned of what is past its retention.
HOUSEKEEPING_SECONDS = 2.0
# Reading the remembered app-level tokens again after a start that found the store away: 1 s, doubling to 30 s.
RESTORE_BACKOFF = Backoff(1.0, 30.0)
BUTTON_KEY_NAME = "button-key"
PRUNE_SECONDS = 600.0
# A click's claim on its action is taken over by another click only once it cannot still be in flight: the
# callback's own timeout (BOT_CALLBACK_TIMEOUT) plus this, which covers the card redraw through the click's
# response_url made before the callback (slack_sdk's webhook client gives that up after 30 s).
CLAIM_MARGIN_SECONDS = 30.0
OPEN_CALLBACKS_WARNING = (
    "BOT_CALLBACK_ALLOWED_HOSTS is unset: a click on a button makes the plugin call the "
    "callback URL that came with the notification, on any host except link-local and "
    "cloud-metadata addresses; set it to the host names of Cloudforet's webhook"
)


# The longest a two-way action (Alert.update, then Note.create, each bounded by AlertsApi's timeout and one retry)
# keeps its claim: 2 calls x 2 attempts x 5 s, and the pause before a retry.
ALERT_ACTION_SECONDS = 21.0


def alerts_api(settings: Settings) -> AlertsApi | None:
    """Cloudforet's alert API for two-way actions, when BOT_CLOUDFORET_ENDPOINT and an App key are both set."""
    endpoint, keys = settings.alert_endpoint(), settings.app_keys()
    if endpoint is None or not keys:
        return None
    logger.info("two-way actions: Resolve on alert cards, through %s (%r)", endpoint, keys)
    return AlertsApi(settings.cloudforet_api, endpoint, keys)


def button_keys(settings: Settings, shared: str | None = None) -> ButtonKeys:
    configured = [
        s.get_secret_value()
        for s in (settings.button_key, settings.signing_secret, settings.app_token)
        if s is not None
    ]
    return ButtonKeys(configured, settings.data_dir, shared=shared, explicit=settings.button_key is not None)


async def open_runtime(settings: Settings) -> Runtime:
    """The runtime on the store ``BOT_STORE_URL`` names (the embedded one when unset), with the button key every
    replica shares when the store is shared. Raises ``StoreError``, ``ValueError`` or ``DataDirInUse``."""
    url = settings.store_url.get_secret_value() if settings.store_url is not None else None
    store = await open_store(url, settings.data_dir, settings.lock_wait)
    try:
        shared_key = await store.shared_secret(BUTTON_KEY_NAME, lambda: secrets.token_hex(32)) if store.shared else None
    except BaseException:
        await store.close()
        raise
    logger.info("store: %s", describe(store))
    logger.info("outbound proxy: %s", proxies.describe())  # names no credentials
    return Runtime(settings, store, shared_key=shared_key)


def describe(store: Store) -> str:
    """The store in use, for the start-up log: never its password."""
    return f"{store.describe()}, shared by every replica" if store.shared else f"{store.describe()} (one replica)"


class Runtime:
    """Every part of the plugin, wired together: gRPC dispatch, Slack interactivity (HTTP and Socket Mode)."""

    def __init__(self, settings: Settings, store: Store | None = None, *, shared_key: str | None = None) -> None:
        self.settings = settings
        self.store: Store = store or SqliteStore(settings.data_dir, lock_wait=settings.lock_wait)
        self.store_up = True  # as last seen by housekeeping; readiness follows it
        self.sender = SlackSender(settings.slack_api_url)  # verify and look-ups: slack_sdk's retry handlers
        self.delivery_sender = SlackSender(settings.slack_api_url, retry_handlers=[])  # the outbox retries itself
        self.keys = button_keys(settings, shared_key)
        self.tokens = TokenVault(self.keys)
        # mentions and responders: look-ups that fail degrade at once, so no retrying sender
        self.directory = SlackDirectory(self.delivery_sender)
        self.alerts = alerts_api(settings)  # two-way actions (issue 19): None unless both settings are set
        self.cards = CardKeeper(
            self.store,
            self.keys,
            self.tokens,
            directory=self.directory,
            two_way=self.alerts is not None,
            default_domain=settings.cloudforet_domain_id,
        )
        self.outbox = Outbox(
            self.store,
            self.delivery_sender,
            self.cards,
            self.tokens,
            post_rate=settings.post_rate,
            post_burst=settings.post_burst,
            update_rate=settings.update_rate,
            update_burst=settings.update_burst,
            refresh_keys=self.sync_button_key if self.store.shared else None,
        )
        self.service = DispatchService(
            self.outbox,
            self.sender,
            wait=settings.dispatch_wait,
            repeat_window=settings.repeat_window,
            on_app_token=self._app_token_seen,
        )
        self.callbacks = CallbackClient(
            allowed_hosts=settings.callback_allowed_hosts, timeout=settings.callback_timeout
        )
        self.clicks = ClickService(
            store=self.store,
            callbacks=self.callbacks,
            keys=self.keys,
            cards=self.cards,
            people=ClickerEmails(self.directory, self.tokens.token_for_channel),
            responders=ResponderPolicy(settings.allowed_responders, self._group_members),
            claim_timeout=max(settings.callback_timeout, ALERT_ACTION_SECONDS if self.alerts else 0.0)
            + CLAIM_MARGIN_SECONDS,
            alerts=self.alerts,
            default_domain=settings.cloudforet_domain_id,
            modals=ModalOpener(self.delivery_sender, self.tokens.token_for_channel),
        )
        self.responses = ResponseUrls(settings.slack_api_url)  # a click's response_url: Slack's only
        self.bolt = build_bolt_app(self.clicks, slack_api_url=settings.slack_api_url, responses=self.responses)
        self.socket_mode = SocketModeConnections(
            self.bolt, settings.slack_api_url, on_accepted=self._app_token_accepted, on_refused=self._app_token_refused
        )
        self._open_callbacks_warned = False
        self.grpc_server: grpc.aio.Server | None = None
        self.grpc_port = 0
        self.http_runner: web.AppRunner | None = None
        self.http_server: asyncio.Server | None = None
        self.http_guard = ConnectionGuard(
            header_timeout=settings.http_header_timeout,
            idle_timeout=settings.http_idle_timeout,
            max_connections=connection_cap(settings.http_max_connections, descriptor_limit()),
        )
        self.http_port = 0
        self.housekeeping: asyncio.Task[None] | None = None
        self.restoring: asyncio.Task[None] | None = None  # remembered app tokens read later (``start``)
        metrics.watch(self)  # the gauges read the outbox, Socket Mode and the store from here

    async def _group_members(self, group_id: str, channel_id: str) -> set[str] | None:
        token = self.tokens.token_for_channel(channel_id)
        if token is None:
            logger.warning("cannot check user group %s: no bot token known for channel %s yet", group_id, channel_id)
            return None
        try:
            return await self.sender.group_members(token, group_id)
        except BotError as exc:
            logger.warning("cannot check user group %s: %s", group_id, exc.details)
            return None

    async def _app_token_seen(self, app_token: str) -> None:
        """A dispatch brought an app-level token: check it with Slack in the background. The dispatch never waits
        for it and never fails because of it; the token is remembered only once Slack accepts it."""
        try:
            self.socket_mode.ensure(app_token)
        except Exception as exc:
            logger.error("could not start Socket Mode for an app-level token: %s", type(exc).__name__)

    async def _app_token_accepted(self, app_token: str) -> None:
        await self.store.remember_app_token(app_token_id(app_token), self.tokens.seal(app_token), now=time.time())
        self._warn_open_callbacks()

    async def _app_token_refused(self, app_token: str) -> None:
        await self.store.forget_app_token(app_token_id(app_token))

    def _warn_open_callbacks(self) -> None:
        """Once, when clicks are possible and nothing limits where their callbacks may go."""
        if not self._open_callbacks_warned and not self.settings.callback_allowed_hosts:
            self._open_callbacks_warned = True
            logger.warning(OPEN_CALLBACKS_WARNING)

    async def _remembered_app_tokens(self) -> list[str]:
        tokens: list[str] = []
        unreadable = 0
        for sealed in await self.store.app_tokens():
            try:
                tokens.append(self.tokens.open(sealed))
            except SealError:
                unreadable += 1
        if unreadable:
            logger.warning(
                "%d remembered app-level token(s) cannot be opened with the current keys; paste them "
                "into their channels again",
                unreadable,
            )
        return tokens

    def ready(self) -> bool:
        """Serving, and the store answers (a replica whose shared store is away takes no traffic)."""
        return self.grpc_server is not None and self.store_up

    async def check_store(self) -> None:
        """Notice a database file deleted under the running process: start a new one and write back what is still
        queued in memory (alert cards, failed items and the audit trail it held are gone, and said so)."""
        if not await self.store.vanished():
            return
        logger.error(
            "the store's database file was deleted while the plugin was running: starting a new one; "
            "alert cards, failed items and audit records it held are lost"
        )
        await self.store.reopen()
        rewritten = await self.outbox.rewrite_queued()
        logger.error("wrote %d queued notification(s) back to the new store", rewritten)

    async def sync_button_key(self) -> None:
        """Shared store: agree on the button key with every replica again, should the store have lost it (restarted
        empty, FLUSHALL): the store gets this process's key back unless another replica already put one there, and
        every key any replica used still opens what it sealed. Raises ``StoreError``."""
        current = self.keys.shared_secret
        if current is None:
            return
        now_current, known = await self.store.sync_secret(BUTTON_KEY_NAME, current)
        if self.keys.adopt(now_current, known):
            logger.warning(
                "the shared store had lost the button key; this replica now seals with the one the store has "
                "(buttons sealed before still open)"
            )

    async def _housekeeping(self) -> None:
        next_prune = time.monotonic() + HOUSEKEEPING_SECONDS
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                up = await self.store.ping()
                if up != self.store_up:
                    (logger.info if up else logger.error)("the store %s", "answers again" if up else "does not answer")
                self.store_up = up
                await self.check_store()
                if up:
                    await self.sync_button_key()
                    if self.store.shared:  # a network store that answers its ping: out of degraded mode
                        self.outbox.store_answers()
                if up and time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_SECONDS
                    removed = await self.store.prune(time.time())
                    if removed:
                        logger.info("pruned %d store record(s) past their retention", removed)
            except Exception as exc:  # retried at the next round; never ends the task
                logger.error("store housekeeping failed: %s", exc)

    async def start(self) -> None:
        await self.outbox.start()
        self.housekeeping = asyncio.get_running_loop().create_task(self._housekeeping(), name="housekeeping")
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        api = self.settings.cloudforet_api
        try:
            self.grpc_server, self.grpc_port = await start_grpc_server(self.service, address, api)
        except (OSError, RuntimeError) as exc:  # grpcio raises RuntimeError when it cannot bind
            raise ListenError("BOT_GRPC_PORT", "BOT_GRPC_HOST", address, exc) from exc
        logger.info(
            "gRPC plugin server listening on %s:%d (%s)", self.settings.grpc_host, self.grpc_port, api.proto_package
        )

        secret = self.settings.signing_secret.get_secret_value() if self.settings.signing_secret else None
        self.http_runner = web.AppRunner(
            build_http_app(self.bolt, secret, self.ready),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.settings.http_idle_timeout,  # the guard's idle timeout, aiohttp's own as well
        )
        await self.http_runner.setup()
        assert self.http_runner.server is not None  # made by setup()
        # aiohttp's request handler behind the guard (bot.slack.listener): deadlines and a cap on connections
        try:
            self.http_server = await asyncio.get_running_loop().create_server(
                self.http_guard.factory(self.http_runner.server),
                self.settings.http_host,
                self.settings.http_port,
                backlog=listen_backlog(descriptor_limit()),
            )
        except OSError as exc:
            where = f"{self.settings.http_host}:{self.settings.http_port}"
            raise ListenError("BOT_HTTP_PORT", "BOT_HTTP_HOST", where, exc) from exc
        self.http_port = int(self.http_server.sockets[0].getsockname()[1])
        logger.info(
            "HTTP listening on %s:%d (Slack interactivity %s; at most %d connections)",
            self.settings.http_host,
            self.http_port,
            "on at /slack/events" if secret else "off: no SLACK_SIGNING_SECRET",
            self.http_guard.max_connections,
        )

        if secret or self.settings.app_token is not None:
            self._warn_open_callbacks()
        if self.settings.app_token is not None:
            self.socket_mode.ensure(self.settings.app_token.get_secret_value(), pinned=True)
        try:
            self._reconnect(await self._remembered_app_tokens())
        except StoreError as exc:  # the store stopped answering since it opened: the start goes on without them
            logger.warning("cannot read the remembered app-level tokens yet (%s); trying again", exc)
            self.restoring = asyncio.get_running_loop().create_task(self._restore_app_tokens(), name="app tokens")

    def _reconnect(self, remembered: list[str]) -> None:
        if remembered:
            self._warn_open_callbacks()
        for token in remembered:  # each is checked with Slack again; those refused are forgotten
            self.socket_mode.ensure(token, stored=True)

    async def _restore_app_tokens(self) -> None:
        """Read the remembered app-level tokens once the store answers again, and connect them (a start that met a
        store outage after opening it goes on serving rather than failing)."""
        failures = 0
        while True:
            failures += 1
            await asyncio.sleep(RESTORE_BACKOFF.delay(failures))
            try:
                remembered = await self._remembered_app_tokens()
            except StoreError as exc:
                logger.warning("cannot read the remembered app-level tokens yet (%s); trying again", exc)
                continue
            logger.info("read %d remembered app-level token(s) now that the store answers", len(remembered))
            self._reconnect(remembered)
            return

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop taking requests, finish those in flight, deliver what is queued (bounded), then close."""
        metrics.unwatch(self)
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace)
        if self.housekeeping is not None:
            self.housekeeping.cancel()
        if self.restoring is not None:
            self.restoring.cancel()
        await self.outbox.drain(self.settings.drain_seconds if grace else 0)
        await self.socket_mode.close()
        if self.http_server is not None:
            self.http_server.close()  # no new connections; those open finish their requests below
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        self.http_guard.close_all()
        if self.http_server is not None:
            await self.http_server.wait_closed()
        await self.callbacks.close()
        if self.alerts is not None:
            await self.alerts.close()
        await self.responses.close()
        await self.sender.close()
        await self.delivery_sender.close()
        await self.store.close()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight requests (bounded) and exit."""
    tracing.configure_from_env()  # spans to an OTLP collector when OTEL_* name one and the otel extra is installed
    runtime = await open_runtime(settings)
    try:
        await runtime.start()
    except BaseException:  # a port in use: close what did start (sessions, store, the lock) before leaving
        await runtime.stop(grace=0)
        raise
    logger.info(next_step(settings.grpc_host, runtime.grpc_port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info(
        "shutting down: finishing in-flight requests and draining the outbox (up to %d s + %g s)",
        SHUTDOWN_GRACE_SECONDS,
        settings.drain_seconds,
    )
    await runtime.stop()
    tracing.shutdown()  # flush the spans still buffered
