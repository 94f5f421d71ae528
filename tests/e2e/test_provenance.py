"""Which packages came from FBC fragments ("opted in fbc"), kept in the images built here and
read back from them and from images IIB built, with every IIB rule that depends on it.

Oracle: IIB's workers (release-engineering/iib ``iib/workers/tasks/build_add_deprecations.py``,
``opm_operations.py``): bundle-added packages live in the index's hidden database
(``/var/lib/iib/_hidden/do.not.edit.db``, named by the database label); fbc-operations removes a
replaced package from it; rm removes packages from both; add-deprecations fails with ``Cannot add
deprecations for <package>, It is either not present in index or opted in fbc`` unless the
package is in the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.catalog import CatalogDir, add_bundles, render_bundle
from services.catalog.labels import INDEX_CONFIGS, INDEX_DATABASE
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.layers import LayerDirectory, LayerFile, build_layer, tree_entries
from services.tooling.demo import images as fixture_images
from services.tooling.demo.index_db import build_index_db
from tests.e2e.conftest import ARCHES, FIXTURES, EndToEnd

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def keda_index(e2e: EndToEnd, bundles: dict[str, list[str]], binary: str) -> dict[str, Any]:
    build = e2e.build(
        "add", {"bundles": [bundles["keda"][0]], "binary_image": binary, "add_arches": ARCHES}
    )
    assert build["state"] == "complete", build["state_reason"]
    return build


def _deprecations(package: str) -> str:
    return json.dumps({"schema": "olm.deprecations", "package": package, "entries": []})


def _refused(package: str) -> str:
    return (
        f"Cannot add deprecations for {package}, It is either not present in index or opted in fbc"
    )


def _add_deprecations(e2e: EndToEnd, index: str, package: str, binary: str) -> dict[str, Any]:
    return e2e.build(
        "add-deprecations",
        {
            "from_index": index,
            "operator_package": package,
            "deprecation_schema": _deprecations(package),
            "binary_image": binary,
        },
    )


def _fragment(e2e: EndToEnd, tmp: Path, package: str, version: str) -> str:
    root = tmp / f"fragment-{package}"
    root.mkdir()
    catalog = CatalogDir.open(root)
    rendered = render_bundle(
        FIXTURES / package / version,
        f"q.io/ns/{package}-bundle@sha256:{'e' * 64}",
        csv_metadata=True,
    )
    catalog.apply(add_bundles(catalog, [rendered]).changes)
    return fixture_images.push_fbc_fragment_image(
        e2e.images, f"{e2e.registry.registry}/fragments/{package}:prov", root
    )


def _provenance(e2e: EndToEnd, image: str, tmp: Path) -> dict[str, Any]:
    dest = tmp / "prov"
    e2e.images.unpack(image, dest, include=["var/lib/iib"])
    return dict(json.loads((dest / "var/lib/iib/provenance.json").read_text()))


def test_fragment_packages_are_opted_in_fbc_across_builds(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    index = keda_index["index_image"]
    # keda was added from a bundle: deprecations may be added to it
    done = _add_deprecations(e2e, index, "keda", binary)
    assert done["state"] == "complete", done["state_reason"]
    absent = _add_deprecations(e2e, index, "not-in-the-index", binary)
    assert absent["state"] == "failed" and absent["state_reason"] == _refused("not-in-the-index")

    # fbc-operations replaces keda with a fragment: keda is now opted in fbc
    replaced = e2e.build(
        "fbc-operations",
        {
            "fbc_fragments": [_fragment(e2e, tmp_path, "keda", "1.4.1")],
            "binary_image": binary,
            "from_index": index,
        },
    )
    assert replaced["state"] == "complete", replaced["state_reason"]
    opted = replaced["index_image"]
    assert _provenance(e2e, opted, tmp_path / "a")["fbc_packages"] == ["keda"]
    refused = _add_deprecations(e2e, opted, "keda", binary)
    assert refused["state"] == "failed" and refused["state_reason"] == _refused("keda")

    # adding a bundle to keda makes it bundle-added again (IIB adds it to its hidden database)
    added = e2e.build(
        "add", {"bundles": [bundles["keda"][1]], "from_index": opted, "binary_image": binary}
    )
    assert added["state"] == "complete", added["state_reason"]
    assert _provenance(e2e, added["index_image"], tmp_path / "b")["fbc_packages"] == []
    again = _add_deprecations(e2e, added["index_image"], "keda", binary)
    assert again["state"] == "complete", again["state_reason"]

    # rm of an opted-in package removes it from the provenance too
    removed = e2e.build("rm", {"operators": ["keda"], "from_index": opted, "binary_image": binary})
    assert removed["state"] == "complete", removed["state_reason"]
    assert _provenance(e2e, removed["index_image"], tmp_path / "c")["fbc_packages"] == []


def test_an_iib_built_index_lists_its_bundle_added_packages_in_the_hidden_database(
    e2e: EndToEnd, binary: str, tmp_path: Path
) -> None:
    """An FBC index as IIB builds it: /configs with keda and cockroachdb, and the hidden database
    holding only keda (cockroachdb came from a fragment)."""
    keda = render_bundle(
        FIXTURES / "keda" / "1.4.1", f"q.io/keda@sha256:{'1' * 64}", csv_metadata=True
    )
    cockroach = render_bundle(
        FIXTURES / "cockroachdb" / "3.0.7", f"q.io/cockroach@sha256:{'2' * 64}", csv_metadata=True
    )
    configs = tmp_path / "rootfs" / "configs"
    configs.mkdir(parents=True)
    catalog = CatalogDir.open(configs)
    catalog.apply(add_bundles(catalog, [keda, cockroach]).changes)
    hidden = tmp_path / "rootfs" / "var" / "lib" / "iib" / "_hidden"
    hidden.mkdir(parents=True)
    build_index_db(hidden / "do.not.edit.db", [keda])
    entries = [
        *tree_entries(tmp_path / "rootfs" / "configs", "configs"),
        LayerDirectory("var"),
        LayerDirectory("var/lib"),
        LayerDirectory("var/lib/iib"),
        LayerDirectory("var/lib/iib/_hidden"),
        LayerFile("var/lib/iib/_hidden/do.not.edit.db", source=hidden / "do.not.edit.db"),
    ]
    layer = build_layer(entries, tmp_path / "layer.tar.gz")
    iib_built = e2e.images.build(
        binary,
        [f"{e2e.registry.registry}/iib-built/index:v4.14"],
        [layer],
        ConfigChanges(
            labels={
                INDEX_CONFIGS: "/configs",
                INDEX_DATABASE: "/var/lib/iib/_hidden/do.not.edit.db",
            }
        ),
        arches=set(ARCHES),
    ).resolved
    refused = _add_deprecations(e2e, iib_built, "cockroachdb", binary)
    assert refused["state"] == "failed" and refused["state_reason"] == _refused("cockroachdb")
    done = _add_deprecations(e2e, iib_built, "keda", binary)
    assert done["state"] == "complete", done["state_reason"]
    assert _provenance(e2e, done["index_image"], tmp_path / "p")["fbc_packages"] == ["cockroachdb"]
