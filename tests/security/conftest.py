"""Hostile inputs through the real stack: one whole system (docker-registry, nats-server, the
request store, Envoy, gating, the index builder) for the package, and helpers that push hostile
images to its registry."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import SCRATCH
from services.common.registry.layers import LayerEntry, build_layer
from services.tooling.demo import images as fixture_images
from tests.e2e.conftest import ARCHES, EndToEnd


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, new_database_url: Any) -> Iterator[EndToEnd]:
    system = EndToEnd(tmp_path_factory.mktemp("security"), new_database_url())
    try:
        yield system
    finally:
        system.close()


@pytest.fixture(scope="package")
def binary(stack: EndToEnd) -> str:
    return fixture_images.push_fake_binary_image(
        stack.images, f"{stack.registry.registry}/opm:v4.14", ARCHES
    )


@pytest.fixture(scope="package")
def keda(stack: EndToEnd) -> str:
    """A well-formed bundle (keda 1.4.1)."""
    return fixture_images.push_fixture_bundles(
        stack.images, stack.registry.registry, packages=["keda"]
    )["keda"][0]


def push_image(
    stack: EndToEnd,
    tmp: Path,
    target: str,
    entries: Sequence[LayerEntry],
    labels: Mapping[str, str],
) -> str:
    """A ``FROM scratch`` image with one layer of ``entries`` and ``labels``; its pinned spec."""
    layer = build_layer(entries, tmp / f"layer-{len(list(tmp.iterdir()))}.tar.gz")
    spec = f"{stack.registry.registry}/{target}"
    result = stack.images.build(SCRATCH, [spec], [layer], ConfigChanges(labels=dict(labels)))
    return result.resolved


def submit(stack: EndToEnd, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST through Envoy, wait for the final state."""
    resp = stack.post(endpoint, body)
    assert resp.status_code == 201, resp.text
    rid = int(resp.json()["id"])
    return stack.wait_final([rid], timeout=120)[rid]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
