"""End to end through Envoy with real nats-server, docker-registry and the bundle regenerator
process: regenerate-bundle (with an organization's customizations and registry_auths),
regenerate-bundle-batch, recursive-related-bundles, and failures that leave nothing pushed.
Outputs are checked with skopeo, by unpacking them, and through the artifact endpoints."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.catalog.labels import DELIVERY_BUNDLE
from services.common.processes import ManagedProcess
from services.tooling.demo.images import push_bundle_image
from tests.bundle_regenerator.helpers import (
    RelatedTree,
    csv_path,
    history,
    localize_bundle,
    push_operands,
)
from tests.conftest import REPO
from tests.e2e.conftest import AUTH_PASSWORD, AUTH_USER, EndToEnd
from tests.pki import tls_env

pytestmark = [pytest.mark.db, pytest.mark.slow]

LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OUTPUT_REGISTRY = "bundles.example.com"
MAX_RELATED = 5
PACKAGE = "operators.operatorframework.io.bundle.package.v1"


class WithRegenerator(EndToEnd):
    """The end-to-end system plus a bundle regenerator process.

    Its own settings: the organization ``acme`` (customizations that need the registry's
    address), IIB_INDEX_IMAGE_OUTPUT_REGISTRY and a small IIB_MAX_RECURSIVE_RELATED_BUNDLES.
    """

    def __init__(self, base: Path, database_url: str) -> None:
        super().__init__(
            base, database_url, {"IIB_REQUEST_RELATED_BUNDLES_DIR": str(base / "related")}
        )
        reg = self.registry.registry
        acme = [
            {"type": "resolve_image_pullspecs"},
            {"type": "related_bundles"},
            {"type": "image_name_from_labels", "template": "{name}-{version}"},
            {"type": "package_name_suffix", "suffix": "-acme"},
            {
                "type": "csv_annotations",
                "annotations": {"acme.io/support": "https://acme.example/{package_name}"},
            },
            {"type": "registry_replacements", "replacements": {reg: "registry.acme.example/m"}},
        ]
        self.regenerator = ManagedProcess(
            "bundle-regenerator",
            [sys.executable, "-m", "services.tooling.cli", "serve", "bundle-regenerator"],
            base / "bundle-regenerator.log",
            env={
                **self.env,
                **tls_env("bundle-regenerator"),
                **self.nats.env("bundle-regenerator"),
                "IIB_ORGANIZATION_CUSTOMIZATIONS": json.dumps({"acme": acme}),
                "IIB_INDEX_IMAGE_OUTPUT_REGISTRY": OUTPUT_REGISTRY,
                "IIB_MAX_RECURSIVE_RELATED_BUNDLES": str(MAX_RELATED),
            },
            cwd=REPO,
        )
        self.regenerator.start()

    def internal(self, bundle_image: str) -> str:
        """The pull spec in the real registry of a ``bundle_image`` users see."""
        assert bundle_image.startswith(f"{OUTPUT_REGISTRY}/")
        return bundle_image.replace(OUTPUT_REGISTRY, self.registry.registry, 1)

    def close(self) -> None:
        self.regenerator.stop()
        super().close()


@pytest.fixture(scope="module")
def e2e(
    tmp_path_factory: pytest.TempPathFactory, new_database_url: Any
) -> Iterator[WithRegenerator]:
    system = WithRegenerator(tmp_path_factory.mktemp("bundle-e2e"), new_database_url())
    try:
        yield system
    finally:
        system.close()


@pytest.fixture(scope="module")
def tree(e2e: WithRegenerator, tmp_path_factory: pytest.TempPathFactory) -> RelatedTree:
    return RelatedTree(e2e.images, e2e.registry.registry, tmp_path_factory.mktemp("bundles"))


def _reasons(build: dict[str, Any]) -> list[str]:
    return [h["state_reason"] for h in reversed(build["state_history"])]


def _iib_build_tags(e2e: WithRegenerator) -> list[str]:
    try:
        return e2e.images.list_tags(f"{e2e.registry.registry}/iib-build:x")
    except Exception:
        return []


def test_regenerate_bundle_with_organization_and_registry_auths(
    e2e: WithRegenerator, tree: RelatedTree, tmp_path: Path
) -> None:
    reg = e2e.registry.registry
    private = f"{e2e.secure.registry}/private/cert-utils:1.0.7"
    pinned_private = push_bundle_image(e2e.secure_images, tree.parent_dir, private)
    token = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()

    build = e2e.build(
        "regenerate-bundle",
        {
            "from_bundle_image": private,
            "organization": "acme",
            "registry_auths": {"auths": {e2e.secure.registry: {"auth": token}}},
        },
    )

    assert build["state"] == "complete", build["state_reason"]
    rid = build["id"]
    assert build["state_reason"] == "The request completed successfully"
    assert _reasons(build) == [
        "The request was initiated",
        "Resolving from_bundle_image",
        "Regenerating the bundle image for the following arches: amd64",
        "Creating the manifest list",
        "The request completed successfully",
    ]
    assert build["request_type"] == "regenerate-bundle"
    assert build["organization"] == "acme"
    assert build["arches"] == ["amd64"]
    assert build["from_bundle_image_resolved"] == pinned_private
    assert build["bundle_image"] == f"{OUTPUT_REGISTRY}/iib-build:{rid}"
    assert "registry_auths" not in build and token not in json.dumps(build)

    output = e2e.internal(build["bundle_image"])
    raw = e2e.skopeo("--raw", spec=output)
    assert raw["mediaType"] == LIST
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64"]
    assert e2e.skopeo(spec=f"{output}-amd64")["Digest"] == raw["manifests"][0]["digest"]
    config = e2e.skopeo("--config", spec=output)
    labels = config["config"]["Labels"]
    assert labels["com.redhat.iib.pinned"] == "true"
    assert labels[PACKAGE] == "cert-utils-operator-acme"
    assert history(config)[-2:] == ["COPY ./manifests /manifests", "COPY ./metadata /metadata"]

    root = tmp_path / "out"
    e2e.images.unpack(output, root, include=["manifests", "metadata"])
    csv = yaml.safe_load(csv_path(root).read_text())
    manager = e2e.images.resolve(f"{reg}/redhat-cop/cert-utils-operator:v1.0.7")
    containers = csv["spec"]["install"]["spec"]["deployments"][0]["spec"]["template"]["spec"][
        "containers"
    ]
    assert containers[1]["image"] == (
        "registry.acme.example/m/redhat-cop/cert-utils-operator-v1.0.7@" + manager.rsplit("@", 1)[1]
    )
    assert csv["metadata"]["annotations"]["acme.io/support"] == (
        "https://acme.example/cert-utils-operator-acme"
    )
    assert f"{PACKAGE}: cert-utils-operator-acme\n" in (
        (root / "metadata" / "annotations.yaml").read_text()
    )

    related = e2e.rest_get(f"/api/v1/builds/{rid}/related_bundles")
    assert related.status_code == 200, related.text
    assert related.json() == sorted(
        [e2e.images.resolve(tree.b1_spec), e2e.images.resolve(tree.b2_spec)]
    )
    logs = e2e.rest_get(f"/api/v1/builds/{rid}/logs")
    assert logs.status_code == 200 and "Applying package_name_suffix : -acme" in logs.text
    worker_log = (e2e.base / "bundle-regenerator.log").read_text()
    for text in (logs.text, worker_log):
        assert AUTH_PASSWORD not in text and token not in text


def test_regenerate_bundle_batch(e2e: WithRegenerator, tree: RelatedTree) -> None:
    resp = e2e.post(
        "regenerate-bundle-batch",
        {
            "build_requests": [
                {"from_bundle_image": tree.b1_spec},
                {"from_bundle_image": tree.b2_spec},
            ],
            "annotations": {"release": "r1"},
        },
    )
    assert resp.status_code == 201, resp.text
    ids = [int(item["id"]) for item in resp.json()]
    final = e2e.wait_final(ids, timeout=180)

    builds = [final[rid] for rid in ids]
    assert [b["state"] for b in builds] == ["complete", "complete"], [
        b["state_reason"] for b in builds
    ]
    assert builds[0]["batch"] == builds[1]["batch"]
    assert builds[0]["batch_annotations"] == {"release": "r1"}
    # no organization: the default list, whose related_bundles lists b1's child, pinned
    expected_related = [[e2e.images.resolve(tree.c_spec)], []]
    for build, source, related_bundles in zip(
        builds, (tree.b1_spec, tree.b2_spec), expected_related, strict=True
    ):
        assert build["from_bundle_image_resolved"] == e2e.images.resolve(source)
        assert build["bundle_image"] == f"{OUTPUT_REGISTRY}/iib-build:{build['id']}"
        output = e2e.internal(build["bundle_image"])
        labels = e2e.skopeo("--config", spec=output)["config"]["Labels"]
        assert labels[DELIVERY_BUNDLE] == "true"  # the input's labels are kept
        assert labels["com.redhat.iib.pinned"] == "true"
        related = e2e.rest_get(f"/api/v1/builds/{build['id']}/related_bundles")
        assert related.status_code == 200 and related.json() == related_bundles


def test_recursive_related_bundles(e2e: WithRegenerator, tree: RelatedTree) -> None:
    build = e2e.build("recursive-related-bundles", {"parent_bundle_image": tree.parent_spec})

    assert build["state"] == "complete", build["state_reason"]
    assert _reasons(build)[1:] == [
        "Resolving parent_bundle_image",
        f"Finding recursive related bundles for the bundle: {tree.parent_spec}",
        "Writing recursive related bundles to a file",
        "The request completed successfully",
    ]
    assert build["parent_bundle_image_resolved"] == tree.parent
    nested = e2e.rest_get(f"/api/v1/builds/{build['id']}/nested-bundles")
    assert nested.status_code == 200, nested.text
    assert nested.json() == [tree.c_spec, tree.b2_spec, tree.b1_spec, tree.parent]


def test_recursive_related_bundles_max_limit(
    e2e: WithRegenerator, tree: RelatedTree, tmp_path: Path
) -> None:
    reg = e2e.registry.registry
    loop = f"{reg}/bundles/loop:1"
    bundle_dir = localize_bundle(
        "redis-operator", "0.6.0", tmp_path, reg, related=[loop], labels={DELIVERY_BUNDLE: "true"}
    )
    push_operands(e2e.images, bundle_dir, reg, skip=[loop])
    push_bundle_image(e2e.images, bundle_dir, loop)

    build = e2e.build("recursive-related-bundles", {"parent_bundle_image": loop})

    assert build["state"] == "failed"
    assert build["state_reason"] == "Max number of related bundles exceeded. Potential DOS attack!"
    nested = e2e.rest_get(f"/api/v1/builds/{build['id']}/nested-bundles")
    assert nested.status_code == 500
    assert nested.json() == {
        "error": "IIB is done processing the request and could not find nested_bundles."
    }


def test_not_a_bundle_image_fails_and_pushes_nothing(
    e2e: WithRegenerator, tree: RelatedTree
) -> None:
    operand = f"{e2e.registry.registry}/redhat-cop/cert-utils-operator:v1.0.7"
    before = _iib_build_tags(e2e)

    build = e2e.build("regenerate-bundle", {"from_bundle_image": operand})

    assert build["state"] == "failed"
    resolved = e2e.images.resolve(operand)
    assert build["state_reason"] == (
        f"The image {resolved} is not an operator bundle image: it has no /manifests directory"
    )
    assert build["from_bundle_image_resolved"] == resolved
    assert build["bundle_image"] is None
    assert _iib_build_tags(e2e) == before


def test_missing_image_fails_with_the_registrys_answer(e2e: WithRegenerator) -> None:
    missing = f"{e2e.registry.registry}/nothing/here:1"
    build = e2e.build("regenerate-bundle", {"from_bundle_image": missing})
    assert build["state"] == "failed"
    assert missing in build["state_reason"] and "not found" in build["state_reason"]
