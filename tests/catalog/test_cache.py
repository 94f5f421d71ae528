"""opm's JSON serving cache and its integrity digest."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import pytest

from services.catalog import (
    CatalogDir,
    MemoryCatalog,
    TreeEntry,
    directory_tree,
    tree_digest,
    validate,
    write_catalog,
    write_serving_cache,
)
from services.catalog.gotar import fnv1a64, tar_stream
from services.catalog.views import iter_packages
from services.common.errors import CatalogError, CatalogValidationError

from .conftest import catalog_of
from .fbc import package_docs, write_doc_files


def _naive_fnv(data: bytes, h: int = 0xCBF29CE484222325) -> int:
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_fnv1a64_known_vectors() -> None:
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_fnv1a64_zero_run_shortcut_matches_byte_loop() -> None:
    data = b"abc" + b"\0" * 1000 + b"xyz" + b"\0" * 63 + b"q" + b"\0" * 64
    assert fnv1a64(data) == _naive_fnv(data)


def _header(name: bytes, mode: bytes, size: bytes, typeflag: bytes) -> bytes:
    """A USTAR header written field by field as Go's archive/tar lays it out."""
    block = (
        name.ljust(100, b"\0")
        + mode  # 8
        + b"0000000\0"  # uid
        + b"0000000\0"  # gid
        + size  # 12
        + b"00000000000\0"  # mtime 0
        + b"        "  # checksum placeholder
        + typeflag
        + b"\0" * 100  # linkname
        + b"ustar\0"
        + b"00"
        + b"\0" * 32  # uname
        + b"\0" * 32  # gname
        + b"0000000\0"  # devmajor
        + b"0000000\0"  # devminor
        + b"\0" * 155  # prefix
        + b"\0" * 12
    )
    assert len(block) == 512
    checksum = sum(block)
    return block[:148] + b"%06o\0 " % checksum + block[156:]


def test_tar_stream_matches_hand_built_go_headers() -> None:
    tree = [
        TreeEntry(".", 0o755),
        TreeEntry("foo", 0o750),
        TreeEntry("foo/catalog.json", 0o644, b"{}\n"),
    ]
    expected = (
        _header(b".", b"0000755\0", b"00000000000\0", b"5")
        + _header(b"foo", b"0000750\0", b"00000000000\0", b"5")
        + _header(b"foo/catalog.json", b"0000644\0", b"00000000003\0", b"0")
        + b"{}\n"
        + b"\0" * 509
        + b"\0" * 1024
    )
    assert b"".join(tar_stream(tree)) == expected
    assert tree_digest(tree) == f"{_naive_fnv(expected):016x}"


def test_digest_covers_both_trees_in_order_and_known_value() -> None:
    configs = [
        TreeEntry(".", 0o755),
        TreeEntry("foo", 0o755),
        TreeEntry("foo/catalog.json", 0o644, b"{}\n"),
    ]
    cache = [TreeEntry(".", 0o750), TreeEntry("packages.json", 0o640, b"{}")]
    stream = b"".join(tar_stream(configs)) + b"".join(tar_stream(cache))
    assert tree_digest(configs, cache) == f"{_naive_fnv(stream):016x}"
    assert tree_digest(configs, cache) != tree_digest(cache, configs)
    assert tree_digest(configs, cache) == "4d92e2612b3ae9e4"


def test_modes_and_walk_order_change_the_digest() -> None:
    base = [TreeEntry(".", 0o755), TreeEntry("b", 0o644, b"1"), TreeEntry("a", 0o644, b"2")]
    assert [e.path for e in base] != sorted(e.path for e in base)
    reordered = sorted(base, key=lambda e: e.path)
    assert tree_digest(base) == tree_digest(reordered)
    assert tree_digest(base) != tree_digest([TreeEntry(".", 0o775), *base[1:]])
    assert tree_digest(base) != tree_digest([*base[:2], TreeEntry("a", 0o600, b"2")])


