"""Semver add modes, deprecation, removal and pruning, from opm's SQLite-era tests.

Sources (operator-registry v1.73.0): ``pkg/registry/bundlegraphloader_test.go``
(``TestBundleGraphLoader``, ``TestIsSkipPatchCandidate``), ``pkg/sqlite/load_test.go``
(``TestAddBundleSemver``, ``TestAddPackageChannels``, ``TestDeprecationAwareLoader``),
``pkg/sqlite/remove_test.go``, ``stranded_test.go``, ``substitutesfor_cycle_test.go`` and
``pkg/lib/registry/registry_test.go`` (``TestCheckForBundles``). Each starting database is
written as the File-Based Catalog its migration gives (entries from the channel heads down);
results are read on the FBC as in ``test_populator.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.catalog import (
    Bundle,
    Channel,
    ChannelEntry,
    MemoryCatalog,
    Package,
    PackageDocs,
    Property,
    remove_packages,
    semver,
)
from services.catalog.ops_add import is_skip_patch_candidate
from services.common.errors import CatalogError

from ._bundles import BUNDLES, Facts, Index
from ._support import case

BGL = "pkg/registry/bundlegraphloader_test.go TestBundleGraphLoader"


def _package(
    name: str,
    default: str,
    channels: dict[str, list[tuple[str, str, list[str]]]],
    versions: dict[str, str],
) -> PackageDocs:
    """An FBC package: channel -> [(entry, replaces, skips)], bundle -> version."""
    docs = PackageDocs(name)
    docs.packages.append(Package(name=name, default_channel=default))
    for channel, entries in channels.items():
        docs.channels.append(
            Channel(channel, name, [ChannelEntry(e, r, list(s)) for e, r, s in entries])
        )
    for bundle, version in versions.items():
        docs.bundles.append(
            Bundle(
                name=bundle,
                package=name,
                image=f"quay.io/test/{bundle}",
                properties=[Property("olm.package", {"packageName": name, "version": version})],
            )
        )
    return docs


ETCD_VERSIONS = {
    "etcdoperator.v0.6.1": "0.6.1",
    "etcdoperator.v0.9.0": "0.9.0",
    "etcdoperator.v0.9.2": "0.9.2",
}
ETCD_CHAIN = [
    ("etcdoperator.v0.6.1", "", []),
    ("etcdoperator.v0.9.0", "etcdoperator.v0.6.1", []),
    ("etcdoperator.v0.9.2", "etcdoperator.v0.9.0", ["etcdoperator.v0.9.1"]),
]
ETCD_BETA = ETCD_CHAIN[:2]


def _etcd_graph() -> PackageDocs:
    return _package(
        "etcd",
        "alpha",
        {"alpha": ETCD_CHAIN, "beta": ETCD_BETA, "stable": ETCD_CHAIN},
        ETCD_VERSIONS,
    )


def _nodes(entries: list[tuple[str, str, list[str]]]) -> dict[str, set[str]]:
    return {e: {x for x in [r, *s] if x} for e, r, s in entries}


V093 = Facts("etcdoperator.v0.9.3", "0.9.3", "etcd", "alpha,stable")


def _index_with(tmp_path: Path, *packages: PackageDocs) -> Index:
    index = Index(tmp_path)
    index.catalog = MemoryCatalog(packages)
    return index


def test_semver_add_to_the_head_of_channels(tmp_path: Path) -> None:
    # opm: pkg/registry/bundlegraphloader_test.go TestBundleGraphLoader/"Add bundle to head of channels"
    index = _index_with(tmp_path, _etcd_graph())
    index.populate([("quay.io/test/etcdoperator.v0.9.3", V093)], mode="semver")
    with_093 = {**_nodes(ETCD_CHAIN), "etcdoperator.v0.9.3": {"etcdoperator.v0.9.2"}}
    assert index.graph("etcd") == {
        "alpha": ("etcdoperator.v0.9.3", with_093),
        "beta": ("etcdoperator.v0.9.0", _nodes(ETCD_BETA)),
        "stable": ("etcdoperator.v0.9.3", with_093),
    }
    assert index.default_channel("etcd") == "alpha"


def test_semver_add_of_a_bundle_already_in_the_graph_fails(tmp_path: Path) -> None:
    # opm: pkg/registry/bundlegraphloader_test.go TestBundleGraphLoader/"Add a bundle already in the graph, expect an error"
    graph = _package(
        "etcd",
        "beta",
        {"beta": [("etcdoperator.v0.6.1", "", [])]},
        {"etcdoperator.v0.6.1": "0.6.1"},
    )
    index = _index_with(tmp_path, graph)
    with pytest.raises(CatalogError):
        index.populate(
            [("quay.io/test/other", Facts("etcdoperator.v0.6.1", "0.6.1", "etcd", "beta"))],
            mode="semver",
        )


def test_semver_add_behind_the_head(tmp_path: Path) -> None:
    # opm: pkg/registry/bundlegraphloader_test.go TestBundleGraphLoader/"Add a bundle behind the head of a channel"
    graph = _package(
        "etcd",
        "beta",
        {"beta": [("etcdoperator.v0.9.3", "", [])]},
        {"etcdoperator.v0.9.3": "0.9.3"},
    )
    index = _index_with(tmp_path, graph)
    index.populate(
        [("quay.io/test/v061", Facts("etcdoperator.v0.6.1", "0.6.1", "etcd", "beta"))],
        mode="semver",
    )
    assert index.graph("etcd") == {
        "beta": (
            "etcdoperator.v0.9.3",
            {"etcdoperator.v0.6.1": set(), "etcdoperator.v0.9.3": {"etcdoperator.v0.6.1"}},
        )
    }


@pytest.mark.parametrize(
    ("start", "expected_channels"),
    [
        case(
            f'{BGL}/"Add a bundle to a new channel"',
            lambda: [
                _package(
                    "etcd",
                    "beta",
                    {"beta": [("etcdoperator.v0.6.1", "", [])]},
                    {"etcdoperator.v0.6.1": "0.6.1"},
                )
            ],
            {
                "beta": ("etcdoperator.v0.6.1", {"etcdoperator.v0.6.1": set()}),
                "alpha": ("etcdoperator.v0.9.3", {"etcdoperator.v0.9.3": set()}),
            },
        ),
        case(
            f'{BGL}/"Add a bundle to an empty graph"',
            list,
            {"alpha": ("etcdoperator.v0.9.3", {"etcdoperator.v0.9.3": set()})},
        ),
    ],
)
def test_semver_add_to_a_new_channel_takes_the_default_from_the_annotations(
    tmp_path: Path, start: Any, expected_channels: dict[str, Any]
) -> None:
    index = _index_with(tmp_path, *start())
    index.populate(
        [("quay.io/test/v093", Facts("etcdoperator.v0.9.3", "0.9.3", "etcd", "alpha", "alpha"))],
        mode="semver",
    )
    assert index.graph("etcd") == expected_channels
    assert index.default_channel("etcd") == "alpha"


def test_semver_skippatch_leaves_an_unreferenced_node_and_the_load_fails(tmp_path: Path) -> None:
    """The graph loader replaces 0.9.0 and 0.9.2 by 0.9.3 and leaves 0.6.1 a node nothing
    replaces; loading that graph (AddBundleSemver) fails with opm's "Invalid graph" error."""
    # opm: pkg/registry/bundlegraphloader_test.go TestBundleGraphLoader/"Add a bundle in skippatch mode"
    # (expected alpha/stable nodes: 0.6.1 {}, 0.9.3 {0.9.2, 0.9.0}), then
    # pkg/sqlite/load.go AddBundleSemver (addPackageChannelsFromGraph depth check)
    index = _index_with(tmp_path, _etcd_graph())
    with pytest.raises(CatalogError) as err:
        index.populate([("quay.io/test/etcdoperator.v0.9.3", V093)], mode="semver-skippatch")
    assert (
        "Invalid graph: some (non-bottom) nodes defined in the graph were not mentioned as "
        "replacements of any node" in str(err.value)
    )


