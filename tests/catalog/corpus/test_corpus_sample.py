"""The vendored community-operators sample, rendered by the engine and read by the oracle.

``tests/fixtures/corpus-sample/`` holds 31 whole packages (154 bundles) of
operator-framework/community-operators (see its README.md). Every bundle must render exactly as
the oracle (opm's rules, ``oracle.py``) reads it, with ``csv_metadata`` off and on, and every
package must either build when its bundles are added one by one in version order, or be
refused for the reason opm gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import RenderedBundle

from .compare import BundleOutcome, build_packages, compare_bundle
from .convert import LAYOUT_BUNDLE, CorpusBundle, collect_bundles, packages_root

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "corpus-sample"

#: Packages opm refuses when their bundles are added one at a time in version order, and the
#: start of opm's message. The reason is pkg/registry/populator.go SemverPackageManifest at
#: v1.73.0 (called by loadManifestsReplaces with the package's existing bundles plus the new
#: ones): the default channel is the default-channel annotation of the highest bundle, and
#: unless it is one of the channels found (or there is one channel and no annotation) the add
#: fails with "unable to determine default channel among channel heads: %+v" of the heads map
#: (channel -> {name version count}). Each package below is refused at its first bundle, whose
#: annotations (from the sample's files; package manifests converted as opm alpha bundle
#: generate does, channels = the package manifest channels reaching the CSV) are:
#: * aqua 0.0.1: channels 5.3.0,alpha, default channel 6.2.0;
#: * awss3-operator-registry 1.0.0: channel original (alpha's awss3operator.v1.0.1 replaces
#:   nothing and skips "awss3operator.1.0.0", no CSV of the package), default alpha;
#: * litmuschaos 0.1.0: channel original (alpha's chain from chaosoperator.v1.9.0 ends at
#:   v0.7.0), default alpha;
#: * nfd-operator 0.1.0: channel alpha (stable's nfd-operator.v0.2.0 replaces nothing),
#:   default stable;
#: * postgresql 4.0.1: channel original_40, default stable.
EXPECTED_REFUSALS = {
    "aqua": "unable to determine default channel among channel heads: "
    "map[5.3.0:{name:aqua-operator.v0.0.1 ",
    "awss3-operator-registry": "unable to determine default channel among channel heads: "
    "map[original:{name:awss3operator.v1.0.0 ",
    "litmuschaos": "unable to determine default channel among channel heads: "
    "map[original:{name:chaosoperator.v0.1.0 ",
    "nfd-operator": "unable to determine default channel among channel heads: "
    "map[alpha:{name:nfd-operator.v0.1.0 ",
    "postgresql": "unable to determine default channel among channel heads: "
    "map[original_40:{name:postgresoperator.v4.0.1 ",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[CorpusBundle, BundleOutcome]]:
    """Every sample bundle (package manifests converted) with its comparison."""
    bundles, problems = collect_bundles(packages_root(SAMPLE), tmp_path_factory.mktemp("convert"))
    assert problems == []
    return [(bundle, compare_bundle(bundle)) for bundle in bundles]


def test_sample_is_the_documented_selection(
    sample: list[tuple[CorpusBundle, BundleOutcome]],
) -> None:
    packages = {bundle.package for bundle, _ in sample}
    layouts = [bundle.layout for bundle, _ in sample]
    assert (len(packages), len(sample)) == (31, 154)
    assert layouts.count(LAYOUT_BUNDLE) == 75


def test_every_sample_bundle_renders_as_opm_reads_it(
    sample: list[tuple[CorpusBundle, BundleOutcome]],
) -> None:
    mismatches = [str(m) for _, outcome in sample for m in outcome.mismatches]
    assert mismatches == [], "\n".join(mismatches)
    assert [o.source for _, o in sample if o.both_failed or o.deliberate] == []


def test_sample_packages_build_or_are_refused_as_opm_would(
    sample: list[tuple[CorpusBundle, BundleOutcome]],
) -> None:
    rendered: dict[str, list[RenderedBundle]] = {}
    for bundle, outcome in sample:
        assert outcome.rendered is not None, bundle.source
        rendered.setdefault(bundle.package, []).append(outcome.rendered)
    outcomes = build_packages(rendered)
    refused = {o.package: o.reason for o in outcomes if not o.built}
    assert set(refused) == set(EXPECTED_REFUSALS)
    for package, start in EXPECTED_REFUSALS.items():
        assert (refused[package] or "").startswith(start), refused[package]
    # Each is refused at its first bundle (see EXPECTED_REFUSALS).
    assert {o.package: o.added for o in outcomes if not o.built} == dict.fromkeys(
        EXPECTED_REFUSALS, 0
    )
    built = [o for o in outcomes if o.built]
    assert all(o.added == o.bundles for o in built)
    assert len(built) == 31 - len(EXPECTED_REFUSALS)


def test_required_crd_gvks_match_opm(sample: list[tuple[CorpusBundle, BundleOutcome]]) -> None:
    # The oracle reads required CRDs as opm's pkg/registry/bundle.go does: group, kind and
    # version each in its own field of olm.gvk.required (the engine once swapped kind/version).
    fields = {"properties[olm.gvk.required]", "csv_metadata properties[olm.gvk.required]"}
    mismatches = [str(m) for _, o in sample for m in o.mismatches if m.field in fields]
    assert mismatches == [], "\n".join(mismatches)
    required = [
        p.value
        for _, o in sample
        if o.rendered is not None
        for p in o.rendered.bundle.properties
        if p.type == "olm.gvk.required"
    ]
    assert required, "the sample has bundles with required CRDs"
