"""The whole system for end-to-end tests: docker-registry (plain, and TLS + htpasswd for the
overwrite tests), nats-server, the request store, the gateway (Envoy, HTTPS) and the index
builder, all as real processes; input images pushed by ``services.tooling.demo.images``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from services.catalog import CatalogDir
from services.common.processes import ManagedProcess, free_port, http_ok, tcp_open
from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.images import ImageService
from services.common.tls import make_self_signed
from services.tooling.demo import images as fixture_images
from services.tooling.demo.images import FIXTURES_ROOT
from services.tooling.servers.registry import RegistryServer, start_registry
from tests.common.dispatch.conftest import System
from tests.conftest import REPO
from tests.pki import tls_env

SUBMITTER = "tbrady@DOMAIN.LOCAL"
WORKER = "worker@DOMAIN.LOCAL"
AUTH_USER, AUTH_PASSWORD = "index-owner", "s3cret-pass"
FIXTURES = FIXTURES_ROOT
ARCHES = ["amd64", "arm64", "ppc64le", "s390x"]


class EndToEnd(System):
    """System (NATS + request store) plus registries, the gateway and the index builder."""

    def __init__(self, base: Path, database_url: str, extra: dict[str, str] | None = None) -> None:
        """``extra`` settings are added to every process's environment."""
        self.registry: RegistryServer = start_registry(base / "registry")
        self.secure: RegistryServer = start_registry(
            base / "secure-registry", tls=True, htpasswd_users={AUTH_USER: AUTH_PASSWORD}
        )
        make_self_signed(base / "tls" / "gw.crt", base / "tls" / "gw.key")
        self.gateway_listen = f"127.0.0.1:{free_port()}"
        self.admin_port = free_port()
        docker_config = base / "docker-config.json"
        docker_config.write_text(json.dumps({"auths": {}}))
        self.binary_config: dict[str, dict[str, str]] = {}
        gating = f"127.0.0.1:{free_port()}"
        super().__init__(
            base,
            database_url,
            {
                "IIB_REGISTRY": self.registry.registry,
                "IIB_INSECURE_REGISTRIES": json.dumps([self.registry.registry]),
                "IIB_ALLOWED_REGISTRIES": json.dumps(
                    [self.registry.registry, self.secure.registry]
                ),
                "IIB_REGISTRY_CA_BUNDLE": str(self.secure.ca_path),
                "IIB_DOCKER_CONFIG_TEMPLATE": str(docker_config),
                "IIB_REQUEST_LOGS_DIR": str(base / "request-logs"),
                "IIB_RETRY_DELAY": "0.1",
                "IIB_RETRY_JITTER": "0.1",
                "IIB_RETRY_MULTIPLIER": "0.1",
                "IIB_TOTAL_ATTEMPTS": "2",
                "IIB_WORK_ACK_WAIT": "30",
                "IIB_AUTH_TRUSTED_HEADER": "X-Remote-User",
                "IIB_WORKER_USERNAMES": json.dumps([WORKER]),
                "IIB_AUTH_SERVICE_LISTEN": f"127.0.0.1:{free_port()}",
                "IIB_GATING_LISTEN": gating,
                "IIB_GATING_ADDRESS": gating,
                "IIB_GATEWAY_LISTEN": self.gateway_listen,
                "IIB_GATEWAY_ADMIN_PORT": str(self.admin_port),
                "IIB_GATEWAY_TLS_CERT": str(base / "tls" / "gw.crt"),
                "IIB_GATEWAY_TLS_KEY": str(base / "tls" / "gw.key"),
                "IIB_VAR_DIR": str(base / "var"),
                "IIB_GRAPH_MODE_INDEX_ALLOW_LIST": json.dumps(["127.0.0.1"]),
                "IIB_BINARY_IMAGE_CONFIG": json.dumps({"prod": {"v4.14-binaryless": "scratch"}}),
                **(extra or {}),
            },
        )
        self.gateway = ManagedProcess(
            "gateway",
            [sys.executable, "-m", "services.tooling.cli", "serve", "gateway"],
            base / "gateway.log",
            env={**self.env, **tls_env("gateway")},
            cwd=REPO,
        )
        self.gateway.start(
            ready=lambda: http_ok(f"http://127.0.0.1:{self.admin_port}/ready"), timeout=60
        )
        self.gating = ManagedProcess(
            "gating",
            [sys.executable, "-m", "services.tooling.cli", "serve", "gating"],
            base / "gating.log",
            env={**self.env, **tls_env("gating")},
            cwd=REPO,
        )
        host, _, port = gating.rpartition(":")
        self.gating.start(ready=lambda: tcp_open(host, int(port)), timeout=60)
        self.builder = ManagedProcess(
            "index-builder",
            [sys.executable, "-m", "services.tooling.cli", "serve", "index-builder"],
            base / "index-builder.log",
            env={**self.env, **tls_env("index-builder"), **self.nats.env("index-builder")},
            cwd=REPO,
        )
        self.builder.start()
        self.base_url = f"https://{self.gateway_listen}"
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = str(base / "tls" / "gw.crt")
        settings = RegistrySettings(
            insecure_registries=frozenset({self.registry.registry}),
            ca_bundles={self.secure.registry: self.secure.ca_path} if self.secure.ca_path else {},
            retry_delay=0.1,
            retry_jitter=0.1,
            retry_multiplier=0.1,
        )
        self.images = ImageService(RegistryClient(settings))
        from services.common.registry.auth import Credentials

        self.secure_images = ImageService(
            RegistryClient(settings).with_credentials(
                {self.secure.registry: Credentials(AUTH_USER, AUTH_PASSWORD)}
            )
        )

    # --- REST -----------------------------------------------------------------------------

    def post(self, endpoint: str, body: Any, user: str | None = SUBMITTER) -> requests.Response:
        headers = {"X-Remote-User": user} if user else {}
        return self.http.post(
            f"{self.base_url}/api/v1/builds/{endpoint}", json=body, headers=headers, timeout=60
        )

    def build(self, endpoint: str, body: Any, timeout: float = 180.0) -> dict[str, Any]:
        """Submit through Envoy and wait until the request is final."""
        resp = self.post(endpoint, body)
        assert resp.status_code == 201, resp.text
        rid = int(resp.json()["id"])
        return self.wait_final([rid], timeout=timeout)[rid]

    def rest_get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", timeout=60)

    # --- inspection -------------------------------------------------------------------------

    def skopeo(self, *args: str, spec: str) -> Any:
        tls = [] if spec.startswith(self.secure.registry) else ["--tls-verify=false"]
        extra = (
            ["--cert-dir", str(self.secure.cert_dir), "--creds", f"{AUTH_USER}:{AUTH_PASSWORD}"]
            if spec.startswith(self.secure.registry)
            else []
        )
        out = subprocess.run(
            ["skopeo", "inspect", *tls, *extra, *args, f"docker://{spec}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return json.loads(out)

    def catalog_of(
        self, spec: str, dest: Path, arch: str | None = None, *, cache: bool = True
    ) -> CatalogDir:
        """The image's catalog (and, with ``cache``, its serving cache under tmp/cache)."""
        images = self.secure_images if spec.startswith(self.secure.registry) else self.images
        include = ["configs", "tmp/cache"] if cache else ["configs"]
        images.unpack(spec, dest, arch=arch, include=include)
        return CatalogDir.open(dest / "configs")

    def close(self) -> None:
        self.builder.stop()
        self.gating.stop()
        self.gateway.stop()
        super().close()
        self.registry.stop()
        self.secure.stop()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, new_database_url: Any) -> Iterator[EndToEnd]:
    system = EndToEnd(tmp_path_factory.mktemp("e2e"), new_database_url())
    try:
        yield system
    finally:
        system.close()


@pytest.fixture(scope="module")
def bundles(e2e: EndToEnd) -> dict[str, list[str]]:
    """Fixture bundles pushed to the plain registry (package → pinned specs, by version).

    The first bundle of each package is one opm accepts on its own (channel = default channel
    annotation, replaces nothing): cert-utils-operator 0.0.1 and keda 1.4.1 (alpha/alpha),
    opendatahub-operator 0.6.0 (beta/beta). redis-operator's first bundles are not (channel
    preview, default channel stable: opm's SemverPackageManifest refuses them one at a time).
    """
    return fixture_images.push_fixture_bundles(
        e2e.images,
        e2e.registry.registry,
        packages=["cert-utils-operator", "keda", "opendatahub-operator"],
    )


@pytest.fixture(scope="module")
def binary(e2e: EndToEnd) -> str:
    """A 4-arch stand-in opm image (Docker manifest list)."""
    return fixture_images.push_fake_binary_image(
        e2e.images, f"{e2e.registry.registry}/opm:v4.14", ARCHES
    )


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")
