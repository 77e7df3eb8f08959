"""A gRPC server with the plugin's services that does nothing: the floor any dispatch figure stands on.

It serves what Cloudforet's real client needs to call a plugin at all (server reflection, ``Protocol.init`` and
``Notification.dispatch``), each answering an empty message at once, so the real client's figures against it are
what grpc.aio and the client cost by themselves.
"""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import empty_pb2
from grpc_reflection.v1alpha import reflection

from bot.cloudforet._proto.spaceone.api.notification.plugin import (
    notification_pb2,
    notification_pb2_grpc,
    protocol_pb2,
    protocol_pb2_grpc,
)


class NoopNotification(notification_pb2_grpc.NotificationServicer):
    async def dispatch(
        self,
        request: notification_pb2.PluginDispatchRequest,
        context: grpc.aio.ServicerContext[notification_pb2.PluginDispatchRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        return empty_pb2.Empty()


class NoopProtocol(protocol_pb2_grpc.ProtocolServicer):
    async def init(
        self,
        request: protocol_pb2.InitRequest,
        context: grpc.aio.ServicerContext[protocol_pb2.InitRequest, protocol_pb2.PluginInfo],
    ) -> protocol_pb2.PluginInfo:
        return protocol_pb2.PluginInfo()


async def main() -> None:
    server = grpc.aio.server()
    protocol_pb2_grpc.add_ProtocolServicer_to_server(NoopProtocol(), server)
    notification_pb2_grpc.add_NotificationServicer_to_server(NoopNotification(), server)
    names = [module.DESCRIPTOR.services_by_name[name].full_name for module, name in SERVICES]
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"READY {port}", flush=True)
    await server.wait_for_termination()


SERVICES = ((protocol_pb2, "Protocol"), (notification_pb2, "Notification"))

if __name__ == "__main__":
    asyncio.run(main())
