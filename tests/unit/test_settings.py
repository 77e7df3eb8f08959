"""Settings: which Cloudforet API the plugin speaks; Slack's secrets checked for their shape; misspelt names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cloudforet.apis import CloudforetApi
from bot.settings import Settings, UnknownVariable, check_app_token, check_signing_secret, unknown_variables
from bot.startup import explain_invalid_settings, explain_slack_secrets, explain_two_way, unknown_variable_warnings


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


# --------------------------------------------------------------------------------------------------------------------
# Two-way actions (issue 19): Cloudforet's alert API endpoint and the App keys
# --------------------------------------------------------------------------------------------------------------------

APP_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJkaWQiOiJkb21haW4tYSJ9.app-key-signature"


def _clear_two_way(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOT_CLOUDFORET_ENDPOINT", "BOT_CLOUDFORET_APP_KEY", "BOT_CLOUDFORET_APP_KEYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("value", "host", "port", "tls"),
    [
        ("grpc://monitoring.spaceone:50051", "monitoring.spaceone", 50051, False),
        ("grpc+ssl://alert-manager.example.com:443/", "alert-manager.example.com", 443, True),
        ("grpc://[::1]:50051", "::1", 50051, False),
    ],
)
def test_an_endpoint_is_scheme_host_and_port(
    monkeypatch: pytest.MonkeyPatch, value: str, host: str, port: int, tls: bool
) -> None:
    _clear_two_way(monkeypatch)
    monkeypatch.setenv("BOT_CLOUDFORET_ENDPOINT", value)
    endpoint = Settings().alert_endpoint()
    assert endpoint is not None and (endpoint.host, endpoint.port, endpoint.tls) == (host, port, tls)
    assert endpoint.target == (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://monitoring:50051", "grpc:// (plaintext) or grpc+ssl:// (TLS)"),
        ("monitoring:50051", "grpc:// (plaintext) or grpc+ssl:// (TLS)"),
        ("grpc://monitoring", "needs a port"),
        ("grpc://monitoring:0", "needs a port"),
        ("grpc://monitoring:99999", "port of 1-65535"),
        ("grpc://:50051", "names no host"),
        ("grpc://user:pw@monitoring:50051", "no user or password"),
        ("grpc://monitoring:50051/v1", "no path"),
    ],
)
def test_a_bad_endpoint_is_one_line_at_start(monkeypatch: pytest.MonkeyPatch, value: str, why: str) -> None:
    _clear_two_way(monkeypatch)
    monkeypatch.setenv("BOT_CLOUDFORET_ENDPOINT", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = explain_invalid_settings(caught.value)
    assert line.startswith("invalid settings: BOT_CLOUDFORET_ENDPOINT=") and why in line
    assert "\n" not in line


def test_the_keys_are_per_domain_with_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_two_way(monkeypatch)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEY", APP_KEY)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEYS", "domain-a=key-of-a, domain-b=key.of.b=")
    keys = Settings().app_keys()
    assert keys.for_domain("domain-a") == "key-of-a"
    assert keys.for_domain("domain-b") == "key.of.b="
    assert keys.for_domain("domain-c") == APP_KEY == keys.for_domain(None)
    assert repr(keys) == "AppKeys(default=set, domains=['domain-a', 'domain-b'])"


def test_the_keys_may_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear_two_way(monkeypatch)
    path = tmp_path / "keys"
    path.write_text("# one a line\ndomain-a=key-of-a\n\ndomain-b=key-of-b\n")
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEYS", str(path))
    keys = Settings().app_keys()
    assert (keys.for_domain("domain-b"), keys.for_domain("domain-z"), keys.has_default) == ("key-of-b", None, False)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("domain-a=secret-a,domain-a=secret-b", "domain-a is given twice (entry 2)"),
        ("domain-a=secret-a,secret-b", "entry 2 is not domain-id=key"),
        ("domain-a=secret-a,=secret-b", "entry 2 is not domain-id=key"),
        ("domain-a=secret a", "the key of entry 1 (domain-a) is not a key"),
        ("/nonexistent/keys", "names no readable file"),
    ],
)
def test_bad_keys_are_refused_without_quoting_a_key(monkeypatch: pytest.MonkeyPatch, value: str, why: str) -> None:
    _clear_two_way(monkeypatch)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEYS", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = explain_invalid_settings(caught.value)
    assert line.startswith("invalid settings: BOT_CLOUDFORET_APP_KEYS is not valid") and why in line
    assert "secret-a" not in line and "secret-b" not in line and "secret a" not in line


def test_a_key_with_a_newline_is_refused_unquoted(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_two_way(monkeypatch)
    monkeypatch.setenv("BOT_CLOUDFORET_APP_KEY", APP_KEY + "\n")
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = explain_invalid_settings(caught.value)
    assert "BOT_CLOUDFORET_APP_KEY is not valid" in line and "a line break around it" in line
    assert APP_KEY not in line and "app-key-signature" not in line


@pytest.mark.parametrize(
    ("endpoint", "key", "refused"),
    [
        ("grpc://monitoring:50051", None, "no App key is"),
        (None, APP_KEY, "BOT_CLOUDFORET_ENDPOINT is not"),
        ("grpc://monitoring:50051", APP_KEY, None),
        (None, None, None),
    ],
)
def test_two_way_actions_need_both_or_neither(
    monkeypatch: pytest.MonkeyPatch, endpoint: str | None, key: str | None, refused: str | None
) -> None:
    _clear_two_way(monkeypatch)
    for name, value in (("BOT_CLOUDFORET_ENDPOINT", endpoint), ("BOT_CLOUDFORET_APP_KEY", key)):
        if value is not None:
            monkeypatch.setenv(name, value)
    line = explain_two_way(Settings())
    if refused is None:
        assert line is None
    else:
        assert line is not None and refused in line and APP_KEY not in line
