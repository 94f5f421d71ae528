"""The customizations (worker semantics §2) on real community bundles and on the worked examples
of §2.4, with expectations written from the reference's rules."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.bundle_regenerator.customizations import (
    DEFAULT_CUSTOMIZATIONS,
    Customization,
    adjust_operator_bundle,
    customizations_for,
    load_operator_manifest,
    related_bundle_images,
    yaml_truthy,
)
from services.catalog.labels import BUNDLE_PACKAGE, PINNED
from services.common.errors import CatalogError, RegistryError
from tests.bundle_regenerator.conftest import FakeImages, copy_fixture, digest_of, write_bundle

CSV_NAME = "cert-utils-operator.clusterserviceversion.yaml"
MARKETPLACE_ANNOTATIONS = {
    "marketplace.company.io/remote-workflow": (
        "https://marketplace.company.com/en-us/operators/{package_name}/pricing"
    ),
    "marketplace.company.io/support-workflow": (
        "https://marketplace.company.com/en-us/operators/{package_name}/support"
    ),
}
# IIB's test organizations (its DevelopmentConfig), as IIB_ORGANIZATION_CUSTOMIZATIONS entries
ORGANIZATIONS: dict[str, list[dict[str, Any]]] = {
    "company-marketplace": [
        {"type": "resolve_image_pullspecs"},
        {"type": "related_bundles"},
        {"type": "perform_bundle_replacements"},
        {"type": "csv_annotations", "annotations": MARKETPLACE_ANNOTATIONS},
        {"type": "package_name_suffix", "suffix": "-cmp"},
        {
            "type": "registry_replacements",
            "replacements": {"registry.access.company.com": "registry.marketplace.company.com/cm"},
        },
        {"type": "image_name_from_labels", "template": "{name}-{version}-final"},
    ],
    "company-managed": [
        {"type": "package_name_suffix", "suffix": "-cmp"},
        {"type": "csv_annotations", "annotations": MARKETPLACE_ANNOTATIONS},
        {
            "type": "registry_replacements",
            "replacements": {
                "registry.access.company.com": "registry.koji.company.com",
                "quay.io": "registry.koji.company.com",
            },
        },
        {"type": "related_bundles"},
        {"type": "image_name_from_labels", "template": "{name}-{version}"},
        {"type": "enclose_repo", "enclosure_glue": "----", "namespace": "company-pending"},
        {
            "type": "registry_replacements",
            "replacements": {"registry.koji.company.com": "quaaay.com"},
        },
    ],
}
OPERAND_LABELS = {"name": "namespace/reponame", "version": "rhel-8"}

CSV_TEMPLATE = """\
apiVersion: operators.example.com/v1
kind: ClusterServiceVersion
metadata:
  name: amqstreams.v1.0.0
  namespace: placeholder
  annotations:
    containerImage: {image}
"""
SPEC = """\
spec:
  install:
    strategy: deployment
"""
RELATED_TEMPLATE = """\
  relatedImages:
  - name: {related_name}
    image: {related}
