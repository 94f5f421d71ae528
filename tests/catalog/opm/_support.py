"""Shared helpers for the tests ported from operator-registry (opm) v1.73.0.

Every expected value in ``tests/catalog/opm`` comes from an opm test table or testdata file;
each case names its Go source as ``source`` (``path/to/file_test.go TestName/"case"``). The
helpers here only build inputs and restate opm's own builders (``property.MustBuild*``), so
an expected value is never produced by the engine under test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.catalog import (
    Bundle,
    CatalogDir,
    Channel,
    ChannelEntry,
    Deprecation,
    DeprecationEntry,
    Icon,
    MemoryCatalog,
    Other,
    Package,
    PackageDocs,
    Property,
    RelatedImage,
)

#: The operator-registry tag every case was read at (the last one with SQLite code).
OPM_TAG = "v1.73.0"
OPM_COMMIT = "19af4a361697de502ae43b0ab5b072973cbe4655"

TESTDATA = Path(__file__).resolve().parent / "testdata"


def case(source: str, *values: Any, marks: Any = ()) -> Any:
    """A ``pytest.param`` whose id is the opm test it was ported from."""
    return pytest.param(*values, id=source, marks=marks)


# -- opm's property builders (alpha/property/property.go MustBuild*) ------------------------


def go_json(value: Any) -> str:
    """Go ``json.Marshal`` of plain data: compact, map keys sorted, ``<>&`` escaped.

    Written independently of ``services.catalog.gojson`` so expected values do not depend on
    the code under test.
    """
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def prop_package(name: str, version: str, release: str = "") -> tuple[str, Any]:
    """``property.MustBuildPackage`` / ``MustBuildPackageRelease``."""
    value: dict[str, Any] = {"packageName": name, "version": version}
    if release:
        value["release"] = release
    return ("olm.package", value)


def prop_package_required(name: str, version_range: str) -> tuple[str, Any]:
    """``property.MustBuildPackageRequired``."""
    return ("olm.package.required", {"packageName": name, "versionRange": version_range})


def prop_gvk(group: str, version: str, kind: str) -> tuple[str, Any]:
    """``property.MustBuildGVK(group, version, kind)``: the value is ``{group, kind, version}``."""
    return ("olm.gvk", {"group": group, "kind": kind, "version": version})


def prop_gvk_required(group: str, version: str, kind: str) -> tuple[str, Any]:
    """``property.MustBuildGVKRequired(group, version, kind)``."""
    return ("olm.gvk.required", {"group": group, "kind": kind, "version": version})


def prop_bundle_object(data: str | bytes) -> tuple[str, Any]:
    """``property.MustBuildBundleObject(data)``: ``{"data": base64(data)}``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return ("olm.bundle.object", {"data": base64.b64encode(raw).decode("ascii")})


def as_pairs(props: Iterable[Property]) -> list[tuple[str, Any]]:
    """``(type, value)`` of each property, in order."""
    return [(p.type, p.value) for p in props]


def as_texts(props: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """``(type, Go JSON of value)``: compares values including their key order."""
    return [(t, json.dumps(v, separators=(",", ":"), ensure_ascii=False)) for t, v in props]


def yaml_to_json(path: Path) -> str:
    """``yaml.ToJSON`` of a small manifest (sigs.k8s.io/yaml: map keys sorted, Go escaping).

    Uses PyYAML's plain safe loader, independent of the engine's go-yaml emulation; only
    applied to opm testdata whose scalars read the same under both rule sets.
    """
    import yaml

    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return go_json(docs[0])


# -- declcfg in Python ----------------------------------------------------------------------


@dataclass
class Config:
    """A flat DeclarativeConfig: every document of a catalog by kind (load order kept)."""

    packages: list[Package] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    bundles: list[Bundle] = field(default_factory=list)
    deprecations: list[Deprecation] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)

    def add(self, doc: Any) -> None:
        """Append one decoded document to its list."""
        if isinstance(doc, Package):
            self.packages.append(doc)
        elif isinstance(doc, Channel):
            self.channels.append(doc)
        elif isinstance(doc, Bundle):
            self.bundles.append(doc)
        elif isinstance(doc, Deprecation):
            self.deprecations.append(doc)
        else:
            assert isinstance(doc, Other)
            self.others.append(doc)

    def package_docs(self) -> list[PackageDocs]:
        """The documents grouped by package (documents without a package left out)."""
        by_name: dict[str, PackageDocs] = {}

        def docs(name: str) -> PackageDocs:
            return by_name.setdefault(name, PackageDocs(name))

        for pkg in self.packages:
            if pkg.name:
                docs(pkg.name).packages.append(pkg)
        for channel in self.channels:
            if channel.package:
                docs(channel.package).channels.append(channel)
        for bundle in self.bundles:
            if bundle.package:
                docs(bundle.package).bundles.append(bundle)
        for dep in self.deprecations:
            if dep.package:
                docs(dep.package).deprecations.append(dep)
        for other in self.others:
            if other.package:
                docs(other.package).others.append(other)
        return [by_name[n] for n in sorted(by_name)]

    def catalog(self) -> MemoryCatalog:
        """A memory catalog of the config's packages."""
        return MemoryCatalog(self.package_docs())

    def root_documents(self) -> list[Any]:
        """Documents that name no package (opm keeps them in the config; the engine's views
        expose them as ``root_documents``)."""
        return [
            *(p for p in self.packages if not p.name),
            *(c for c in self.channels if not c.package),
            *(b for b in self.bundles if not b.package),
            *(d for d in self.deprecations if not d.package),
            *(o for o in self.others if not o.package),
        ]

    def view(self) -> RootedCatalog:
        """The config as a catalog view, package-less documents included."""
        return RootedCatalog(self.package_docs(), self.root_documents())


