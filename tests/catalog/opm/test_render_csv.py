"""What a bundle's CSV and metadata contribute to its rendered blob, from opm's registry tests.

Sources: ``pkg/registry/csv_test.go`` (the CSV accessors render uses), ``parse_test.go``
(``TestBundleParser``, ``TestDerivedProperties``, ``TestPropertySet``), ``bundle_test.go``
(``TestV1CRDsInBundle``, ``TestBundleImages``) and ``pkg/sqlite/directory_test.go``
(``TestQuerierForDirectory``: the etcd bundle's properties, dependencies, APIs and images).
Where a Go test checks an intermediate (the parser's ``Bundle``), the FBC-level expectation
adds what ``registry_to_model.go`` ``ObjectsAndPropertiesFromBundle`` does with it: the last
``olm.package`` wins, ``olm.gvk`` dependencies and required APIs become ``olm.gvk.required``,
``olm.package`` dependencies become ``olm.package.required``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from services.catalog import render_bundle
from services.common.errors import CatalogError

from ._support import (
    TESTDATA,
    as_pairs,
    case,
    crd_doc,
    csv_doc,
    prop_gvk,
    prop_gvk_required,
    prop_package,
    prop_package_required,
    write_bundle,
)

NON_OBJECT = ("olm.bundle.object", "olm.csv.metadata")


def _props(rendered: Any) -> list[tuple[str, Any]]:
    return [p for p in as_pairs(rendered.bundle.properties) if p[0] not in NON_OBJECT]


def _same_set(actual: list[tuple[str, Any]], expected: list[tuple[str, Any]]) -> None:
    def key(p: tuple[str, Any]) -> str:
        import json

        return p[0] + " " + json.dumps(p[1], sort_keys=True)

    assert sorted(map(key, actual)) == sorted(map(key, expected))


def _render_spec(tmp_path: Path, spec: dict[str, Any], *extra: dict[str, Any]) -> Any:
    manifests: dict[str, Any] = {"csv.json": csv_doc("foo.v1.0.0", {"version": "1.0.0", **spec})}
    for i, obj in enumerate(extra):
        manifests[f"crd{i}.json"] = obj
    return render_bundle(write_bundle(tmp_path / "bundle", manifests), "")


# -- pkg/registry/csv_test.go: API definitions ----------------------------------------------

G_K = {"group": "g", "version": "v1", "kind": "K", "name": "Ks.g"}
G2_K2 = {"group": "g2", "version": "v1", "kind": "K2", "name": "K2s.g"}

API_CASES = [
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetApiServiceDefinitions/"v1alpha1 with owned, required"',
        {"apiservicedefinitions": {"owned": [G_K], "required": [G2_K2]}},
        [prop_gvk("g", "v1", "K"), prop_gvk_required("g2", "v1", "K2")],
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetApiServiceDefinitions/"v1alpha1 with owned"',
        {"apiservicedefinitions": {"owned": [G_K]}},
        [prop_gvk("g", "v1", "K")],
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetApiServiceDefinitions/"v1alpha1 with required"',
        {"apiservicedefinitions": {"required": [G2_K2]}},
        [prop_gvk_required("g2", "v1", "K2")],
    ),
    # Required CRDs take their group from the name (plural.group, bundle.go RequiredAPIs):
    # K2s.g is group "g" whatever the definition's own group field says.
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetCustomResourceDefintions/"v1alpha1 with owned, required"',
        {"customresourcedefinitions": {"owned": [G_K], "required": [G2_K2]}},
        [prop_gvk("g", "v1", "K"), prop_gvk_required("g", "v1", "K2")],
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetCustomResourceDefintions/"v1alpha1 with owned"',
        {"customresourcedefinitions": {"owned": [G_K]}},
        [prop_gvk("g", "v1", "K")],
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetCustomResourceDefintions/"v1alpha1 with required"',
        {"customresourcedefinitions": {"required": [G2_K2]}},
        [prop_gvk_required("g", "v1", "K2")],
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetCustomResourceDefintions/"v1alpha1 missing owned,required"',
        {"other": "field"},
        [],
    ),
]


@pytest.mark.parametrize(("spec", "apis"), API_CASES)
def test_csv_api_definitions_become_gvk_properties(
    tmp_path: Path, spec: dict[str, Any], apis: list[tuple[str, Any]]
) -> None:
    # An owned CRD must be shipped in the bundle (AllProvidedAPIsInBundle).
    owned = spec.get("customresourcedefinitions", {}).get("owned")
    extra = [crd_doc("g", "Ks", "K", ["v1"])] if owned else []
    rendered = _render_spec(tmp_path, spec, *extra)
    _same_set(_props(rendered), [prop_package("foo", "1.0.0"), *apis])


# -- pkg/registry/csv_test.go: replaces, skips, version, release -----------------------------


@pytest.mark.parametrize(
    ("spec", "replaces", "skips"),
    [
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetReplaces/"v1alpha1 with replaces"',
            {"replaces": "etcd-operator.v0.9.2"},
            "etcd-operator.v0.9.2",
            [],
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetReplaces/"v1alpha1 no replaces"',
            {"other": "field"},
            "",
            [],
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetSkips/"v1alpha1 with skips"',
            {"skips": ["1.0.5", "1.0.4"]},
            "",
            ["1.0.5", "1.0.4"],
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetSkips/"v1alpha1 no skips"',
            {"other": "field"},
            "",
            [],
        ),
    ],
)
def test_csv_replaces_and_skips(
    tmp_path: Path, spec: dict[str, Any], replaces: str, skips: list[str]
) -> None:
    rendered = _render_spec(tmp_path, spec)
    assert (rendered.replaces, rendered.skips) == (replaces, skips)


@pytest.mark.parametrize(
    "spec",
    [
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetReplaces/"v1alpha1 malformed replaces"',
            {"replaces": 5},
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetSkips/"v1alpha1 malformed skips"',
            {"skips": 5},
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetVersion/"v1alpha1 malformed version"',
            {"version": 5},
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"invalid release type"',
            {"release": True},
        ),
    ],
)
def test_csv_fields_of_the_wrong_type_are_errors(tmp_path: Path, spec: dict[str, Any]) -> None:
    with pytest.raises(CatalogError):
        _render_spec(tmp_path, spec)


def test_csv_version_is_the_package_version(tmp_path: Path) -> None:
    # opm: pkg/registry/csv_test.go TestClusterServiceVersion_GetVersion/"v1alpha1 with version"
    rendered = _render_spec(tmp_path, {"version": "1.0.5"})
    assert rendered.version == "1.0.5"
    assert prop_package("foo", "1.0.5") in _props(rendered)


def test_csv_without_version_is_refused(tmp_path: Path) -> None:
    """opm's accessor returns "" (and ``opm render`` writes version ""); the engine refuses a
    bundle without a version, as adding it would (known difference, docs/catalog-engine.md)."""
    # opm: pkg/registry/csv_test.go TestClusterServiceVersion_GetVersion/"v1alpha1 no version"
    manifests = {"csv.json": csv_doc("foo.v1.0.0", {"other": "field"})}
    with pytest.raises(CatalogError, match="spec.version"):
        render_bundle(write_bundle(tmp_path / "bundle", manifests), "")


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"string release"',
            "1.0.0",
            "1.0.0",
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"integer numeric release"',
            20250104,
            "20250104",
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"float numeric release"',
            0.20250104,
            "0.20250104",
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"large integer release"',
            20250104235959,
            "20250104235959",
        ),
        # Not a Go test case: csv.go GetRelease formats non-integral numbers with %g, which
        # switches to exponent form from 1e6 (strconv's shortest 'g').
        case(
            "pkg/registry/csv.go GetRelease (fmt %g of a non-integral number >= 1e6)",
            1234567.5,
            "1.2345675e+06",
        ),
        case(
            'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"null release"',
            None,
            "",
        ),
    ],
)
def test_csv_release_goes_into_the_package_property(
    tmp_path: Path, release: Any, expected: str
) -> None:
    rendered = _render_spec(tmp_path, {"release": release})
    assert prop_package("foo", "1.0.0", expected) in _props(rendered)


def test_csv_without_release_has_none(tmp_path: Path) -> None:
    # opm: pkg/registry/csv_test.go TestClusterServiceVersion_GetRelease/"no release field"
    rendered = _render_spec(tmp_path, {"other": "field"})
    assert prop_package("foo", "1.0.0") in _props(rendered)


# -- pkg/registry/csv_test.go: related and operator images ----------------------------------

SHA = "sha256:c0301e4686c3ed4206e370b42de5a3bd2229b9fb4906cf85f3f30650424abec2"
ETCD_OP = f"quay.io/coreos/etcd-operator@{SHA}"


def _deployment(containers: list[str] = (), init: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    pod: dict[str, Any] = {}
    if containers:
        pod["containers"] = [{"name": f"c{i}", "image": img} for i, img in enumerate(containers)]
    if init:
        pod["initContainers"] = [{"name": f"i{i}", "image": img} for i, img in enumerate(init)]
    return {
        "strategy": "deployment",
        "spec": {"deployments": [{"name": "etcd-operator", "spec": {"template": {"spec": pod}}}]},
    }


IMAGE_CASES = [
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelatedImages/"no related images"',
        {"no": "field"},
        set(),
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelatedImages/"one related image"',
        {"relatedImages": [{"name": "test", "image": "quay.io/etcd/etcd-operator@sha256:123"}]},
        {("test", "quay.io/etcd/etcd-operator@sha256:123")},
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetRelatedImages/"multiple related images"',
        {
            "relatedImages": [
                {"name": "test", "image": "quay.io/etcd/etcd-operator@sha256:123"},
                {"name": "operand", "image": "quay.io/etcd/etcd@sha256:123"},
            ]
        },
        {
            ("test", "quay.io/etcd/etcd-operator@sha256:123"),
            ("operand", "quay.io/etcd/etcd@sha256:123"),
        },
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetOperatorImages/"bad strategy"',
        {"install": {**_deployment([ETCD_OP]), "strategy": "nope"}},
        set(),
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetOperatorImages/"one image"',
        {"install": _deployment([ETCD_OP])},
        {("", ETCD_OP)},
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetOperatorImages/"two container images"',
        {"install": _deployment([ETCD_OP, f"quay.io/coreos/etcd-operator-2@{SHA}"])},
        {("", ETCD_OP), ("", f"quay.io/coreos/etcd-operator-2@{SHA}")},
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetOperatorImages/"init container image"',
        {"install": _deployment(init=[ETCD_OP])},
        {("", ETCD_OP)},
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetOperatorImages/"two init container images"',
        {"install": _deployment(init=[ETCD_OP, f"quay.io/coreos/etcd-operator2@{SHA}"])},
        {("", ETCD_OP), ("", f"quay.io/coreos/etcd-operator2@{SHA}")},
    ),
    case(
        'pkg/registry/csv_test.go TestClusterServiceVersion_GetOperatorImages/"container and init container"',
        {
            "install": _deployment(
                [ETCD_OP, f"quay.io/coreos/etcd-operator2@{SHA}"],
                [
                    f"quay.io/coreos/init-etcd-operator@{SHA}",
                    f"quay.io/coreos/init-etcd-operator2@{SHA}",
                ],
            )
        },
        {
            ("", ETCD_OP),
            ("", f"quay.io/coreos/etcd-operator2@{SHA}"),
            ("", f"quay.io/coreos/init-etcd-operator@{SHA}"),
            ("", f"quay.io/coreos/init-etcd-operator2@{SHA}"),
        },
    ),
]


@pytest.mark.parametrize(("spec", "images"), IMAGE_CASES)
def test_related_images_are_csv_related_and_operator_images(
    tmp_path: Path, spec: dict[str, Any], images: set[tuple[str, str]]
) -> None:
    rendered = _render_spec(tmp_path, spec)
    assert {(r.name, r.image) for r in rendered.related_images} == images


@pytest.mark.parametrize(
    ("image", "spec", "expected"),
    [
        case(
            'pkg/registry/bundle_test.go TestBundleImages/"includes bundle image"',
            "bundle-image",
            {},
            {"bundle-image"},
        ),
        case(
            'pkg/registry/bundle_test.go TestBundleImages/"includes related images"',
            "",
            {
                "relatedImages": [
                    {"name": "one", "image": "one-image"},
                    {"name": "two", "image": "two-image"},
                ]
            },
            {"one-image", "two-image"},
        ),
        case(
            'pkg/registry/bundle_test.go TestBundleImages/"includes bundle image and related images"',
            "bundle-image",
            {
                "relatedImages": [
                    {"name": "one", "image": "one-image"},
                    {"name": "two", "image": "two-image"},
                ]
            },
            {"bundle-image", "one-image", "two-image"},
        ),
    ],
)
def test_bundle_images_include_the_bundle_and_related_images(
    tmp_path: Path, image: str, spec: dict[str, Any], expected: set[str]
) -> None:
    manifests = {"csv.json": csv_doc("foo.v1.0.0", {"version": "1.0.0", **spec})}
    rendered = render_bundle(write_bundle(tmp_path / "bundle", manifests), image)
    assert expected <= {r.image for r in rendered.related_images}


# -- pkg/registry/parse_test.go TestBundleParser ---------------------------------------------

PARSER_CSV = f"""apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata:
  name: foo.v1.1.0
