"""Package-level operations: remove, add-deprecations, FBC fragments, present bundles.

* :func:`remove_packages` - ``opm registry rm`` / IIB's FBC ``rm`` (§4.6, §1.2): the package's
  documents, its directory and ``_operator-deprecations-content/<pkg>`` go.
* :func:`upsert_deprecations` - IIB's add-deprecations (§1.7): writes
  ``_operator-deprecations-content/<pkg>/<pkg>.json`` = ``json.dumps(json.loads(schema))``.
* :func:`replace_packages_from_fragment` - IIB's fbc-operations (§1.6): the fragment's
  top-level directories are package names; each replaces the catalog's package entirely,
  files copied byte for byte.
* :func:`present_bundle_images` / :func:`missing_bundles` - §1.1 step 7.
* :func:`bundles_in_deprecation_list` / :func:`latest_bundles_per_package` - IIB helpers used
  before deprecate-truncate (§1.1 step 10, §1.4 step 6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import CatalogError

from . import limits, semver
from .codec import decode_doc
from .directory import DEPRECATIONS_DIR, _add_doc, list_catalog_files
from .documents import decode_stream, read_bounded
from .model import SCHEMA_DEPRECATIONS, BundleRef, PackageDocs
from .views import CatalogChanges, CatalogView, FragmentPackage, Overlay

__all__ = [
    "PackageOpReport",
    "PackageOpResult",
    "bundles_in_deprecation_list",
    "deprecations_file",
    "latest_bundles_per_package",
    "missing_bundles",
    "present_bundle_images",
    "remove_packages",
    "replace_packages_from_fragment",
    "upsert_deprecations",
]


@dataclass(slots=True)
class PackageOpReport:
    """Packages an operation changed or could not find."""

    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    written_files: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PackageOpResult:
    """The new catalog, the changes to write and the report."""

    catalog: Overlay
    changes: CatalogChanges
    report: PackageOpReport


def deprecations_file(package: str) -> str:
    """IIB's add-deprecations file for ``package`` (catalog-relative)."""
    return f"{DEPRECATIONS_DIR}/{package}/{package}.json"


def remove_packages(
    catalog: CatalogView, names: Iterable[str], *, permissive: bool = False
) -> PackageOpResult:
    """Remove packages (duplicates and empty names ignored).

    An unknown package is opm's ``error deleting packages from database: error removing
    operator package p: no package found for packagename p`` unless ``permissive`` (IIB's FBC
    ``rm`` behaves permissively: nothing to remove is fine).
    """
    changes = CatalogChanges()
    report = PackageOpReport()
    known = set(catalog.package_names())
    for name in dict.fromkeys(n for n in names if n):
        if name not in known:
            if not permissive:
                raise CatalogError(
                    f"error deleting packages from database: error removing operator package "
                    f"{name}: no package found for packagename {name}"
                )
            report.missing.append(name)
            continue
        changes.set(name, None)
        report.removed.append(name)
    return PackageOpResult(Overlay(catalog, changes), changes, report)


def upsert_deprecations(catalog: CatalogView, package: str, schema_text: str) -> PackageOpResult:
    """Write (or overwrite) the ``olm.deprecations`` document of ``package`` as IIB does.

    The file content is exactly ``json.dumps(json.loads(schema_text))``. The package must
    exist (IIB: ``Cannot add deprecations for {pkg}, It is either not present in index or
    opted in fbc``); the schema must be an ``olm.deprecations`` object for that package.
    """
    docs = catalog.load_package(package)
    if docs is None or not docs.packages:
        raise CatalogError(
            f"Cannot add deprecations for {package}, It is either not present in index or opted "
            "in fbc"
        )
    try:
        parsed = json.loads(schema_text)
    except ValueError as exc:
        raise CatalogError(f"deprecation schema for {package} is not valid JSON: {exc}") from None
    path = deprecations_file(package)
    _, doc = decode_doc(parsed, path, origin=path)
    if (
        getattr(doc, "package", None) != package
        or not isinstance(parsed, dict)
        or (parsed.get("schema") != SCHEMA_DEPRECATIONS)
    ):
        raise CatalogError(
            f"deprecation schema must be an {SCHEMA_DEPRECATIONS} document for package {package}"
        )
    content = json.dumps(parsed).encode("utf-8")
    docs.deprecations = [d for d in docs.deprecations if d.origin != path]
    docs.others = [o for o in docs.others if o.origin != path]
    _add_doc(docs, doc)
    docs.aux_files[path] = content
    changes = CatalogChanges()
    changes.set(package, docs)
    report = PackageOpReport(written_files=[path])
    return PackageOpResult(Overlay(catalog, changes), changes, report)


