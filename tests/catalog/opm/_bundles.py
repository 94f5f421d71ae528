"""opm's test bundles as data, and helpers to add them and read the resulting graph.

``BUNDLES`` is operator-registry's ``bundles/`` directory (v1.73.0) reduced to what the add
semantics read: package, channels and default channel annotations, CSV name, version,
replaces, skips, skipRange and olm.substitutesFor (extracted from the manifests; CRDs and other
manifests are left out). ``OVERWRITE_BUNDLES`` is ``pkg/registry/testdata/overwrite``.
``bundle_dir`` writes such a bundle as a minimal directory (CSV + annotations), like opm's
``newUnpackedTestBundle`` does for its generated bundles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.catalog import (
    MemoryCatalog,
    RenderedBundle,
    add_bundles,
    deprecate_truncate,
    render_bundle,
)
from services.catalog.validate import ValidationOptions

from ._support import csv_doc, write_bundle


@dataclass(frozen=True)
class Facts:
    """What a bundle's manifests say about its place in the graph."""

    name: str
    version: str
    package: str
    channels: str
    default: str = ""
    replaces: str = ""
    skips: tuple[str, ...] = ()
    skip_range: str = ""
    substitutes_for: str = ""
    extra_spec: tuple[tuple[str, Any], ...] = field(default=())
    annotations: tuple[tuple[str, str], ...] = field(default=())


def _prom(name: str, version: str, channels: str, default: str, **kw: Any) -> Facts:
    return Facts(name, version, "prometheus", channels, default, **kw)


BUNDLES: dict[str, Facts] = {
    "etcd.0.9.0": Facts("etcdoperator.v0.9.0", "0.9.0", "etcd", "alpha,stable,beta", "stable"),
    "etcd.0.9.2": Facts(
        "etcdoperator.v0.9.2",
        "0.9.2",
        "etcd",
        "alpha,stable",
        "alpha",
        replaces="etcdoperator.v0.9.0",
        skips=("etcdoperator.v0.9.1",),
    ),
    "prometheus.0.14.0-beta": _prom(
        "prometheusoperator.0.14.0-beta", "0.14.0-beta", "beta", "beta"
    ),
    "prometheus.0.14.0.substitutesfor": _prom(
        "prometheusoperator.0.14.0+0.1234-rebuild",
        "0.14.0+0.1234",
        "preview",
        "preview",
        substitutes_for="prometheusoperator.0.14.0",
    ),
    "prometheus.0.14.0.substitutesfor2": _prom(
        "prometheusoperator.0.14.0+2-rebuild",
        "0.14.0+2",
        "preview",
        "preview",
        substitutes_for="prometheusoperator.0.14.0",
    ),
    "prometheus.0.14.0.substitutesfor3": _prom(
        "prometheusoperator.0.14.0+3-rebuild",
        "0.14.0+3",
        "preview",
        "preview",
        substitutes_for="prometheusoperator.0.14.0",
    ),
    "prometheus.0.14.0": _prom("prometheusoperator.0.14.0", "0.14.0", "preview", "preview"),
    "prometheus.0.15.0-stable": _prom(
        "prometheusoperator.0.15.0-stable",
        "0.15.0",
        "stable",
        "stable",
        replaces="prometheusoperator.0.14.0",
    ),
    "prometheus.0.15.0.substitutesfor": _prom(
        "prometheusoperator.0.15.0+1-freshmaker-rebuild",
        "0.15.0+1",
        "preview,stable",
        "preview",
        replaces="prometheusoperator.0.14.0",
        substitutes_for="prometheusoperator.0.15.0",
    ),
    "prometheus.0.15.0.substitutesfor2": _prom(
        "prometheusoperator.0.15.0+2-freshmaker-rebuild",
        "0.15.0+2",
        "preview,stable",
        "preview",
        replaces="prometheusoperator.0.14.0",
        substitutes_for="prometheusoperator.0.15.0+1-freshmaker-rebuild",
    ),
    "prometheus.0.15.0": _prom(
        "prometheusoperator.0.15.0",
        "0.15.0",
        "preview,stable",
        "preview",
        replaces="prometheusoperator.0.14.0",
    ),
    "prometheus.0.22.2": _prom(
        "prometheusoperator.0.22.2",
        "0.22.2",
        "preview",
        "preview",
        replaces="prometheusoperator.0.15.0",
    ),
}

OVERWRITE_BUNDLES: dict[str, Facts] = {
    "etcd.0.9.0": Facts("etcdoperator.v0.9.0", "0.9.0", "etcd", "alpha,stable,beta", "stable"),
    "etcd.0.9.2": Facts(
        "etcdoperator.v0.9.2",
        "0.9.2",
        "etcd",
        "alpha",
        "alpha",
        replaces="etcdoperator.v0.9.0",
        skips=("etcdoperator.v0.9.1",),
    ),
    "prometheus.0.15.0": _prom(
        "prometheusoperator.0.15.0",
        "0.15.0",
        "preview,stable",
        "stable",
        replaces="prometheusoperator.0.14.0",
    ),
    "prometheus.0.22.2": _prom(
        "prometheusoperator.0.22.2",
        "0.22.2",
        "alpha",
        "preview",
        replaces="prometheusoperator.0.15.0",
    ),
}


