"""Settings: which Cloudforet API the plugin speaks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.cloudforet.apis import CloudforetApi
from bot.settings import Settings


def test_the_api_defaults_to_1x_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_CLOUDFORET_API", raising=False)
    assert Settings().cloudforet_api is CloudforetApi.NOTIFICATION
    assert CloudforetApi.NOTIFICATION.proto_package == "spaceone.api.notification.plugin"


def test_the_alert_manager_is_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_CLOUDFORET_API", "alert-manager")
    settings = Settings()
    assert settings.cloudforet_api is CloudforetApi.ALERT_MANAGER
    assert settings.cloudforet_api.proto_package == "spaceone.api.alert_manager.plugin"


@pytest.mark.parametrize("value", ["alert_manager", "Alert-Manager", "v2", ""])
def test_anything_else_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BOT_CLOUDFORET_API", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    [error] = caught.value.errors(include_input=False)
    assert error["loc"] == ("BOT_CLOUDFORET_API",)
    assert "'notification' or 'alert-manager'" in error["msg"]
