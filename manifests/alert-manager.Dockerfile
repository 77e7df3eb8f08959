# slack-chatops for Cloudforet 2.x's alert manager: the same image, speaking
# spaceone.api.alert_manager.plugin instead of spaceone.api.notification.plugin.
#
# Cloudforet's supervisor starts a plugin image with no arguments and no settings of
# its own, so the choice of API (BOT_CLOUDFORET_API) is baked into a thin image on
# top of the plugin's. Build the plugin image first (see ../Dockerfile), then this
# one, with the same tag (the tag is the plugin version in Cloudforet):
#
#   docker build -t cloudforet/plugin-slack-chatops-protocol:0.1.0 .
#   docker build -t cloudforet/plugin-slack-chatops-alert-manager-protocol:0.1.0 \
#       --build-arg BASE_IMAGE=cloudforet/plugin-slack-chatops-protocol:0.1.0 \
#       - < manifests/alert-manager.Dockerfile
#
# Register it with manifests/cloudforet-alert-manager-plugin.yaml. Everything else
# (user, ports, volume, health check, the default command `slack-chatops serve`)
# comes from the base image.

ARG BASE_IMAGE=cloudforet/plugin-slack-chatops-protocol:0.1.0
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="plugin-slack-chatops-alert-manager-protocol" \
      org.opencontainers.image.description="Cloudforet 2.x alert manager notification protocol plugin for Slack (Block Kit cards, interactive buttons)"

ENV BOT_CLOUDFORET_API=alert-manager