def bundle_dir(root: Path, key: str, facts: Facts) -> Path:
    """A bundle directory holding just a CSV with ``facts`` and the annotations."""
    spec: dict[str, Any] = {"version": facts.version}
    if facts.replaces:
        spec["replaces"] = facts.replaces
    if facts.skips:
        spec["skips"] = list(facts.skips)
    spec.update(dict(facts.extra_spec))
    annotations = {}
    if facts.skip_range:
        annotations["olm.skipRange"] = facts.skip_range
    if facts.substitutes_for:
        annotations["olm.substitutesFor"] = facts.substitutes_for
    annotations.update(dict(facts.annotations))
    labels = {
        "operators.operatorframework.io.bundle.package.v1": facts.package,
        "operators.operatorframework.io.bundle.channels.v1": facts.channels,
    }
    if facts.default:
        labels["operators.operatorframework.io.bundle.channel.default.v1"] = facts.default
    return write_bundle(
        root / key.replace("/", "_"),
        {"csv.json": csv_doc(facts.name, spec, annotations)},
        annotations=labels,
    )


class Index:
    """A catalog built like opm's tests build a database: populate, deprecate, read back."""

    def __init__(self, root: Path, *, check_images: bool = True) -> None:
        self.root = root
        self.catalog = MemoryCatalog()
        self.options = ValidationOptions(image_references=check_images)
        self._count = 0

    def render(self, image: str, facts: Facts) -> RenderedBundle:
        """Render ``facts`` as the bundle image ``image``."""
        self._count += 1
        path = bundle_dir(self.root, f"{self._count}-{image}", facts)
        return render_bundle(path, image)

    def populate(
        self,
        images: Sequence[tuple[str, Facts]],
        *,
        mode: str = "replaces",
        overwrite: bool = False,
    ) -> None:
        """``DirectoryPopulator.Populate``: add the images together (all or nothing)."""
        rendered = [self.render(image, facts) for image, facts in images]
        result = add_bundles(
            self.catalog,
            rendered,
            mode=mode,  # type: ignore[arg-type]
            overwrite_latest=overwrite,
            validation=self.options,
        )
        self.catalog.apply(result.changes)

    def deprecate(self, images: Sequence[str], *, allow_package_removal: bool = False) -> None:
        """Deprecate-truncate ``images``."""
        result = deprecate_truncate(
            self.catalog,
            images,
            allow_package_removal=allow_package_removal,
            validation=self.options,
        )
        self.catalog.apply(result.changes)

    # -- reading back ----------------------------------------------------------------------

    def entries(self) -> Counter[str]:
        """``<bundle image>/<channel>`` of every channel entry (opm ``ListBundles``, minus the
        deprecated bundles, which the migrated FBC leaves out)."""
        out: Counter[str] = Counter()
        for name in self.catalog.package_names():
            docs = self.catalog.load_package(name)
            assert docs is not None
            images = {b.name: b.image for b in docs.bundles}
            for channel in docs.channels:
                for entry in channel.entries:
                    out[f"{images[entry.name]}/{channel.name}"] += 1
        return out

    def channels(self, package: str) -> set[str]:
        """The package's channel names."""
        docs = self.catalog.load_package(package)
        return {c.name for c in docs.channels} if docs else set()

    def default_channel(self, package: str) -> str:
        """The package's default channel."""
        docs = self.catalog.load_package(package)
        return docs.package.default_channel if docs and docs.package else ""

    def graph(self, package: str) -> dict[str, tuple[str, dict[str, set[str]]]]:
        """Per channel: its head and each entry's edges (replaces and skips), by CSV name."""
        from services.catalog.graph import channel_head

        docs = self.catalog.load_package(package)
        assert docs is not None
        out: dict[str, tuple[str, dict[str, set[str]]]] = {}
        for channel in docs.channels:
            entries = {e.name: e for e in channel.entries}
            head, err = channel_head(entries)
            assert head is not None, err
            edges = {e.name: {x for x in [e.replaces, *e.skips] if x} for e in channel.entries}
            out[channel.name] = (head, edges)
        return out

    def edges(self, package: str) -> dict[tuple[str, str], set[str]]:
        """``(target, channel) -> entries with an edge to target`` (opm GetBundleThatReplaces)."""
        docs = self.catalog.load_package(package)
        assert docs is not None
        out: dict[tuple[str, str], set[str]] = {}
        for channel in docs.channels:
            for entry in channel.entries:
                for target in [entry.replaces, *entry.skips]:
                    if target:
                        out.setdefault((target, channel.name), set()).add(entry.name)
        return out

    def versions(self, package: str) -> dict[str, str]:
        """CSV name -> version of every bundle blob."""
        docs = self.catalog.load_package(package)
        assert docs is not None
        return {b.name: b.version() or "" for b in docs.bundles}

    def images(self, package: str) -> dict[str, str]:
        """CSV name -> bundle image of every bundle blob."""
        docs = self.catalog.load_package(package)
        assert docs is not None
        return {b.name: b.image for b in docs.bundles}
