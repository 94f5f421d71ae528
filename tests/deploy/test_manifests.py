"""deploy/: the Kubernetes manifests (kustomize base and dev overlay) and the compose file agree
with the code they run.

Oracles: the settings' own table (services/common/config.py, every variable a known setting,
every value accepted by ``load_settings``), the ``iib`` command's own argument parser (every
command is one it accepts), services/tooling/components.py (every service deployed), the
settings' ports (containers, Services, probes and addresses agree), and Envoy itself
(``envoy --mode validate`` on the gateway's rendered bootstrap). The Python rendering of the
kustomizations is checked against ``kubectl kustomize`` where kubectl is installed.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.config import Settings, load_settings
from services.common.secrets import generate_key
from services.common.tls import ServicePKI, make_self_signed
from services.gateway.envoy_config import render_envoy_config
from services.gateway.server import envoy_binary, envoy_layout
from services.tooling.components import SERVICES
from tests.conftest import REPO
from tests.deploy.kustomize import render

KUBERNETES = REPO / "deploy" / "kubernetes"
KUSTOMIZATIONS = [KUBERNETES / "base", KUBERNETES / "overlays" / "dev"]
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
NATS_VALUES = REPO / "deploy" / "nats" / "values.yaml"

#: Variables that are not IIB settings but are read by what runs in the containers.
EXTERNAL = {
    "AWS_ACCESS_KEY_ID": "boto3 (S3 artifacts); IIB's start-up check requires it with S3",
    "AWS_SECRET_ACCESS_KEY": "boto3 (S3 artifacts)",
    "AWS_DEFAULT_REGION": "boto3 (S3 artifacts)",
    "KRB5_KTNAME": "libkrb5: the gateway's keytab (docs/configuration.md)",
}
#: A value for each secret the manifests reference, of the kind the setting takes.
SECRET_VALUES = {
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://iib:pw@postgres.example.com:5432/iib",
    "IIB_SECRETS_KEY": generate_key(),
    "IIB_NATS_PASSWORD": "nats-password",
    "AWS_ACCESS_KEY_ID": "key-id",
    "AWS_SECRET_ACCESS_KEY": "secret",
}
KNOWN = {f.metadata["env"] for f in dataclasses.fields(Settings)}


@dataclasses.dataclass
class Container:
    """One container of a rendering: where it comes from, its command, environment, ports."""

    origin: str
    name: str
    command: list[str]
    env: dict[str, str]
    ports: dict[str, int]
    probes: dict[str, Any]


def _kubernetes(directory: Path) -> tuple[list[dict[str, Any]], list[Container]]:
    documents = render(directory)
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"
    }
    containers = []
    for document in documents:
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        for container in pod["containers"]:
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                env.update(config_maps[source["configMapRef"]["name"]])
            for item in container.get("env", []):
                if "valueFrom" in item:
                    assert "secretKeyRef" in item["valueFrom"], item
                    env[item["name"]] = SECRET_VALUES[item["name"]]
                else:
                    env[item["name"]] = str(item["value"])
            containers.append(
                Container(
                    f"{directory.name}/{document['kind']}/{document['metadata']['name']}",
                    document["metadata"]["name"],
                    list(container["command"]),
                    env,
                    {p["name"]: int(p["containerPort"]) for p in container.get("ports", [])},
                    {
                        kind: container[kind]
                        for kind in ("readinessProbe", "livenessProbe")
                        if kind in container
                    },
                )
            )
    return documents, containers


def _compose() -> list[Container]:
    compose = yaml.safe_load(COMPOSE.read_text())
    out = []
    for name, service in compose["services"].items():
        if "command" not in service or service["command"][0] != "iib":
            continue  # nats, postgres
        env = {
            k: str(v)
            .replace("${POSTGRES_PASSWORD}", "pw")
            .replace("${IIB_SECRETS_KEY}", SECRET_VALUES["IIB_SECRETS_KEY"])
            .replace("${IIB_HOST:-localhost}", "localhost")
            for k, v in service.get("environment", {}).items()
        }
        ports = [
            str(p).split(":")[-1] for p in service.get("expose", []) + service.get("ports", [])
        ]
        out.append(
            Container(
                f"compose/{name}",
                name,
                list(service["command"]),
                env,
                {p: int(p) for p in ports},
                {},
            )
        )
    return out


def _settings(container: Container, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # IIB's start-up check reads the AWS variables from the process environment
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        if name in container.env:
            monkeypatch.setenv(name, container.env[name])
        else:
            monkeypatch.delenv(name, raising=False)
    return load_settings(container.env)


def _all_containers() -> list[Container]:
    out = []
    for directory in KUSTOMIZATIONS:
        out.extend(_kubernetes(directory)[1])
    return out + _compose()


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])


def _service_ports(settings: Settings, service: str) -> set[int]:
    """The ports ``iib serve <service>`` listens on (outside its pod), from its settings."""
    listen = {
        "request-store": [settings.request_store_listen],
        "gateway": [settings.gateway_listen],
        "gating": [settings.gating_listen],
    }.get(service, [])
    ports = {_port(a) for a in listen}
    if settings.metrics_listen:
        ports.add(_port(settings.metrics_listen))
    return ports


def test_every_environment_variable_is_a_known_setting_and_its_value_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    containers = _all_containers()
    assert len(containers) == 2 * (len(SERVICES) + 1) + len(SERVICES) + 1
    for container in containers:
        unknown = set(container.env) - KNOWN - set(EXTERNAL)
        assert not unknown, (container.origin, unknown)
        _settings(container, monkeypatch)  # raises ConfigError naming a bad value


def test_every_command_is_an_iib_command_and_every_service_runs() -> None:
    commands = {tuple(c.command) for c in _all_containers()}
    for command in sorted(commands):
        assert command[0] == "iib", command
        # the iib command's own parser: an unknown command or service exits with 2
        result = subprocess.run(
            [sys.executable, "-m", "services.tooling.cli", *command[1:], "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stderr)
    for origin in ("base", "dev", "compose"):
        served = {
            c.command[2]
            for c in _all_containers()
            if c.origin.startswith(origin) and c.command[:2] == ["iib", "serve"]
        }
        assert served == {s.name for s in SERVICES}, origin
        migrations = [
            c
            for c in _all_containers()
            if c.origin.startswith(origin) and c.command[1:] == ["db", "upgrade"]
        ]
        assert len(migrations) == 1, origin


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: d.name)
def test_ports_probes_and_addresses_match_the_settings(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents, containers = _kubernetes(directory)
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    budgets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "PodDisruptionBudget"}
    nats = yaml.safe_load(NATS_VALUES.read_text())
    for container in containers:
        if container.command[:2] != ["iib", "serve"]:
            continue
        name = container.command[2]
        settings = _settings(container, monkeypatch)
        assert set(container.ports.values()) == _service_ports(settings, name), container.origin
        metrics = _port(settings.metrics_listen or "")
        for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            probe = container.probes[kind]["httpGet"]
            assert probe["path"] == path
            assert container.ports[probe["port"]] == metrics, (container.origin, kind)
        # the addresses other services are given reach this one's Service and port
        for setting, target in (
            (settings.request_store_address, "request-store"),
            (settings.gating_address, "gating"),
        ):
            host, _, port = setting.rpartition(":")
            assert host == target and host in services, setting
            (service_port,) = [p for p in services[host]["spec"]["ports"] if p["port"] == int(port)]
            target_container = next(c for c in containers if c.name == target)
            assert target_container.ports[service_port["targetPort"]] == int(port)
        # NATS: the chart's Service (fullnameOverride) and client port
        assert settings.nats_urls == (
            f"nats://{nats['fullnameOverride']}:{nats['config']['nats']['port']}",
        )
        replicas = settings.nats_stream_replicas
        cluster = nats["config"]["cluster"]
        assert replicas == (cluster["replicas"] if directory.name == "base" else 1)
        # the gateway's Service sends to Envoy's port
        if name == "gateway":
            (https,) = services["gateway"]["spec"]["ports"]
            assert container.ports[https["targetPort"]] == _port(settings.gateway_listen)
        # workers have a disruption budget over their pods
        if next(s for s in SERVICES if s.name == name).worker:
            labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
            selector = budgets[name]["spec"]["selector"]["matchLabels"]
            assert selector.items() <= labels.items()
            assert ("minAvailable" in budgets[name]["spec"]) != (
                "maxUnavailable" in budgets[name]["spec"]
            )


@pytest.mark.parametrize("origin", ["base", "dev", "compose"])
def test_envoys_rendered_config_passes_envoy_validate(
    origin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (gateway,) = [
        c for c in _all_containers() if c.origin.startswith(origin) and c.name == "gateway"
    ]
    # the files the pod mounts, made here: its internal mTLS pair, the HTTPS pair
    pki = ServicePKI(tmp_path / "pki")
    cert, key = pki.files("gateway")
    files = {
        "IIB_INTERNAL_TLS_CA": pki.ca_cert,
        "IIB_INTERNAL_TLS_CERT": cert,
        "IIB_INTERNAL_TLS_KEY": key,
    }
    make_self_signed(tmp_path / "tls.crt", tmp_path / "tls.key")
    files |= {
        "IIB_GATEWAY_TLS_CERT": tmp_path / "tls.crt",
        "IIB_GATEWAY_TLS_KEY": tmp_path / "tls.key",
    }
    env = dict(gateway.env)
    for name, path in files.items():
        if name in env and origin != "compose":
            assert env[name].startswith("/etc/iib/"), (name, env[name])
        if name in env:
            env[name] = str(path)
    settings = _settings(dataclasses.replace(gateway, env=env), monkeypatch)
    config = tmp_path / "envoy.yaml"
    config.write_text(render_envoy_config(envoy_layout(settings)))
    rendered = yaml.safe_load(config.read_text())
    (store,) = [c for c in rendered["static_resources"]["clusters"] if c["name"] == "request_store"]
    assert store["type"] == "STRICT_DNS"  # request-store is a name (a headless Service)
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "OK" in result.stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: d.name)
def test_the_python_rendering_is_what_kubectl_kustomize_renders(directory: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    expected = _normal(d for d in yaml.safe_load_all(out) if d)
    assert _normal(render(directory)) == expected


def _normal(documents: Any) -> dict[tuple[str, str], Any]:
    """Documents by (kind, name), with every container's env keyed by name (kustomize and a
    strategic merge may order merged list items differently; order carries no meaning there)."""
    out = {}
    for document in documents:
        document = yaml.safe_load(yaml.safe_dump(document))
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            container["env"] = {e["name"]: e for e in container.get("env", [])}
        out[(document["kind"], document["metadata"]["name"])] = document
    return out
