"""Deployment-wide settings, read from environment variables; each has a safe default.

Each field's ``description`` is what ``slack-chatops serve --help`` prints beside its variable and default, and what
a start-up error about it tells the operator to do.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.cloudforet.apis import AlertEndpoint, AppKeys, CloudforetApi, check_app_key, parse_app_keys, parse_endpoint
from bot.core.models import APP_TOKEN_PATTERN
from bot.slack.listener import HEADER_TIMEOUT_SECONDS, IDLE_TIMEOUT_SECONDS, MAX_CONNECTIONS

# The prefix of this plugin's own variables: one that names no setting is a mistake to warn about (``unknown_
# variables``). The Slack secrets keep Slack's names (SLACK_…), which other programs use as well.
PREFIX = "BOT_"
# A Slack app's signing secret as Slack issues it (Basic Information → App Credentials → Signing Secret): 32
# lowercase hexadecimal digits. Slack verifies with the secret's exact bytes, so anything else can never verify.
SIGNING_SECRET_LENGTH = 32
SIGNING_SECRET = re.compile(rf"[0-9a-f]{{{SIGNING_SECRET_LENGTH}}}")
_APP_TOKEN = re.compile(APP_TOKEN_PATTERN)
# Slack's token prefixes, to say which kind of token was given where another belongs (the prefix is not secret:
# ``bot.redact`` matches tokens by it).
TOKEN_KINDS = {"xoxb-": "a bot token", "xoxp-": "a user token", "xoxe-": "a refresh token", "xoxa-": "an app token"}
# How close a misspelt name must be to a setting's to be named as the one meant (difflib's ratio, its default).
CLOSE_ENOUGH = 0.6
# Variables Kubernetes (and Docker's legacy links) make for a Service or a linked container named ``bot…``: they
# share the prefix by chance, so they are not warned about. ``NAME_PORT`` and ``NAME_PORT_<n>_<PROTO>`` count only
# with their ``tcp://address:port`` value, so that a misspelt ``BOT_GRCP_PORT=50051`` is still caught.
_SERVICE_LINK_NAME = re.compile(r"\w+_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT_\d+_(TCP|UDP|SCTP)_(PROTO|PORT|ADDR))")
_SERVICE_LINK_URL = (re.compile(r"\w+_PORT(_\d+_(TCP|UDP|SCTP))?"), re.compile(r"(tcp|udp|sctp)://\S+"))


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# Why a secret that is right but for its ends is refused.
SURROUNDED = "it has white space or a line break around it (a file that ends in a newline?)"


def check_app_token(value: SecretStr | None) -> None:
    """``ValueError`` unless ``value`` is an app-level token (``xapp-…``) or empty (none); the error names the kind
    of token given, never the token."""
    token = value.get_secret_value() if value is not None else ""
    if not token or _APP_TOKEN.fullmatch(token):
        return
    kind = next((name for prefix, name in TOKEN_KINDS.items() if token.strip().startswith(prefix)), None)
    if _APP_TOKEN.fullmatch(token.strip()):
        why = SURROUNDED
    elif kind == "a bot token":
        why = "this is a bot token (xoxb-…), which belongs in the Cloudforet channel's settings"
    else:
        why = f"this is {kind}" if kind else "this is not one"
    raise ValueError(f"not an app-level token: one starts with xapp- (Basic Information → App-Level Tokens); {why}")


def check_signing_secret(value: SecretStr | None) -> None:
    """``ValueError`` unless ``value`` is a signing secret as Slack issues one or empty (none); the error says what
    is wrong with it, never the value."""
    secret = value.get_secret_value() if value is not None else ""
    if not secret or SIGNING_SECRET.fullmatch(secret):
        return
    if SIGNING_SECRET.fullmatch(secret.strip()):
        why = SURROUNDED
    elif len(secret) != SIGNING_SECRET_LENGTH:
        why = f"this one is not {SIGNING_SECRET_LENGTH} characters long"
    else:
        why = "this one holds characters other than 0-9 and a-f"
    raise ValueError(f"not a Slack signing secret: one is 32 hexadecimal digits (0-9, a-f); {why}")


# The checks ``serve`` makes of Slack's secrets before it starts (``bot.startup.explain_slack_secrets``), by field.
SECRET_CHECKS = {"app_token": check_app_token, "signing_secret": check_signing_secret}


@dataclass(frozen=True)
class UnknownVariable:
    """A ``BOT_…`` variable that names no setting, and the setting it most likely meant (None: none is close)."""

    name: str
    meant: str | None


def _service_link(name: str, value: str) -> bool:
    if _SERVICE_LINK_NAME.fullmatch(name):
        return True
    name_pattern, value_pattern = _SERVICE_LINK_URL
    return bool(name_pattern.fullmatch(name) and value_pattern.fullmatch(value.strip()))


def unknown_variables(environ: Mapping[str, str]) -> list[UnknownVariable]:
    """The ``BOT_…`` variables of ``environ`` that no setting reads (a misspelt one is otherwise silently ignored,
    its setting left at the default), each with the closest setting's variable. Only names are looked at: a value
    may be a secret meant for the misspelt setting."""
    known = [str(field.alias) for field in Settings.model_fields.values()]
    found: list[UnknownVariable] = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings reads names in either case
        if not upper.startswith(PREFIX) or upper in known or _service_link(upper, environ[name]):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=CLOSE_ENOUGH)
        found.append(UnknownVariable(name, close[0] if close else None))
    return found


class Settings(BaseSettings):
    """Everything ``serve`` needs; none of it is required to start the dispatch server."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(
        50051,
        alias="BOT_GRPC_PORT",
        ge=0,
        le=65535,
        description="gRPC port Cloudforet calls (plugin API, health, reflection), 0-65535; 0 picks a free one",
    )
    grpc_host: str = Field("[::]", alias="BOT_GRPC_HOST", description="gRPC listen address ([::]: all, IPv6 and IPv4)")
    # Which Cloudforet calls the plugin: 1.x's notification service or 2.x's alert manager (one per deployment).
    cloudforet_api: CloudforetApi = Field(
        CloudforetApi.NOTIFICATION,
        alias="BOT_CLOUDFORET_API",
        description="which Cloudforet calls the plugin: notification (1.x's notification service) or alert-manager "
        "(2.x's alert manager)",
    )
    # Two-way actions (issue 19): Cloudforet's own alert API, with an App's key. Both unset: no two-way actions.
    cloudforet_endpoint: str | None = Field(
        None,
        alias="BOT_CLOUDFORET_ENDPOINT",
        description="grpc://host:port or grpc+ssl://host:port (TLS) of the service that owns alerts (1.x: monitoring; "
        "2.x: alert-manager), for Resolve, Add note and acknowledging after the link expired (unset: none of them)",
    )
    cloudforet_app_key: SecretStr | None = Field(
        None,
        alias="BOT_CLOUDFORET_APP_KEY",
        description="the client secret of a Cloudforet App whose role may update alerts and create notes, sent as "
        "the gRPC metadata token; used for every domain BOT_CLOUDFORET_APP_KEYS does not name",
    )
    cloudforet_domain_id: str = Field(
        "",
        alias="BOT_CLOUDFORET_DOMAIN_ID",
        description="the Cloudforet domain of BOT_CLOUDFORET_APP_KEY's App (domain-…): 1.x's alert API needs it in "
        "every request and 1.x notifications do not name their domain; 2.x needs none",
    )
    cloudforet_app_keys: SecretStr | None = Field(
        None,
        alias="BOT_CLOUDFORET_APP_KEYS",
        description="one App key per Cloudforet domain: domain-id=key,domain-id=key, or the path of a file of such "
        "entries (one a line)",
    )
    http_port: int = Field(
        8080,
        alias="BOT_HTTP_PORT",
        ge=0,
        le=65535,
        description="HTTP port (Slack interactivity at /slack/events, /healthz, /readyz, /metrics), 0-65535; 0 picks "
        "a free one",
    )
    http_host: str = Field("0.0.0.0", alias="BOT_HTTP_HOST", description="HTTP listen address")
    http_header_timeout: float = Field(
        HEADER_TIMEOUT_SECONDS,
        alias="BOT_HTTP_HEADER_TIMEOUT",
        gt=0,
        description="seconds an HTTP client has to send a request's line and headers (from connecting, or from the "
        "request's first byte on a kept-alive connection), > 0",
    )
    http_idle_timeout: float = Field(
        IDLE_TIMEOUT_SECONDS,
        alias="BOT_HTTP_IDLE_TIMEOUT",
        gt=0,
        description="seconds an HTTP connection may stay idle between requests, > 0; keep it above the idle timeout "
        "of a load balancer in front",
    )
    http_max_connections: int = Field(
        MAX_CONNECTIONS,
        alias="BOT_HTTP_MAX_CONNECTIONS",
        ge=1,
        description="HTTP connections open at once, >= 1 (at most a quarter of the descriptor limit); a new one "
        "beyond it closes the longest-waiting idle one, or is closed itself when none is idle",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", alias="BOT_SLACK_API_URL", description="Slack Web API base URL (GovSlack, a proxy)"
    )
    data_dir: Path = Field(
        Path("./data"),
        alias="BOT_DATA_DIR",
        description="a writable directory: the embedded store (outbox, cards, audit) and the button key file; keep it "
        "on a volume",
    )
    signing_secret: SecretStr | None = Field(
        None,
        alias="SLACK_SIGNING_SECRET",
        description="the Slack app's signing secret, 32 hex digits (Basic Information → App Credentials): verifies "
        "clicks sent over HTTP (unset: /slack/events refuses every request)",
    )
    app_token: SecretStr | None = Field(
        None,
        alias="SLACK_APP_TOKEN",
        description="an app-level token (xapp-…, scope connections:write): clicks over Socket Mode, no public URL",
    )
    button_key: SecretStr | None = Field(
        None,
        alias="BOT_BUTTON_KEY",
        description="seals callback buttons and stored tokens; the same on every replica (unset: derived from the "
        "Slack secrets, else made once and kept in the store)",
    )
    callback_allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        None,
        alias="BOT_CALLBACK_ALLOWED_HOSTS",
        description="comma list of host names callback URLs may point to (*.example.com allowed; unset: any host but "
        "link-local and metadata addresses)",
    )
    allowed_responders: Annotated[list[str] | None, NoDecode] = Field(
        None,
        alias="BOT_ALLOWED_RESPONDERS",
        description="comma list of Slack user IDs (U…) and user-group IDs (S…) who may click (unset: anyone in the "
        "channel)",
    )
    callback_timeout: float = Field(
        10.0, alias="BOT_CALLBACK_TIMEOUT", gt=0, description="seconds to wait for Cloudforet's answer to a click, > 0"
    )
    dispatch_wait: float = Field(
        5.0,
        alias="BOT_DISPATCH_WAIT",
        ge=0,
        lt=120,
        description="seconds a dispatch waits for its card to be posted before answering queued, 0 to under 120 "
        "(Cloudforet gives up at 180)",
    )
    repeat_window: float = Field(
        60.0,
        alias="BOT_REPEAT_WINDOW",
        ge=0,
        description="seconds within which an identical dispatch (a retry) is not posted again; 0 turns it off",
    )
    # Slack: chat.postMessage ~1/s per channel with short bursts; chat.update Tier 3 (~50/min per workspace).
    post_rate: float = Field(
        1.0, alias="BOT_SLACK_POST_RATE", ge=0, description="posts per second per channel; 0 is unpaced"
    )
    post_burst: int = Field(3, alias="BOT_SLACK_POST_BURST", ge=1, description="posts a channel may burst, >= 1")
    update_rate: float = Field(
        0.8, alias="BOT_SLACK_UPDATE_RATE", ge=0, description="card updates per second per workspace; 0 is unpaced"
    )
    update_burst: int = Field(
        5, alias="BOT_SLACK_UPDATE_BURST", ge=1, description="card updates a workspace may burst, >= 1"
    )
    drain_seconds: float = Field(
        15.0,
        alias="BOT_DRAIN_SECONDS",
        ge=0,
        description="on SIGTERM, seconds to keep delivering what is queued (after up to 10 s for requests in flight)",
    )
    lock_wait: float = Field(
        30.0,
        alias="BOT_LOCK_WAIT",
        ge=0,
        description="seconds a starting plugin waits for another one on the same BOT_DATA_DIR to exit",
    )
    # unset: the embedded SQLite store in BOT_DATA_DIR (one replica); redis://… or rediss://…: shared by replicas
    store_url: SecretStr | None = Field(
        None,
        alias="BOT_STORE_URL",
        description="redis://[user:password@]host:port/db or rediss://…: one Redis shared by every replica (unset: "
        "the embedded store in BOT_DATA_DIR, one replica)",
    )
    log_format: str = Field(
        "text", alias="BOT_LOG_FORMAT", pattern="^(text|json)$", description="text, or json: one JSON object a line"
    )
    log_level: str = Field("INFO", alias="BOT_LOG_LEVEL", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")

    @field_validator("callback_allowed_hosts", "allowed_responders", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("cloudforet_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_endpoint(value)
        return value.strip()

    @field_validator("cloudforet_app_key")
    @classmethod
    def _app_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        check_app_key(value.get_secret_value())
        return value

    @field_validator("cloudforet_app_keys")
    @classmethod
    def _app_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_app_keys(value.get_secret_value())
        return value

    def alert_endpoint(self) -> AlertEndpoint | None:
        """Where Cloudforet's alert API is, for two-way actions (None: unset)."""
        return parse_endpoint(self.cloudforet_endpoint) if self.cloudforet_endpoint else None

    def app_keys(self) -> AppKeys:
        """The App keys: the default and each domain's (empty: none set). Reads the keys file again when one is
        named, so a rotated Secret is picked up by the next reader."""
        default = self.cloudforet_app_key.get_secret_value() if self.cloudforet_app_key else None
        by_domain = parse_app_keys(self.cloudforet_app_keys.get_secret_value()) if self.cloudforet_app_keys else {}
        return AppKeys(default, by_domain)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"