class RootedCatalog(MemoryCatalog):
    """A memory catalog that also has package-less documents (as a catalog directory can)."""

    def __init__(self, packages: Iterable[PackageDocs], root: list[Any]) -> None:
        super().__init__(packages)
        self._root = root

    def root_documents(self) -> list[Any]:
        """The package-less documents."""
        return list(self._root)


def load_config(root: Path) -> Config:
    """Every document of a catalog directory (opm ``LoadFS``): packages, then root documents."""
    catalog = CatalogDir.open(root)
    cfg = Config()
    for name in catalog.package_names():
        docs = catalog.load_package(name)
        assert docs is not None
        for doc in [
            *docs.packages,
            *docs.channels,
            *docs.bundles,
            *docs.deprecations,
            *docs.others,
        ]:
            cfg.add(doc)
    for doc in catalog.root_documents():
        cfg.add(doc)
    return cfg


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative path: content}`` under ``root`` (an fstest.MapFS on disk)."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


# -- alpha/declcfg/helpers_test.go: the "valid declarative config" -------------------------

SVG_SMALL_CIRCLE = '<svg viewBox="0 0 100 100"><circle cx="25" cy="25" r="25"/></svg>'
SVG_BIG_CIRCLE = '<svg viewBox="0 0 100 100"><circle cx="50" cy="50" r="50"/></svg>'
CRD_JSON = '{"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1"}'


def tb_name(package: str, version: str) -> str:
    """``testBundleName``."""
    return f"{package}.v{version}"


def bundle_image(package: str, version: str) -> str:
    """``testBundleImage``."""
    return f"{package}-bundle:v{version}"


def csv_json(package: str, version: str) -> str:
    """``getCSVJson``: the CSV object text of a helper bundle (spaces as in opm's source)."""
    name = json.dumps(tb_name(package, version))
    return (
        '{"kind": "ClusterServiceVersion", "apiVersion": "operators.coreos.com/v1alpha1", '
        f'"metadata":{{"name":{name}}}}}'
    )


def helper_bundle(
    package: str,
    version: str,
    *,
    properties: Sequence[tuple[str, Any]] | None = None,
    image: str | None = None,
) -> Bundle:
    """``newTestBundle``: properties sorted by (type, raw value) as the helper sorts them."""
    props = (
        list(properties)
        if properties is not None
        else [
            prop_package(package, version),
            prop_bundle_object(csv_json(package, version)),
            prop_bundle_object(CRD_JSON),
        ]
    )
    props.sort(key=lambda p: (p[0], json.dumps(p[1], separators=(",", ":"))))
    img = bundle_image(package, version) if image is None else image
    return Bundle(
        name=tb_name(package, version),
        package=package,
        image=img,
        properties=[Property(t, v) for t, v in props],
        related_images=[RelatedImage("bundle", bundle_image(package, version))],
    )


