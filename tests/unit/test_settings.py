"""Settings: which Cloudforet API the plugin speaks; Slack's secrets checked for their shape; misspelt names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.cloudforet.apis import CloudforetApi
from bot.settings import Settings, UnknownVariable, check_app_token, check_signing_secret, unknown_variables
from bot.startup import explain_slack_secrets, unknown_variable_warnings


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


# --------------------------------------------------------------------------------------------------------------------
# Slack's secrets: shaped as Slack issues them, or refused without being quoted
# --------------------------------------------------------------------------------------------------------------------

GOOD_SECRET = "0123456789abcdef0123456789abcdef"


def refusal(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    """The line ``serve`` refuses to start with, for ``variable=value`` (read as serve reads it)."""
    monkeypatch.setenv(variable, value)
    line = explain_slack_secrets(Settings())
    assert line is not None and line.startswith(f"invalid settings: {variable} is not valid (")
    assert value.strip() not in line
    return line


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("xoxb-1111-2222-abcdefgh", "this is a bot token (xoxb-…), which belongs in the Cloudforet channel's"),
        ("xoxp-1111-2222-abcdefgh", "this is a user token"),
        ("not-a-token-at-all", "this is not one"),
        ("xapp-1-A0APP-1-abcdef\n", "white space or a line break around it"),
        (" xapp-1-A0APP-1-abcdef", "white space or a line break around it"),
    ],
)
def test_an_app_token_must_be_an_app_level_token(monkeypatch: pytest.MonkeyPatch, value: str, why: str) -> None:
    line = refusal(monkeypatch, "SLACK_APP_TOKEN", value)
    assert "not an app-level token: one starts with xapp-" in line and why in line
    assert "unset it for unset" in line  # and what the setting is for


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("abcde", "not 32 characters long"),
        (GOOD_SECRET + "0", "not 32 characters long"),
        ("8f742231b10e8888abcd99yyyzzz85a5", "characters other than 0-9 and a-f"),  # the placeholder in Slack's docs
        (GOOD_SECRET.upper(), "characters other than 0-9 and a-f"),  # Slack verifies with the exact bytes
        (GOOD_SECRET + "\n", "white space or a line break around it"),
    ],
)
def test_a_signing_secret_must_be_one_slack_issues(monkeypatch: pytest.MonkeyPatch, value: str, why: str) -> None:
    line = refusal(monkeypatch, "SLACK_SIGNING_SECRET", value)
    assert "not a Slack signing secret: one is 32 hexadecimal digits" in line and why in line


def test_both_are_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "abcde")
    line = refusal(monkeypatch, "SLACK_APP_TOKEN", "xoxb-1-2-3")
    assert "SLACK_SIGNING_SECRET is not valid (not a Slack signing secret" in line and "abcde" not in line


def test_well_formed_or_empty_secrets_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    for app_token, signing_secret in [("xapp-1-A0APP-1-abcdef", GOOD_SECRET), ("", "")]:
        monkeypatch.setenv("SLACK_APP_TOKEN", app_token)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", signing_secret)
        assert explain_slack_secrets(Settings()) is None
    monkeypatch.delenv("SLACK_APP_TOKEN")
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    assert explain_slack_secrets(Settings()) is None


def test_the_settings_model_still_reads_them_for_doctor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``serve`` refuses them: ``doctor`` reads the same settings and lists what is wrong with them."""
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-1-2-3")
    settings = Settings()
    assert settings.app_token is not None and settings.app_token.get_secret_value() == "xoxb-1-2-3"
    with pytest.raises(ValueError, match="not an app-level token") as caught:
        check_app_token(settings.app_token)
    assert "xoxb-1-2-3" not in str(caught.value)
    check_signing_secret(None)


# --------------------------------------------------------------------------------------------------------------------
# BOT_… variables no setting reads
# --------------------------------------------------------------------------------------------------------------------


def test_a_misspelt_variable_names_the_closest_setting() -> None:
    found = unknown_variables({"BOT_STORE_ULR": "redis://:pw@host", "BOT_GRCP_PORT": "50051", "BOT_DATA_DIR": "/d"})
    assert found == [
        UnknownVariable("BOT_GRCP_PORT", "BOT_GRPC_PORT"),
        UnknownVariable("BOT_STORE_ULR", "BOT_STORE_URL"),
    ]


def test_every_setting_is_known_in_either_case_and_other_prefixes_are_not_looked_at() -> None:
    known = {str(field.alias): "1" for field in Settings.model_fields.values()}
    assert unknown_variables(known) == []
    assert unknown_variables({"bot_store_url": "x", "SLACK_BOT_TOKEN": "x", "HOME": "/", "ROBOT_X": "1"}) == []
    assert unknown_variables({"bot_store_ulr": "x"}) == [UnknownVariable("bot_store_ulr", "BOT_STORE_URL")]


def test_a_name_close_to_no_setting_is_still_reported() -> None:
    assert unknown_variables({"BOT_XYZZY": "1"}) == [UnknownVariable("BOT_XYZZY", None)]


def test_kubernetes_service_links_are_not_mistakes() -> None:
    """What Kubernetes sets in every pod for a Service named ``bot`` (or ``bot-store``) in its namespace."""
    links = {
        "BOT_SERVICE_HOST": "10.0.0.11",
        "BOT_SERVICE_PORT": "8080",
        "BOT_SERVICE_PORT_HTTP": "8080",
        "BOT_PORT": "tcp://10.0.0.11:8080",
        "BOT_PORT_8080_TCP": "tcp://10.0.0.11:8080",
        "BOT_PORT_8080_TCP_PROTO": "tcp",
        "BOT_PORT_8080_TCP_PORT": "8080",
        "BOT_PORT_8080_TCP_ADDR": "10.0.0.11",
        "BOT_STORE_PORT": "tcp://10.0.0.12:6379",
    }
    assert unknown_variables(links) == []
    # the same names with values a person would give are mistakes
    assert [found.name for found in unknown_variables({"BOT_PORT": "50051", "BOT_STORE_PORT": "6379"})] == [
        "BOT_PORT",
        "BOT_STORE_PORT",
    ]


def test_the_warning_names_the_variable_and_the_setting_never_the_value() -> None:
    lines = unknown_variable_warnings({"BOT_STORE_ULR": "redis://:pass-word-1@redis:6379/0", "BOT_XYZZY": "x"})
    assert lines == [
        "BOT_STORE_ULR is not a setting this plugin reads, and is ignored: did you mean BOT_STORE_URL?",
        "BOT_XYZZY is not a setting this plugin reads, and is ignored: `slack-chatops serve --help` lists the settings",
    ]
