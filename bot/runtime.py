"""The running process: builds the parts from settings, starts them on one event loop, stops them cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

import grpc

from bot.button_keys import ButtonKeys
from bot.dispatch import DispatchService
from bot.grpc_api.server import start_grpc_server
from bot.settings import Settings
from bot.slack_sender import SlackSender

logger = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 20


def button_keys(settings: Settings) -> ButtonKeys:
    configured = [s.get_secret_value() for s in (settings.button_key, settings.signing_secret, settings.app_token)
                  if s is not None]
    return ButtonKeys(configured, settings.data_dir)


@dataclass
class Runtime:
    settings: Settings
    sender: SlackSender = field(init=False)
    service: DispatchService = field(init=False)
    grpc_server: grpc.aio.Server | None = field(init=False, default=None)
    grpc_port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.sender = SlackSender(self.settings.slack_api_url)
        self.service = DispatchService(self.sender, button_keys(self.settings), timeout=self.settings.dispatch_timeout)

    async def start(self) -> None:
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        self.grpc_server, self.grpc_port = await start_grpc_server(self.service, address)
        logger.info("gRPC plugin server listening on %s:%d", self.settings.grpc_host, self.grpc_port)

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace)
        await self.sender.close()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight requests (bounded) and exit."""
    runtime = Runtime(settings)
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down: finishing in-flight requests (up to %d s)", SHUTDOWN_GRACE_SECONDS)
    await runtime.stop()