"""


def csv_text(image: str, related: tuple[str, str] | None = None) -> str:
    """A CSV whose containerImage annotation is ``image``, with one relatedImages entry
    ``(name, image)`` when given."""
    text = CSV_TEMPLATE.format(image=image) + SPEC
    if related:
        text += RELATED_TEMPLATE.format(related_name=related[0], related=related[1])
    return text


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _adjust(
    bundle: Path,
    images: FakeImages,
    customizations: list[Customization] | None = None,
    **kwargs: Any,
) -> Any:
    return adjust_operator_bundle(
        bundle / "manifests",
        bundle / "metadata",
        images,
        customizations if customizations is not None else list(DEFAULT_CUSTOMIZATIONS),
        **kwargs,
    )


def _org(name: str) -> list[Customization]:
    return customizations_for(ORGANIZATIONS, name)


def _pinned(spec: str) -> str:
    """``spec`` pinned the way the fake registry resolves it."""
    return f"{spec.rsplit(':', 1)[0]}@{digest_of(spec)}"


# --- the default list on real bundles -----------------------------------------------------------


def test_default_list_pins_every_tag_and_creates_related_images(tmp_path: Path) -> None:
    bundle = copy_fixture("cert-utils-operator", "1.0.7", tmp_path)
    csv_path = bundle / "manifests" / CSV_NAME
    before = _load(csv_path)
    images = FakeImages()

    result = _adjust(bundle, images)

    # every pull spec is resolved once (in sorted order); a spec without a tag means :latest
    assert images.resolved == [
        "quay.io/coreos/kube-rbac-proxy:v0.5.0",
        "quay.io/redhat-cop/cert-utils-operator:latest",
        "quay.io/redhat-cop/cert-utils-operator:v1.0.7",
    ]
    assert result.labels == {PINNED: "true"}
    # related_bundles ran (in the default list) and found no bundle image
    assert result.related_bundles == []
    proxy = _pinned("quay.io/coreos/kube-rbac-proxy:v0.5.0")
    latest = _pinned("quay.io/redhat-cop/cert-utils-operator:latest")
    manager = _pinned("quay.io/redhat-cop/cert-utils-operator:v1.0.7")
    expected = copy.deepcopy(before)
    expected["metadata"]["annotations"]["containerImage"] = latest
    containers = expected["spec"]["install"]["spec"]["deployments"][0]["spec"]["template"]["spec"][
        "containers"
    ]
    containers[0]["image"] = proxy
    containers[1]["image"] = manager
    # the CSV had no relatedImages: named pull specs in operator-manifest's order (annotation,
    # then containers by name); the annotation's name is <repo>-<digest hex>-annotation
    expected["spec"]["relatedImages"] = [
        {
            "name": f"cert-utils-operator-{digest_of('quay.io/redhat-cop/cert-utils-operator:latest')[7:]}-annotation",
            "image": latest,
        },
        {"name": "kube-rbac-proxy", "image": proxy},
        {"name": "manager", "image": manager},
    ]
    assert _load(csv_path) == expected


def test_default_list_leaves_the_other_files_alone(tmp_path: Path) -> None:
    bundle = copy_fixture("cockroachdb", "5.0.4", tmp_path)
    others = {
        p: p.read_bytes()
        for p in (bundle / "manifests").iterdir()
        if "clusterserviceversion" not in p.name
    }
    annotations = (bundle / "metadata" / "annotations.yaml").read_bytes()

    _adjust(bundle, FakeImages())

    assert {p: p.read_bytes() for p in others} == others
    assert (bundle / "metadata" / "annotations.yaml").read_bytes() == annotations


def test_pull_specs_in_annotation_text_are_replaced_in_place(tmp_path: Path) -> None:
    """redis-operator's alm-examples (a JSON string) holds pull specs the heuristic finds."""
    bundle = copy_fixture("redis-operator", "0.6.0", tmp_path)
    csv_path = next((bundle / "manifests").glob("*clusterserviceversion*"))
    before = _load(csv_path)["metadata"]["annotations"]["alm-examples"]

    _adjust(bundle, FakeImages())

    after_csv = _load(csv_path)
    after = after_csv["metadata"]["annotations"]["alm-examples"]
    expected = before
    for spec in ("quay.io/opstree/redis-exporter:1.0", "quay.io/opstree/redis:v6.2"):
        expected = expected.replace(spec, _pinned(spec))
    assert after == expected
    names = [entry["name"] for entry in after_csv["spec"]["relatedImages"]]
    # heuristic (guessed) annotation pull specs are named <repo>-<digest hex>-annotation
    assert f"redis-exporter-{digest_of('quay.io/opstree/redis-exporter:1.0')[7:]}-annotation" in (
        names
    )