def test_semver_bundles_added_out_of_order_form_a_version_chain(tmp_path: Path) -> None:
    # opm: pkg/sqlite/load_test.go TestAddBundleSemver
    index = Index(tmp_path)
    index.catalog = MemoryCatalog(
        [_package("pkg-foo", "stable", {"stable": [("csv-a", "", [])]}, {"csv-a": "1.0.0"})]
    )
    for name, version in (("csv-3", "0.3.0"), ("csv-1", "0.1.0"), ("csv-2", "0.2.0")):
        index.populate(
            [(f"quay.io/test/{name}", Facts(name, version, "pkg-0", "stable"))], mode="semver"
        )
    (head, edges) = index.graph("pkg-0")["stable"]
    assert head == "csv-3"
    docs = index.catalog.load_package("pkg-0")
    assert docs is not None
    entries = {e.name: (e.replaces, e.skips) for c in docs.channels for e in c.entries}
    assert entries == {"csv-3": ("csv-2", []), "csv-2": ("csv-1", []), "csv-1": ("", [])}
    del edges


@pytest.mark.parametrize(
    ("added", "compare", "expected", "commutative"),
    [
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"equal versions"',
            "0.0.0",
            "0.0.0",
            False,
            True,
        ),
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"do not accept different major/minor version"',
            "0.1.0",
            "0.2.0",
            False,
            True,
        ),
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"accept larger patch version"',
            "0.0.1",
            "0.0.0",
            True,
            False,
        ),
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"accept patch version without pre-release"',
            "0.0.0",
            "0.0.0-1",
            True,
            False,
        ),
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"accept longer pre-release with same prefix"',
            "0.0.1-1.2",
            "0.0.1-1",
            True,
            False,
        ),
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"accept numerically larger pre-release"',
            "0.0.1-11",
            "0.0.1-2",
            True,
            False,
        ),
        case(
            'pkg/registry/bundlegraphloader_test.go TestIsSkipPatchCandidate/"accept lexicographically larger pre-release"',
            "0.0.1-beta.1",
            "0.0.1-alpha.1",
            True,
            False,
        ),
    ],
)
def test_is_skip_patch_candidate(
    added: str, compare: str, expected: bool, commutative: bool
) -> None:
    a, b = semver.parse(added), semver.parse(compare)
    assert is_skip_patch_candidate(a, b) is expected
    if not commutative:
        assert is_skip_patch_candidate(b, a) is (not expected)