spec:
  version: 1.1.0
  replaces: v1.1.0
  install:
    strategy: deployment
    spec:
      permissions:
      - serviceAccountName: foo-operator
        rules:
        - apiGroups:
          - test.io
          resources:
          - foos
          - bars
          verbs:
          - "*"
      deployments:
      - name: etcd-operator
        spec:
          replicas: 1
          selector:
            matchLabels:
              name: foo-operator
          template:
            metadata:
              name: foo-operator
              labels:
                name: foo-operator
            spec:
              serviceAccountName: foo-operator
              containers:
              - name: foo-controller
                command:
                - foo
                image: quay.io/test/foo-operator@{SHA}
  customresourcedefinitions:
    required:
    - name: bars.test.io
      version: v2
      kind: Bar
    owned:
    - name: foos.test.io
      version: v1
      kind: Foo
"""

PARSER_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.test.io
spec:
  group: test.io
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              thing:
                type: string
  scope: Namespaced
  names:
    plural: foos
    singular: foo
    kind: Foo
"""

PARSER_ANNOTATIONS = """annotations:
  operators.operatorframework.io.bundle.package.v1: "foo"
  operators.operatorframework.io.bundle.channels.v1: "alpha,stable"
  operators.operatorframework.io.bundle.channel.default.v1: "stable"
"""

