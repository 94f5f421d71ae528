"""rm, add-deprecations, fbc-operations fragments and present-bundle helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.catalog import (
    BundleRef,
    CatalogDir,
    bundles_in_deprecation_list,
    deprecations_file,
    latest_bundles_per_package,
    missing_bundles,
    present_bundle_images,
    remove_packages,
    replace_packages_from_fragment,
    upsert_deprecations,
    validate,
    write_catalog,
)
from services.common.errors import CatalogError

from .conftest import catalog_of, image_for


@pytest.fixture
def configs(tmp_path: Path, fixtures_root: Path) -> Path:
    root = tmp_path / "configs"
    write_catalog(catalog_of("keda", "redis-operator"), root)
    return root


def test_remove_packages_deletes_package_and_its_deprecations(configs: Path) -> None:
    catalog = CatalogDir.open(configs)
    catalog.apply(
        upsert_deprecations(
            catalog,
            "keda",
            json.dumps({"schema": "olm.deprecations", "package": "keda", "entries": []}),
        ).changes
    )
    assert (configs / deprecations_file("keda")).exists()
    result = remove_packages(catalog, ["keda", "keda", ""])
    assert result.report.removed == ["keda"]
    catalog.apply(result.changes)
    assert not (configs / "keda").exists()
    assert not (configs / "_operator-deprecations-content" / "keda").exists()
    assert (configs / "_operator-deprecations-content").is_dir()
    assert CatalogDir.open(configs).package_names() == ["redis-operator"]


def test_remove_unknown_package_is_opms_error_unless_permissive(configs: Path) -> None:
    catalog = CatalogDir.open(configs)
    with pytest.raises(
        CatalogError,
        match="^error deleting packages from database: error removing operator package ghost: no package found for packagename ghost$",
    ):
        remove_packages(catalog, ["ghost"])
    assert remove_packages(catalog, ["ghost"], permissive=True).report.missing == ["ghost"]


def test_upsert_deprecations_writes_iibs_exact_bytes(configs: Path) -> None:
    catalog = CatalogDir.open(configs)
    schema = (
        '{ "schema":"olm.deprecations", "package":"keda",\n "entries":[{"reference":{"schema":"olm.bundle",'
        '"name":"keda.v1.4.1"},"message":"use 2.x \\u00e9"}]}'
    )
    catalog.apply(upsert_deprecations(catalog, "keda", schema).changes)
    path = configs / "_operator-deprecations-content/keda/keda.json"
    assert path.read_bytes() == json.dumps(json.loads(schema)).encode()
    validate(CatalogDir.open(configs))
    # Overwriting replaces the previous document.
    again = json.dumps({"schema": "olm.deprecations", "package": "keda", "entries": []})
    reopened = CatalogDir.open(configs)
    reopened.apply(upsert_deprecations(reopened, "keda", again).changes)
    assert path.read_text() == json.dumps(json.loads(again))
    docs = CatalogDir.open(configs).load_package("keda")
    assert docs is not None and len(docs.deprecations) == 1


def test_upsert_deprecations_requires_the_package(configs: Path) -> None:
    catalog = CatalogDir.open(configs)
    with pytest.raises(
        CatalogError,
        match="^Cannot add deprecations for ghost, It is either not present in index or opted in fbc$",
    ):
        upsert_deprecations(catalog, "ghost", "{}")


def test_fragment_replaces_packages_byte_for_byte(configs: Path, tmp_path: Path) -> None:
    fragment = tmp_path / "fragment"
    (fragment / "keda").mkdir(parents=True)
    keda = CatalogDir.open(configs).load_package("keda")
    assert keda is not None
    keda.bundles = [b for b in keda.bundles if b.name == "keda.v2.3.0"]
    for channel in keda.channels:
        channel.entries = [e for e in channel.entries if e.name == "keda.v2.3.0"]
        for entry in channel.entries:
            entry.replaces = ""
    from services.catalog.write import encode_package

    content = b"# yaml!\n" + b"---\n".join(
        json.dumps(json.loads(chunk + "}")).encode() + b"\n"
        for chunk in encode_package(keda).decode().split("\n}\n")
        if chunk.strip()
    )
    (fragment / "keda" / "index.yaml").write_bytes(content)
    catalog = CatalogDir.open(configs)
    catalog.apply(
        upsert_deprecations(
            catalog,
            "keda",
            json.dumps({"schema": "olm.deprecations", "package": "keda", "entries": []}),
        ).changes
    )
    result = replace_packages_from_fragment(catalog, fragment, label="quay.io/frag@sha256:1")
    assert result.report.replaced == ["keda"]
    catalog.apply(result.changes)
    assert sorted(p.name for p in (configs / "keda").iterdir()) == ["index.yaml"]
    assert (configs / "keda" / "index.yaml").read_bytes() == content
    assert not (configs / "_operator-deprecations-content" / "keda").exists()
    reopened = CatalogDir.open(configs)
    validate(reopened)
    docs = reopened.load_package("keda")
    assert docs is not None and [b.name for b in docs.bundles] == ["keda.v2.3.0"]


def test_empty_fragment_is_an_error(tmp_path: Path, configs: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CatalogError, match="^No operator packages in fbc_fragment quay.io/f:1$"):
        replace_packages_from_fragment(CatalogDir.open(configs), empty, label="quay.io/f:1")


def test_fragment_directory_holding_another_package_is_refused(
    tmp_path: Path, configs: Path
) -> None:
    fragment = tmp_path / "fragment"
    (fragment / "keda").mkdir(parents=True)
    (fragment / "keda" / "catalog.json").write_text('{"schema": "olm.package", "name": "other"}')
    with pytest.raises(CatalogError, match="belongs to package 'other'"):
        replace_packages_from_fragment(CatalogDir.open(configs), fragment)


def test_present_bundle_images_are_unique_and_ordered(configs: Path) -> None:
    refs = present_bundle_images(CatalogDir.open(configs))
    assert [r.package for r in refs] == sorted(r.package for r in refs)
    assert image_for("keda", "2.3.0") in [r.image for r in refs]
    assert len({r.image for r in refs}) == len(refs)


def test_missing_bundles_follow_iibs_digest_rule() -> None:
    present = ["quay.io/pkg/pkg1@sha256:987654", "quay.io/other/tagged:1"]
    candidates = [
        "quay.io/pkg/pkg1@sha256:987654",
        "registry.io/mirror/pkg1@sha256:987654",
        "quay.io/ns/repo@sha256:123456",
        "quay.io/other/tagged:1",
    ]
    assert missing_bundles(present, candidates) == [
        "quay.io/ns/repo@sha256:123456",
        "quay.io/other/tagged:1",
    ]


def test_deprecation_list_matches_exact_strings() -> None:
    bundles = ["b1@sha256:123456", "b2@sha256:987654", "b3@sha256:not555"]
    assert bundles_in_deprecation_list(
        bundles, ["b1@sha256:123456", "b2@sha256:987654", "b3@sha256:abcdef"]
    ) == [
        "b1@sha256:123456",
        "b2@sha256:987654",
    ]


def _ref(package: str, version: str) -> BundleRef:
    return BundleRef(
        package, f"{package}.v{version}", f"{package}@sha256:{version.replace('.', '')}", version
    )


def test_latest_bundles_per_package_matches_iib_examples() -> None:
    refs = [
        _ref("operator1", "0.8.2"),
        _ref("operator1", "0.9.0"),
        _ref("operator2", "0.0.12"),
        _ref("operator2", "0.0.10"),
    ]
    assert latest_bundles_per_package([r.image for r in refs], refs) == [
        "operator1@sha256:090",
        "operator2@sha256:0012",
    ]
    refs = [
        _ref("bar", "2.1.0"),
        _ref("bar", "0.5.1-0"),
        _ref("bar", "1.1.11"),
        _ref("foo", "0.0.10"),
        _ref("foo", "1.0.9"),
        _ref("foo", "0.0.1"),
        _ref("foo", "1.0.8"),
    ]
    assert latest_bundles_per_package([r.image for r in refs], refs + refs) == [
        "bar@sha256:210",
        "foo@sha256:109",
    ]
    with pytest.raises(
        CatalogError,
        match=r"^Failed to retrieve bundles by semver, missing bundle images: \['x@sha256:1'\]$",
    ):
        latest_bundles_per_package(["x@sha256:1"], refs)
