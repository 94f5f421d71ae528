"""Session fixtures: docker-registry in three set-ups (plain HTTP, TLS + htpasswd, TLS + Bearer
tokens from an in-test token server) and a fault-injecting proxy in front of the plain one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.common.registry.auth import Credentials
from services.common.registry.client import RegistryClient
from services.tooling.servers.registry import (
    RegistryServer,
    make_self_signed_certificate,
    start_registry,
)
from tests.common.registry.faultproxy import FaultProxy
from tests.common.registry.helpers import fast_settings
from tests.common.registry.tokenserver import TokenServer

USER, PASSWORD = "iib-worker", "s3cret-Pa55:with-colon"
READER, READER_PASSWORD = "reader", "read-only-pass"

# make bootstrap installs both; a missing one is an error, not a reason to skip
assert shutil.which("docker-registry") and shutil.which("skopeo"), (
    "docker-registry and skopeo are required"
)


@dataclass
class TokenSetup:
    registry: RegistryServer
    tokens: TokenServer


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("plain-registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def second_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """Another plain registry, for cross-registry copies."""
    server = start_registry(tmp_path_factory.mktemp("second-registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(
        tmp_path_factory.mktemp("tls-registry"), tls=True, htpasswd_users={USER: PASSWORD}
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenSetup]:
    base = tmp_path_factory.mktemp("token-registry")
    tls = make_self_signed_certificate(base / "tls")
    tokens = TokenServer(
        base / "token",
        {USER: PASSWORD, READER: READER_PASSWORD},
        tls=tls,
        read_only=frozenset({READER}),
    )
    tokens.start()
    try:
        server = start_registry(base / "registry", tls=tls, token_auth=tokens.auth_config())
    except Exception:
        tokens.stop()
        raise
    yield TokenSetup(server, tokens)
    server.stop()
    tokens.stop()


@pytest.fixture
def fault_proxy(plain_registry: RegistryServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(plain_registry.registry).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def plain_client(
    plain_registry: RegistryServer, second_registry: RegistryServer
) -> Iterator[RegistryClient]:
    client = RegistryClient(
        fast_settings(
            insecure_registries=frozenset({plain_registry.registry, second_registry.registry})
        )
    )
    yield client
    client.close()


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the test (``test/<name>-<random>``)."""
    name = request.node.name.lower().replace("[", "-").replace("]", "")
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)[:60].strip("-")
    return f"test/{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def worker_credentials() -> Credentials:
    return Credentials(USER, PASSWORD)
