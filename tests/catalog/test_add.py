"""Adding bundles: opm's replaces / semver / semver-skippatch semantics on FBC."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import (
    MemoryCatalog,
    PackageDocs,
    add_bundles,
    validate,
)
from services.catalog.write import encode_package
from services.common.errors import CatalogError, CatalogValidationError

from .conftest import assert_golden, catalog_of, make_bundle, render_fixture, versions_of


def _channels(docs: PackageDocs) -> dict[str, list[tuple[str, str, list[str]]]]:
    return {c.name: [(e.name, e.replaces, e.skips) for e in c.entries] for c in docs.channels}


def _add(catalog: MemoryCatalog, *bundles, **kwargs):
    result = add_bundles(catalog, list(bundles), **kwargs)
    catalog.apply(result.changes)
    return result


def _docs(catalog: MemoryCatalog, name: str = "foo") -> PackageDocs:
    docs = catalog.load_package(name)
    assert docs is not None
    return docs


def test_s3_replaces_mode_channel_membership_follows_the_chain(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    _add(
        catalog,
        make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable,fast", "stable", replaces="foo.v1"),
    )
    docs = _docs(catalog)
    assert docs.packages[0].default_channel == "stable"
    assert _channels(docs) == {
        "fast": [("foo.v1", "", []), ("foo.v2", "foo.v1", [])],
        "stable": [("foo.v1", "", []), ("foo.v2", "foo.v1", [])],
    }
    result = _add(
        catalog, make_bundle(tmp_path, "foo", "foo.v3", "3.0.0", "stable", replaces="foo.v2")
    )
    docs = _docs(catalog)
    assert _channels(docs) == {
        "fast": [("foo.v1", "", []), ("foo.v2", "foo.v1", [])],
        "stable": [("foo.v1", "", []), ("foo.v2", "foo.v1", []), ("foo.v3", "foo.v2", [])],
    }
    assert result.report.heads == {"foo": {"fast": "foo.v2", "stable": "foo.v3"}}
    validate(catalog)


def test_s4_adding_below_the_head_prunes_and_fails(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", "stable"))
    low = make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable")
    with pytest.raises(
        CatalogError,
        match=r"^add prunes bundle foo\.v1 \(quay\.io/ns/foo-bundle@sha256:[0-9a-f]+\) from package foo, channel stable: this may be due to incorrect channel head \(foo\.v2, skips/replaces \[\]\)",
    ):
        add_bundles(catalog, [low])


def test_s4_replacing_an_unknown_bundle_fails(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    bad = make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v0")
    with pytest.raises(
        CatalogError, match=r"^Invalid bundle foo\.v2, replaces nonexistent bundle foo\.v0$"
    ):
        add_bundles(catalog, [bad])


def test_s4_same_csv_again_is_refused_without_overwrite(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    again = make_bundle(
        tmp_path, "foo", "foo.v1", "1.0.0", "stable", image="quay.io/ns/other@sha256:" + "1" * 64
    )
    with pytest.raises(CatalogError, match="^Bundle already added that provides package and csv$"):
        add_bundles(catalog, [again])


def test_replaces_cycle_is_refused_with_opms_message(tmp_path: Path) -> None:
    pair = [
        make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable", replaces="foo.v2"),
        make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v1"),
    ]
    with pytest.raises(CatalogError, match="^Cycle detected, foo.v1 replaces foo.v2$"):
        add_bundles(MemoryCatalog(), pair)


def test_same_image_again_is_refused(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    first = make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable")
    _add(catalog, first)
    again = make_bundle(
        tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v1", image=first.image
    )
    with pytest.raises(CatalogError, match=rf"Bundle {first.image} already exists"):
        add_bundles(catalog, [again])


def test_overwrite_latest_replaces_the_head(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v1"))
    rebuilt = make_bundle(
        tmp_path,
        "foo",
        "foo.v2",
        "2.0.0",
        "stable",
        replaces="foo.v1",
        image="quay.io/ns/rebuilt@sha256:" + "2" * 64,
    )
    result = _add(catalog, rebuilt, overwrite_latest=True)
    assert result.report.overwritten == ["foo.v2"]
    docs = _docs(catalog)
    assert docs.bundle("foo.v2") is not None and docs.bundle("foo.v2").image == rebuilt.image  # type: ignore[union-attr]
    validate(catalog)


def test_overwrite_latest_refuses_a_non_head(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v1"))
    again = make_bundle(
        tmp_path, "foo", "foo.v1", "1.0.0", "stable", image="quay.io/ns/x@sha256:" + "3" * 64
    )
    with pytest.raises(
        CatalogError,
        match="^Cannot overwrite a bundle that is not at the head of a channel using --overwrite-latest$",
    ):
        add_bundles(catalog, [again], overwrite_latest=True)


def test_overwrite_more_than_one_per_package_is_refused(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.a", "1.0.0", "a", "a"))
    _add(catalog, make_bundle(tmp_path, "foo", "foo.b", "2.0.0", "b"))
    again = [
        make_bundle(
            tmp_path, "foo", "foo.a", "1.0.0", "a", image="quay.io/ns/x@sha256:" + "4" * 64
        ),
        make_bundle(
            tmp_path, "foo", "foo.b", "2.0.0", "b", image="quay.io/ns/x@sha256:" + "5" * 64
        ),
    ]
    with pytest.raises(CatalogError, match="Cannot overwrite more than one bundle at a time"):
        add_bundles(catalog, again, overwrite_latest=True)


def test_edge_into_another_package_is_refused(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "bar", "bar.v1", "1.0.0", "stable", "stable"))
    bad = make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable", replaces="bar.v1")
    with pytest.raises(
        CatalogError,
        match="^bundle bar.v1 belongs to package bar on index, cannot be added as an edge for package foo$",
    ):
        add_bundles(catalog, [bad])
    pair = [
        make_bundle(tmp_path, "foo", "shared.v1", "1.0.0", "stable", "stable"),
        make_bundle(tmp_path, "baz", "baz.v1", "1.0.0", "stable", "stable", skips=("shared.v1",)),
    ]
    with pytest.raises(
        CatalogError,
        match=r"^bundle shared.v1 must belong to exactly one package, found on: \[baz foo\]$",
    ):
        add_bundles(catalog, pair)


def test_tied_channel_heads_are_refused(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.a", "1.0.0", "stable", "stable"))
    tie = make_bundle(tmp_path, "foo", "foo.b", "1.0.0", "other")
    with pytest.raises(CatalogError, match="^more than one bundle with maximum version 1.0.0$"):
        add_bundles(catalog, [tie])


def test_skips_make_skipped_bundles_members_without_edges(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1.1", "1.1.0", "stable", replaces="foo.v1"))
    _add(
        catalog,
        make_bundle(
            tmp_path,
            "foo",
            "foo.v2",
            "2.0.0",
            "stable",
            replaces="foo.v1",
            skips=("foo.v1.1", "foo.v0"),
            skip_range="<2.0.0",
        ),
    )
    docs = _docs(catalog)
    assert _channels(docs) == {
        "stable": [
            ("foo.v1", "", []),
            ("foo.v1.1", "", []),
            ("foo.v2", "foo.v1", ["foo.v1.1", "foo.v0"]),
        ]
    }
    assert [e.skip_range for e in docs.channels[0].entries] == ["", "", "<2.0.0"]
    validate(catalog)


def test_replaces_mode_drops_bundles_no_head_reaches(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    result = _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable"))
    assert result.report.dropped == ["foo.v1"]
    assert [b.name for b in _docs(catalog).bundles] == ["foo.v2"]


def test_semver_mode_orders_by_version_and_ignores_csv_edges(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    for name, version in [
        ("foo.v2", "2.0.0"),
        ("foo.v1", "1.0.0"),
        ("foo.v3", "3.0.0"),
        ("foo.v2.5", "2.5.0"),
    ]:
        _add(
            catalog,
            make_bundle(tmp_path, "foo", name, version, "stable", "stable", replaces="foo.bogus"),
            mode="semver",
        )
    assert _channels(_docs(catalog)) == {
        "stable": [
            ("foo.v1", "", []),
            ("foo.v2", "foo.v1", []),
            ("foo.v2.5", "foo.v2", []),
            ("foo.v3", "foo.v2.5", []),
        ]
    }
    validate(catalog)
    with pytest.raises(CatalogError, match="^Bundle version 2.0.0 already added to index$"):
        add_bundles(
            catalog, [make_bundle(tmp_path, "foo", "foo.v2b", "2.0.0", "stable")], mode="semver"
        )


def test_semver_mode_clears_objects_of_non_head_bundles(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(
        catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"), mode="semver"
    )
    result = _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable"), mode="semver")
    assert result.report.cleared == ["foo.v1"]
    old = _docs(catalog).bundle("foo.v1")
    assert old is not None
    assert all(p.type != "olm.bundle.object" for p in old.properties)
    assert all(r.name == "" for r in old.related_images)


def test_semver_skippatch_turns_older_patches_into_skips(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    for name, version in [
        ("foo.v1.0.0", "1.0.0"),
        ("foo.v1.0.1", "1.0.1"),
        ("foo.v1.0.2", "1.0.2"),
    ]:
        _add(
            catalog,
            make_bundle(tmp_path, "foo", name, version, "stable", "stable"),
            mode="semver-skippatch",
        )
    assert _channels(_docs(catalog)) == {
        "stable": [
            ("foo.v1.0.0", "", []),
            ("foo.v1.0.1", "", []),
            ("foo.v1.0.2", "", ["foo.v1.0.1", "foo.v1.0.0"]),
        ]
    }
    validate(catalog)


def test_semver_skippatch_with_older_minor_is_opms_invalid_graph(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    for name, version in [("foo.v0.9.0", "0.9.0"), ("foo.v1.0.0", "1.0.0")]:
        _add(
            catalog,
            make_bundle(tmp_path, "foo", name, version, "stable", "stable"),
            mode="semver-skippatch",
        )
    with pytest.raises(
        CatalogError,
        match=r"Invalid graph: some \(non-bottom\) nodes defined in the graph were not mentioned as replacements of any node \(1 != 0\)",
    ):
        add_bundles(
            catalog,
            [make_bundle(tmp_path, "foo", "foo.v1.0.1", "1.0.1", "stable")],
            mode="semver-skippatch",
        )


def test_substitutes_for_redirects_the_chain(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v1"))
    _add(
        catalog,
        make_bundle(
            tmp_path,
            "foo",
            "foo.v2-1",
            "2.0.0+1",
            "stable",
            replaces="foo.v1",
            substitutes_for="foo.v2",
        ),
    )
    docs = _docs(catalog)
    entries = {e.name: e for e in docs.channels[0].entries}
    assert entries["foo.v2-1"].replaces == "foo.v1"
    assert "foo.v2" in entries["foo.v2-1"].skips
    validate(catalog)


def test_add_whose_result_would_not_validate_is_rejected(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable"))
    _add(catalog, make_bundle(tmp_path, "foo", "foo.v2", "2.0.0", "stable", replaces="foo.v1"))
    # v3 both replaces and skips v2: the migrated channel strands v1 (opm validate rule 2).
    odd = make_bundle(
        tmp_path, "foo", "foo.v3", "3.0.0", "stable", replaces="foo.v2", skips=("foo.v2",)
    )
    with pytest.raises(
        CatalogValidationError, match="channel contains one or more stranded bundles: foo.v1"
    ):
        add_bundles(catalog, [odd])


@pytest.mark.usefixtures("fixtures_root")
@pytest.mark.parametrize(
    ("package", "mode", "since", "batch"),
    [
        ("keda", "replaces", "", False),
        # One at a time opm refuses cockroachdb's first bundle (next test): added together.
        ("cockroachdb", "replaces", "", True),
        ("opendatahub-operator", "replaces", "", False),
        ("community-kubevirt-hyperconverged", "semver", "", False),
        ("egressip-ipam-operator", "semver", "", False),
        ("cert-utils-operator", "semver-skippatch", "1.0.0", False),
    ],
)
def test_adding_fixture_history_matches_golden(
    package: str, mode: str, since: str, batch: bool
) -> None:
    catalog = MemoryCatalog()
    versions = versions_of(package)
    versions = versions[versions.index(since) if since else 0 :]
    steps = [versions] if batch else [[v] for v in versions]
    for step in steps:
        try:
            _add(catalog, *(render_fixture(package, v, csv_metadata=True) for v in step), mode=mode)
        except CatalogError as exc:
            pytest.fail(f"{package} {step}: {exc}")
    validate(catalog)
    assert_golden(f"add/{package}-{mode}.json", encode_package(_docs(catalog, package)))


@pytest.mark.usefixtures("fixtures_root")
def test_first_bundle_whose_default_channel_it_is_not_in_is_refused() -> None:
    """cockroachdb 2.0.9: channel stable, default channel stable-3.x. opm's
    SemverPackageManifest (pkg/registry/populator.go) checks the annotation's default channel
    against the channel heads, also when there is a single channel (populator_test.go
    TestSemverPackageManifest "UnknownDefaultChannel")."""
    with pytest.raises(CatalogError) as err:
        _add(MemoryCatalog(), render_fixture("cockroachdb", "2.0.9", csv_metadata=True))
    assert err.value.message == (
        "unable to determine default channel among channel heads: map[stable:{name:"
        "cockroachdb.v2.0.9 version:{Major:2 Minor:0 Patch:9 Pre:[] Build:[]} count:1}]"
    )


@pytest.mark.usefixtures("fixtures_root")
def test_add_touches_only_its_package() -> None:
    catalog = catalog_of("keda", "redis-operator")
    before = encode_package(_docs(catalog, "redis-operator"))
    result = add_bundles(
        catalog, [render_fixture("cert-utils-operator", "1.0.7", csv_metadata=True)]
    )
    assert set(result.changes.updates) == {"cert-utils-operator"}
    assert encode_package(result.catalog.load_package("redis-operator")) == before  # type: ignore[arg-type]
    assert result.catalog.package_names() == ["cert-utils-operator", "keda", "redis-operator"]