# -- pkg/sqlite/load_test.go TestAddPackageChannels -----------------------------------------


def test_missing_replaces_is_reported(tmp_path: Path) -> None:
    """opm keeps the package that loads (pkg-1) in the database; the engine changes nothing
    when a request fails, which IIB fails as a whole either way."""
    # opm: pkg/sqlite/load_test.go TestAddPackageChannels/"MissingReplacesInPackage/AggregatesAndContinues"
    index = Index(tmp_path)
    with pytest.raises(CatalogError) as err:
        index.populate(
            [
                (
                    "quay.io/test/csv-a",
                    Facts("csv-a", "1.0.0", "pkg-0", "stable", "stable", replaces="csv-d"),
                ),
                ("quay.io/test/csv-b", Facts("csv-b", "0.1.0", "pkg-0", "alpha", "stable")),
                ("quay.io/test/csv-c", Facts("csv-c", "1.0.0", "pkg-1", "stable", "stable")),
            ]
        )
    assert str(err.value) == "Invalid bundle csv-a, replaces nonexistent bundle csv-d"


# -- pkg/sqlite/load_test.go TestDeprecationAwareLoader -------------------------------------

DAL = "pkg/sqlite/load_test.go TestDeprecationAwareLoader"


def _pkg0(channels: dict[str, list[tuple[str, str, list[str]]]], default: str) -> PackageDocs:
    names = {e for entries in channels.values() for e, _, _ in entries}
    return _package("pkg-0", default, channels, {n: "" for n in sorted(names)})