def test_existing_related_images_are_kept_and_pinned_in_place(tmp_path: Path) -> None:
    """kubevirt 1.2.0 has spec.relatedImages, all by digest except one tag."""
    bundle = copy_fixture("community-kubevirt-hyperconverged", "1.2.0", tmp_path)
    csv_path = next((bundle / "manifests").glob("*clusterserviceversion*"))
    before = _load(csv_path)
    images = FakeImages()

    result = _adjust(bundle, images)

    tag = "quay.io/kubevirt/node-maintenance-operator:v0.7.0"
    assert result.labels == {PINNED: "true"}
    # every pull spec is resolved (to prove it exists), digests included
    assert tag in images.resolved and len(images.resolved) == 31
    after = _load(csv_path)
    old_related = before["spec"]["relatedImages"]
    new_related = after["spec"]["relatedImages"]
    assert [e["name"] for e in new_related] == [e["name"] for e in old_related]
    assert [e["image"] for e in new_related] == [
        _pinned(tag) if e["image"] == tag else e["image"] for e in old_related
    ]
    assert tag not in csv_path.read_text()


def test_already_pinned_bundle_is_not_resolved_again(tmp_path: Path) -> None:
    bundle = copy_fixture("cert-utils-operator", "1.0.7", tmp_path)
    csv_path = bundle / "manifests" / CSV_NAME
    before = csv_path.read_bytes()
    images = FakeImages()

    result = _adjust(bundle, images, pinned_by_iib=True)

    assert images.resolved == []
    # the pinned label is inherited from the input image, not set again
    assert result.labels == {}
    assert csv_path.read_bytes() == before


def test_digest_pull_specs_are_resolved_but_not_rewritten(tmp_path: Path) -> None:
    digest = "sha256:" + "1" * 64
    bundle = write_bundle(tmp_path / "b", csv_text(f"quay.io/operator/image@{digest}"))
    before = (bundle / "manifests" / "csv.yaml").read_bytes()
    images = FakeImages()

    result = _adjust(bundle, images)

    assert images.resolved == [f"quay.io/operator/image@{digest}"]
    assert result.labels == {}
    # nothing was replaced, so the CSV is not rewritten and no relatedImages are created
    assert (bundle / "manifests" / "csv.yaml").read_bytes() == before


def test_a_missing_image_fails_naming_it(tmp_path: Path) -> None:
    bundle = copy_fixture("keda", "2.3.0", tmp_path)
    with pytest.raises(RegistryError, match="ghcr.io/kedacore/keda-olm-operator:2.3.0"):
        _adjust(bundle, FakeImages(resolve_all=False))


# --- worked examples (§2.4) -------------------------------------------------------------------


def test_default_list_worked_example(tmp_path: Path) -> None:
    """A tag next to existing relatedImages is pinned; the relatedImages are kept as they are."""
    bundle = write_bundle(
        tmp_path / "b",
        csv_text(
            "quay.io/operator/image:v1",
            ("image-654321-annotation", "quay.io/operator/image@sha256:749327"),
        ),
    )
    images = FakeImages({"quay.io/operator/image:v1": "sha256:749327"})

    result = _adjust(bundle, images, organization="company-unknown")

    assert result.labels == {PINNED: "true"}
    assert (bundle / "manifests" / "csv.yaml").read_text() == csv_text(
        "quay.io/operator/image@sha256:749327",
        ("image-654321-annotation", "quay.io/operator/image@sha256:749327"),
    )
    assert images.resolved == [
        "quay.io/operator/image:v1",
        "quay.io/operator/image@sha256:749327",
    ]
    # related_bundles reads the labels of what is left: one pull spec, pinned
    assert images.label_reads == ["quay.io/operator/image@sha256:749327"]


def test_default_list_creates_related_images_when_absent(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("registry.access.company.com/operator/image:v2"))
    images = FakeImages({"registry.access.company.com/operator/image:v2": "sha256:654321"})

    _adjust(bundle, images)

    assert (bundle / "manifests" / "csv.yaml").read_text() == csv_text(
        "registry.access.company.com/operator/image@sha256:654321",
        ("image-654321-annotation", "registry.access.company.com/operator/image@sha256:654321"),
    )