def _read_fragment_package(root: Path, package: str, label: str) -> FragmentPackage:
    package_dir = root / package
    files: dict[str, bytes] = {}
    for path in sorted(package_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(package_dir).as_posix()
        files[rel] = read_bounded(
            path, max_bytes=limits.MAX_FILE_BYTES, label=f"{label}/{package}/{rel}"
        )
    docs = PackageDocs(package)
    loadable = {
        f[len(package) + 1 :] for f in list_catalog_files(root) if f.startswith(package + "/")
    }
    for rel in sorted(loadable):
        where = f"{label}/{package}/{rel}"
        for index, raw in enumerate(decode_stream(files[rel], name=where), start=1):
            owner, doc = decode_doc(raw, f"{where} (document {index})")
            if owner != package:
                raise CatalogError(
                    f"{where} (document {index}): belongs to package {owner!r}, but fbc fragment "
                    f"directory {package!r} may only hold package {package!r}"
                )
            _add_doc(docs, doc)
    return FragmentPackage(docs, files)


def replace_packages_from_fragment(
    catalog: CatalogView,
    fragment_root: Path,
    *,
    label: str = "",
    keep_deprecations_for: Iterable[str] = (),
) -> PackageOpResult:
    """Replace packages by the content of an FBC fragment (IIB fbc-operations).

    Each top-level directory of ``fragment_root`` names a package; the catalog's package is
    replaced entirely by the fragment's files. IIB also deletes
    ``_operator-deprecations-content/<pkg>`` for packages that came from its hidden database;
    here that happens for every package except those in ``keep_deprecations_for``.
    """
    name = label or str(fragment_root)
    root = Path(fragment_root)
    if not root.is_dir():
        raise CatalogError(f"fbc fragment {name}: {root} is not a directory")
    entries = sorted(p.name for p in root.iterdir())
    if not entries:
        raise CatalogError(f"No operator packages in fbc_fragment {name}")
    keep = set(keep_deprecations_for)
    changes = CatalogChanges()
    report = PackageOpReport()
    for package in entries:
        if not (root / package).is_dir() or (root / package).is_symlink():
            raise CatalogError(
                f"fbc fragment {name}: top-level entry {package!r} is not a package directory"
            )
        fragment = _read_fragment_package(root, package, name)
        if package in keep:
            existing = catalog.load_package(package)
            if existing is not None:
                fragment.docs.aux_files.update(existing.aux_files)
                fragment.docs.deprecations.extend(d for d in existing.deprecations if d.origin)
                fragment.docs.others.extend(o for o in existing.others if o.origin)
        changes.set(package, fragment)
        report.replaced.append(package)
    return PackageOpResult(Overlay(catalog, changes), changes, report)


def present_bundle_images(catalog: CatalogView) -> list[BundleRef]:
    """Bundles of the catalog, unique by image (first one kept), in package/bundle name order."""
    seen: set[str] = set()
    out: list[BundleRef] = []
    for package in catalog.package_names():
        summary = catalog.summary(package)
        if summary is None:
            continue
        for ref in sorted(summary.bundles, key=lambda r: r.name):
            if ref.image in seen:
                continue
            seen.add(ref.image)
            out.append(ref)
    return out


def missing_bundles(present_images: Iterable[str], candidates: Sequence[str]) -> list[str]:
    """IIB's ``_get_missing_bundles``: the candidates not already in the index.

    Only present images pinned by digest count; a candidate is present when the same string
    is present, or when its digest appears in a present image (other registry/repo).
    """
    pinned = [image for image in present_images if "@sha256:" in image]
    exact = set(pinned)
    out: list[str] = []
    for candidate in candidates:
        if candidate in exact:
            continue
        digest = candidate.split("@sha256:")[-1]
        if any(digest in image for image in pinned):
            continue
        out.append(candidate)
    return out


def bundles_in_deprecation_list(
    bundles: Sequence[str], deprecation_list: Iterable[str]
) -> list[str]:
    """IIB's ``get_bundles_from_deprecation_list`` on an already resolved list (exact match)."""
    wanted = set(deprecation_list)
    return [b for b in bundles if b in wanted]


def latest_bundles_per_package(images: Sequence[str], refs: Sequence[BundleRef]) -> list[str]:
    """IIB's ``get_bundles_latest_version``: the highest-version image per package, sorted.

    ``refs`` describe every known bundle (source + target); duplicates by image are ignored.
    Every image must be among them, else ``Failed to retrieve bundles by semver, missing
    bundle images: [...]``.
    """
    wanted = set(images)
    by_image: dict[str, BundleRef] = {}
    for ref in refs:
        if ref.image in wanted:
            by_image.setdefault(ref.image, ref)
    missing = sorted(wanted - set(by_image))
    if missing:
        raise CatalogError(
            f"Failed to retrieve bundles by semver, missing bundle images: {missing}"
        )
    latest: dict[str, tuple[semver.Version, str]] = {}
    for image in dict.fromkeys(images):
        ref = by_image[image]
        try:
            version = semver.parse(ref.version)
        except semver.SemverError as exc:
            raise CatalogError(f"{ref.version} is not valid SemVer string: {exc}") from None
        current = latest.get(ref.package)
        if current is None or version.compare(current[0]) >= 0:
            latest[ref.package] = (version, image)
    return sorted(path for _, path in latest.values())