# The parser's properties for the base bundle, and what registry_to_model adds (the required
# CRD bars.test.io v2 Bar).
PARSER_BASE = [prop_package("foo", "1.1.0"), prop_gvk("test.io", "v1", "Foo")]
PARSER_REQUIRED = [prop_gvk_required("test.io", "v2", "Bar")]


def _parser_fs(tmp_path: Path, **changes: str | None) -> Path:
    files: dict[str, str | None] = {
        "manifests/csv.yaml": PARSER_CSV,
        "manifests/crd.yaml": PARSER_CRD,
        "metadata/annotations.yaml": PARSER_ANNOTATIONS,
    }
    files.update({k.replace("__", "/").replace("_yaml", ".yaml"): v for k, v in changes.items()})
    root = tmp_path / "bundle"
    for rel, text in files.items():
        if text is None:
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_parser_manifests_only(tmp_path: Path) -> None:
    # opm: pkg/registry/parse_test.go TestBundleParser/"ManifestsOnly"
    rendered = render_bundle(_parser_fs(tmp_path), "")
    assert (rendered.bundle.name, rendered.package) == ("foo.v1.1.0", "foo")
    assert rendered.channels == ["alpha", "stable"]
    assert rendered.default_channel == "stable"
    _same_set(_props(rendered), PARSER_BASE + PARSER_REQUIRED)