def test_long_names_use_ustar_prefix_then_pax_like_go() -> None:
    long_dir = "d" * 95
    pax_name = "p" * 130
    tree = [
        TreeEntry(".", 0o755),
        TreeEntry(long_dir, 0o755),
        TreeEntry(f"{long_dir}/file.json", 0o644, b"x"),
        TreeEntry(pax_name, 0o644, b"y"),
        TreeEntry("naïve.json", 0o644, b"z"),
    ]
    data = b"".join(tar_stream(tree))
    # USTAR split: "d"*95 + "/file.json" (105 chars) keeps the directory in the prefix field.
    blocks = [data[i : i + 512] for i in range(0, len(data), 512)]
    split = next(b for b in blocks if b.startswith(b"file.json\0"))
    assert split[345 : 345 + 96] == long_dir.encode() + b"\0"
    members = tarfile.open(fileobj=io.BytesIO(data)).getmembers()
    assert [m.name for m in members] == [
        ".",
        long_dir,
        f"{long_dir}/file.json",
        "naïve.json",
        pax_name,
    ]
    assert b"PaxHeaders.0/" + b"p" * 87 in data
    assert f"140 path={pax_name}\n".encode() in data  # 4 + 130 + 3 = 137, plus 3 digits


def test_tree_must_be_complete() -> None:
    from services.common.errors import CatalogError

    with pytest.raises(CatalogError, match="no root directory entry"):
        tree_digest([TreeEntry("a", 0o644, b"")])
    with pytest.raises(CatalogError, match="has no parent directory entry 'x'"):
        tree_digest([TreeEntry(".", 0o755), TreeEntry("x/a", 0o644, b"")])


@pytest.mark.usefixtures("fixtures_root")
def test_serving_cache_layout_modes_and_digest(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    write_catalog(catalog_of("keda", "cockroachdb"), configs)
    configs_tree = directory_tree(configs, dir_mode=0o755, file_mode=0o644)
    result = write_serving_cache(CatalogDir.open(configs), tmp_path / "cache", configs_tree)
    cache = tmp_path / "cache" / "cache"
    assert (tmp_path / "cache" / "digest").read_text() == result.digest
    assert stat.S_IMODE(cache.stat().st_mode) == 0o750
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o640 for p in cache.iterdir())
    # Recomputing from disk (what opm serve does at start-up) gives the same digest.
    assert tree_digest(configs_tree, directory_tree(cache)) == result.digest
    packages = json.loads((cache / "packages.json").read_text())
    assert sorted(packages) == ["cockroachdb", "keda"]
    keda = packages["keda"]
    assert list(keda) == ["name", "description", "icon", "defaultChannel", "Channels"]
    assert keda["Channels"]["alpha"]["Head"] == "keda.v2.3.0"
    assert keda["Channels"]["alpha"]["Bundles"]["keda.v2.3.0"] == {
        "package": "keda",
        "channel": "alpha",
        "name": "keda.v2.3.0",
        "replaces": "keda.v2.2.0",
        "skips": None,
    }
    bundle = json.loads((cache / "keda_alpha_keda.v2.3.0.json").read_text())
    assert list(bundle)[:4] == ["csvName", "packageName", "channelName", "csvJson"]
    assert bundle["version"] == "2.3.0" and bundle["replaces"] == "keda.v2.2.0"
    assert json.loads(bundle["csvJson"])["metadata"]["name"] == "keda.v2.3.0"
    assert all(p["type"] != "olm.csv.metadata" for p in bundle["properties"])
    assert (
        "\\u003c" in (cache / "keda_alpha_keda.v2.3.0.json").read_text()
        or "<" not in bundle["csvJson"]
    )
    # The same catalog always yields the same digest; any change to /configs changes it.
    again = write_serving_cache(CatalogDir.open(configs), tmp_path / "cache2", configs_tree)
    assert again.digest == result.digest
    other_modes = directory_tree(configs, dir_mode=0o775, file_mode=0o644)
    assert tree_digest(other_modes, result.cache_tree) != result.digest


def test_cache_build_validates_every_package(tmp_path: Path) -> None:
    from services.catalog import Channel, ChannelEntry, Package, PackageDocs

    broken = PackageDocs(
        "foo",
        packages=[Package("foo", "stable")],
        channels=[Channel("stable", "foo", [ChannelEntry("a"), ChannelEntry("b")])],
    )
    with pytest.raises(CatalogValidationError, match='invalid package "foo"'):
        write_serving_cache(MemoryCatalog([broken]), tmp_path / "c", [TreeEntry(".", 0o755)])


