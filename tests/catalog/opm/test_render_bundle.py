"""Rendering a bundle directory, checked against opm's render and registry tests.

Sources: ``alpha/action/render_test.go`` (``TestRender``, bundle cases),
``pkg/registry/registry_to_model_test.go`` (``TestObjectsAndPropertiesFromBundle``) with their
testdata, copied to ``testdata/action`` and ``testdata/etcd.0.9.2``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.catalog import render_bundle

from ._support import (
    TESTDATA,
    as_pairs,
    as_texts,
    case,
    prop_bundle_object,
    prop_gvk,
    prop_gvk_required,
    prop_package,
    prop_package_required,
    yaml_to_json,
)

ACTION = TESTDATA / "action"


def _foo_objects(bundle_dir: str, csv_file: str) -> tuple[str, str]:
    """``yaml.ToJSON`` of the foo bundle's CSV and CRD (what render_test.go compares)."""
    manifests = ACTION / bundle_dir / "manifests"
    return yaml_to_json(manifests / csv_file), yaml_to_json(manifests / "foos.test.foo.crd.yaml")


def _foo_properties(version: str, csv: str, crd: str) -> list[tuple[str, Any]]:
    """The property list every foo bundle case of TestRender expects, in its order."""
    return [
        prop_gvk("test.foo", "v1", "Foo"),
        prop_gvk_required("test.bar", "v1alpha1", "Bar"),
        prop_package("foo", version),
        prop_package_required("bar", "<0.1.0"),
        prop_bundle_object(crd),
        prop_bundle_object(csv),
    ]


# Related images of foo v0.2.0 (TestRender), without the bundle image; (name, image).
FOO_V2_RELATED = [
    ("", "test.registry/foo-operator/foo-2:v0.2.0"),
    ("", "test.registry/foo-operator/foo-init-2:v0.2.0"),
    ("", "test.registry/foo-operator/foo-init:v0.2.0"),
    ("other", "test.registry/foo-operator/foo-other:v0.2.0"),
    ("operator", "test.registry/foo-operator/foo:v0.2.0"),
]
FOO_V2_RELATED_NO_CSV = [
    ("", "test.registry/foo-operator/foo-2:v0.2.0"),
    ("", "test.registry/foo-operator/foo-init-2:v0.2.0"),
    ("", "test.registry/foo-operator/foo-init:v0.2.0"),
    ("", "test.registry/foo-operator/foo:v0.2.0"),
]


def _with(related: list[tuple[str, str]], image: str) -> list[tuple[str, str]]:
    return sorted([*related, ("", image)], key=lambda r: r[1].encode())


RENDER_CASES = [
    case(
        'alpha/action/render_test.go TestRender/"Success/BundleImage"',
        "foo-bundle-v0.2.0",
        "foo.v0.2.0.csv.yaml",
        "test.registry/foo-operator/foo-bundle:v0.2.0",
        _with(FOO_V2_RELATED, "test.registry/foo-operator/foo-bundle:v0.2.0"),
    ),
    case(
        'alpha/action/render_test.go TestRender/"Success/BundleImageWithNoCSVRelatedImages"',
        "foo-bundle-v0.2.0-no-csv-related-images",
        "foo.v0.2.0.csv.yaml",
        "test.registry/foo-operator/foo-bundle-no-csv-related-images:v0.2.0",
        _with(
            FOO_V2_RELATED_NO_CSV,
            "test.registry/foo-operator/foo-bundle-no-csv-related-images:v0.2.0",
        ),
    ),
    # The image-ref template gives test.registry/foo-operator/foo:v0.2.0, which the CSV
    # already lists as "operator": it is not added a second time.
    case(
        'alpha/action/render_test.go TestRender/"Success/BundleDirectoryWithImageRefTemplate"',
        "foo-bundle-v0.2.0",
        "foo.v0.2.0.csv.yaml",
        "test.registry/foo-operator/foo:v0.2.0",
        FOO_V2_RELATED,
    ),
    # A bundle directory rendered without an image: no image, no bundle related image.
    case(
        'alpha/action/render_test.go TestRender/"Success/BundleDirectory"',
        "foo-bundle-v0.2.0",
        "foo.v0.2.0.csv.yaml",
        "",
        FOO_V2_RELATED,
    ),
    # Success/SqliteIndexImage etc. render foo v0.1.0 with these related images.
    case(
        'alpha/action/render_test.go TestRender/"Success/SqliteFile" (bundle foo.v0.1.0)',
        "foo-bundle-v0.1.0",
        "foo.v0.1.0.csv.yaml",
        "test.registry/foo-operator/foo-bundle:v0.1.0",
        [
            ("", "test.registry/foo-operator/foo-bundle:v0.1.0"),
            ("operator", "test.registry/foo-operator/foo:v0.1.0"),
        ],
    ),
]