def test_company_marketplace_worked_example(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        csv_text(
            "quay.io/operator/image:v1",
            ("image-654321-annotation", "quay.io/operator/image@sha256:749327"),
        ),
        annotations=(
            "annotations:\n"
            "  operators.operatorframework.io.bundle.channels.v1: stable\n"
            '  operators.operatorframework.io.bundle.package.v1: "amqstreams"\n'
            '  spam: "spam:maps"\n'
        ),
    )
    images = FakeImages(
        {"quay.io/operator/image:v1": "sha256:749325"}, default_labels=OPERAND_LABELS
    )

    result = _adjust(
        bundle, images, _org("company-marketplace"), organization="company-marketplace"
    )

    assert result.labels == {PINNED: "true", BUNDLE_PACKAGE: "amqstreams-cmp"}
    csv = (bundle / "manifests" / "csv.yaml").read_text()
    expected = csv_text(
        "quay.io/namespace/reponame-rhel-8-final@sha256:749325",
        ("image-654321-annotation", "quay.io/namespace/reponame-rhel-8-final@sha256:749327"),
    )
    # csv_annotations precedes package_name_suffix in this list: the pre-suffix name is used
    annotations = (
        "    marketplace.company.io/remote-workflow: "
        "https://marketplace.company.com/en-us/operators/amqstreams/pricing\n"
        "    marketplace.company.io/support-workflow: "
        "https://marketplace.company.com/en-us/operators/amqstreams/support\n"
    )
    expected = expected.replace("spec:\n", annotations + "spec:\n")
    assert csv == expected
    # the suffix is written back, other quoted values keep their quotes
    assert (bundle / "metadata" / "annotations.yaml").read_text() == (
        "annotations:\n"
        "  operators.operatorframework.io.bundle.channels.v1: stable\n"
        '  operators.operatorframework.io.bundle.package.v1: "amqstreams-cmp"\n'
        '  spam: "spam:maps"\n'
    )
    # image_name_from_labels reads the labels of each of the two pull specs; related_bundles
    # reads them first (neither is a bundle)
    assert result.related_bundles == []
    assert sorted(set(images.label_reads)) == [
        "quay.io/operator/image@sha256:749325",
        "quay.io/operator/image@sha256:749327",
    ]


def test_company_managed_worked_example(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        csv_text("registry.access.company.com/operator/image@sha256:654321"),
    )
    images = FakeImages(default_labels=OPERAND_LABELS)

    result = _adjust(bundle, images, _org("company-managed"), organization="company-managed")

    final = "quaaay.com/company-pending/namespace----reponame-rhel-8@sha256:654321"
    csv = _load(bundle / "manifests" / "csv.yaml")
    assert csv["metadata"]["annotations"]["containerImage"] == final
    # relatedImages were created by the first rewrite and followed every later one
    assert csv["spec"]["relatedImages"] == [{"name": "image-654321-annotation", "image": final}]
    # suffix first here, so the annotations carry the new name
    assert csv["metadata"]["annotations"]["marketplace.company.io/support-workflow"] == (
        "https://marketplace.company.com/en-us/operators/amqstreams-cmp/support"
    )
    assert result.labels == {BUNDLE_PACKAGE: "amqstreams-cmp"}  # no resolution, no pinned label
    assert images.resolved == []


def test_already_pinned_marketplace_bundle_keeps_digests(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        csv_text(
            "registry.access.company.com/operator/image@sha256:765432",
            (
                "operator/image-765432-annotation",
                "registry.access.company.com/operator/image@sha256:765432",
            ),
        ),
    )
    images = FakeImages(default_labels=OPERAND_LABELS)

    result = _adjust(
        bundle,
        images,
        _org("company-marketplace"),
        organization="company-marketplace",
        pinned_by_iib=True,
    )

    final = "registry.marketplace.company.com/namespace/reponame-rhel-8-final@sha256:765432"
    csv = _load(bundle / "manifests" / "csv.yaml")
    assert csv["metadata"]["annotations"]["containerImage"] == final
    assert csv["spec"]["relatedImages"] == [
        {"name": "operator/image-765432-annotation", "image": final}
    ]
    assert result.labels == {BUNDLE_PACKAGE: "amqstreams-cmp"}
    assert images.resolved == []