def test_parser_dependencies_file(tmp_path: Path) -> None:
    # opm: pkg/registry/parse_test.go TestBundleParser/"WithDependenciesFile"
    deps = (
        "dependencies:\n- type: olm.package\n  value:\n    packageName: bar\n    version: 2.0.0\n"
    )
    rendered = render_bundle(_parser_fs(tmp_path, metadata__dependencies_yaml=deps), "")
    _same_set(
        _props(rendered),
        PARSER_BASE + PARSER_REQUIRED + [prop_package_required("bar", "2.0.0")],
    )


def test_parser_properties_annotation(tmp_path: Path) -> None:
    # opm: pkg/registry/parse_test.go TestBundleParser/"PropertiesAnnotation"
    csv = (
        "apiVersion: operators.coreos.com/v1alpha1\nkind: ClusterServiceVersion\nmetadata:\n"
        "  name: foo.v1.1.0\n  annotations:\n"
        """    'olm.properties': '[{"type":"olm.label","value":{"label":"baz"}}]'\n"""
        "spec:\n  version: 1.1.0\n  replaces: v1.1.0\n"
    )
    rendered = render_bundle(_parser_fs(tmp_path, manifests__csv_yaml=csv), "")
    _same_set(_props(rendered), [("olm.label", {"label": "baz"}), *PARSER_BASE])


