"""Rendering real bundles into ``olm.bundle`` blobs as ``opm render`` does."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from services.catalog import gojson, render_bundle
from services.catalog.codec import encode_doc
from services.common.errors import CatalogError

from .conftest import FIXTURES, assert_golden, image_for, render_fixture

GOLDEN_CASES = [
    ("cert-utils-operator", "1.0.7", False),
    ("cert-utils-operator", "1.0.7", True),
    ("cockroachdb", "2.1.1", False),
    ("egressip-ipam-operator", "1.0.8", True),
    ("community-kubevirt-hyperconverged", "1.1.0", True),
    ("opendatahub-operator", "1.1.0", False),
]


@pytest.mark.usefixtures("fixtures_root")
@pytest.mark.parametrize(("package", "version", "csv_metadata"), GOLDEN_CASES)
def test_render_matches_golden(package: str, version: str, csv_metadata: bool) -> None:
    rendered = render_fixture(package, version, csv_metadata=csv_metadata)
    form = "csv-metadata" if csv_metadata else "objects"
    assert_golden(
        f"render/{package}-{version}-{form}.json", gojson.indent(encode_doc(rendered.bundle)) + "\n"
    )


@pytest.mark.usefixtures("fixtures_root")
def test_every_fixture_bundle_renders() -> None:
    count = 0
    for package in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for version in sorted(v for v in package.iterdir() if v.is_dir()):
            rendered = render_bundle(version, image_for(package.name, version.name))
            assert rendered.bundle.name == rendered.csv_name
            assert rendered.version == version.name
            count += 1
    assert count == 74


@pytest.mark.usefixtures("fixtures_root")
def test_render_orders_properties_and_encodes_objects_like_go() -> None:
    rendered = render_fixture("cockroachdb", "2.1.1")
    types = [p.type for p in rendered.bundle.properties]
    assert types == sorted(t for t in types if t != "olm.bundle.object") + [
        "olm.bundle.object"
    ] * types.count("olm.bundle.object")
    objects = [
        base64.b64decode(p.value["data"]).decode()
        for p in rendered.bundle.properties
        if p.type == "olm.bundle.object"
    ]
    assert objects == sorted(objects, key=lambda o: base64.b64encode(o.encode()))
    for text in objects:
        parsed = json.loads(text)
        assert text == gojson.go_marshal(parsed)
        assert "<" not in text and ">" not in text and "&" not in text


@pytest.mark.usefixtures("fixtures_root")
def test_render_reports_facts_an_add_needs() -> None:
    rendered = render_fixture("community-kubevirt-hyperconverged", "1.1.0")
    assert rendered.package == "community-kubevirt-hyperconverged"
    assert rendered.channels == ["1.1.0", "stable"]
    assert rendered.default_channel == "stable"
    assert rendered.csv_name == "kubevirt-hyperconverged-operator.v1.1.0"
    assert rendered.replaces == ""
    assert rendered.ocp_versions == "v4.5"
    assert rendered.uses_removed_1_22_apis
    images = [r.image for r in rendered.related_images]
    assert images == sorted(images)
    assert rendered.image in images


@pytest.mark.usefixtures("fixtures_root")
def test_related_images_include_bundle_and_operator_images_once() -> None:
    rendered = render_fixture("keda", "2.3.0")
    assert rendered.replaces == "keda.v2.2.0"
    images = [(r.name, r.image) for r in rendered.related_images]
    assert ("", rendered.image) in images
    assert len({i for _, i in images}) == len(images)


def _copy_bundle(tmp_path: Path, package: str = "keda", version: str = "2.3.0") -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(FIXTURES / package / version, target)
    return target


def _csv_path(root: Path) -> Path:
    return next(p for p in (root / "manifests").iterdir() if "clusterserviceversion" in p.name)


@pytest.mark.usefixtures("fixtures_root")
def test_package_manifest_layout_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "etcd"
    (root / "0.9.0").mkdir(parents=True)
    (root / "etcd.package.yaml").write_text(
        "packageName: etcd\nchannels:\n- name: alpha\n  currentCSV: etcdoperator.v0.9.0\n"
    )
    (root / "0.9.0" / "etcdoperator.v0.9.0.clusterserviceversion.yaml").write_text(
        "kind: ClusterServiceVersion\n"
    )
    with pytest.raises(CatalogError, match="package-manifest layout"):
        render_bundle(root, "quay.io/x/etcd@sha256:" + "0" * 64)


@pytest.mark.usefixtures("fixtures_root")
def test_package_manifest_inside_manifests_is_rejected(tmp_path: Path) -> None:
    root = _copy_bundle(tmp_path)
    (root / "manifests" / "keda.package.yaml").write_text("packageName: keda\nchannels: []\n")
    with pytest.raises(CatalogError, match=r"manifests/keda\.package\.yaml is a package manifest"):
        render_bundle(root, "quay.io/x/keda@sha256:" + "0" * 64)


@pytest.mark.usefixtures("fixtures_root")
def test_csv_without_version_is_an_error_naming_file_and_field(tmp_path: Path) -> None:
    root = _copy_bundle(tmp_path)
    csv = _csv_path(root)
    text = csv.read_text()
    csv.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("  version:"))
    )
    with pytest.raises(
        CatalogError, match=rf"manifests/{csv.name}: field spec\.version is missing"
    ):
        render_bundle(root, "quay.io/x/keda@sha256:" + "0" * 64)


@pytest.mark.usefixtures("fixtures_root")
def test_broken_manifest_yaml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    root = _copy_bundle(tmp_path)
    (root / "manifests" / "broken.yaml").write_text("kind: [unterminated\n")
    with pytest.raises(CatalogError, match=r"manifests/broken\.yaml: invalid YAML"):
        render_bundle(root, "quay.io/x/keda@sha256:" + "0" * 64)


@pytest.mark.usefixtures("fixtures_root")
def test_oversized_manifest_is_refused_naming_the_file(tmp_path: Path) -> None:
    root = _copy_bundle(tmp_path)
    (root / "manifests" / "zz-big.yaml").write_bytes(b"#" * (2 << 20))
    with pytest.raises(
        CatalogError, match=r"manifests/zz-big\.yaml: file is 2097152 bytes, larger than"
    ):
        render_bundle(root, "quay.io/x/keda@sha256:" + "0" * 64, max_file_bytes=1 << 20)


@pytest.mark.usefixtures("fixtures_root")
def test_missing_annotations_is_opms_error(tmp_path: Path) -> None:
    root = _copy_bundle(tmp_path)
    (root / "metadata" / "annotations.yaml").write_text("foo: bar\n")
    with pytest.raises(CatalogError, match="Could not find annotations file"):
        render_bundle(root, "quay.io/x/keda@sha256:" + "0" * 64)


@pytest.mark.usefixtures("fixtures_root")
def test_owned_crd_missing_from_bundle_is_rejected(tmp_path: Path) -> None:
    root = _copy_bundle(tmp_path)
    for crd in (root / "manifests").glob("keda.sh_scaledjobs*"):
        crd.unlink()
    with pytest.raises(
        CatalogError,
        match=r"error checking provided apis in bundle keda\.v2\.3\.0: couldn't find keda\.sh/v1alpha1/ScaledJob \(scaledjobs\)",
    ):
        render_bundle(root, "quay.io/x/keda@sha256:" + "0" * 64)


def test_missing_directories_are_named(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    with pytest.raises(CatalogError, match=r"missing metadata/ directory"):
        render_bundle(tmp_path, "quay.io/x/y@sha256:" + "0" * 64)
