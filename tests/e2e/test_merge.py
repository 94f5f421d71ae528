"""merge-index-image end to end (worker semantics §1.4): through Envoy, real NATS, registries and
the index builder; the result is checked by pulling its catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.catalog import render_bundle
from services.tooling.demo import images as fixture_images
from tests.e2e.conftest import ARCHES, FIXTURES, EndToEnd

pytestmark = [pytest.mark.db, pytest.mark.slow]

KUBEVIRT = "community-kubevirt-hyperconverged"
VERSION_LABEL = "com.redhat.index.delivery.version"


def _history(build: dict[str, Any]) -> list[str]:
    return [h["state_reason"] for h in reversed(build["state_history"])]


@pytest.fixture(scope="module")
def kubevirt(e2e: EndToEnd) -> dict[str, str]:
    """kubevirt-hyperconverged bundles by version (their com.redhat.openshift.versions labels:
    1.1.0 v4.5, 1.2.0 v4.6, 1.3.0 v4.7)."""
    pushed = fixture_images.push_fixture_bundles(
        e2e.images, e2e.registry.registry, packages=[KUBEVIRT, "keda"]
    )
    versions = sorted(p.name for p in (FIXTURES / KUBEVIRT).iterdir() if p.is_dir())
    by_version = dict(zip(versions, pushed[KUBEVIRT], strict=True))
    by_version["keda"] = pushed["keda"][0]
    return by_version


@pytest.fixture(scope="module")
def indexes(e2e: EndToEnd, kubevirt: dict[str, str], binary: str) -> dict[str, dict[str, Any]]:
    """source: keda 1.4.1 + kubevirt 1.1.0 (OCP v4.5); target: kubevirt 1.1.0 + 1.2.0 (v4.6)."""
    base = e2e.build(
        "add", {"bundles": [kubevirt["keda"]], "binary_image": binary, "add_arches": ARCHES}
    )
    assert base["state"] == "complete", base["state_reason"]
    source = e2e.build(
        "add",
        {"bundles": [kubevirt["1.1.0"]], "binary_image": binary, "from_index": base["index_image"]},
    )
    assert source["state"] == "complete", source["state_reason"]
    empty = e2e.build(
        "create-empty-index",
        {
            "from_index": base["index_image"],
            "binary_image": binary,
            "labels": {VERSION_LABEL: "v4.6"},
            "output_fbc": True,
        },
    )
    assert empty["state"] == "complete", empty["state_reason"]
    target = e2e.build(
        "add",
        {
            "bundles": [kubevirt["1.1.0"], kubevirt["1.2.0"]],
            "binary_image": binary,
            "from_index": empty["index_image"],
            "graph_update_mode": "semver",
        },
    )
    assert target["state"] == "complete", target["state_reason"]
    return {"source": source, "target": target}


def test_merge_adds_missing_bundles_and_deprecates(
    e2e: EndToEnd,
    indexes: dict[str, dict[str, Any]],
    kubevirt: dict[str, str],
    binary: str,
    tmp_path: Path,
) -> None:
    source, target = indexes["source"], indexes["target"]
    build = e2e.build(
        "merge-index-image",
        {
            "source_from_index": source["index_image"],
            "target_index": target["index_image"],
            "deprecation_list": [kubevirt["1.1.0"]],
            "binary_image": binary,
            "graph_update_mode": "semver",
            "build_tags": ["merged"],
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["state_reason"] == "The index image was successfully cleaned and updated."
    assert _history(build) == [
        "The request was initiated",
        "Resolving the container images",
        f"Building the index image for the following arches: {', '.join(sorted(ARCHES))}",
        "Getting bundles present in the index images",
        "Adding bundles missing in source index image",
        "Deprecating bundles in the deprecation list",
        "The index image was successfully cleaned and updated.",
    ]
    output = f"{e2e.registry.registry}/iib-build:{build['id']}"
    assert build["index_image"] == output
    assert build["source_from_index_resolved"] == source["index_image_resolved"]
    assert build["target_index_resolved"] == target["index_image_resolved"]
    assert build["arches"] == sorted(ARCHES)
    assert build["distribution_scope"] == "prod"
    config = e2e.skopeo("--config", spec=output)
    assert config["config"]["Labels"][VERSION_LABEL] == "v4.6"  # the target's OCP version
    assert e2e.images.get_image_digest(f"{e2e.registry.registry}/iib-build:merged") == (
        e2e.images.get_image_digest(output)
    )
    catalog = e2e.catalog_of(output, tmp_path / "out")
    # 1.2.0 came from the target; keda 1.4.1 has no com.redhat.openshift.versions label, so it
    # does not admit v4.6 and is deprecated with its package; 1.1.0 was in the deprecation list
    assert catalog.package_names() == [KUBEVIRT]
    docs = catalog.load_package(KUBEVIRT)
    assert docs is not None
    assert sorted(b.name for b in docs.bundles) == ["kubevirt-hyperconverged-operator.v1.2.0"]
    assert {c.name: [e.name for e in c.entries] for c in docs.channels} == {
        "stable": ["kubevirt-hyperconverged-operator.v1.2.0"]
    }


def test_merge_refuses_an_fbc_source_with_a_sqlite_target(
    e2e: EndToEnd, indexes: dict[str, dict[str, Any]], binary: str, tmp_path: Path
) -> None:
    # cert-utils-operator 0.0.1 (channel alpha, default channel alpha): an index opm builds
    bundle_dir = FIXTURES / "cert-utils-operator" / "0.0.1"
    db = tmp_path / "index.db"
    fixture_images.build_index_db(
        db, [render_bundle(bundle_dir, "q.io/legacy/cert-utils@sha256:" + "1" * 64)]
    )
    legacy = fixture_images.push_sqlite_index_image(
        e2e.images, f"{e2e.registry.registry}/legacy/merge-target:v4.6", db, binary
    )
    build = e2e.build(
        "merge-index-image",
        {
            "source_from_index": indexes["source"]["index_image"],
            "target_index": legacy,
            "binary_image": binary,
        },
    )
    assert build["state"] == "failed"
    assert build["state_reason"] == (
        "Cannot merge source File-Based Catalog index image into target SQLite index image."
    )
