"""File-Based Catalog load, write and conversion checks, from opm's ``alpha/declcfg`` tests.

Sources: ``load_test.go`` (``TestLoadReader``, ``TestWalkMetasFS``, ``TestLoadFS``,
``TestLoadFile``; its in-memory filesystems written out to ``testdata/declcfg/load``),
``write_test.go`` (``TestWriteJSON``, ``TestWriteFS``) and ``declcfg_to_model_test.go``
(``TestConvertToModel``), with ``helpers_test.go``'s valid declarative config
(``_support.valid_declarative_config``). opm's conversion stops at the first error; the
engine collects every problem, so each case checks that opm's message is among them (and
the whole tree where opm's error is a tree).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.catalog import (
    Bundle,
    Channel,
    ChannelEntry,
    Deprecation,
    DeprecationEntry,
    Package,
    Property,
    RelatedImage,
    TreeEntry,
    validate,
    write_catalog,
    write_serving_cache,
)
from services.catalog.write import encode_documents, encode_package
from services.common.errors import CatalogError, CatalogValidationError

from ._support import (
    SVG_SMALL_CIRCLE,
    TESTDATA,
    Config,
    as_texts,
    case,
    helper_bundle,
    helper_channel,
    helper_package,
    load_config,
    prop_package,
    tb_name,
    valid_declarative_config,
)

LOAD = TESTDATA / "declcfg" / "load"


def _only(tmp_path: Path, source: Path) -> Path:
    """A catalog directory holding just one file (opm's LoadReader / LoadFile)."""
    root = tmp_path / "catalog"
    root.mkdir()
    shutil.copy(source, root / source.name)
    return root


# -- load_test.go ---------------------------------------------------------------------------

LOAD_ERRORS = [
    case('alpha/declcfg/load_test.go TestLoadReader/"Error/NotYAMLOrJSON"', "invalid-format.txt"),
    case('alpha/declcfg/load_test.go TestLoadReader/"Error/NotJSONObject"', "not-object.json"),
    case('alpha/declcfg/load_test.go TestLoadReader/"Error/NoSchema"', "no-schema.yaml"),
    case(
        'alpha/declcfg/load_test.go TestLoadReader/"Error/InvalidPackageJSON"',
        "invalid-package.json",
    ),
    case(
        'alpha/declcfg/load_test.go TestLoadReader/"Error/InvalidBundleJSON"',
        "invalid-bundle.json",
    ),
]


@pytest.mark.parametrize("name", LOAD_ERRORS)
def test_load_file_errors(tmp_path: Path, name: str) -> None:
    # Also TestLoadFile's cases of the same names.
    with pytest.raises(CatalogError):
        load_config(_only(tmp_path, LOAD / "invalid" / name))


@pytest.mark.parametrize(
    ("name", "packages", "bundles", "others", "deprecations"),
    [
        case(
            'alpha/declcfg/load_test.go TestLoadReader/"Success/UnrecognizedSchema"',
            "unrecognized-schema.json",
            1,
            1,
            1,
            0,
        ),
        case(
            'alpha/declcfg/load_test.go TestLoadReader/"Success/ValidFile"',
            "etcd.yaml",
            1,
            6,
            0,
            0,
        ),
        case(
            'alpha/declcfg/load_test.go TestLoadFile/"Success/ValidFile/Deprecations"',
            "deprecations.yaml",
            0,
            0,
            0,
            1,
        ),
    ],
)
def test_load_file_counts(
    tmp_path: Path, name: str, packages: int, bundles: int, others: int, deprecations: int
) -> None:
    cfg = load_config(_only(tmp_path, LOAD / "valid" / name))
    counts = (len(cfg.packages), len(cfg.bundles), len(cfg.others), len(cfg.deprecations))
    assert counts == (packages, bundles, others, deprecations)


def test_load_invalid_directory_fails() -> None:
    # opm: alpha/declcfg/load_test.go TestLoadFS/"Error/Invalid" (and TestWalkMetasFS)
    with pytest.raises(CatalogError):
        load_config(LOAD / "invalid")


def test_load_nonexistent_directory_fails(tmp_path: Path) -> None:
    # opm: alpha/declcfg/load_test.go TestLoadFS/"Error/NonExistentDir"
    with pytest.raises(CatalogError):
        load_config(tmp_path / "non" / "existent" / "dir")


def test_walk_valid_directory_counts() -> None:
    """.indexignore keeps README.md and the CSV out: 3 packages (one unnamed), 0 channels,
    12 bundles (one unnamed), 1 deprecation, 1 other."""
    # opm: alpha/declcfg/load_test.go TestWalkMetasFS/"Success/ValidDir"
    cfg = load_config(LOAD / "valid")
    counts = (
        len(cfg.packages),
        len(cfg.channels),
        len(cfg.bundles),
        len(cfg.deprecations),
        len(cfg.others),
    )
    assert counts == (3, 0, 12, 1, 1)


def _etcd_csv_object() -> tuple[str, Any]:
    data = (LOAD / "valid" / "etcdoperator.v0.6.1.clusterserviceversion.yaml").read_bytes()
    return ("olm.bundle.object", {"data": base64.b64encode(data).decode("ascii")})


def _cockroach(version: str, channel: dict[str, str]) -> tuple[str, list[tuple[str, Any]]]:
    return (
        f"cockroachdb.v{version}",
        [("olm.channel", channel), prop_package("cockroachdb", version)],
    )


OP_SHA = "quay.io/coreos/etcd-operator@sha256:"
LOAD_FS_BUNDLES: dict[str, tuple[str, list[tuple[str, Any]], list[tuple[str, str]]]] = {
    name: (f"quay.io/openshift-community-operators/cockroachdb:v{name.split('.v')[1]}", props, [])
    for name, props in [
        _cockroach("2.0.9", {"name": "stable"}),
        _cockroach("2.1.11", {"name": "stable", "replaces": "cockroachdb.v2.1.1"}),
        _cockroach("2.1.1", {"name": "stable", "replaces": "cockroachdb.v2.0.9"}),
        _cockroach("3.0.7", {"name": "stable-3.x"}),
        _cockroach("5.0.3", {"name": "stable-5.x"}),
    ]
}
_ETCD_GVK = {"group": "etcd.database.coreos.com", "version": "v1beta2"}


def _gvk(kind: str) -> tuple[str, Any]:
    return ("olm.gvk", {"group": _ETCD_GVK["group"], "kind": kind, "version": "v1beta2"})


LOAD_FS_BUNDLES.update(
    {
        "etcdoperator-community.v0.6.1": (
            "quay.io/operatorhubio/etcd:v0.6.1",
            [
                prop_package("etcd", "0.6.1"),
                _gvk("EtcdCluster"),
                ("olm.channel", {"name": "alpha"}),
                ("olm.skipRange", "<0.6.1"),
                _etcd_csv_object(),
            ],
            [
                (
                    "etcdv0.6.1",
                    OP_SHA + "bd944a211eaf8f31da5e6d69e8541e7cada8f16a9f7a5a570b22478997819943",
                )
            ],
        ),
        "etcdoperator.v0.9.0": (
            "quay.io/operatorhubio/etcd:v0.9.0",
            [
                prop_package("etcd", "0.9.0"),
                _gvk("EtcdBackup"),
                ("olm.channel", {"name": "singlenamespace-alpha"}),
                ("olm.channel", {"name": "clusterwide-alpha"}),
            ],
            [
                (
                    "etcdv0.9.0",
                    OP_SHA + "db563baa8194fcfe39d1df744ed70024b0f1f9e9b55b5923c2f3a413c44dc6b8",
                )
            ],
        ),
        "etcdoperator.v0.9.2": (
            "quay.io/operatorhubio/etcd:v0.9.2",
            [
                prop_package("etcd", "0.9.2"),
                _gvk("EtcdRestore"),
                (
                    "olm.channel",
                    {"name": "singlenamespace-alpha", "replaces": "etcdoperator.v0.9.0"},
                ),
            ],
            [
                (
                    "etcdv0.9.2",
                    OP_SHA + "c0301e4686c3ed4206e370b42de5a3bd2229b9fb4906cf85f3f30650424abec2",
                )
            ],
        ),
        "etcdoperator.v0.9.2-clusterwide": (
            "quay.io/operatorhubio/etcd:v0.9.2-clusterwide",
            [
                prop_package("etcd", "0.9.2-clusterwide"),
                _gvk("EtcdBackup"),
                ("olm.skipRange", ">=0.9.0 <=0.9.1"),
                ("olm.skips", "etcdoperator.v0.6.1"),
                ("olm.skips", "etcdoperator.v0.9.0"),
                ("olm.channel", {"name": "clusterwide-alpha", "replaces": "etcdoperator.v0.9.0"}),
            ],
            [
                (
                    "etcdv0.9.2",
                    OP_SHA + "c0301e4686c3ed4206e370b42de5a3bd2229b9fb4906cf85f3f30650424abec2",
                )
            ],
        ),
        "etcdoperator.v0.9.4": (
            "quay.io/operatorhubio/etcd:v0.9.4",
            [
                prop_package("etcd", "0.9.4"),
                (
                    "olm.package.required",
                    {"packageName": "test", "versionRange": ">=1.2.3 <2.0.0-0"},
                ),
                _gvk("EtcdBackup"),
                (
                    "olm.gvk.required",
                    {"group": "testapi.coreos.com", "kind": "Testapi", "version": "v1"},
                ),
                (
                    "olm.channel",
                    {"name": "singlenamespace-alpha", "replaces": "etcdoperator.v0.9.2"},
                ),
            ],
            [
                (
                    "etcdv0.9.2",
                    OP_SHA + "66a37fd61a06a43969854ee6d3e21087a98b93838e284a6086b13917f96b0d9b",
                )
            ],
        ),
        "etcdoperator.v0.9.4-clusterwide": (
            "quay.io/operatorhubio/etcd:v0.9.4-clusterwide",
            [
                prop_package("etcd", "0.9.4-clusterwide"),
                _gvk("EtcdBackup"),
                (
                    "olm.channel",
                    {"name": "clusterwide-alpha", "replaces": "etcdoperator.v0.9.2-clusterwide"},
                ),
            ],
            [
                (
                    "etcdv0.9.2",
                    OP_SHA + "66a37fd61a06a43969854ee6d3e21087a98b93838e284a6086b13917f96b0d9b",
                )
            ],
        ),
        "": ("", [], []),
    }
)


def test_load_valid_directory() -> None:
    # opm: alpha/declcfg/load_test.go TestLoadFS/"Success/ValidDir"
    cfg = load_config(LOAD / "valid")
    icons = json.loads((TESTDATA / "expected" / "declcfg-load-icons.json").read_text())
    packages = {
        p.name: (
            p.default_channel,
            base64.b64decode(p.icon.base64data).decode() if p.icon else None,
            p.icon.mediatype if p.icon else None,
            p.description,
        )
        for p in cfg.packages
    }
    assert packages == {
        "cockroachdb": ("stable-5.x", icons["cockroachdb"], "image/svg+xml", ""),
        "etcd": (
            "singlenamespace-alpha",
            icons["etcd"],
            "image/svg+xml",
            "A message about etcd operator, a description of channels",
        ),
        "": ("", None, None, ""),
    }
    assert cfg.channels == []
    bundles = {
        b.name: (
            b.image,
            sorted(as_texts((p.type, p.value) for p in b.properties)),
            [(r.name, r.image) for r in b.related_images],
        )
        for b in cfg.bundles
    }
    expected = {
        name: (image, sorted(as_texts(props)), related)
        for name, (image, props, related) in LOAD_FS_BUNDLES.items()
    }
    assert bundles == expected
    assert [
        (d.package, [(e.schema, e.name, e.message) for e in d.entries]) for d in cfg.deprecations
    ] == [
        (
            "kiali",
            [
                (
                    "olm.bundle",
                    "kiali-operator.v1.68.0",
                    "kiali-operator.v1.68.0 is deprecated. Uninstall and install kiali-operator.v1.72.0 for support.\n",
                ),
                (
                    "olm.package",
                    "",
                    "package kiali is end of life.  Please use 'kiali-new' package for support.\n",
                ),
                (
                    "olm.channel",
                    "alpha",
                    "channel alpha is no longer supported.  Please switch to channel 'stable'.\n",
                ),
            ],
        )
    ]
    assert [
        (o.schema, o.package, json.dumps(o.blob, separators=(",", ":"))) for o in cfg.others
    ] == [("unexpected", "", '{"schema":"unexpected"}')]


# -- write_test.go --------------------------------------------------------------------------


def test_write_json_matches_opm_byte_for_byte() -> None:
    """WriteJSON of the valid config: each package's documents in opm's order (package,
    channels, bundles, others, deprecations), then the package-less others."""
    # opm: alpha/declcfg/write_test.go TestWriteJSON/"Success"
    cfg = valid_declarative_config(include_unrecognized=True, include_deprecations=True)
    text = b"".join(encode_package(docs) for docs in cfg.package_docs())
    text += encode_documents(cfg.root_documents())
    expected = (TESTDATA / "expected" / "write_test-WriteJSON.json").read_bytes()
    assert text.decode() == expected.decode()


def test_write_fs_layout_and_round_trip(tmp_path: Path) -> None:
    # opm: alpha/declcfg/write_test.go TestWriteFS
    cfg = valid_declarative_config(include_unrecognized=True, include_deprecations=True)
    write_catalog(cfg.view(), tmp_path / "out")
    anakin = (tmp_path / "out" / "anakin" / "catalog.json").read_text()
    assert '"schema": "custom.3"' in anakin
    assert '"schema": "olm.deprecations"' in anakin
    assert '"schema": "custom.3"' in (tmp_path / "out" / "boba-fett" / "catalog.json").read_text()
    root = (tmp_path / "out" / "catalog.json").read_text()
    assert '"schema": "custom.1"' in root
    assert '"schema": "custom.2"' in root
    loaded = load_config(tmp_path / "out")

    def others(c: Config) -> list[tuple[str, str, str]]:
        return sorted((o.schema, o.package, json.dumps(o.blob, sort_keys=True)) for o in c.others)

    def deprecations(c: Config) -> list[Any]:
        return [
            (d.package, [(e.schema, e.name, e.message) for e in d.entries]) for d in c.deprecations
        ]

    assert others(loaded) == others(cfg)
    assert deprecations(loaded) == deprecations(cfg)


def test_write_fs_drops_package_less_olm_documents(tmp_path: Path) -> None:
    """configsByPackage only keeps package-less Others for the root file; an olm.package or
    olm.bundle without a package name is not written."""
    # opm: alpha/declcfg/write.go configsByPackage / WriteFS (code, no test case)
    cfg = Config(packages=[Package(name="")], bundles=[Bundle(name="b", package="")])
    written = write_catalog(cfg.view(), tmp_path / "out")
    assert written == []


# -- declcfg_to_model_test.go TestConvertToModel --------------------------------------------


Problems = Callable[[Config], tuple[str, list[str]]]


@pytest.fixture(params=["validate", "serving cache"])
def _problems(request: pytest.FixtureRequest, tmp_path: Path) -> Problems:
    """The rendered problem tree and every leaf message (path prefixes removed), from
    ``validate`` or from writing the serving cache, which validates the whole catalog in the
    same pass (a cold build's only validation): opm's tables hold for both."""

    caches = itertools.count()

    def problems(cfg: Config) -> tuple[str, list[str]]:
        try:
            if request.param == "validate":
                validate(cfg.view())
            else:
                out = tmp_path / f"cache-{next(caches)}"
                write_serving_cache(cfg.view(), out, [TreeEntry(".", 0o755)])
        except CatalogValidationError as exc:
            return exc.message, list(exc.problems)
        return "", []

    return problems


def _has(leaves: list[str], message: str) -> bool:
    return any(leaf == message or leaf.endswith(": " + message) for leaf in leaves)


def _foo(
    *,
    default: str = "alpha",
    package_name: str = "foo",
    channels: list[Channel] | None = None,
    bundles: list[Bundle] | None = None,
    deprecations: list[Deprecation] | None = None,
    package_props: list[Property] | None = None,
) -> Config:
    pkg = helper_package(package_name, default, SVG_SMALL_CIRCLE)
    if package_props:
        pkg.properties = package_props
    return Config(
        packages=[pkg],
        channels=[helper_channel("foo", "alpha", ChannelEntry("foo.v0.1.0"))]
        if channels is None
        else channels,
        bundles=[helper_bundle("foo", "0.1.0")] if bundles is None else bundles,
        deprecations=deprecations or [],
    )


def _bundle_with(props: list[tuple[str, Any]], name: str | None = None, **kw: Any) -> Bundle:
    bundle = helper_bundle("foo", "0.1.0", properties=props, **kw)
    if name is not None:
        bundle.name = name
    return bundle


OWNER = [Property("owner", {"group": "abc.com", "name": "admin"})]
SRC = "alpha/declcfg/declcfg_to_model_test.go TestConvertToModel"

CONVERT_ERRORS: list[Any] = [
    case(
        f'{SRC}/"Error/PackageNoName"',
        lambda: Config(
            packages=[helper_package("", "alpha", SVG_SMALL_CIRCLE)],
            bundles=[Bundle(name="foo.v0.1.0", package="")],
        ),
        "config contains package with no name",
    ),
    case(
        f'{SRC}/"Error/BundleMissingPackageName"',
        lambda: Config(
            packages=[helper_package("foo", "alpha", SVG_SMALL_CIRCLE)],
            bundles=[Bundle(name="foo.v0.1.0", package="")],
        ),
        'package name must be set for bundle "foo.v0.1.0"',
    ),
    case(
        f'{SRC}/"Error/BundleUnknownPackage"',
        lambda: Config(
            packages=[helper_package("foo", "alpha", SVG_SMALL_CIRCLE)],
            bundles=[helper_bundle("bar", "0.1.0")],
        ),
        'unknown package "bar" for bundle "bar.v0.1.0"',
    ),
    case(
        f'{SRC}/"Error/BundleMissingChannel"',
        lambda: _foo(channels=[]),
        'package "foo", bundle "foo.v0.1.0" not found in any channel entries',
    ),
    case(
        f'{SRC}/"Error/BundlePackageMismatch"',
        lambda: _foo(bundles=[_bundle_with([prop_package("foooperator", "0.1.0")])]),
        'package "foo" does not match "olm.package" property "foooperator"',
    ),
    case(
        f'{SRC}/"Error/BundleInvalidVersion"',
        lambda: _foo(bundles=[_bundle_with([prop_package("foo", "0.1.0.1")])]),
        'error parsing bundle "foo.v0.1.0" version "0.1.0.1": Invalid character(s) found in '
        'patch number "0.1"',
    ),
    case(
        f'{SRC}/"Error/BundleMissingVersion"',
        lambda: _foo(bundles=[helper_bundle("foo", "")]),
        'error parsing bundle "foo.v" version "": Version string empty',
    ),
    case(
        f'{SRC}/"Error/BundleMissingPackageProperty"',
        lambda: _foo(bundles=[_bundle_with([])]),
        'package "foo" bundle "foo.v0.1.0" must have exactly 1 "olm.package" property, found 0',
    ),
    case(
        f'{SRC}/"Error/BundleMultiplePackageProperty"',
        lambda: _foo(
            bundles=[_bundle_with([prop_package("foo", "0.1.0"), prop_package("foo", "0.1.0")])]
        ),
        'package "foo" bundle "foo.v0.1.0" must have exactly 1 "olm.package" property, found 2',
    ),
    case(
        f'{SRC}/"Error/ChannelEntryWithoutBundle"',
        lambda: _foo(bundles=[]),
        'no olm.bundle blobs found in package "foo" for olm.channel entries [foo.v0.1.0]',
    ),
    case(
        f'{SRC}/"Error/BundleWithoutChannelEntry"',
        lambda: _foo(bundles=[helper_bundle("foo", "0.2.0")]),
        'package "foo", bundle "foo.v0.2.0" not found in any channel entries',
    ),
    case(
        f'{SRC}/"Error/ChannelMissingName"',
        lambda: _foo(
            channels=[helper_channel("foo", "", ChannelEntry("foo.v0.1.0"))],
            bundles=[helper_bundle("foo", "0.2.0")],
        ),
        'package "foo" contains channel with no name',
    ),
    case(
        f'{SRC}/"Error/ChannelMissingPackageName"',
        lambda: _foo(
            channels=[helper_channel("", "alpha", ChannelEntry("foo.v0.1.0"))],
            bundles=[helper_bundle("foo", "0.2.0")],
        ),
        'unknown package "" for channel "alpha"',
    ),
    case(
        f'{SRC}/"Error/ChannelNonExistentPackage"',
        lambda: _foo(
            channels=[helper_channel("non-existent", "alpha", ChannelEntry("foo.v0.1.0"))]
        ),
        'unknown package "non-existent" for channel "alpha"',
    ),
    case(
        f'{SRC}/"Error/ChannelDuplicateEntry"',
        lambda: _foo(
            channels=[
                helper_channel(
                    "foo", "alpha", ChannelEntry("foo.v0.1.0"), ChannelEntry("foo.v0.1.0")
                )
            ]
        ),
        'invalid package "foo", channel "alpha": duplicate entry "foo.v0.1.0"',
    ),
    case(
        f'{SRC}/"Error/DuplicatePackage"',
        lambda: Config(
            packages=[
                helper_package("foo", "alpha", SVG_SMALL_CIRCLE),
                helper_package("foo", "alpha", SVG_SMALL_CIRCLE),
            ],
            channels=[helper_channel("foo", "alpha", ChannelEntry("foo.v0.1.0"))],
            bundles=[helper_bundle("foo", "0.1.0")],
        ),
        'duplicate package "foo"',
    ),
    case(
        f'{SRC}/"Error/PackageBreaksRFC1123"',
        lambda: _foo(package_name="foo.bar"),
        'invalid package name "foo.bar": [must not contain dots]',
    ),
    case(
        f'{SRC}/"Error/DuplicateChannel"',
        lambda: _foo(
            channels=[
                helper_channel("foo", "alpha", ChannelEntry("foo.v0.1.0")),
                helper_channel("foo", "alpha", ChannelEntry("foo.v0.1.0")),
            ]
        ),
        'package "foo" has duplicate channel "alpha"',
    ),
    case(
        f'{SRC}/"Error/DuplicateBundle"',
        lambda: _foo(bundles=[helper_bundle("foo", "0.1.0"), helper_bundle("foo", "0.1.0")]),
        'package "foo" has duplicate bundle "foo.v0.1.0"',
    ),
    case(
        f'{SRC}/"Error/Deprecation/UnspecifiedPackage"',
        lambda: _foo(package_props=OWNER, deprecations=[Deprecation("")]),
        "package name must be set for deprecation item 0",
    ),
    case(
        f'{SRC}/"Error/Deprecation/OutOfBoundsBundle"',
        lambda: _foo(
            package_props=OWNER,
            deprecations=[
                Deprecation(
                    "foo",
                    [
                        DeprecationEntry(
                            "olm.bundle",
                            "foo.v2.0.0",
                            "foo.v2.0.0 doesn't exist in the first place",
                        )
                    ],
                )
            ],
        ),
        'cannot deprecate bundle "foo.v2.0.0" for package "foo": bundle not found',
    ),
    case(
        f'{SRC}/"Error/Deprecation/OutOfBoundsPackage"',
        lambda: _foo(package_props=OWNER, deprecations=[Deprecation("nyarl")]),
        'cannot apply deprecations to an unknown package "nyarl"',
    ),
    case(
        f'{SRC}/"Error/Deprecation/MultiplePerPackage"',
        lambda: _foo(
            package_props=OWNER,
            deprecations=[
                Deprecation(
                    "foo", [DeprecationEntry("olm.channel", "alpha", "no more alpha channel")]
                ),
                Deprecation(
                    "foo",
                    [
                        DeprecationEntry(
                            "olm.bundle", "foo.v0.1.0", "foo.v0.1.0 is dead.  do another thing"
                        )
                    ],
                ),
            ],
        ),
        'expected a maximum of one deprecation per package: "foo"',
    ),
    case(
        f'{SRC}/"Error/Deprecation/BadRefSchema"',
        lambda: _foo(
            package_props=OWNER,
            deprecations=[
                Deprecation(
                    "foo",
                    [
                        DeprecationEntry(
                            "badschema", "foo.v2.0.0", "foo.v2.0.0 doesn't exist in the first place"
                        )
                    ],
                )
            ],
        ),
        'cannot deprecate object declcfg.PackageScopedReference{Schema:"badschema", '
        'Name:"foo.v2.0.0"} referenced by entry 0 for package "foo": object schema unknown',
    ),
    case(
        f'{SRC}/"Error/Deprecation/DuplicateRef"',
        lambda: _foo(
            package_props=OWNER,
            deprecations=[
                Deprecation(
                    "foo",
                    [
                        DeprecationEntry("olm.bundle", "foo.v0.1.0", "foo.v0.1.0 is bad"),
                        DeprecationEntry("olm.bundle", "foo.v0.1.0", "foo.v0.1.0 is bad"),
                    ],
                )
            ],
        ),
        'duplicate deprecation entry declcfg.PackageScopedReference{Schema:"olm.bundle", '
        'Name:"foo.v0.1.0"} for package "foo"',
    ),
    case(
        f'{SRC}/"Error/InvalidReleaseVersion"',
        lambda: _foo(bundles=[_bundle_with([prop_package("foo", "0.1.0", "!!!")])]),
        'error parsing bundle "foo.v0.1.0" release version "!!!": invalid release "!!!": '
        'segment 0: Invalid character(s) found in prerelease "!!!"',
    ),
    case(
        f'{SRC}/"Error/BundleImageInvalidPullSpecUnsupportedDigestSsha256"',
        lambda: _foo(
            bundles=[
                helper_bundle(
                    "foo",
                    "0.1.0",
                    image="quay.io/operator-framework/foo-bundle@ssha256:" + "abcd1234" * 8,
                )
            ]
        ),
        "invalid image pull spec",
    ),
    case(
        f'{SRC}/"Error/BundleImageInvalidPullSpecUnsupportedDigestMd5"',
        lambda: _foo(
            bundles=[
                helper_bundle(
                    "foo",
                    "0.1.0",
                    image="quay.io/operator-framework/foo-bundle@md5:" + "abcd1234" * 4,
                )
            ]
        ),
        "invalid image pull spec",
    ),
]


def _with_related(image: str, related: list[tuple[str, str]]) -> Config:
    bundle = helper_bundle("foo", "0.1.0", image=image)
    bundle.related_images = [RelatedImage(n, i) for n, i in related]
    return _foo(bundles=[bundle])


CONVERT_ERRORS.append(
    case(
        f'{SRC}/"Error/BundleRelatedImageInvalidPullSpecSsha256"',
        lambda: _with_related(
            "foo-bundle:v0.1.0",
            [
                ("bundle", "foo-bundle:v0.1.0"),
                ("operator", "quay.io/operator-framework/my-operator@ssha256:" + "abcd1234" * 8),
            ],
        ),
        "invalid image pull spec",
    )
)


@pytest.mark.parametrize(("build", "message"), CONVERT_ERRORS)
def test_convert_to_model_errors(
    build: Callable[[], Config], message: str, _problems: Problems
) -> None:
    tree, leaves = _problems(build())
    if message == "invalid image pull spec":
        assert message in tree
    else:
        assert _has(leaves, message), tree


TREE_ERRORS = [
    case(
        f'{SRC}/"Error/PackageMissingDefaultChannel"',
        lambda: _foo(
            default="",
            channels=[helper_channel("foo", "bar", ChannelEntry(tb_name("foo", "0.1.0")))],
        ),
        'invalid index:\n└── invalid package "foo":\n    └── default channel must be set',
    ),
    case(
        f'{SRC}/"Error/PackageNonExistentDefaultChannel"',
        lambda: _foo(default="bar", channels=[helper_channel("foo", "bar")], bundles=[]),
        'invalid index:\n└── invalid package "foo":\n    └── invalid channel "bar":\n'
        "        └── channel must contain at least one bundle",
    ),
    case(
        f'{SRC}/"Error/InvalidBundleNormalizedName"',
        lambda: _foo(
            channels=[helper_channel("foo", "alpha", ChannelEntry("foo.v0.1.0-alpha.1.0.0"))],
            bundles=[
                _bundle_with(
                    [prop_package("foo", "0.1.0", "alpha.1.0.0")], name="foo.v0.1.0-alpha.1.0.0"
                )
            ],
        ),
        'invalid index:\n└── invalid package "foo":\n    └── invalid channel "alpha":\n'
        '        └── invalid bundle "foo.v0.1.0-alpha.1.0.0":\n'
        '            └── name "foo.v0.1.0-alpha.1.0.0" does not match normalized name '
        '"foo-v0.1.0-alpha.1.0.0"',
    ),
    case(
        f'{SRC}/"Error/BundleReleaseWithBuildMetadata"',
        lambda: _foo(
            channels=[helper_channel("foo", "alpha", ChannelEntry("foo.v0.1.0+alpha.1.0.0-0.0.1"))],
            bundles=[
                _bundle_with(
                    [prop_package("foo", "0.1.0+alpha.1.0.0", "0.0.1")],
                    name="foo.v0.1.0+alpha.1.0.0-0.0.1",
                )
            ],
        ),
        'invalid index:\n└── invalid package "foo":\n    └── invalid channel "alpha":\n'
        '        └── invalid bundle "foo.v0.1.0+alpha.1.0.0-0.0.1":\n'
        '            ├── name "foo.v0.1.0+alpha.1.0.0-0.0.1" does not match normalized name '
        '"foo-v0.1.0+alpha.1.0.0-0.0.1"\n'
        "            └── cannot use build metadata in version with a release version",
    ),
]


@pytest.mark.parametrize(("build", "tree"), TREE_ERRORS)
def test_convert_to_model_error_trees(
    build: Callable[[], Config], tree: str, _problems: Problems
) -> None:
    assert _problems(build())[0] == tree


def _valid_with_channel_properties() -> Config:
    cfg = _foo()
    cfg.channels[0].properties = [Property("user", {"group": "xyz.com", "name": "account"})]
    return cfg


CONVERT_OK = [
    case(f'{SRC}/"Success/ValidModel"', lambda: _foo()),
    case(
        f'{SRC}/"Success/BundleWithDataButMissingImage"',
        lambda: _foo(bundles=[helper_bundle("foo", "0.1.0", image="")]),
    ),
    case(f'{SRC}/"Success/ValidModelWithChannelProperties"', _valid_with_channel_properties),
    case(f'{SRC}/"Success/ValidModelWithPackageProperties"', lambda: _foo(package_props=OWNER)),
    case(
        f'{SRC}/"Success/ValidBundleReleaseVersion"',
        lambda: _foo(
            channels=[helper_channel("foo", "alpha", ChannelEntry("foo-v0.1.0-alpha.1.0.0"))],
            bundles=[
                _bundle_with(
                    [prop_package("foo", "0.1.0", "alpha.1.0.0")], name="foo-v0.1.0-alpha.1.0.0"
                )
            ],
        ),
    ),
    case(
        f'{SRC}/"Success/BundleImageValidSha256Digest"',
        lambda: _with_related(
            "quay.io/operator-framework/foo-bundle@sha256:" + "abcd1234" * 8,
            [("bundle", "quay.io/operator-framework/foo-bundle@sha256:" + "abcd1234" * 8)],
        ),
    ),
    case(
        f'{SRC}/"Success/BundleImageValidTagWithDigest"',
        lambda: _with_related(
            "quay.io/operator-framework/foo-bundle:v0.1.0@sha256:" + "abcd1234" * 8,
            [("bundle", "quay.io/operator-framework/foo-bundle:v0.1.0@sha256:" + "abcd1234" * 8)],
        ),
    ),
    case(
        "alpha/declcfg/declcfg_to_model_test.go TestConvertToModelRoundtrip (the valid config)",
        lambda: valid_declarative_config(include_unrecognized=True, include_deprecations=True),
    ),
]


@pytest.mark.parametrize("build", CONVERT_OK)
def test_convert_to_model_accepts(build: Callable[[], Config], _problems: Problems) -> None:
    assert _problems(build()) == ("", [])
