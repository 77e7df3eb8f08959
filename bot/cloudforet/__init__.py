"""Everything that talks to Cloudforet: its gRPC plugin API (generated code, servicers, status mapping, the server
with reflection and health), the channel form it draws from our schema, and the client for its callback URLs."""