def test_bundle_replacements_replace_only_bundle_images(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        csv_text(
            "quay.io/operator/image@sha256:654321",
            ("other", "registry.access.company.com/operator/other:v3"),
        ),
    )
    images = FakeImages(
        labels={
            "quay.io/operator/image@sha256:654321": {"com.redhat.delivery.operator.bundle": "true"}
        }
    )
    replacements = {
        "quay.io/operator/image@sha256:654321": "quay.io/operator/image@sha256:123456",
        "registry.access.company.com/operator/other:v3": "foo.baz/other:v4",
    }

    _adjust(
        bundle,
        images,
        [Customization("perform_bundle_replacements")],
        bundle_replacements=replacements,
    )

    csv = _load(bundle / "manifests" / "csv.yaml")
    assert csv["metadata"]["annotations"]["containerImage"] == (
        "quay.io/operator/image@sha256:123456"
    )
    # not a bundle image: not replaced
    assert csv["spec"]["relatedImages"] == [
        {"name": "other", "image": "registry.access.company.com/operator/other:v3"}
    ]


def test_bundle_replacements_write_related_images_even_without_a_match(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/operator/image:v1"))

    _adjust(
        bundle,
        FakeImages(),
        [Customization("perform_bundle_replacements")],
        bundle_replacements={"quay.io/not/a-bundle:1": "quay.io/other:2"},
    )

    # IIB calls its replace step whenever bundle_replacements is not empty
    assert _load(bundle / "manifests" / "csv.yaml")["spec"]["relatedImages"] == [
        {"name": "image-v1-annotation", "image": "quay.io/operator/image:v1"}
    ]


def test_registry_replacements_match_the_whole_registry(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        csv_text("quay.io/operator/image:v1", ("x", "quay.io.example.com/ns/x:1")),
    )

    _adjust(
        bundle,
        FakeImages(),
        [Customization("registry_replacements", replacements={"quay.io": "mirror.io/cm"})],
    )

    csv = _load(bundle / "manifests" / "csv.yaml")
    assert csv["metadata"]["annotations"]["containerImage"] == "mirror.io/cm/operator/image:v1"
    assert csv["spec"]["relatedImages"][0]["image"] == "quay.io.example.com/ns/x:1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("namespace/reponame", "quay.io/namespace/reponame:v1"),
        ("reponame-only", "quay.io/reponame-only:v1"),
        ("foo/bar/some", "quay.io/foo/bar/some:v1"),
    ],
)
def test_image_name_from_labels(tmp_path: Path, name: str, expected: str) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/operator/image:v1"))

    _adjust(
        bundle,
        FakeImages(default_labels={"name": name}),
        [Customization("image_name_from_labels", template="{name}")],
    )

    assert _load(bundle / "manifests" / "csv.yaml")["metadata"]["annotations"][
        "containerImage"
    ] == (expected)


def test_image_name_from_labels_names_the_missing_label(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/operator/image:v1"))
    images = FakeImages(default_labels={"name": "ns/repo", "vendor": "Acme"})

    with pytest.raises(CatalogError) as error:
        _adjust(
            bundle,
            images,
            [Customization("image_name_from_labels", template="{name}-{version}")],
        )

    assert str(error.value) == (
        "Pull spec quay.io/operator/image:v1 is missing one or more label(s) required in the "
        "image_name_from_labels {name}-{version}. Available labels: name, vendor"
    )


@pytest.mark.parametrize(
    ("namespace", "spec", "expected"),
    [
        (
            "company-pending",
            "quay.io/operator/image:v1",
            "quay.io/company-pending/operator----image:v1",
        ),
        (
            "operator",
            "quay.io/operator/image/foo/bar:v1",
            "quay.io/operator/image----foo----bar:v1",
        ),
        ("operator", "quay.io/operator/image:v1", "quay.io/operator/image:v1"),
        ("company-pending", "quay.io/image:v1", "quay.io/company-pending/image:v1"),
    ],
)
def test_enclose_repo(tmp_path: Path, namespace: str, spec: str, expected: str) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text(spec))

    _adjust(
        bundle,
        FakeImages(),
        [Customization("enclose_repo", namespace=namespace, enclosure_glue="----")],
    )

    csv = _load(bundle / "manifests" / "csv.yaml")
    assert csv["metadata"]["annotations"]["containerImage"] == expected


