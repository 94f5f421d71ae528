"""merge-index-image (§1.4): bring a source index up to date with a target index.

The function is pure: rendering bundle images and reading their OCP-version labels are I/O,
so the caller injects them (``render`` and ``ocp_label``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.common.errors import CatalogError

from .model import BundleRef
from .ocp import add_max_ocp_version_property, is_bundle_version_valid
from .ops_add import GraphUpdateMode, add_bundles
from .ops_deprecate import deprecate_truncate
from .ops_packages import (
    bundles_in_deprecation_list,
    latest_bundles_per_package,
    present_bundle_images,
)
from .render import RenderedBundle
from .views import CatalogChanges, CatalogView, Overlay

__all__ = ["MergeReport", "MergeResult", "merge_index"]


@dataclass(slots=True)
class MergeReport:
    """What a merge did."""

    missing_bundles: list[str] = field(default_factory=list)
    invalid_version_bundles: list[str] = field(default_factory=list)
    deprecated_bundles: list[str] = field(default_factory=list)
    max_ocp_updated: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MergeResult:
    """The merged catalog, all changes to write on the source, and the report."""

    catalog: Overlay
    changes: CatalogChanges
    report: MergeReport


def _digest(ref: BundleRef, which: str) -> str:
    if "@sha256:" not in ref.image:
        raise CatalogError(
            f"Bundle {ref.image} in the {which} index image is not defined via digest"
        )
    return ref.image.split("@sha256:")[-1]


def merge_index(
    source: CatalogView,
    target: CatalogView | None,
    deprecation_list: Sequence[str],
    *,
    target_ocp_version: str,
    render: Callable[[str], RenderedBundle],
    ocp_label: Callable[[str], str | None],
    allow_no_ocp_version: bool = False,
    graph_update_mode: GraphUpdateMode | None = None,
) -> MergeResult:
    """Merge ``target``'s bundles missing from ``source`` into it, then deprecate.

    * missing = target bundles whose digest and CSV name are both absent from the source;
    * invalid = missing + source bundles whose ``com.redhat.openshift.versions`` label does
      not admit ``target_ocp_version`` (:func:`~.ocp.is_bundle_version_valid`);
    * the missing bundles are rendered (``render(image)``) and added (never overwriting),
      then ``olm.maxOpenShiftVersion`` is applied to them;
    * deprecated = the resolved ``deprecation_list`` entries present in missing + source,
      plus invalid bundles whose package is in the merged catalog, reduced to the latest
      version per package, then deprecate-truncated.
    """
    report = MergeReport()
    source_refs = present_bundle_images(source)
    target_refs = present_bundle_images(target) if target is not None else []
    source_digests = {_digest(ref, "source") for ref in source_refs}
    source_names = {ref.name for ref in source_refs}
    target_digests = [(_digest(ref, "target"), ref) for ref in target_refs]
    missing = [
        ref
        for digest, ref in target_digests
        if digest not in source_digests and ref.name not in source_names
    ]
    report.missing_bundles = [ref.image for ref in missing]
    invalid = [
        ref
        for ref in itertools.chain(missing, source_refs)
        if not is_bundle_version_valid(
            ocp_label(ref.image), target_ocp_version, allow_no_ocp_version
        )
    ]

    changes = CatalogChanges()
    merged: CatalogView = source
    rendered = [render(ref.image) for ref in missing]
    if rendered:
        added = add_bundles(merged, rendered, mode=graph_update_mode or "replaces")
        changes = changes.merged(added.changes)
        merged = added.catalog
        max_ocp = add_max_ocp_version_property(merged, rendered)
        changes = changes.merged(max_ocp.changes)
        merged = Overlay(source, changes)
        report.max_ocp_updated = max_ocp.report.updated

    candidates = report.missing_bundles + [ref.image for ref in source_refs]
    deprecations = bundles_in_deprecation_list(candidates, deprecation_list)
    if invalid:
        packages = set(merged.package_names())
        kept = [ref for ref in invalid if ref.package in packages]
        report.invalid_version_bundles = [ref.image for ref in kept]
        deprecations += [ref.image for ref in kept]
    if deprecations:
        latest = latest_bundles_per_package(deprecations, [*source_refs, *target_refs])
        result = deprecate_truncate(merged, latest)
        changes = changes.merged(result.changes)
        report.deprecated_bundles = latest
    return MergeResult(Overlay(source, changes), changes, report)