def helper_package(name: str, default_channel: str, svg: str) -> Package:
    """``newTestPackage``."""
    return Package(
        name=name,
        default_channel=default_channel,
        icon=Icon(base64.b64encode(svg.encode()).decode("ascii"), "image/svg+xml"),
        description=f"{name} operator",
    )


def helper_channel(package: str, name: str, *entries: ChannelEntry) -> Channel:
    """``newTestChannel``."""
    return Channel(name=name, package=package, entries=list(entries))


def valid_declarative_config(
    *, include_unrecognized: bool = False, include_deprecations: bool = False
) -> Config:
    """``buildValidDeclarativeConfig``: packages anakin (dark, light) and boba-fett (mando)."""
    a = "anakin"
    b = "boba-fett"
    cfg = Config(
        packages=[
            helper_package(a, "dark", SVG_SMALL_CIRCLE),
            helper_package(b, "mando", SVG_BIG_CIRCLE),
        ],
        channels=[
            helper_channel(
                a,
                "dark",
                ChannelEntry(tb_name(a, "0.0.1")),
                ChannelEntry(tb_name(a, "0.1.0"), replaces=tb_name(a, "0.0.1")),
                ChannelEntry(
                    tb_name(a, "0.1.1"),
                    replaces=tb_name(a, "0.0.1"),
                    skips=[tb_name(a, "0.1.0")],
                ),
            ),
            helper_channel(
                a,
                "light",
                ChannelEntry(tb_name(a, "0.0.1")),
                ChannelEntry(tb_name(a, "0.1.0"), replaces=tb_name(a, "0.0.1")),
            ),
            helper_channel(
                b,
                "mando",
                ChannelEntry(tb_name(b, "1.0.0")),
                ChannelEntry(tb_name(b, "2.0.0"), replaces=tb_name(b, "1.0.0")),
            ),
        ],
        bundles=[
            helper_bundle(a, "0.0.1"),
            helper_bundle(a, "0.1.0"),
            helper_bundle(a, "0.1.1"),
            helper_bundle(b, "1.0.0"),
            helper_bundle(b, "2.0.0"),
        ],
    )
    if include_unrecognized:
        cfg.others = [
            Other("custom.1", "", "", {"schema": "custom.1"}),
            Other("custom.2", "", "", {"schema": "custom.2"}),
            Other("custom.3", a, "", {"myField": "foobar", "package": a, "schema": "custom.3"}),
            Other("custom.3", b, "", {"myField": "foobar", "package": b, "schema": "custom.3"}),
        ]
    if include_deprecations:
        cfg.deprecations = [
            Deprecation(
                a,
                [
                    DeprecationEntry(
                        "olm.bundle",
                        tb_name(a, "0.0.1"),
                        "This bundle version is deprecated",
                    ),
                    DeprecationEntry("olm.channel", "light", "This channel is deprecated"),
                    DeprecationEntry(
                        "olm.package", "", "This package is deprecated... there is another"
                    ),
                ],
            )
        ]
    return cfg


# -- bundle directories -----------------------------------------------------------------------

DEFAULT_ANNOTATIONS = {
    "operators.operatorframework.io.bundle.package.v1": "foo",
    "operators.operatorframework.io.bundle.channels.v1": "alpha,stable",
    "operators.operatorframework.io.bundle.channel.default.v1": "stable",
}


def csv_doc(
    name: str, spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A ClusterServiceVersion object with ``spec`` as given."""
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": metadata,
        "spec": dict(spec),
    }


def crd_doc(group: str, plural: str, kind: str, versions: Sequence[str]) -> dict[str, Any]:
    """An apiextensions.k8s.io/v1 CustomResourceDefinition serving ``versions``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "versions": [{"name": v} for v in versions],
        },
    }


def write_bundle(
    root: Path,
    manifests: Mapping[str, Any],
    *,
    annotations: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """A bundle directory: ``manifests/`` (dicts written as JSON, strings as is), and
    ``metadata/annotations.yaml`` plus any other ``metadata`` files."""
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(exist_ok=True)
    for name, content in manifests.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (root / "manifests" / name).write_text(text)
    values = DEFAULT_ANNOTATIONS if annotations is None else annotations
    lines = ["annotations:"] + [f"  {k}: {json.dumps(v)}" for k, v in values.items()]
    (root / "metadata" / "annotations.yaml").write_text("\n".join(lines) + "\n")
    for name, text in (metadata or {}).items():
        (root / "metadata" / name).write_text(text)
    return root
