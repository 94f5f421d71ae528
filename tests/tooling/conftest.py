"""A real docker-registry (plain HTTP on loopback) for the image factory tests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.registry.client import RegistryClient
from services.common.registry.images import ImageService
from services.tooling.demo.images import FIXTURES_ROOT as BUNDLES
from services.tooling.servers.registry import RegistryServer, start_registry
from tests.common.registry.helpers import fast_settings

FIXTURES = BUNDLES.parent

# make bootstrap installs both; a missing one is an error, not a reason to skip
assert shutil.which("docker-registry") and shutil.which("skopeo"), (
    "docker-registry and skopeo are required"
)


@pytest.fixture(scope="session")
def bundles_root() -> Path:
    """The community bundle fixtures (services/tooling/demo/community-bundles)."""
    assert BUNDLES.is_dir(), f"missing fixtures: {BUNDLES}"
    return BUNDLES


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("demo-registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def images(registry: RegistryServer) -> Iterator[ImageService]:
    client = RegistryClient(fast_settings(insecure_registries=frozenset({registry.registry})))
    yield ImageService(client)
    client.close()


@pytest.fixture
def repo(registry: RegistryServer, request: pytest.FixtureRequest) -> str:
    """``<registry>/demo/<test name>-<random>``: a repository unique to the test."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    return f"{registry.registry}/demo/{name}-{uuid.uuid4().hex[:6]}"