def test_cache_build_reports_the_problem_tree_of_validate(tmp_path: Path) -> None:
    """Writing the cache validates the whole catalog as ``validate`` does (a cold build's only
    validation): packages in name order, whatever order they are read in, and documents outside
    any package. The expected tree is written out by hand in opm's layout (``opm validate``:
    model.go's ``validationError`` tree, messages from declcfg_to_model.go and model.go)."""
    configs = tmp_path / "configs"
    a_and_b = package_docs("a") + package_docs("b", ["x"], default="")
    orphan = {"schema": "olm.bundle", "package": "", "name": "lost.v1"}
    write_doc_files(
        configs, {"z/catalog.json": package_docs("z"), "shared.json": [*a_and_b, orphan]}
    )
    catalog = CatalogDir.open(configs)
    # a shared file's packages are read after the others: the order differs from the names'
    assert [docs.name for docs in iter_packages(catalog)] == ["z", "a", "b"]
    expected = (
        "invalid index:\n"
        '├── package name must be set for bundle "lost.v1"\n'
        '├── invalid package "a":\n'
        '│   └── invalid channel "stable":\n'
        "│       └── multiple channel heads found in graph: a.x, a.y\n"
        '├── invalid package "b":\n'
        "│   └── default channel must be set\n"
        '└── invalid package "z":\n'
        '    └── invalid channel "stable":\n'
        "        └── multiple channel heads found in graph: z.x, z.y"
    )
    with pytest.raises(CatalogValidationError) as validated:
        validate(catalog)
    with pytest.raises(CatalogValidationError) as cached:
        write_serving_cache(catalog, tmp_path / "c", directory_tree(configs))
    assert str(validated.value) == expected
    assert str(cached.value) == expected
    assert cached.value.problems == validated.value.problems


def test_the_problem_tree_comes_before_a_packages_cache_error(tmp_path: Path) -> None:
    """A package ``validate`` accepts but whose cache files cannot be written (an
    ``olm.bundle.object`` without ``data``) does not hide another package's problems: the tree
    is raised, as when ``validate`` ran before the cache; alone, it fails the cache."""
    configs = tmp_path / "configs"
    a = package_docs("a", ["x"], properties=[{"type": "olm.bundle.object", "value": {}}])
    b = package_docs("b", ["x"], default="")
    write_doc_files(configs, {"a/catalog.json": a, "b/catalog.json": b})
    catalog = CatalogDir.open(configs)
    with pytest.raises(CatalogValidationError) as validated:
        validate(catalog)
    with pytest.raises(CatalogValidationError) as cached:
        write_serving_cache(catalog, tmp_path / "c", directory_tree(configs))
    assert (
        str(cached.value)
        == str(validated.value)
        == ('invalid index:\n└── invalid package "b":\n    └── default channel must be set')
    )
    (configs / "b" / "catalog.json").unlink()
    validate(CatalogDir.open(configs))
    with pytest.raises(CatalogError, match="missing base64 'data'"):
        write_serving_cache(CatalogDir.open(configs), tmp_path / "c2", directory_tree(configs))


def test_bundle_object_base64_may_hold_line_breaks(tmp_path: Path) -> None:
    """Go's base64 decoder, which reads opm's ``olm.bundle.object`` data, skips ``\r`` and
    ``\n`` (encoding/base64: "New line characters (\r and \n) are ignored"): the cache is the
    one written for the same data without them."""
    import base64

    csv = json.dumps({"kind": "ClusterServiceVersion", "metadata": {"name": "a.x"}}).encode()
    data = base64.b64encode(csv).decode()
    caches = []
    for n, text in enumerate((data, "\r\n".join(data[i : i + 8] for i in range(0, len(data), 8)))):
        configs = tmp_path / f"configs{n}"
        objects = [{"type": "olm.bundle.object", "value": {"data": text}}]
        write_doc_files(configs, {"a/catalog.json": package_docs("a", ["x"], properties=objects)})
        write_serving_cache(CatalogDir.open(configs), tmp_path / f"c{n}", directory_tree(configs))
        caches.append((tmp_path / f"c{n}" / "cache" / "a_stable_a.x.json").read_bytes())
    assert caches[0] == caches[1]
    assert b'"csvJson":' in caches[0] and b"ClusterServiceVersion" in caches[0]


