"""OpenShift-version rules: IIB's ``is_bundle_version_valid`` and ``olm.maxOpenShiftVersion``.

* :func:`is_bundle_version_valid` decides whether a bundle's ``com.redhat.openshift.versions``
  label admits an index's OCP version (merge-index-image, §1.4.a).
* :func:`requires_max_ocp_version` reproduces the operator-sdk community validator check IIB
  runs after adding bundles (§4.11): a bundle that ships an API removed in Kubernetes 1.22
  needs ``olm.maxOpenShiftVersion`` < 4.9; :func:`add_max_ocp_version_property` then adds the
  property with the JSON number ``4.8``, as the re-migrated SQLite row shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.common.errors import CatalogError

from . import semver
from .documents import loads_bounded
from .model import PROP_MAX_OCP, Property
from .properties import canonical_properties
from .render import RenderedBundle
from .views import CatalogChanges, CatalogView, Overlay

__all__ = [
    "MaxOcpReport",
    "MaxOcpResult",
    "add_max_ocp_version_property",
    "is_bundle_version_valid",
    "parse_ocp_version",
    "requires_max_ocp_version",
]

_RELEASE = re.compile(r"^\s*[vV]?(\d+(?:\.\d+)*)\s*$")


@dataclass(frozen=True, order=True, slots=True)
class _OcpVersion:
    release: tuple[int, ...]


def _version(text: str) -> _OcpVersion:
    """A PEP 440 release-only version (what ``packaging.Version`` accepts for OCP labels)."""
    match = _RELEASE.match(text)
    if match is None:
        raise ValueError(f"Invalid version: {text!r}")
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return _OcpVersion(tuple(parts))


def parse_ocp_version(index_version: str) -> _OcpVersion:
    """Parse an index's OCP version (``v4.6``) or raise IIB's ``Invalid OCP version`` error."""
    try:
        return _version(index_version.replace("v", ""))
    except ValueError:
        raise CatalogError(
            f'Invalid OCP version, "{index_version}", specified in Index Image'
        ) from None


def is_bundle_version_valid(
    label: str | None, index_version: str, allow_no_ocp_version: bool
) -> bool:
    """IIB's rule: does a ``com.redhat.openshift.versions`` label admit ``index_version``?

    ``label`` is the bundle's label value (``None``/empty when absent). Raises
    :class:`~services.common.errors.CatalogError` for an unparsable index version.
    """
    ocp = parse_ocp_version(index_version)
    if allow_no_ocp_version and not label:
        return True
    if not label:
        return False
    bundle_version = label.replace("v", "")
    try:
        if "|" in label:
            parts = label.split("|")
            if not all(p.startswith(("=", ">=")) for p in parts):
                return False
            for part in parts:
                if part.startswith(">="):
                    if ocp >= _version(part.strip(">=")):
                        return True
                elif part.startswith("="):
                    if _version(part.strip("=")) == ocp:
                        return True
        elif label.startswith("="):
            if _version(bundle_version.strip("=")) == ocp:
                return True
        elif "-" in label:
            low, high = (_version(v) for v in bundle_version.split("-"))
            if low <= ocp <= high:
                return True
        elif "," in label:
            versions = sorted(_version(v) for v in bundle_version.split(","))
            if versions[0] <= ocp:
                return True
        elif _version(bundle_version) <= ocp:
            return True
    except ValueError:
        return False
    return False


def _parse_tolerant(text: str) -> semver.Version:
    """blang's ``ParseTolerant``: trims, drops a leading ``v``, fills missing parts with 0."""
    text = text.strip()
    if text.startswith("v"):
        text = text[1:]
    parts = text.split(".", 2)
    for i, part in enumerate(parts):
        if len(part) > 1:
            trimmed = part.lstrip("0")
            if not trimmed or not trimmed[0].isdigit():
                trimmed = "0" + trimmed
            parts[i] = trimmed
    if len(parts) < 3:
        if any(ch in parts[-1] for ch in "+-"):
            raise semver.SemverError("Short version cannot contain PreRelease/Build meta data")
        parts += ["0"] * (3 - len(parts))
    return semver.parse(".".join(parts))


def requires_max_ocp_version(bundle: RenderedBundle) -> bool:
    """Would IIB add ``olm.maxOpenShiftVersion`` = 4.8 to this bundle (§4.11)?"""
    if not bundle.uses_removed_1_22_apis:
        return False
    properties = bundle.csv_annotations.get("olm.properties", "")
    if not properties:
        return True
    try:
        entries = loads_bounded(properties)
        if not isinstance(entries, list):
            raise ValueError("not a list")
        typed: list[tuple[str, str]] = []
        for item in entries:
            if not isinstance(item, dict):
                raise ValueError("entry is not an object")
            item_type = item.get("type", item.get("Type", ""))
            value = item.get("value", item.get("Value", ""))
            if not isinstance(item_type, str) or not isinstance(value, str):
                raise ValueError("type and value must be strings")
            typed.append((item_type, value))
    except ValueError:
        return PROP_MAX_OCP in properties
    value = next((v for t, v in typed if t == PROP_MAX_OCP), None)
    if value is None:
        return True
    try:
        version = _parse_tolerant(value)
    except semver.SemverError:
        return False
    if (version.major, version.minor, version.patch, version.pre) != (
        version.major,
        version.minor,
        0,
        (),
    ):
        return False
    return version.compare(semver.Version(4, 9, 0)) >= 0


@dataclass(slots=True)
class MaxOcpReport:
    """Bundles that received ``olm.maxOpenShiftVersion``."""

    updated: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MaxOcpResult:
    """The new catalog, the changes to write and the report."""

    catalog: Overlay
    changes: CatalogChanges
    report: MaxOcpReport


def add_max_ocp_version_property(
    catalog: CatalogView, bundles: Iterable[RenderedBundle]
) -> MaxOcpResult:
    """Add ``olm.maxOpenShiftVersion: 4.8`` to the added bundles that need it (§4.11).

    Looks the bundles up by image in their package (as IIB does in the index database); a
    bundle no longer in the catalog is skipped.
    """
    changes = CatalogChanges()
    report = MaxOcpReport()
    by_package: dict[str, list[RenderedBundle]] = {}
    for rendered in bundles:
        if requires_max_ocp_version(rendered):
            by_package.setdefault(rendered.package, []).append(rendered)
    for package, group in sorted(by_package.items()):
        docs = catalog.load_package(package)
        if docs is None:
            continue
        images = {r.image for r in group}
        changed = False
        for bundle in docs.bundles:
            if bundle.image in images:
                bundle.properties = canonical_properties(
                    [*bundle.properties, Property(PROP_MAX_OCP, 4.8)]
                )
                report.updated.append(bundle.name)
                changed = True
        if changed:
            changes.set(package, docs)
    return MaxOcpResult(Overlay(catalog, changes), changes, report)
