"""A gRPC server with the plugin's services that does nothing: the floor any dispatch figure stands on."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import empty_pb2

from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, notification_pb2_grpc


class NoopNotification(notification_pb2_grpc.NotificationServicer):
    async def dispatch(
        self,
        request: notification_pb2.PluginDispatchRequest,
        context: grpc.aio.ServicerContext[notification_pb2.PluginDispatchRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        return empty_pb2.Empty()


async def main() -> None:
    server = grpc.aio.server()
    notification_pb2_grpc.add_NotificationServicer_to_server(NoopNotification(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"READY {port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
