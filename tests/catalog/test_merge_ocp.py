"""merge-index-image and the OpenShift-version rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import (
    MemoryCatalog,
    RenderedBundle,
    add_bundles,
    add_max_ocp_version_property,
    is_bundle_version_valid,
    merge_index,
    requires_max_ocp_version,
    validate,
)
from services.common.errors import CatalogError

from .conftest import make_bundle, render_fixture

OCP_TABLE = [
    ("=v4.5", "v4.6", False),
    ("v4.5-v4.7", "v4.6", True),
    ("=v4.9|=v4.10|>=v4.12", "v4.8", False),
    ("=v4.9|=v4.10|>=v4.12", "v4.9", True),
    ("=v4.9|=v4.10|>=v4.12", "v4.10", True),
    ("=v4.9|=v4.10|>=v4.12", "v4.11", False),
    ("=v4.9|=v4.10|>=v4.12", "v4.12", True),
    ("=v4.9|=v4.10|>=v4.13", "v4.13", True),
    ("=v4.5|=v4.6", "v4.6", True),
    ("=v4.5|v4.10", "v4.12", False),
    ("v4.5|>=v4.10", "v4.12", False),
    (">=v4.10", "v4.6", False),
    (">=v4.10", "v4.10", False),
    ("v4.5-v4.7", "v4.8", False),
    ("v4.6", "v4.6", True),
    ("v=4.6", "v4.6", False),
    ("v4.5,v4.6", "v4.6", True),
    ("v4.6,v4.5", "v4.10", True),
    ("tom_brady", "v4.6", False),
    ("", "v4.6", False),
]


@pytest.mark.parametrize(("label", "index", "valid"), OCP_TABLE)
def test_bundle_ocp_label_rules_match_iib(label: str, index: str, valid: bool) -> None:
    assert is_bundle_version_valid(label, index, False) is valid


def test_missing_label_is_valid_only_when_allowed() -> None:
    assert is_bundle_version_valid(None, "v4.6", True) is True
    assert is_bundle_version_valid(None, "v4.6", False) is False


@pytest.mark.parametrize("index", ["random-version", "v4.6,v4.5", "v4.5,v4.6"])
def test_invalid_index_version_is_iibs_error(index: str) -> None:
    with pytest.raises(
        CatalogError, match=f'^Invalid OCP version, "{index}", specified in Index Image$'
    ):
        is_bundle_version_valid("v4.6", index, False)


CRD_V1BETA1 = (
    "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata:\n  name: foos.example.com\n"
    "spec:\n  group: example.com\n  names: {kind: Foo, plural: foos}\n  version: v1\n"
)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, True),
        ({"olm.properties": '[{"type": "olm.maxOpenShiftVersion", "value": "4.8"}]'}, False),
        ({"olm.properties": '[{"type": "olm.maxOpenShiftVersion", "value": "4.9"}]'}, True),
        ({"olm.properties": '[{"type": "other", "value": "x"}]'}, True),
        ({"olm.properties": "not json"}, False),
        ({"olm.properties": '[{"type": "olm.maxOpenShiftVersion", "value": 4.8}]'}, True),
        ({"olm.properties": '[{"type": "olm.maxOpenShiftVersion", "value": "4.8.1"}]'}, False),
        ({"olm.properties": '[{"type": "olm.maxOpenShiftVersion", "value": "junk"}]'}, False),
    ],
)
def test_requires_max_ocp_version_follows_the_community_validator(
    tmp_path: Path, annotations: dict[str, str], expected: bool
) -> None:
    bundle = make_bundle(
        tmp_path,
        "foo",
        "foo.v1",
        "1.0.0",
        "stable",
        "stable",
        extra_objects=(CRD_V1BETA1,),
        csv_annotations=annotations,
    )
    assert bundle.uses_removed_1_22_apis
    assert requires_max_ocp_version(bundle) is expected


def test_bundle_without_removed_apis_needs_nothing(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable")
    assert not bundle.uses_removed_1_22_apis
    assert requires_max_ocp_version(bundle) is False


def test_max_ocp_property_is_added_as_the_number_4_8(tmp_path: Path) -> None:
    catalog = MemoryCatalog()
    bundle = make_bundle(
        tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable", extra_objects=(CRD_V1BETA1,)
    )
    catalog.apply(add_bundles(catalog, [bundle]).changes)
    result = add_max_ocp_version_property(catalog, [bundle])
    assert result.report.updated == ["foo.v1"]
    docs = result.catalog.load_package("foo")
    assert docs is not None
    props = [(p.type, p.value) for p in docs.bundles[0].properties]
    assert ("olm.maxOpenShiftVersion", 4.8) in props
    types = [t for t, _ in props]
    assert types.index("olm.maxOpenShiftVersion") < types.index("olm.package")


@pytest.mark.usefixtures("fixtures_root")
def test_fixture_bundle_declaring_max_ocp_needs_no_property() -> None:
    rendered = render_fixture("keda", "1.4.1", csv_metadata=True)
    assert rendered.uses_removed_1_22_apis
    assert (
        rendered.csv_annotations["olm.properties"]
        == '[{"type": "olm.maxOpenShiftVersion", "value": "4.8"}]'
    )
    assert not requires_max_ocp_version(rendered)
    assert not render_fixture("keda", "2.3.0").uses_removed_1_22_apis


def _merge_catalogs(
    tmp_path: Path,
) -> tuple[MemoryCatalog, MemoryCatalog, dict[str, RenderedBundle]]:
    specs = {
        "bundle1": ("p1", "p1.v1", "1.0.0", ""),
        "bundle2": ("p2", "p2.v1", "1.0.0", ""),
        "bundle5": ("p5", "bundle5-5.0", "5.0.0", ""),
        "bundle3": ("p3", "p3.v1", "1.0.0", ""),
        "bundle4": ("p1", "p1.v2", "2.0.0", "p1.v1"),
        "bundle5b": ("p5", "bundle5-5.0", "5.0.0", ""),
        "bundle6": ("p6", "p6.v1", "1.0.0", ""),
    }
    rendered = {
        key: make_bundle(
            tmp_path,
            pkg,
            name,
            version,
            "stable",
            "stable",
            replaces=replaces,
            image=f"quay.io/ns/{key}@sha256:" + format(i + 1, "064x"),
        )
        for i, (key, (pkg, name, version, replaces)) in enumerate(specs.items())
    }
    source = MemoryCatalog()
    source.apply(
        add_bundles(source, [rendered[k] for k in ("bundle1", "bundle2", "bundle5")]).changes
    )
    target = MemoryCatalog()
    target.apply(add_bundles(target, [rendered["bundle1"]]).changes)
    target.apply(
        add_bundles(
            target, [rendered[k] for k in ("bundle3", "bundle4", "bundle5b", "bundle6")]
        ).changes
    )
    return source, target, rendered


def test_merge_adds_only_bundles_missing_by_digest_and_csv_name(tmp_path: Path) -> None:
    source, target, rendered = _merge_catalogs(tmp_path)
    by_image = {r.image: r for r in rendered.values()}
    labels = {rendered["bundle6"].image: "=v4.5"}
    result = merge_index(
        source,
        target,
        [],
        target_ocp_version="v4.6",
        render=by_image.__getitem__,
        ocp_label=lambda image: labels.get(image, "v4.5"),
    )
    assert result.report.missing_bundles == [
        rendered[k].image for k in ("bundle4", "bundle3", "bundle6")
    ]
    assert result.report.invalid_version_bundles == [rendered["bundle6"].image]
    assert result.report.deprecated_bundles == [rendered["bundle6"].image]
    assert result.catalog.package_names() == ["p1", "p2", "p3", "p5"]
    validate(result.catalog)


def test_merge_deprecation_list_reduces_to_latest_per_package(tmp_path: Path) -> None:
    source, target, rendered = _merge_catalogs(tmp_path)
    by_image = {r.image: r for r in rendered.values()}
    result = merge_index(
        source,
        target,
        [rendered["bundle1"].image, rendered["bundle4"].image, rendered["bundle2"].image],
        target_ocp_version="v4.6",
        render=by_image.__getitem__,
        ocp_label=lambda image: "v4.5",
    )
    assert result.report.deprecated_bundles == sorted(
        [rendered["bundle4"].image, rendered["bundle2"].image]
    )
    assert "p2" not in result.catalog.package_names()


def test_merge_refuses_bundles_not_pinned_by_digest(tmp_path: Path) -> None:
    source = MemoryCatalog()
    tagged = make_bundle(
        tmp_path, "foo", "foo.v1", "1.0.0", "stable", "stable", image="quay.io/ns/foo:1.0"
    )
    source.apply(add_bundles(source, [tagged]).changes)
    with pytest.raises(
        CatalogError,
        match="^Bundle quay.io/ns/foo:1.0 in the source index image is not defined via digest$",
    ):
        merge_index(
            source,
            None,
            [],
            target_ocp_version="v4.6",
            render=lambda i: tagged,
            ocp_label=lambda i: None,
        )
