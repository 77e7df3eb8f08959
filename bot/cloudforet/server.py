"""The ``grpc.aio`` server: Cloudforet's two plugin services, server reflection and the standard health service.

Reflection is mandatory: Cloudforet's client discovers services and message types only through it.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, protocol_pb2
from bot.cloudforet.servicers import add_plugin_servicers
from bot.dispatch import DispatchService

SERVICE_NAMES = (
    protocol_pb2.DESCRIPTOR.services_by_name["Protocol"].full_name,
    notification_pb2.DESCRIPTOR.services_by_name["Notification"].full_name,
)
# gRPC's own default receive limit (4 MiB), stated rather than implied: a Cloudforet message is a title, a
# description and a few tags (a card shows at most ~12,000 characters of it), so 4 MiB is far beyond any real one,
# while it bounds what each in-flight request can hold in memory (the old 64 MiB let a few calls take gigabytes).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


async def start_grpc_server(service: DispatchService, address: str) -> tuple[grpc.aio.Server, int]:
    """Start serving on ``address`` (``host:port``, port 0 picks a free one); return the server and its port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
    )
    add_plugin_servicers(server, service)  # the generated add_*_to_server, with a parser that cannot fail

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port
