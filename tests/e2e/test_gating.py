"""Gating end to end: an add request routed to a gated queue goes through Envoy, the request
store, NATS, the index builder and the Gating service, which asks a fake Greenwave.

Expected reasons are IIB's (release-engineering/iib ``tests/test_workers/test_greenwave.py``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.tooling.demo import images as fixture_images
from tests.e2e.conftest import ARCHES, FIXTURES, EndToEnd
from tests.gating.fake_greenwave import FakeGreenwave, failed

pytestmark = [pytest.mark.db, pytest.mark.slow]

QUERY = {
    "decision_context": "iib_cvp_redhat_operator",
    "product_version": "cvp",
    "subject_type": "koji_build",
}
GATED_USER = "gated@DOMAIN.LOCAL"


@pytest.fixture(scope="module")
def greenwave() -> Iterator[FakeGreenwave]:
    fake = FakeGreenwave()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gated(
    tmp_path_factory: pytest.TempPathFactory, new_database_url: Any, greenwave: FakeGreenwave
) -> Iterator[EndToEnd]:
    system = EndToEnd(
        tmp_path_factory.mktemp("gated"),
        new_database_url(),
        {
            "IIB_USER_TO_QUEUE": json.dumps({GATED_USER: "gated"}),
            "IIB_WORKER_QUEUES": json.dumps(["default", "gated"]),
            "IIB_GREENWAVE_CONFIG": json.dumps({"gated": QUERY}),
            "IIB_GREENWAVE_URL": greenwave.url,
        },
    )
    try:
        yield system
    finally:
        system.close()


def _bundle(system: EndToEnd, tmp: Path, version: str, release: str) -> str:
    """keda <version> with the koji labels a Red Hat build carries."""
    bundle = tmp / f"keda-{version}-{release}"
    shutil.copytree(FIXTURES / "keda" / version, bundle)
    (bundle / "Dockerfile").write_text(
        "FROM scratch\n"
        f'LABEL com.redhat.component="keda-bundle-container" version="{version}" '
        f'release="{release}"\n'
    )
    return fixture_images.push_bundle_image(
        system.images, bundle, f"{system.registry.registry}/keda-bundle:{version}-{release}"
    )


def _submit(system: EndToEnd, bundle: str, binary: str) -> dict[str, Any]:
    resp = system.post(
        "add", {"bundles": [bundle], "binary_image": binary, "add_arches": ARCHES}, GATED_USER
    )
    assert resp.status_code == 201, resp.text
    rid = int(resp.json()["id"])
    return system.wait_final([rid], timeout=120)[rid]


def test_gated_add_fails_with_greenwaves_reasons_and_passes_when_satisfied(
    gated: EndToEnd, greenwave: FakeGreenwave, tmp_path: Path
) -> None:
    binary = fixture_images.push_fake_binary_image(
        gated.images, f"{gated.registry.registry}/opm:v4.14", ARCHES
    )
    refused = _bundle(gated, tmp_path, "1.4.1", "3")
    greenwave.answers["keda-bundle-container-1.4.1-3"] = failed("test-case-operator-metadata-fetch")
    build = _submit(gated, refused, binary)
    assert build["state"] == "failed"
    assert build["state_reason"] == (
        f"Unsatisfied Greenwave policy for {refused} with decision_context: "
        "iib_cvp_redhat_operator, product_version: cvp, subject_type: koji_build and test "
        "cases: test-case-operator-metadata-fetch"
    )
    asked = [r["body"] for r in greenwave.requests]
    assert asked == [{**QUERY, "subject_identifier": "keda-bundle-container-1.4.1-3"}]

    accepted = _bundle(gated, tmp_path, "1.4.1", "4")  # a rebuild that passed its tests
    build = _submit(gated, accepted, binary)
    assert build["state"] == "complete", build["state_reason"]
    assert greenwave.requests[-1]["body"]["subject_identifier"] == "keda-bundle-container-1.4.1-4"