# The Go fixtures have no versions (the loader does not read them); the FBC must validate,
# so each bundle gets a distinct one.
DAL_VERSIONS = {
    "csv-a": "1.0.0",
    "csv-aa": "1.1.0",
    "csv-aaa": "1.2.0",
    "csv-b": "2.0.0",
    "csv-bb": "2.1.0",
    "csv-c": "3.0.0",
    "csv-cc": "3.1.0",
}


def _images(docs: PackageDocs) -> PackageDocs:
    for bundle in docs.bundles:
        bundle.image = f"quay.io/my/bundle-{bundle.name.removeprefix('csv-')}"
        bundle.properties = [
            Property(
                "olm.package", {"packageName": docs.name, "version": DAL_VERSIONS[bundle.name]}
            )
        ]
    return docs


def _entries_of(index: Index) -> set[str]:
    out: set[str] = set()
    for name in index.catalog.package_names():
        docs = index.catalog.load_package(name)
        assert docs is not None
        out |= {f"{e.name}:{c.name}" for c in docs.channels for e in c.entries}
    return out


@pytest.mark.parametrize(
    ("packages", "deprecate", "remove", "expected"),
    [
        case(
            f'{DAL}/"NoDeprecation"',
            lambda: [_images(_pkg0({"stable": [("csv-a", "", [])]}, "stable"))],
            [],
            "pkg-0",
            set(),
        ),
        case(
            f'{DAL}/"RemovePackage/DropsDeprecated"',
            lambda: [
                _images(_pkg0({"stable": [("csv-a", "", []), ("csv-aa", "csv-a", [])]}, "stable"))
            ],
            ["quay.io/my/bundle-a"],
            "pkg-0",
            set(),
        ),
        case(
            f'{DAL}/"RemovePackage/IgnoresOtherPackages"',
            lambda: [
                _images(_pkg0({"stable": [("csv-a", "", []), ("csv-aa", "csv-a", [])]}, "stable")),
                _images(
                    _package(
                        "pkg-1",
                        "stable",
                        {"stable": [("csv-b", "", []), ("csv-bb", "csv-b", [])]},
                        {"csv-b": "", "csv-bb": ""},
                    )
                ),
            ],
            ["quay.io/my/bundle-a", "quay.io/my/bundle-b"],
            "pkg-0",
            # nontruncated csv-b:stable, csv-bb:stable; csv-b is deprecated (left out of FBC)
            {"csv-bb:stable"},
        ),
        case(
            f'{DAL}/"DeprecateTruncate/DropsTruncated"',
            lambda: [
                _images(
                    _pkg0(
                        {
                            "stable": [
                                ("csv-a", "", []),
                                ("csv-aa", "csv-a", []),
                                ("csv-aaa", "csv-aa", []),
                            ]
                        },
                        "stable",
                    )
                )
            ],
            ["quay.io/my/bundle-a", "quay.io/my/bundle-aa"],
            "",
            # nontruncated csv-aa:stable, csv-aaa:stable; csv-aa is deprecated
            {"csv-aaa:stable"},
        ),
        case(
            f'{DAL}/"DeprecateTruncateRemoveDeprecatedChannelHeadOnPackageRemoval"',
            lambda: [
                _images(
                    _pkg0(
                        {
                            "a": [("csv-a", "", []), ("csv-aa", "csv-a", [])],
                            "b": [("csv-a", "", []), ("csv-b", "csv-a", [])],
                        },
                        "b",
                    )
                )
            ],
            ["quay.io/my/bundle-aa"],
            "pkg-0",
            set(),
        ),
        case(
            f'{DAL}/"DeprecateChannelHead"',
            lambda: [
                _images(
                    _pkg0(
                        {
                            "a": [
                                ("csv-a", "", []),
                                ("csv-aa", "csv-a", []),
                                ("csv-aaa", "csv-aa", ["csv-cc"]),
                            ],
                            "b": [("csv-a", "", []), ("csv-b", "csv-a", [])],
                            "c": [("csv-c", "", []), ("csv-cc", "csv-c", [])],
                        },
                        "b",
                    )
                )
            ],
            ["quay.io/my/bundle-aaa"],
            "",
            # nontruncated csv-a:b, csv-aaa: (no channel, deprecated), csv-b:b, csv-c:c, csv-cc:c
            {"csv-a:b", "csv-b:b", "csv-c:c", "csv-cc:c"},
        ),
    ],
)
def test_deprecation_aware_loader(
    tmp_path: Path, packages: Any, deprecate: list[str], remove: str, expected: set[str]
) -> None:
    index = _index_with(tmp_path, *packages())
    for image in deprecate:
        index.deprecate([image])
    if remove:
        index.catalog.apply(remove_packages(index.catalog, [remove]).changes)
    assert _entries_of(index) == expected


