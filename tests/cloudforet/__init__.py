"""Run Cloudforet's own gRPC client (spaceone-core's SpaceConnector) against our plugin."""
