"""The gRPC adapter: Cloudforet's plugin API (servicers, status mapping, server with reflection and health)."""