#: opm's ``api.Bundle`` fields in declaration order (operator-registry ``pkg/api/registry.proto``
#: ``message Bundle``), the order Go's ``json.Marshal`` writes a struct's fields in.
_OPM_API_BUNDLE_FIELDS = [
    "csvName",
    "packageName",
    "channelName",
    "csvJson",
    "object",
    "bundlePath",
    "providedApis",
    "requiredApis",
    "version",
    "skipRange",
    "dependencies",
    "properties",
    "replaces",
    "skips",
    "deprecation",
]


def _go_marshal_by_hand(value: object) -> bytes:
    """Go's ``json.Marshal`` as its documentation states it: compact, and ``<``, ``>``, ``&``
    written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (HTMLEscape); U+2028/U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def test_a_bundle_file_with_objects_is_go_marshal_of_opm_api_bundle(tmp_path: Path) -> None:
    """A bundle rendered with its manifests (``olm.bundle.object``: the CSV and CRDs) and
    deprecated: its cache file is Go's marshal of ``api.Bundle``, field by field in opm's
    order, with the CSV's JSON both in ``csvJson`` and among ``object`` (the file is written
    member by member, the CSV encoded once; this checks the bytes against the rules)."""
    from services.catalog import upsert_deprecations

    catalog = catalog_of("keda", csv_metadata=False)
    deprecation = {
        "schema": "olm.deprecations",
        "package": "keda",
        "entries": [
            {
                "reference": {"schema": "olm.bundle", "name": "keda.v2.2.0"},
                "message": "use keda.v2.3.0 & <later>",
            }
        ],
    }
    catalog.apply(upsert_deprecations(catalog, "keda", json.dumps(deprecation)).changes)
    configs = tmp_path / "configs"
    write_catalog(catalog, configs)
    configs_tree = directory_tree(configs, dir_mode=0o755, file_mode=0o644)
    write_serving_cache(CatalogDir.open(configs), tmp_path / "cache", configs_tree)
    cache = tmp_path / "cache" / "cache"
    for name, deprecated in (("keda.v2.2.0", True), ("keda.v2.3.0", False)):
        data = (cache / f"keda_alpha_{name}.json").read_bytes()
        bundle = json.loads(data)
        assert list(bundle) == [f for f in _OPM_API_BUNDLE_FIELDS if f in bundle]
        assert data == _go_marshal_by_hand(bundle)
        assert json.loads(bundle["csvJson"])["kind"] == "ClusterServiceVersion"
        assert bundle["csvJson"] in bundle["object"]
        assert len(bundle["object"]) > 1  # the CRDs too
        if deprecated:
            assert bundle["deprecation"] == {"message": "use keda.v2.3.0 & <later>"}
            assert b"use keda.v2.3.0 \\u0026 \\u003clater\\u003e" in data
        else:
            assert "deprecation" not in bundle


def test_two_channel_entries_with_one_file_name_fail_the_build(tmp_path: Path) -> None:
    """Cache files are named ``<package>_<channel>_<bundle>.json``: channel ``a`` with bundle
    ``b_c`` and channel ``a_b`` with bundle ``c`` both name ``foo_a_b_c.json``. The second must
    not silently replace the first: the build fails, naming the file."""
    from services.catalog import Bundle, Channel, ChannelEntry, Package, PackageDocs, Property

    def bundle(name: str, version: str) -> Bundle:
        return Bundle(
            name,
            "foo",
            f"q.io/foo@sha256:{len(name):064x}",
            [Property("olm.package", {"packageName": "foo", "version": version})],
        )

    docs = PackageDocs(
        "foo",
        packages=[Package("foo", "a")],
        channels=[
            Channel("a", "foo", [ChannelEntry("b_c")]),
            Channel("a_b", "foo", [ChannelEntry("c")]),
        ],
        bundles=[bundle("b_c", "1.0.0"), bundle("c", "0.9.0")],
    )
    with pytest.raises(CatalogError, match="cache file foo_a_b_c.json would be written twice"):
        write_serving_cache(MemoryCatalog([docs]), tmp_path / "c", [TreeEntry(".", 0o755)])
