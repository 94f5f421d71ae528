"""Input images for the bundle regenerator's registry and end-to-end tests.

Community fixture bundles are copied and "localized": the registries of their pull specs are
replaced by the test registry, and a small image is pushed for every pull spec, so the default
customizations (which resolve every pull spec) run against real images. Related bundles are
listed in the CSV's ``spec.relatedImages``.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ruamel.yaml

from services.catalog.labels import DELIVERY_BUNDLE
from services.common.reference import parse_reference
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import SCRATCH, ImageService
from services.common.registry.layers import LayerFile, build_layer, tree_entries
from services.tooling.demo.images import FIXTURES_ROOT, bundle_labels, push_bundle_image

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    from operator_manifest.operator import OperatorManifest

PUBLIC_REGISTRIES = ("quay.io", "ghcr.io", "gcr.io", "docker.io")


def csv_path(bundle_dir: Path) -> Path:
    return next((bundle_dir / "manifests").glob("*clusterserviceversion*"))


def localize_bundle(
    package: str,
    version: str,
    dest: Path,
    registry: str,
    *,
    related: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> Path:
    """A copy of a fixture bundle whose CSV pull specs point at ``registry``.

    ``related`` pull specs are listed in the CSV's ``spec.relatedImages`` (as
    ``related-bundle-<n>``); ``labels`` are added to the labels of the image
    built from it (e.g. ``com.redhat.delivery.operator.bundle=true``).
    """
    target = dest / f"{package}-{version}"
    shutil.copytree(FIXTURES_ROOT / package / version, target)
    path = csv_path(target)
    text = path.read_text()
    for public in PUBLIC_REGISTRIES:
        text = text.replace(f"{public}/", f"{registry}/")
    path.write_text(text)
    if related:
        yaml = ruamel.yaml.YAML()
        yaml.width = 200
        yaml.preserve_quotes = True
        document = yaml.load(path.read_text())
        spec = document["spec"]
        spec["relatedImages"] = [
            {"name": f"related-bundle-{n}", "image": image} for n, image in enumerate(related)
        ]
        with path.open("w") as out:
            yaml.dump(document, out)
    if labels:
        # the file services.tooling.demo.images.bundle_labels reads: Dockerfile, else bundle.Dockerfile
        dockerfile = target / "Dockerfile"
        if not dockerfile.exists() and (target / "bundle.Dockerfile").exists():
            dockerfile = target / "bundle.Dockerfile"
        existing = dockerfile.read_text() if dockerfile.exists() else "FROM scratch\n"
        lines = "".join(f"LABEL {key}={value}\n" for key, value in labels.items())
        dockerfile.write_text(existing.rstrip("\n") + "\n" + lines)
    return target


def pull_specs(bundle_dir: Path) -> list[str]:
    """The pull specs operator-manifest finds in the bundle's CSV, sorted."""
    manifest = OperatorManifest.from_directory(str(bundle_dir / "manifests"))
    return sorted(str(p.to_str()) for p in manifest.csv.get_pullspecs())


def push_small_image(
    images: ImageService, target: str, labels: Mapping[str, str] | None = None
) -> str:
    """A one-file image at ``target`` (tag); returns the pinned spec."""
    with tempfile.TemporaryDirectory(prefix="iib-test-image-") as tmp:
        layer = build_layer(
            [LayerFile("image.txt", data=target.encode())],
            Path(tmp) / "layer.tar.gz",
            created_by="COPY image.txt /",
        )
        result = images.build(SCRATCH, [target], [layer], ConfigChanges(labels=dict(labels or {})))
    return result.resolved


def push_operands(
    images: ImageService, bundle_dir: Path, registry: str, skip: Sequence[str] = ()
) -> dict[str, str]:
    """Push a small image for every pull spec of the bundle's CSV on ``registry`` (except
    ``skip``), labelled ``name=<namespace>/<repo>``, ``version=<tag>``. Returns spec → pinned."""
    pushed: dict[str, str] = {}
    for spec in pull_specs(bundle_dir):
        if not spec.startswith(f"{registry}/") or spec in skip or "@" in spec:
            continue
        ref = parse_reference(spec)
        namespace, _, repo = ref.repository.rpartition("/")
        pushed[spec] = push_small_image(
            images, spec, {"name": f"{namespace or 'library'}/{repo}", "version": ref.tag or ""}
        )
    return pushed


def push_bundle_on(images: ImageService, base: str, bundle_dir: Path, target: str) -> str:
    """A bundle image built on every architecture of ``base`` (a multi-arch bundle): the base's
    layers plus ``/manifests`` and ``/metadata``, the bundle's labels. Returns the pinned list."""
    with tempfile.TemporaryDirectory(prefix="iib-test-bundle-") as tmp:
        layers = [
            build_layer(
                tree_entries(bundle_dir / name, name, file_mode=0o644, dir_mode=0o755),
                Path(tmp) / f"{name}.tar.gz",
                created_by=f"COPY {name} /{name}/",
            )
            for name in ("manifests", "metadata")
        ]
        result = images.build(
            base, [target], layers, ConfigChanges(labels=bundle_labels(bundle_dir))
        )
    return result.resolved


def history(config: Mapping[str, Any]) -> list[str]:
    """``created_by`` of the layers of an image config (skopeo inspect --config)."""
    return [h.get("created_by", "") for h in config["history"] if not h.get("empty_layer")]


class RelatedTree:
    """Bundle images whose related images are bundles: ``parent -> (b1, b2)``, ``b1 -> c``.

    The children carry ``com.redhat.delivery.operator.bundle=true`` (and ``name``/``version``
    labels); every operand image of every CSV is pushed too. ``parent_dir`` is the parent's
    bundle directory (cert-utils-operator 1.0.7), ``parent`` its pinned spec.
    """

    def __init__(self, images: ImageService, registry: str, work: Path) -> None:
        self.images = images
        self.registry = registry
        self.c_spec = f"{registry}/bundles/c-redis:0.6.0"
        self.b1_spec = f"{registry}/bundles/b1-keda:2.3.0"
        self.b2_spec = f"{registry}/bundles/b2-cockroachdb:5.0.4"
        marked = {DELIVERY_BUNDLE: "true", "name": "bundles/child", "version": "1"}
        for package, version, spec, related in (
            ("redis-operator", "0.6.0", self.c_spec, []),
            ("keda", "2.3.0", self.b1_spec, [self.c_spec]),
            ("cockroachdb", "5.0.4", self.b2_spec, []),
        ):
            bundle_dir = localize_bundle(
                package,
                version,
                work / spec.rsplit("/", 1)[1],
                registry,
                related=related,
                labels=marked,
            )
            push_operands(images, bundle_dir, registry, skip=related)
            push_bundle_image(images, bundle_dir, spec)
        self.parent_dir = localize_bundle(
            "cert-utils-operator", "1.0.7", work, registry, related=[self.b1_spec, self.b2_spec]
        )
        push_operands(images, self.parent_dir, registry, skip=[self.b1_spec, self.b2_spec])
        self.parent_spec = f"{registry}/bundles/cert-utils:1.0.7"
        self.parent = push_bundle_image(images, self.parent_dir, self.parent_spec)