# -- pkg/sqlite/remove_test.go, stranded_test.go -------------------------------------------


def test_remove_packages_one_after_the_other(tmp_path: Path) -> None:
    # opm: pkg/sqlite/remove_test.go TestRemover
    index = Index(tmp_path)
    for name in (
        "etcd.0.9.0",
        "etcd.0.9.2",
        "prometheus.0.14.0",
        "prometheus.0.15.0",
        "prometheus.0.22.2",
    ):
        index.populate([(f"quay.io/test/{name}", BUNDLES[name])])
    index.catalog.apply(remove_packages(index.catalog, ["etcd"]).changes)
    assert index.catalog.package_names() == ["prometheus"]
    index.catalog.apply(remove_packages(index.catalog, ["prometheus"]).changes)
    assert index.catalog.package_names() == []
    with pytest.raises(CatalogError, match="no package found for packagename prometheus"):
        remove_packages(index.catalog, ["prometheus"])
    for name in (
        "etcd.0.9.0",
        "etcd.0.9.2",
        "prometheus.0.14.0",
        "prometheus.0.15.0",
        "prometheus.0.22.2",
    ):
        index.populate([(f"quay.io/test/{name}", BUNDLES[name])])
    assert index.catalog.package_names() == ["etcd", "prometheus"]


def test_bundles_no_head_reaches_leave_the_package(tmp_path: Path) -> None:
    """0.22.2 replaces nothing: once it heads both channels, 0.14.0 and 0.15.0 are stranded
    (RemoveStrandedBundles deletes them; the migrated FBC never has them)."""
    # opm: pkg/sqlite/stranded_test.go TestStrandedBundleRemover (testdata/strandedbundles)
    index = Index(tmp_path)
    stranded = {
        "prometheus.0.14.0": Facts(
            "prometheusoperator.0.14.0", "0.14.0", "prometheus", "preview", "preview"
        ),
        "prometheus.0.15.0": Facts(
            "prometheusoperator.0.15.0",
            "0.15.0",
            "prometheus",
            "preview,stable",
            "preview",
            replaces="prometheusoperator.0.14.0",
        ),
        "prometheus.0.22.2": Facts(
            "prometheusoperator.0.22.2", "0.22.2", "prometheus", "preview,stable", "stable"
        ),
    }
    for name, facts in stranded.items():
        index.populate([(f"quay.io/test/{name}", facts)])
    assert sorted(index.versions("prometheus")) == ["prometheusoperator.0.22.2"]


# -- pkg/sqlite/substitutesfor_cycle_test.go ------------------------------------------------


def test_substitutes_for_itself_is_refused(tmp_path: Path) -> None:
    # opm: pkg/sqlite/substitutesfor_cycle_test.go TestSubstitutesForSelfReference
    index = Index(tmp_path)
    with pytest.raises(CatalogError, match="cyclic substitutesFor"):
        index.populate(
            [
                (
                    "quay.io/test/self",
                    Facts(
                        "csv-self", "1.0.0", "pkg", "stable", "stable", substitutes_for="csv-self"
                    ),
                )
            ]
        )


