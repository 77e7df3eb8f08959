"""Which of Cloudforet's plugin APIs a deployment speaks: one per process (``BOT_CLOUDFORET_API``).

Cloudforet's client (spaceone-core's ``SpaceConnector``) discovers a plugin's services through reflection and binds
them by their short names (``Protocol``, ``Notification``), the last one listed winning. Reflection lists services
sorted by full name, so a port serving both packages would have every caller reach
``spaceone.api.notification.plugin`` and never the alert manager's package (``tests/integration/
test_cloudforet_alert_manager.py`` shows it with the real client). Hence one package per deployment.

Kept free of gRPC imports: the settings read it.
"""

from __future__ import annotations

from enum import StrEnum


class CloudforetApi(StrEnum):
    """The value of ``BOT_CLOUDFORET_API``."""

    NOTIFICATION = "notification"  # Cloudforet 1.x: the notification service's protocol plugins
    ALERT_MANAGER = "alert-manager"  # Cloudforet 2.x: the alert manager's notification protocol plugins

    @property
    def proto_package(self) -> str:
        """The protobuf package of the plugin services this API serves."""
        return PROTO_PACKAGES[self]


PROTO_PACKAGES: dict[CloudforetApi, str] = {
    CloudforetApi.NOTIFICATION: "spaceone.api.notification.plugin",
    CloudforetApi.ALERT_MANAGER: "spaceone.api.alert_manager.plugin",
}
