"""The deployment files for Cloudforet 2.x's alert manager: the thin image that sets ``BOT_CLOUDFORET_API`` and the
registration manifests (plugin, notification protocol).

No Docker engine is needed: the Dockerfile is linted with hadolint and read instruction by instruction, and the
environment it sets is given to the plugin started as the image would start it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bot.cloudforet.apis import CloudforetApi
from tests.deploy.test_deploy_files import (
    PLUGIN_INFO_KEYS,
    PLUGIN_KEYS,
    PLUGIN_MANIFEST,
    PROTOCOL_KEYS,
    PROTOCOL_MANIFEST,
    REGISTRY_TYPES,
    _hadolint,
    _load_single,
    image_name_ok,
    key_values,
    parse_dockerfile,
)
from tests.process import server_process

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "manifests" / "alert-manager.Dockerfile"
AM_PLUGIN_MANIFEST = ROOT / "manifests" / "cloudforet-alert-manager-plugin.yaml"
AM_PROTOCOL_MANIFEST = ROOT / "manifests" / "cloudforet-alert-manager-protocol.yaml"


@pytest.fixture(scope="module")
def plugin() -> dict[str, Any]:
    return _load_single(AM_PLUGIN_MANIFEST)


@pytest.fixture(scope="module")
def protocol() -> dict[str, Any]:
    return _load_single(AM_PROTOCOL_MANIFEST)


@pytest.fixture(scope="module")
def v1_plugin() -> dict[str, Any]:
    return _load_single(PLUGIN_MANIFEST)


def _instructions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for instruction in parse_dockerfile(DOCKERFILE.read_text()):
        found.setdefault(instruction.keyword, []).append(instruction.args)
    return found


def _environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instructions()["ENV"]:
        env.update(key_values(args))
    return env


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, "", "")


def test_the_image_is_the_plugin_image_with_the_api_set(plugin: dict[str, Any], v1_plugin: dict[str, Any]) -> None:
    instructions = _instructions()
    [arg] = instructions["ARG"]
    name, _, default = arg.partition("=")
    assert name == "BASE_IMAGE" and instructions["FROM"] == ["${BASE_IMAGE}"]
    base, _, tag = default.rpartition(":")
    assert base == v1_plugin["image"] and tag, "builds on the 1.x registration's image, at a tag"
    assert set(instructions) == {"ARG", "FROM", "LABEL", "ENV"}, "user, ports, volume, command: the base image's"
    assert _environment() == {"BOT_CLOUDFORET_API": CloudforetApi.ALERT_MANAGER.value}
    labels: dict[str, str] = {}
    for args in instructions["LABEL"]:
        labels.update(key_values(args))
    assert labels["org.opencontainers.image.title"] == plugin["image"].rsplit("/", 1)[-1]
    text = DOCKERFILE.read_text()
    assert f"docker build -t {plugin['image']}:" in text and f"--build-arg BASE_IMAGE={default}" in text


def test_the_image_environment_makes_the_plugin_speak_the_alert_manager_api(tmp_path: Path) -> None:
    with server_process(tmp_path, "http://127.0.0.1:9/api/", **_environment()) as server:
        with grpc.insecure_channel(server.endpoint) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {service.name for service in answer.list_services_response.service}
    assert "spaceone.api.alert_manager.plugin.Notification" in names
    assert not any(name.startswith("spaceone.api.notification.") for name in names)


def test_plugin_registration(plugin: dict[str, Any], v1_plugin: dict[str, Any]) -> None:
    assert set(plugin) <= PLUGIN_KEYS, f"fields the register API does not take: {set(plugin) - PLUGIN_KEYS}"
    assert isinstance(plugin["name"], str) and plugin["name"].strip() and plugin["name"] != v1_plugin["name"]
    # The plugin service calls init and verify through the service named after the dot.
    assert plugin["resource_type"].rsplit(".", 1)[-1] == "Protocol"
    assert plugin["capability"] == {"supported_schema": []}
    assert plugin.get("registry_type", "DOCKER_HUB") in REGISTRY_TYPES
    image = plugin["image"]
    assert isinstance(image, str) and image_name_ok(image), image
    assert plugin.get("plugin_id", image.rsplit("/", 1)[-1]) == image.rsplit("/", 1)[-1], "the image name"
    assert plugin["plugin_id"] != v1_plugin.get("plugin_id"), "a separate plugin: one API per process"


def test_protocol_creation(protocol: dict[str, Any], plugin: dict[str, Any]) -> None:
    # alert_manager.NotificationProtocol.create takes name, plugin_info and tags (NotificationProtocolCreateRequest).
    assert set(protocol) <= PROTOCOL_KEYS, f"fields the create API does not take: {set(protocol) - PROTOCOL_KEYS}"
    assert isinstance(protocol["name"], str) and 0 < len(protocol["name"]) <= 255
    info = protocol["plugin_info"]
    assert isinstance(info, dict) and set(info) <= PLUGIN_INFO_KEYS
    assert info["plugin_id"] == plugin["plugin_id"]
    assert info.get("upgrade_mode", "AUTO") in {"AUTO", "MANUAL"}
    if info.get("upgrade_mode") == "MANUAL":
        assert isinstance(info.get("version"), str) and info["version"], "MANUAL needs a version (an image tag)"
    assert "secret_data" not in info and "schema" not in info, "supported_schema is empty: no protocol secret"


def test_manifests_say_how_to_use_them_and_which_to_use() -> None:
    plugin_text, protocol_text = AM_PLUGIN_MANIFEST.read_text(), AM_PROTOCOL_MANIFEST.read_text()
    assert "spacectl exec register repository.Plugin -f manifests/cloudforet-alert-manager-plugin.yaml" in plugin_text
    assert (
        "spacectl exec create alert_manager.NotificationProtocol -f manifests/cloudforet-alert-manager-protocol.yaml"
        in protocol_text
    )
    assert "cloudforet-alert-manager-protocol.yaml" in plugin_text and "cloudforet-alert-manager-plugin.yaml" in (
        protocol_text
    )
    assert "manifests/alert-manager.Dockerfile" in plugin_text
    # Each registration points at the other API's, so nobody registers the wrong one.
    assert "manifests/cloudforet-plugin.yaml" in plugin_text
    assert "manifests/cloudforet-alert-manager-plugin.yaml" in PLUGIN_MANIFEST.read_text()
    assert "manifests/cloudforet-alert-manager-protocol.yaml" in PROTOCOL_MANIFEST.read_text()