def test_package_name_suffix_already_present_changes_nothing(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/o/i:v1"), "amq-cmp")
    before = (bundle / "metadata" / "annotations.yaml").read_bytes()

    result = _adjust(bundle, FakeImages(), [Customization("package_name_suffix", suffix="-cmp")])

    assert result.labels == {}
    assert result.package_name == "amq-cmp"
    assert (bundle / "metadata" / "annotations.yaml").read_bytes() == before


def test_real_bundle_package_suffix_keeps_comments(tmp_path: Path) -> None:
    bundle = copy_fixture("cert-utils-operator", "1.0.7", tmp_path)
    path = bundle / "metadata" / "annotations.yaml"
    before = path.read_text()

    result = _adjust(bundle, FakeImages(), [Customization("package_name_suffix", suffix="-x")])

    assert result.labels == {BUNDLE_PACKAGE: "cert-utils-operator-x"}
    assert path.read_text() == before.replace(
        "package.v1: cert-utils-operator\n", "package.v1: cert-utils-operator-x\n"
    )


def test_csv_annotations_need_an_organization(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/o/i:v1"))
    before = (bundle / "manifests" / "csv.yaml").read_bytes()
    annotations = Customization("csv_annotations", annotations={"a": "{package_name}"})

    _adjust(bundle, FakeImages(), [annotations])
    assert (bundle / "manifests" / "csv.yaml").read_bytes() == before

    _adjust(bundle, FakeImages(), [annotations], organization="acme")
    assert _load(bundle / "manifests" / "csv.yaml")["metadata"]["annotations"]["a"] == "amqstreams"


def test_parameterless_defaults_are_no_ops(tmp_path: Path) -> None:
    """The default list's parameterized entries do nothing without parameters."""
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/o/i@sha256:" + "2" * 64))
    before = (bundle / "manifests" / "csv.yaml").read_bytes()

    result = _adjust(bundle, FakeImages(), organization="acme")

    assert result.labels == {}
    assert (bundle / "manifests" / "csv.yaml").read_bytes() == before


# --- related bundles --------------------------------------------------------------------------


def test_related_bundles_lists_bundle_images_after_earlier_rewrites(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        csv_text("quay.io/operator/image:v1", ("child", "quay.io/ns/child-bundle:2")),
    )
    child = _pinned("quay.io/ns/child-bundle:2")
    images = FakeImages(
        labels={
            child: {"com.redhat.delivery.operator.bundle": "true"},
            "quay.io/ns/other:1": {"com.redhat.delivery.operator.bundle": "false"},
        }
    )

    result = _adjust(bundle, images)

    # pinned first (resolve_image_pullspecs precedes related_bundles)
    assert result.related_bundles == [child]


def test_recursive_mode_stops_before_related_bundles(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/operator/image:v1"))
    customizations = [
        Customization("registry_replacements", replacements={"quay.io": "mirror.io"}),
        Customization("related_bundles"),
        Customization("registry_replacements", replacements={"mirror.io": "never.io"}),
    ]

    result = _adjust(bundle, FakeImages(), customizations, stop_before_related_bundles=True)

    assert result.related_bundles is None
    csv = _load(bundle / "manifests" / "csv.yaml")
    assert csv["metadata"]["annotations"]["containerImage"] == "mirror.io/operator/image:v1"


def test_related_bundle_images_of_a_manifest(tmp_path: Path) -> None:
    bundle = copy_fixture("cert-utils-operator", "1.0.7", tmp_path)
    images = FakeImages(
        labels={
            "quay.io/coreos/kube-rbac-proxy:v0.5.0": {"com.redhat.delivery.operator.bundle": "True"}
        }
    )

    found = related_bundle_images(load_operator_manifest(bundle / "manifests"), images)

    assert found == ["quay.io/coreos/kube-rbac-proxy:v0.5.0"]
    assert images.label_reads == [
        "quay.io/coreos/kube-rbac-proxy:v0.5.0",
        "quay.io/redhat-cop/cert-utils-operator:latest",
        "quay.io/redhat-cop/cert-utils-operator:v1.0.7",
    ]


# --- errors with IIB's messages (§2.2) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (None, "metadata/annotations.yaml does not exist in the bundle"),
        ("annotations: [unclosed\n", "metadata/annotations.yaml is not valid YAML"),
        ("annotations:\n- a\n", "The value of metadata/annotations.yaml must be a dictionary"),
        (
            "annotations:\n  other: x\n",
            "operators.operatorframework.io.bundle.package.v1 is not set in "
            "metadata/annotations.yaml",
        ),
        (
            "annotations:\n  operators.operatorframework.io.bundle.package.v1: 5\n",
            "The value of operators.operatorframework.io.bundle.package.v1 in "
            "metadata/annotations.yaml is not a string",
        ),
    ],
)
def test_annotations_errors(tmp_path: Path, annotations: str | None, message: str) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/o/i:v1"))
    path = bundle / "metadata" / "annotations.yaml"
    if annotations is None:
        path.unlink()
    else:
        path.write_text(annotations)

    with pytest.raises(CatalogError) as error:
        _adjust(bundle, FakeImages())

    assert str(error.value) == message


def test_invalid_csv_yaml_has_iibs_message_and_names_the_file(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        """\
        apiVersion: operators.example.com/v1
        kind: ClusterServiceVersion
        metadata:
          @
         name: amqstreams.v1.0.0
        """,
    )

    with pytest.raises(CatalogError) as error:
        _adjust(bundle, FakeImages())

    text = str(error.value)
    assert text.startswith("The Operator Manifest is not in a valid YAML format: ")
    assert '"manifests/csv.yaml"' in text and str(tmp_path) not in text


def test_bundle_without_csv(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", "kind: Service\napiVersion: v1\n")
    with pytest.raises(CatalogError, match="Missing ClusterServiceVersion in operator manifests"):
        _adjust(bundle, FakeImages())


def test_bundle_with_two_csvs(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/o/i:v1"))
    (bundle / "manifests" / "second.yaml").write_text(csv_text("quay.io/o/j:v1"))
    with pytest.raises(CatalogError, match="may contain only 1 CSV file") as error:
        _adjust(bundle, FakeImages())
    assert str(tmp_path) not in str(error.value)


def test_related_image_env_with_value_from_is_refused(tmp_path: Path) -> None:
    csv = CSV_TEMPLATE.format(image="quay.io/o/i:v1") + textwrap.dedent(
        """\
        spec:
          install:
            spec:
              deployments:
              - name: d
                spec:
                  template:
                    spec:
                      containers:
                      - name: manager
                        image: quay.io/o/i:v1
                        env:
                        - name: RELATED_IMAGE_X
                          valueFrom:
                            configMapKeyRef: {name: a, key: b}
        """
    )
    bundle = write_bundle(tmp_path / "b", csv)
    with pytest.raises(CatalogError) as error:
        _adjust(bundle, FakeImages())
    assert str(error.value) == (
        'Failed to find the pull specs in manifests/csv.yaml: RELATED_IMAGE_X: "valueFrom" '
        "references are not supported"
    )


# --- configuration ------------------------------------------------------------------------------


def test_customizations_for_falls_back_to_the_default_list() -> None:
    assert customizations_for(ORGANIZATIONS, None) == list(DEFAULT_CUSTOMIZATIONS)
    assert customizations_for(ORGANIZATIONS, "unknown") == list(DEFAULT_CUSTOMIZATIONS)
    assert customizations_for({"empty": []}, "empty") == list(DEFAULT_CUSTOMIZATIONS)
    managed = customizations_for(ORGANIZATIONS, "company-managed")
    assert [c.type for c in managed] == [
        "package_name_suffix",
        "csv_annotations",
        "registry_replacements",
        "related_bundles",
        "image_name_from_labels",
        "enclose_repo",
        "registry_replacements",
    ]
    assert managed[5] == Customization(
        "enclose_repo", namespace="company-pending", enclosure_glue="----"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", False),
        ("false", False),
        ("False", False),
        ("0", False),
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("no", True),
    ],
)
def test_yaml_truthy_is_iibs_reading(text: str, expected: bool) -> None:
    assert yaml_truthy(text) is expected


def test_yaml_truthy_refuses_non_yaml() -> None:
    with pytest.raises(CatalogError, match="not valid YAML"):
        yaml_truthy("[unclosed")
