"""The serving cache opm reads at start-up, checked against opm's ``pkg/cache`` tests.

Sources: ``pkg/cache/tar_test.go`` (``Test_fsToTar`` "stable hash output": the FNV-1a of the
tar stream of ``validFS`` is ``6f9eec5b366c557f``), ``json_test.go`` (``TestJSON_StableDigest``:
the JSON cache of ``validFS`` has digest ``9adad9ff6cf54e4f``; ``TestJSON_CheckIntegrity``) and
``cache_test.go`` (``TestCache_*``: what the cache answers, read here from the files opm's
JSON backend loads). ``validFS`` and the other in-memory filesystems are written out in
``testdata/cache``; ``fstest.MapFS`` gives every entry mode 0, so the trees hash mode 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.catalog import CatalogDir, TreeEntry, tree_digest, write_serving_cache
from services.catalog.cache import CacheResult
from services.common.errors import CatalogValidationError

from ._support import TESTDATA

CACHE = TESTDATA / "cache"


def _map_fs(name: str) -> list[TreeEntry]:
    """A testdata directory as the ``fstest.MapFS`` it came from (``.`` and files, mode 0)."""
    root = CACHE / name
    return [TreeEntry(".", 0, None)] + [
        TreeEntry(p.name, 0, p.read_bytes()) for p in sorted(root.iterdir())
    ]


def _build(tmp_path: Path, name: str) -> tuple[CacheResult, Path]:
    cache_dir = tmp_path / "cache-dir"
    result = write_serving_cache(CatalogDir.open(CACHE / name), cache_dir, _map_fs(name))
    return result, cache_dir / "cache"


def test_fs_to_tar_stable_hash() -> None:
    # opm: pkg/cache/tar_test.go Test_fsToTar/"stable hash output"
    assert tree_digest(_map_fs("valid")) == "6f9eec5b366c557f"


def test_json_cache_stable_digest(tmp_path: Path) -> None:
    # opm: pkg/cache/json_test.go TestJSON_StableDigest
    result, cache = _build(tmp_path, "valid")
    assert result.digest == "9adad9ff6cf54e4f"
    assert (cache.parent / "digest").read_text() == "9adad9ff6cf54e4f"


def test_integrity_digest_changes_with_the_catalog(tmp_path: Path) -> None:
    """The digest opm recomputes at start-up covers the catalog: a different FBC does not
    match the stored digest ("cache requires rebuild")."""
    # opm: pkg/cache/json_test.go TestJSON_CheckIntegrity/"different FBC"
    result, _ = _build(tmp_path, "valid")
    assert tree_digest(_map_fs("bad-bundle"), result.cache_tree) != result.digest
    assert tree_digest(_map_fs("valid"), result.cache_tree) == result.digest


def test_integrity_digest_changes_with_the_cache(tmp_path: Path) -> None:
    # opm: pkg/cache/json_test.go TestJSON_CheckIntegrity/"different cache" (an extra file "foo")
    result, _ = _build(tmp_path, "valid")
    tampered = [*result.cache_tree, TreeEntry("foo", 0o640, b"bar")]
    assert tree_digest(_map_fs("valid"), tampered) != result.digest


def test_building_the_cache_of_an_invalid_catalog_fails(tmp_path: Path) -> None:
    """badBundleFS has a bundle with two olm.package properties; opm's cache build converts the
    catalog to its model first and fails."""
    # opm: pkg/cache/json_test.go TestJSON_CheckIntegrity (badBundleFS), pkg/cache/cache.go Build
    with pytest.raises(CatalogValidationError, match='must have exactly 1 "olm.package"'):
        _build(tmp_path, "bad-bundle")


# -- cache_test.go: what the cache answers --------------------------------------------------


def _bundle_file(cache: Path, package: str, channel: str, name: str) -> dict[str, Any]:
    data = json.loads((cache / f"{package}_{channel}_{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def _entries(cache: Path) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text()) for p in sorted(cache.glob("*.json")) if p.name != "packages.json"
    ]


def test_get_bundle(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_GetBundle
    _, cache = _build(tmp_path, "valid")
    b = _bundle_file(cache, "etcd", "singlenamespace-alpha", "etcdoperator.v0.9.4")
    assert (b["packageName"], b["channelName"], b["csvName"]) == (
        "etcd",
        "singlenamespace-alpha",
        "etcdoperator.v0.9.4",
    )


def test_get_bundle_for_channel_and_package(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_GetBundleForChannel, TestCache_GetPackage
    _, cache = _build(tmp_path, "valid")
    packages = json.loads((cache / "packages.json").read_text())
    etcd = packages["etcd"]
    assert etcd["defaultChannel"] == "singlenamespace-alpha"
    heads = {name: ch["Head"] for name, ch in etcd["Channels"].items()}
    assert heads == {
        "singlenamespace-alpha": "etcdoperator.v0.9.4",
        "clusterwide-alpha": "etcdoperator.v0.9.4-clusterwide",
        "alpha": "etcdoperator-community.v0.6.1",
    }


def _channel_entries(cache: Path) -> set[tuple[str, str, str, str]]:
    """opm's ChannelEntry rows: one per (bundle, channel, replaces-or-skip), "" if neither."""
    rows: set[tuple[str, str, str, str]] = set()
    for b in _entries(cache):
        targets = [t for t in [b.get("replaces", ""), *(b.get("skips") or [])] if t] or [""]
        rows |= {(b["packageName"], b["channelName"], b["csvName"], t) for t in targets}
    return rows