def test_substitutes_for_cycle_is_refused(tmp_path: Path) -> None:
    # opm: pkg/sqlite/substitutesfor_cycle_test.go TestSubstitutesForIndirectCycle
    index = Index(tmp_path)
    index.populate(
        [
            (
                "quay.io/test/a",
                Facts("csv-a", "1.0.0", "pkg", "stable", "stable", substitutes_for="csv-b"),
            )
        ]
    )
    with pytest.raises(CatalogError, match="cyclic substitutesFor"):
        index.populate(
            [
                (
                    "quay.io/test/b",
                    Facts("csv-b", "1.0.0", "pkg", "stable", "stable", substitutes_for="csv-a"),
                )
            ]
        )


# -- pkg/lib/registry/registry_test.go TestCheckForBundles ----------------------------------

CFB = "pkg/lib/registry/registry_test.go TestCheckForBundles"
PRUNE = (
    "add prunes bundle {name} ({image}) from package testpkg, channel {channel}: this may be "
    "due to incorrect channel head ({head}, skips/replaces [{edges}]). Be aware that the head "
    "of the channel {channel} where you are trying to add the {name} is {head}. Upgrade graphs "
    "follows the Semantic Versioning 2.0.0 (https://semver.org/) which means that is not "
    "possible add new versions lower then the head of the channel"
)


def _t(
    name: str, version: str, channels: str, default: str = "", replaces: str = ""
) -> tuple[str, Facts]:
    return (name, Facts(name, version, "testpkg", channels, default, replaces=replaces))


def test_check_for_bundles_error_on_new_pruned_bundle(tmp_path: Path) -> None:
    # opm: pkg/lib/registry/registry_test.go TestCheckForBundles/"ErrorOnNewPrunedBundle"
    index = Index(tmp_path, check_images=False)
    index.populate([_t("newPruned-1.1.0", "1.1.0", "stable,alpha", "stable")])
    with pytest.raises(CatalogError) as err:
        index.populate(
            [
                _t("newPruned-1.2.0", "1.2.0", "alpha", "stable", "newPruned-1.1.0"),
                _t("newPruned-1.2.0-1", "1.2.0-1", "stable,alpha", "stable", "newPruned-1.2.0"),
            ]
        )
    assert str(err.value) == PRUNE.format(
        name="newPruned-1.2.0-1",
        image="newPruned-1.2.0-1",
        channel="alpha",
        head="newPruned-1.2.0",
        edges="newPruned-1.1.0",
    )


def test_check_for_bundles_silent_prune_of_an_existing_bundle(tmp_path: Path) -> None:
    # opm: pkg/lib/registry/registry_test.go TestCheckForBundles/"silentPruneForExistingBundle"
    index = Index(tmp_path, check_images=False)
    index.populate(
        [
            _t("silentPrune-1.0.0", "1.0.0", "stable,alpha", "stable"),
            _t("silentPrune-1.1.0", "1.1.0", "stable,alpha", "stable", "silentPrune-1.0.0"),
        ]
    )
    index.populate([_t("silentPrune-1.2.0", "1.2.0", "alpha", "stable", "silentPrune-1.0.0")])


def test_check_for_bundles_unordered_chain_with_max_head(tmp_path: Path) -> None:
    # opm: pkg/lib/registry/registry_test.go TestCheckForBundles/"allowUnorderedWithMaxChannelHead"
    index = Index(tmp_path, check_images=False)
    index.populate(
        [
            _t("unorderedReplaces-1.0.0", "1.0.0", "stable,alpha", "stable"),
            _t(
                "unorderedReplaces-1.1.0",
                "1.1.0",
                "stable,alpha",
                "stable",
                "unorderedReplaces-1.0.0",
            ),
        ]
    )
    index.populate(
        [
            _t(
                "unorderedReplaces-1.1.0-1", "1.1.0-1", "alpha", "stable", "unorderedReplaces-1.1.0"
            ),
            _t("unorderedReplaces-1.2.0", "1.2.0", "alpha", "stable", "unorderedReplaces-1.1.0-1"),
        ]
    )