def test_parser_properties_file_package_is_overridden_by_the_annotations(tmp_path: Path) -> None:
    """The parser keeps both olm.package properties (fizz from properties.yaml, then foo from
    the annotations); registry_to_model keeps the last one, foo."""
    # opm: pkg/registry/parse_test.go TestBundleParser/"PropertiesFile"
    props = (
        "properties:\n- type: olm.package\n  value:\n    packageName: fizz\n    version: 1.1.0\n"
    )
    rendered = render_bundle(_parser_fs(tmp_path, metadata__properties_yaml=props), "")
    assert rendered.package == "foo"
    _same_set(_props(rendered), PARSER_BASE + PARSER_REQUIRED)


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        case(
            'pkg/registry/parse_test.go TestBundleParser/"MissingManifests"',
            "manifests",
            "manifests",
        ),
        case(
            'pkg/registry/parse_test.go TestBundleParser/"MissingMetadata"', "metadata", "metadata"
        ),
        case(
            'pkg/registry/parse_test.go TestBundleParser/"MissingAnnotationsFile"',
            "metadata/annotations.yaml",
            "Could not find annotations file",
        ),
    ],
)
def test_parser_errors(tmp_path: Path, drop: str, message: str) -> None:
    root = _parser_fs(tmp_path)
    target = root / drop
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
        (root / "metadata" / "other.yaml").write_text("foo: bar\n")
    with pytest.raises(CatalogError, match=message):
        render_bundle(root, "")


# -- pkg/registry/parse_test.go TestDerivedProperties / TestPropertySet ---------------------


def test_derived_properties_missing_csv(tmp_path: Path) -> None:
    # opm: pkg/registry/parse_test.go TestDerivedProperties/"MissingCSV"
    root = write_bundle(
        tmp_path / "bundle", {"crd.json": crd_doc("test.io", "foos", "Foo", ["v1"])}
    )
    with pytest.raises(CatalogError, match="no csv"):
        render_bundle(root, "")