def _provides(b: dict[str, Any], group: str, version: str, kind: str) -> bool:
    return {"group": group, "version": version, "kind": kind} in [
        {k: a.get(k, "") for k in ("group", "version", "kind")} for a in b.get("providedApis") or []
    ]


def test_channel_entries_that_provide(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_GetChannelEntriesThatProvide
    _, cache = _build(tmp_path, "valid")
    providers = {
        (b["channelName"], b["csvName"])
        for b in _entries(cache)
        if _provides(b, "etcd.database.coreos.com", "v1beta2", "EtcdBackup")
    }
    rows = {r for r in _channel_entries(cache) if (r[1], r[2]) in providers}
    assert rows == {
        ("etcd", "singlenamespace-alpha", "etcdoperator.v0.9.0", ""),
        ("etcd", "singlenamespace-alpha", "etcdoperator.v0.9.4", "etcdoperator.v0.9.2"),
        ("etcd", "clusterwide-alpha", "etcdoperator.v0.9.0", ""),
        ("etcd", "clusterwide-alpha", "etcdoperator.v0.9.2-clusterwide", "etcdoperator.v0.9.0"),
        ("etcd", "clusterwide-alpha", "etcdoperator.v0.9.2-clusterwide", "etcdoperator.v0.6.1"),
        (
            "etcd",
            "clusterwide-alpha",
            "etcdoperator.v0.9.4-clusterwide",
            "etcdoperator.v0.9.2-clusterwide",
        ),
    }


def test_channel_entries_that_replace(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_GetChannelEntriesThatReplace and
    # TestCache_GetBundleThatReplaces (v0.9.0 in singlenamespace-alpha is replaced by v0.9.2)
    _, cache = _build(tmp_path, "valid")
    rows = {r for r in _channel_entries(cache) if r[3] == "etcdoperator.v0.9.0"}
    assert rows == {
        ("etcd", "singlenamespace-alpha", "etcdoperator.v0.9.2", "etcdoperator.v0.9.0"),
        ("etcd", "clusterwide-alpha", "etcdoperator.v0.9.2-clusterwide", "etcdoperator.v0.9.0"),
    }


def test_list_bundles_and_packages(tmp_path: Path) -> None:
    """12 channel entries, none carrying a CSV or objects (these bundles have none), and 2
    packages."""
    # opm: pkg/cache/cache_test.go TestCache_ListBundles, TestCache_ListPackages
    _, cache = _build(tmp_path, "valid")
    bundles = _entries(cache)
    assert len(bundles) == 12
    assert all(not b.get("csvJson") and not b.get("object") for b in bundles)
    assert sorted(json.loads((cache / "packages.json").read_text())) == ["cockroachdb", "etcd"]


def test_custom_schemas_are_kept_per_schema_and_package(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_ListPackageCustomSchemas
    _, cache = _build(tmp_path, "custom-schema")

    def blobs(schema: str, package: str) -> list[dict[str, Any]]:
        folder = cache / "metas" / schema / package
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    assert len(blobs("custom.operator.io", "testpkg")) == 2
    other = blobs("other.custom.schema", "testpkg")
    assert len(other) == 1 and "info" in other[0]
    assert blobs("nonexistent.schema", "testpkg") == []
    assert blobs("custom.operator.io", "nonexistent") == []


def test_packageless_custom_schema_blob(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_ListPackageCustomSchemas_PackagelessBlob
    _, cache = _build(tmp_path, "packageless")
    folder = cache / "metas" / "custom.packageless"
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    assert len(found) == 1 and found[0]["data"] == "no-package-blob"
    assert sorted(json.loads((cache / "packages.json").read_text())) == ["testpkg"]


def test_no_custom_schemas(tmp_path: Path) -> None:
    # opm: pkg/cache/cache_test.go TestCache_ListPackageCustomSchemas_NoCustomSchemas
    _, cache = _build(tmp_path, "valid")
    assert not (cache / "metas").exists()