def test_check_for_bundles_ignores_deprecated(tmp_path: Path) -> None:
    # opm: pkg/lib/registry/registry_test.go TestCheckForBundles/"withDeprecated"
    index = Index(tmp_path, check_images=False)
    index.populate(
        [
            _t("withDeprecated-1.0.0", "1.0.0", "stable"),
            _t("withDeprecated-1.1.0", "1.1.0", "stable", replaces="withDeprecated-1.0.0"),
            _t("withDeprecated-1.2.0", "1.2.0", "stable", replaces="withDeprecated-1.1.0"),
        ]
    )
    index.deprecate(["withDeprecated-1.1.0"])
    assert index.entries() == Counter({"withDeprecated-1.2.0/stable": 1})
    index.populate(
        [
            (
                "withDeprecated-1.2.0-overwrite",
                Facts("withDeprecated-1.2.0", "1.2.0", "testpkg", "alpha", "alpha"),
            )
        ],
        overwrite=True,
    )


def test_check_for_bundles_overwrite_pruning(tmp_path: Path) -> None:
    # opm: pkg/lib/registry/registry_test.go TestCheckForBundles/"overwritePruning"
    index = Index(tmp_path, check_images=False)
    index.populate(
        [
            _t("withOverwrite-1.0.0", "1.0.0", "stable"),
            _t("withOverwrite-1.1.0", "1.1.0", "stable", replaces="withOverwrite-1.0.0"),
        ]
    )
    with pytest.raises(CatalogError) as err:
        index.populate(
            [
                (
                    "withOverwrite-1.1.0-overwrite",
                    Facts(
                        "withOverwrite-1.1.0",
                        "1.0.0-1",
                        "testpkg",
                        "stable",
                        replaces="withOverwrite-1.0.0",
                    ),
                ),
                _t("withOverwrite-1.2.0", "1.2.0", "alpha", "stable", "withOverwrite-1.1.0"),
            ],
            overwrite=True,
        )
    assert str(err.value) == PRUNE.format(
        name="withOverwrite-1.1.0",
        image="withOverwrite-1.1.0-overwrite",
        channel="stable",
        head="withOverwrite-1.0.0",
        edges="",
    )


# -- pkg/sqlite/load_test.go TestAddBundlePropertiesFromAnnotations -------------------------

APFA = "pkg/sqlite/load_test.go TestAddBundlePropertiesFromAnnotations"


@pytest.mark.parametrize(
    ("annotation", "fails"),
    [
        case(f'{APFA}/"Invalid/Properties"', "bad_properties", True),
        case(
            f'{APFA}/"Invalid/KnownType/Label"',
            '[{"type": "olm.label", "value": "bad_value"}]',
            True,
        ),
        case(
            f'{APFA}/"Invalid/KnownType/Package"',
            '[{"type": "olm.package", "value": "bad_value"}]',
            True,
        ),
        case(
            f'{APFA}/"Invalid/KnownType/GVK"', '[{"type": "olm.gvk", "value": "bad_value"}]', True
        ),
        case(
            f'{APFA}/"Valid/KnownTypes"',
            '[{"type":"olm.label","value":{"label":"sulaco"}},'
            '{"type":"olm.package","value":{"packageName":"lv-426","version":"1.0.0"}},'
            '{"type":"olm.gvk","value":{"group":"weyland.io","kind":"Dropship","version":"v1"}},'
            '{"type":"olm.deprecated","value":{}}]',
            False,
        ),
        case(
            f'{APFA}/"Valid/UnknownType"',
            '[{"type": "anything", "value": "anything_value"}]',
            False,
        ),
    ],
)
def test_csv_properties_annotation_is_checked_when_added(
    tmp_path: Path, annotation: str, fails: bool
) -> None:
    """``opm render`` only warns about a bad olm.properties annotation; ``opm registry add``
    (the SQLite loader) refuses the bundle."""
    index = Index(tmp_path)
    # The Go test names the package lv-426 and its olm.package property too; a different
    # olm.package than the bundle's would fail FBC validation, which is not what is tested.
    facts = Facts(
        "ripley",
        "1.0.0",
        "lv-426",
        "stable",
        "stable",
        annotations=(("olm.properties", annotation),),
    )
    if fails:
        with pytest.raises(CatalogError):
            index.populate([("quay.io/test/ripley", facts)])
    else:
        index.populate([("quay.io/test/ripley", facts)])