@pytest.mark.parametrize(("bundle_dir", "csv_file", "image", "related"), RENDER_CASES)
def test_render_bundle_matches_opm_render(
    bundle_dir: str, csv_file: str, image: str, related: list[tuple[str, str]]
) -> None:
    rendered = render_bundle(ACTION / bundle_dir, image)
    bundle = rendered.bundle
    csv, crd = _foo_objects(bundle_dir, csv_file)
    version = "0.1.0" if "v0.1.0" in bundle_dir else "0.2.0"
    assert (bundle.name, bundle.package, bundle.image) == (f"foo.v{version}", "foo", image)
    assert as_texts(as_pairs(bundle.properties)) == as_texts(_foo_properties(version, csv, crd))
    assert [(r.name, r.image) for r in bundle.related_images] == related
    # Objects (CsvJSON/Objects in declcfg) are the manifests' JSON, CSV included.
    assert sorted(rendered.objects) == sorted([csv, crd])


def test_render_reads_channels_and_edges_like_the_sqlite_cases() -> None:
    """TestRender "Success/SqliteFile": foo.v0.2.0 joins beta and stable (default beta),
    replaces foo.v0.1.0, skips foo.v0.1.1/foo.v0.1.2, skipRange <0.2.0."""
    # opm: alpha/action/render_test.go TestRender/"Success/SqliteFile" (channel entries)
    rendered = render_bundle(ACTION / "foo-bundle-v0.2.0", "")
    assert rendered.channels == ["beta", "stable"]
    assert rendered.default_channel == "beta"
    assert rendered.replaces == "foo.v0.1.0"
    assert rendered.skips == ["foo.v0.1.1", "foo.v0.1.2"]
    assert rendered.skip_range == "<0.2.0"
    first = render_bundle(ACTION / "foo-bundle-v0.1.0", "")
    assert (first.replaces, first.skips, first.skip_range) == ("", [], "<0.1.0")


# -- pkg/registry/registry_to_model_test.go -------------------------------------------------

ETCD = TESTDATA / "etcd.0.9.2"


def _etcd_expected_objects() -> list[str]:
    """``testExpectedObjects()``: the four manifests as opm marshals them (copied verbatim)."""
    objects = json.loads((TESTDATA / "expected" / "etcd.0.9.2-objects.json").read_text())
    assert isinstance(objects, list)
    return [str(o) for o in objects]


def test_objects_and_properties_of_the_etcd_bundle() -> None:
    """The required CRD of the CSV becomes ``olm.gvk.required`` with kind and version in
    their places: {"group":"etcd.database.coreos.com","kind":"EtcdCluster","version":"v1beta2"}.
    """
    # opm: pkg/registry/registry_to_model_test.go TestObjectsAndPropertiesFromBundle
    rendered = render_bundle(ETCD, "quay.io/operatorhubio/etcd:v0.9.2")
    objects = _etcd_expected_objects()
    expected = [
        prop_package("etcd", "0.9.2"),
        prop_gvk_required("etcd.database.coreos.com", "v1beta2", "EtcdCluster"),
        prop_gvk_required("testapi.coreos.com", "v1", "testapi"),
        prop_gvk("etcd.database.coreos.com", "v1beta2", "EtcdCluster"),
        prop_gvk("etcd.database.coreos.com", "v1beta2", "EtcdBackup"),
        prop_gvk("etcd.database.coreos.com", "v1beta2", "EtcdRestore"),
        (
            "olm.constraint",
            {
                "cel": {"rule": 'properties.exists(p, p.type == "certified")'},
                "failureMessage": 'require to have "certified"',
            },
        ),
        *[prop_bundle_object(o) for o in objects],
    ]
    # The Go test uses ElementsMatch: compare as multisets (of values with their key order).
    assert sorted(as_texts(as_pairs(rendered.bundle.properties))) == sorted(as_texts(expected))
    assert sorted(rendered.objects) == sorted(objects)


def test_required_crd_gvk_has_kind_and_version_in_their_fields() -> None:
    """Regression for the swapped ``olm.gvk.required`` (kind held the version)."""
    # opm: pkg/registry/registry_to_model_test.go TestObjectsAndPropertiesFromBundle
    # (property.MustBuildGVKRequired("etcd.database.coreos.com", "v1beta2", "EtcdCluster"))
    rendered = render_bundle(ETCD, "quay.io/operatorhubio/etcd:v0.9.2")
    required = [p.value for p in rendered.bundle.properties if p.type == "olm.gvk.required"]
    assert {"group": "etcd.database.coreos.com", "kind": "EtcdCluster", "version": "v1beta2"} in (
        required
    )
    rendered_meta = render_bundle(ETCD, "quay.io/operatorhubio/etcd:v0.9.2", csv_metadata=True)
    required_meta = [
        p.value for p in rendered_meta.bundle.properties if p.type == "olm.gvk.required"
    ]
    assert required_meta == required