@pytest.mark.parametrize(
    ("annotation", "extra"),
    [
        case('pkg/registry/parse_test.go TestDerivedProperties/"NoProperties"', None, []),
        case(
            'pkg/registry/parse_test.go TestDerivedProperties/"BadCSVAnnotationsIgnored"', "bad", []
        ),
        case(
            'pkg/registry/parse_test.go TestDerivedProperties/"OpaqueFromCSVAnnotations"',
            '[{"type":"foo","value":{}}]',
            [("foo", {})],
        ),
        case(
            'pkg/registry/parse_test.go TestPropertySet/"RemoveDuplicates"',
            '[{"type":"foo","value":"bar"},{"type":"foo","value":"bar"},{"type":"foo","value":"baz"}]',
            [("foo", "bar"), ("foo", "baz")],
        ),
    ],
)
def test_derived_properties_from_csv_annotation(
    tmp_path: Path, annotation: str | None, extra: list[tuple[str, Any]]
) -> None:
    annotations = {"olm.properties": annotation} if annotation is not None else None
    manifests = {"csv.json": csv_doc("bar.v1.0.0", {"version": "1.0.0"}, annotations)}
    # PackageFromAnnotations: the package property comes from the annotations file.
    root = write_bundle(
        tmp_path / "bundle",
        manifests,
        annotations={"operators.operatorframework.io.bundle.package.v1": "bar"},
    )
    rendered = render_bundle(root, "")
    _same_set(_props(rendered), [prop_package("bar", "1.0.0"), *extra])


def test_derived_properties_gvks_from_v1_crds(tmp_path: Path) -> None:
    # opm: pkg/registry/parse_test.go TestDerivedProperties/"GVKs"
    # (and "PackageFromAnnotations": olm.package {bar, 1.0.0})
    manifests = {
        "csv.json": csv_doc("bar.v1.0.0", {"version": "1.0.0"}),
        "foo.json": crd_doc("test.io", "Foos", "Foo", ["v1", "v2alpha1"]),
        "bar.json": crd_doc("test.io", "Bars", "Bar", ["v1alpha1"]),
    }
    root = write_bundle(
        tmp_path / "bundle",
        manifests,
        annotations={"operators.operatorframework.io.bundle.package.v1": "bar"},
    )
    _same_set(
        _props(render_bundle(root, "")),
        [
            prop_package("bar", "1.0.0"),
            prop_gvk("test.io", "v1", "Foo"),
            prop_gvk("test.io", "v2alpha1", "Foo"),
            prop_gvk("test.io", "v1alpha1", "Bar"),
        ],
    )


# -- pkg/registry/bundle_test.go TestV1CRDsInBundle ------------------------------------------


def test_v1_and_v1beta1_crds_are_provided_apis() -> None:
    # opm: pkg/registry/bundle_test.go TestV1CRDsInBundle
    rendered = render_bundle(TESTDATA / "registry" / "v1crd_bundle", "")
    gvks = [v for t, v in _props(rendered) if t == "olm.gvk"]
    assert sorted(gvks, key=lambda v: v["kind"]) == [
        {"group": "objectbucket.io", "kind": "ObjectBucket", "version": "v1alpha1"},
        {"group": "objectbucket.io", "kind": "ObjectBucketClaim", "version": "v1alpha1"},
    ]
    assert rendered.package == "lib-bucket-provisioner"


# -- pkg/registry/csv_test.go TestLoadingCsvFromBundleDirectory -----------------------------

VALID_ETCD = TESTDATA / "registry" / "validPackages" / "etcd"


def _as_bundle(tmp_path: Path, files: list[Path], package: str = "etcd") -> Path:
    """A package-manifest version directory laid out as a bundle (manifests/ + annotations)."""
    root = tmp_path / "bundle"
    (root / "manifests").mkdir(parents=True)
    for path in files:
        shutil.copy(path, root / "manifests" / path.name)
    return write_bundle(
        root,
        {},
        annotations={
            "operators.operatorframework.io.bundle.package.v1": package,
            "operators.operatorframework.io.bundle.channels.v1": "alpha",
        },
    )


