"""Image labels name paths inside the image; a label that climbs out of it fails the request
naming the label, reads nothing outside the workspace and moves or deletes nothing there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.catalog.labels import BUNDLE_MANIFESTS, BUNDLE_PACKAGE, INDEX_CONFIGS, INDEX_DATABASE
from services.common.registry.layers import LayerDirectory, LayerFile
from tests.e2e.conftest import EndToEnd
from tests.security.conftest import push_image, submit

pytestmark = [pytest.mark.db, pytest.mark.slow]

SECRET = "do-not-leak-" + "x" * 40


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside every workspace holding a file that must stay unread and in place."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "index.db").write_text(SECRET)
    (victim / "catalog.json").write_text(SECRET)
    return victim


def _climb(victim: Path) -> str:
    """``/../../..<victim>``: enough ``..`` to reach / from any workspace, then the victim."""
    return "/" + "../" * 30 + str(victim).lstrip("/")


@pytest.mark.parametrize("label", [INDEX_CONFIGS, INDEX_DATABASE])
def test_a_from_index_label_climbing_out_fails_naming_the_label(
    stack: EndToEnd, binary: str, keda: str, outside: Path, tmp_path: Path, label: str
) -> None:
    value = _climb(outside / "index.db") if label == INDEX_DATABASE else _climb(outside)
    from_index = push_image(
        stack,
        tmp_path,
        f"hostile/index:{label.rsplit('.', 2)[-2]}",
        [LayerDirectory("configs"), LayerFile("configs/.keep", data=b"")],
        {label: value},
    )
    build = submit(
        stack, "add", {"bundles": [keda], "from_index": from_index, "binary_image": binary}
    )
    assert build["state"] == "failed"
    assert label in build["state_reason"] and "outside the image" in build["state_reason"]
    assert SECRET not in build["state_reason"]
    logs = stack.rest_get(f"/api/v1/builds/{build['id']}/logs").text
    assert SECRET not in logs
    assert (outside / "index.db").read_text() == SECRET


def test_a_bundle_manifests_label_climbing_out_moves_and_deletes_nothing(
    stack: EndToEnd, binary: str, outside: Path, tmp_path: Path
) -> None:
    bundle = push_image(
        stack,
        tmp_path,
        "hostile/bundle:manifests",
        [LayerDirectory("manifests"), LayerDirectory("metadata")],
        {BUNDLE_PACKAGE: "hostile", BUNDLE_MANIFESTS: _climb(outside)},
    )
    before = sorted(os.listdir(outside))
    build = submit(
        stack, "add", {"bundles": [bundle], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert build["state"] == "failed"
    assert BUNDLE_MANIFESTS in build["state_reason"]
    assert sorted(os.listdir(outside)) == before
    assert (outside / "catalog.json").read_text() == SECRET
