"""Deployment-wide settings, read from environment variables; each has a safe default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.cloudforet.apis import CloudforetApi


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything ``serve`` needs; none of it is required to start the dispatch server."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(50051, alias="BOT_GRPC_PORT", ge=0, le=65535)
    grpc_host: str = Field("[::]", alias="BOT_GRPC_HOST")
    # Which Cloudforet calls the plugin: 1.x's notification service or 2.x's alert manager (one per deployment).
    cloudforet_api: CloudforetApi = Field(CloudforetApi.NOTIFICATION, alias="BOT_CLOUDFORET_API")
    http_port: int = Field(8080, alias="BOT_HTTP_PORT", ge=0, le=65535)
    http_host: str = Field("0.0.0.0", alias="BOT_HTTP_HOST")
    slack_api_url: str = Field("https://slack.com/api/", alias="BOT_SLACK_API_URL")
    data_dir: Path = Field(Path("./data"), alias="BOT_DATA_DIR")
    signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    button_key: SecretStr | None = Field(None, alias="BOT_BUTTON_KEY")
    callback_allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(None, alias="BOT_CALLBACK_ALLOWED_HOSTS")
    allowed_responders: Annotated[list[str] | None, NoDecode] = Field(None, alias="BOT_ALLOWED_RESPONDERS")
    callback_timeout: float = Field(10.0, alias="BOT_CALLBACK_TIMEOUT", gt=0)
    dispatch_wait: float = Field(5.0, alias="BOT_DISPATCH_WAIT", ge=0, lt=120)
    repeat_window: float = Field(60.0, alias="BOT_REPEAT_WINDOW", ge=0)
    # Slack: chat.postMessage ~1/s per channel with short bursts; chat.update Tier 3 (~50/min per workspace).
    post_rate: float = Field(1.0, alias="BOT_SLACK_POST_RATE", ge=0)
    post_burst: int = Field(3, alias="BOT_SLACK_POST_BURST", ge=1)
    update_rate: float = Field(0.8, alias="BOT_SLACK_UPDATE_RATE", ge=0)
    update_burst: int = Field(5, alias="BOT_SLACK_UPDATE_BURST", ge=1)
    drain_seconds: float = Field(15.0, alias="BOT_DRAIN_SECONDS", ge=0)
    lock_wait: float = Field(30.0, alias="BOT_LOCK_WAIT", ge=0)
    # unset: the embedded SQLite store in BOT_DATA_DIR (one replica); redis://… or rediss://…: shared by replicas
    store_url: SecretStr | None = Field(None, alias="BOT_STORE_URL")
    log_format: str = Field("text", alias="BOT_LOG_FORMAT", pattern="^(text|json)$")
    log_level: str = Field("INFO", alias="BOT_LOG_LEVEL")

    @field_validator("callback_allowed_hosts", "allowed_responders", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"
