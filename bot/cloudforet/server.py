"""The ``grpc.aio`` server: one of Cloudforet's plugin APIs (its ``Protocol`` and ``Notification``), server
reflection and the standard health service.

Reflection is mandatory: Cloudforet's client discovers services and message types only through it. It binds them
by short name, so a server offers exactly one API's package (see ``bot.cloudforet.apis``).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bot.cloudforet.alert_manager import add_alert_manager_servicers
from bot.cloudforet.apis import CloudforetApi
from bot.cloudforet.servicers import Dispatcher, add_plugin_servicers

# How each API's services are registered (each returns the full names of what it registered).
_REGISTER: dict[CloudforetApi, Callable[[grpc.aio.Server, Dispatcher], tuple[str, ...]]] = {
    CloudforetApi.NOTIFICATION: add_plugin_servicers,
    CloudforetApi.ALERT_MANAGER: add_alert_manager_servicers,
}
# gRPC's own default receive limit (4 MiB), stated rather than implied: a Cloudforet message is a title, a
# description and a few tags (a card shows at most ~12,000 characters of it), so 4 MiB is far beyond any real one,
# while it bounds what each in-flight request can hold in memory (the old 64 MiB let a few calls take gigabytes).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def register_api(server: grpc.aio.Server, service: Dispatcher, api: CloudforetApi) -> tuple[str, ...]:
    """Register ``api``'s ``Protocol`` and ``Notification`` (the generated add_*_to_server, with a parser that
    cannot fail); return their full service names."""
    return _REGISTER[api](server, service)


async def start_grpc_server(
    service: Dispatcher, address: str, api: CloudforetApi = CloudforetApi.NOTIFICATION
) -> tuple[grpc.aio.Server, int]:
    """Start serving ``api`` on ``address`` (``host:port``, port 0 picks a free one); return the server and its
    port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
    )
    service_names = register_api(server, service, api)

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port
