"""deprecatetruncate (``--allow-package-removal``) on FBC."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import (
    MemoryCatalog,
    PackageDocs,
    add_bundles,
    deprecate_truncate,
    validate,
)
from services.catalog.write import encode_package
from services.common.errors import CatalogError

from .conftest import assert_golden, catalog_of, image_for, make_bundle


def _chain(
    tmp_path: Path, *specs: tuple[str, str, str, str]
) -> tuple[MemoryCatalog, dict[str, str]]:
    catalog = MemoryCatalog()
    images: dict[str, str] = {}
    for name, version, channels, replaces in specs:
        rendered = make_bundle(
            tmp_path, "foo", name, version, channels, "stable", replaces=replaces
        )
        images[name] = rendered.image
        result = add_bundles(catalog, [rendered])
        catalog.apply(result.changes)
    return catalog, images


def _channels(docs: PackageDocs) -> dict[str, list[tuple[str, str]]]:
    return {c.name: [(e.name, e.replaces) for e in c.entries] for c in docs.channels}


def test_s5_truncates_below_the_deprecated_bundle(tmp_path: Path) -> None:
    catalog, images = _chain(
        tmp_path,
        ("foo.v1", "1.0.0", "stable", ""),
        ("foo.v2", "2.0.0", "stable", "foo.v1"),
        ("foo.v3", "3.0.0", "stable", "foo.v2"),
    )
    result = deprecate_truncate(catalog, [images["foo.v2"]])
    docs = result.catalog.load_package("foo")
    assert docs is not None
    assert _channels(docs) == {"stable": [("foo.v3", "foo.v2")]}
    assert [b.name for b in docs.bundles] == ["foo.v3"]
    assert result.report.deprecated == ["foo.v2"]
    assert result.report.truncated == ["foo.v1"]
    validate(result.catalog)


def test_bundle_shared_with_another_channel_survives_there(tmp_path: Path) -> None:
    catalog, images = _chain(
        tmp_path,
        ("foo.v1", "1.0.0", "stable,fast", ""),
        ("foo.v2", "2.0.0", "stable", "foo.v1"),
        ("foo.v3", "3.0.0", "stable", "foo.v2"),
    )
    result = deprecate_truncate(catalog, [images["foo.v2"]])
    docs = result.catalog.load_package("foo")
    assert docs is not None
    assert _channels(docs) == {"fast": [("foo.v1", "")], "stable": [("foo.v3", "foo.v2")]}
    assert [b.name for b in docs.bundles] == ["foo.v1", "foo.v3"]
    validate(result.catalog)


def test_deprecating_default_head_alone_is_refused(tmp_path: Path) -> None:
    catalog, images = _chain(
        tmp_path,
        ("foo.v1", "1.0.0", "stable,fast", ""),
        ("foo.v2", "2.0.0", "stable", "foo.v1"),
    )
    with pytest.raises(
        CatalogError,
        match=rf"^cannot deprecate default channel head from package without removing all other channel heads in package foo: must deprecate {images['foo.v1']}, head of channel fast$",
    ):
        deprecate_truncate(catalog, [images["foo.v2"]])


def test_deprecating_every_channel_head_removes_the_package(tmp_path: Path) -> None:
    catalog, images = _chain(
        tmp_path,
        ("foo.v1", "1.0.0", "stable,fast", ""),
        ("foo.v2", "2.0.0", "stable", "foo.v1"),
    )
    result = deprecate_truncate(catalog, [images["foo.v2"], images["foo.v1"]])
    assert result.report.removed_packages == ["foo"]
    assert result.catalog.package_names() == []


def test_tail_reaching_default_head_is_opms_error(tmp_path: Path) -> None:
    catalog, images = _chain(
        tmp_path,
        ("foo.v1", "1.0.0", "stable,fast", ""),
        ("foo.v2", "2.0.0", "fast", "foo.v1"),
    )
    # stable's head is foo.v1 (default channel); deprecating foo.v2 (head of fast) reaches it.
    docs = catalog.load_package("foo")
    assert docs is not None and docs.packages[0].default_channel == "stable"
    with pytest.raises(CatalogError, match="Bundle deprecation causing default channel removal"):
        deprecate_truncate(catalog, [images["foo.v2"]])


def test_unknown_image_is_reported() -> None:
    catalog = MemoryCatalog()
    catalog.apply(add_bundles(catalog, []).changes)
    assert deprecate_truncate(catalog, ["quay.io/x@sha256:" + "0" * 64]).changes.updates == {}


@pytest.mark.usefixtures("fixtures_root")
def test_missing_bundle_path_is_opms_error() -> None:
    catalog = catalog_of("keda")
    with pytest.raises(
        CatalogError,
        match=r"^target bundlepaths for deprecation missing from registry: \[quay.io/nope@sha256:0+\]$",
    ):
        deprecate_truncate(catalog, ["quay.io/nope@sha256:" + "0" * 64])


@pytest.mark.usefixtures("fixtures_root")
def test_deprecating_fixture_bundle_matches_golden() -> None:
    catalog = catalog_of("keda", "cockroachdb")
    result = deprecate_truncate(
        catalog, [image_for("keda", "2.1.0"), image_for("cockroachdb", "2.1.1")]
    )
    validate(result.catalog)
    assert set(result.changes.updates) == {"keda", "cockroachdb"}
    for name in ["keda", "cockroachdb"]:
        docs = result.catalog.load_package(name)
        assert docs is not None
        assert_golden(f"deprecate/{name}.json", encode_package(docs))