@pytest.mark.parametrize(
    ("version_dir", "name", "version", "replaces", "skips", "skip_range"),
    [
        case(
            'pkg/registry/csv_test.go TestLoadingCsvFromBundleDirectory/"etcdoperator.v0.6.1"',
            "0.6.1",
            "etcdoperator.v0.6.1",
            "0.6.1",
            "",
            [],
            "",
        ),
        case(
            'pkg/registry/csv_test.go TestLoadingCsvFromBundleDirectory/"etcdoperator.v0.9.0"',
            "0.9.0",
            "etcdoperator.v0.9.0",
            "0.9.0",
            "etcdoperator.v0.6.1",
            [],
            "",
        ),
        case(
            'pkg/registry/csv_test.go TestLoadingCsvFromBundleDirectory/"etcdoperator.v0.9.2"',
            "0.9.2",
            "etcdoperator.v0.9.2",
            "0.9.2",
            "etcdoperator.v0.9.0",
            ["etcdoperator.v0.9.1"],
            "< 0.6.0",
        ),
    ],
)
def test_csv_facts_of_the_etcd_versions(
    tmp_path: Path,
    version_dir: str,
    name: str,
    version: str,
    replaces: str,
    skips: list[str],
    skip_range: str,
) -> None:
    files = sorted((VALID_ETCD / version_dir).iterdir())
    rendered = render_bundle(_as_bundle(tmp_path, files), "")
    assert (rendered.csv_name, rendered.version) == (name, version)
    assert (rendered.replaces, rendered.skips, rendered.skip_range) == (replaces, skips, skip_range)


# -- pkg/sqlite/directory_test.go TestQuerierForDirectory (bundle etcdoperator.v0.9.2) -------


def test_etcd_bundle_properties_dependencies_and_images(tmp_path: Path) -> None:
    """The manifests/etcd 0.9.2 CSV (with an olm.properties annotation): properties, the
    dependency on its required CRD, provided/required APIs and the bundle's images."""
    # opm: pkg/sqlite/directory_test.go TestQuerierForDirectory (expectedBundle, expectedEtcdImages)
    files = [
        TESTDATA
        / "registry"
        / "manifests-etcd-0.9.2"
        / "etcdoperator.v0.9.2.clusterserviceversion.yaml",
        *(VALID_ETCD / "0.9.2").glob("*.crd.yaml"),
    ]
    rendered = render_bundle(_as_bundle(tmp_path, files), "")
    gvk = {"group": "etcd.database.coreos.com", "version": "v1beta2"}
    _same_set(
        _props(rendered),
        [
            prop_package("etcd", "0.9.2"),
            ("olm.gvk", {"group": gvk["group"], "kind": "EtcdCluster", "version": "v1beta2"}),
            ("olm.gvk", {"group": gvk["group"], "kind": "EtcdBackup", "version": "v1beta2"}),
            ("olm.gvk", {"group": gvk["group"], "kind": "EtcdRestore", "version": "v1beta2"}),
            ("olm.label", {"label": "testlabel"}),
            ("olm.label", {"label": "testlabel1"}),
            ("other", {"its": "notdefined"}),
            # Dependencies: olm.gvk {"group":"etcd.database.coreos.com","kind":"EtcdCluster",...}
            (
                "olm.gvk.required",
                {"group": gvk["group"], "kind": "EtcdCluster", "version": "v1beta2"},
            ),
        ],
    )
    assert {r.image for r in rendered.related_images} == {
        "quay.io/coreos/etcd-operator@sha256:c0301e4686c3ed4206e370b42de5a3bd2229b9fb4906cf85f3f30650424abec2",
        "quay.io/coreos/etcd@sha256:3816b6daf9b66d6ced6f0f966314e2d4f894982c6b1493061502f8c2bf86ac84",
        "quay.io/coreos/etcd@sha256:49d3d4a81e0d030d3f689e7167f23e120abf955f7d08dbedf3ea246485acee9f",
    }
    assert (rendered.skip_range, rendered.replaces) == ("< 0.6.0", "etcdoperator.v0.9.0")
