"""The catalog engine: File-Based Catalogs handled natively (a sans-IO library).

Replaces ``opm render``, ``opm registry/index add|rm|deprecatetruncate``, ``opm migrate``,
``opm validate`` and ``opm serve --cache-only`` for IIB's purposes. Nothing here talks to a
registry, a database server or a subprocess; it reads and writes files and opens legacy
``index.db`` files read-only with :mod:`sqlite3`. Errors are
:class:`~services.common.errors.CatalogError` (``CatalogValidationError`` for validation).

Reading and writing catalogs
    :class:`CatalogDir` - a catalog directory indexed once (``CatalogDir.open(path)``), read one
    package at a time (``package_names``, ``load_package``, ``iter_packages``, ``summary``) and
    written by applying change sets (``apply``, ``write_package``, ``remove_package``): changed
    packages go to ``<pkg>/catalog.json`` in opm's byte-stable JSON form, untouched packages'
    files are left byte for byte as they were. :func:`write_catalog` writes a whole view to
    an empty directory. :class:`MemoryCatalog` holds packages in memory.

Rendering a bundle
    :func:`render_bundle` (``bundle_root`` with ``manifests/`` + ``metadata/``, ``image``,
    ``csv_metadata``) -> :class:`RenderedBundle` (the ``olm.bundle`` blob plus package,
    channels, default channel, version, replaces, skips, skipRange, substitutesFor, CSV name,
    related images, the ``com.redhat.openshift.versions`` annotation and whether APIs removed
    in Kubernetes 1.22 are used).

Operations - pure functions ``(catalog view, inputs) -> result`` where ``result.catalog`` is
the new catalog (an :class:`Overlay`, nothing written), ``result.changes`` the change set to
``CatalogDir.apply`` and ``result.report`` what happened:
    :func:`add_bundles` (modes ``replaces``/``semver``/``semver-skippatch``,
    ``overwrite_latest``), :func:`remove_packages`, :func:`deprecate_truncate`,
    :func:`upsert_deprecations`, :func:`replace_packages_from_fragment`, :func:`merge_index`,
    :func:`add_max_ocp_version_property`. Helpers: :func:`present_bundle_images`,
    :func:`missing_bundles`, :func:`bundles_in_deprecation_list`,
    :func:`latest_bundles_per_package`, :func:`is_bundle_version_valid`,
    :func:`requires_max_ocp_version`.

Diffs
    :func:`catalog_diff` (base view, change set) -> :class:`CatalogDiff`: packages, channels and
    bundles added and removed, channel heads and default channels that moved, deprecations
    added (a request's catalog diff).

Validation
    :func:`validate` (whole catalog, package by package) and :func:`validate_package` - opm's
    conversion and model rules with opm's messages, all problems in one tree.

Legacy SQLite
    :func:`load_sqlite_index` - a read-only view of an ``index.db`` converted like
    ``opm migrate`` (write it with :func:`write_catalog`).

Serving cache
    :func:`write_serving_cache` - opm's JSON cache and its integrity digest;
    :func:`tree_digest` / :class:`TreeEntry` / :func:`directory_tree` - the digest over tree
    descriptions (paths, modes, bytes) so image layers can be built from the same data.
"""

from __future__ import annotations

from .cache import (
    CACHE_DIR_MODE,
    CACHE_FILE_MODE,
    CacheResult,
    seal_serving_cache,
    update_serving_cache,
    write_serving_cache,
)
from .diff import CatalogDiff, catalog_diff
from .directory import DEPRECATIONS_DIR, CatalogDir, list_catalog_files, write_catalog
from .gotar import TreeEntry, directory_tree, tree_digest
from .model import (
    Bundle,
    BundleRef,
    Channel,
    ChannelEntry,
    Deprecation,
    DeprecationEntry,
    Icon,
    Other,
    Package,
    PackageDocs,
    PackageSummary,
    Property,
    RelatedImage,
)
from .ocp import (
    add_max_ocp_version_property,
    is_bundle_version_valid,
    requires_max_ocp_version,
)
from .ops_add import AddReport, AddResult, GraphUpdateMode, add_bundles
from .ops_deprecate import DeprecateReport, DeprecateResult, deprecate_truncate
from .ops_merge import MergeReport, MergeResult, merge_index
from .ops_packages import (
    PackageOpReport,
    PackageOpResult,
    bundles_in_deprecation_list,
    deprecations_file,
    latest_bundles_per_package,
    missing_bundles,
    present_bundle_images,
    remove_packages,
    replace_packages_from_fragment,
    upsert_deprecations,
)
from .properties import canonical_properties, convert_to_csv_metadata
from .render import RenderedBundle, render_bundle
from .sqlite_import import SqliteCatalog, load_sqlite_index
from .validate import ValidationOptions, validate, validate_package
from .views import CatalogChanges, CatalogView, FragmentPackage, MemoryCatalog, Overlay
from .yaml_to_json import normalize_yaml_to_json

__all__ = [
    "CACHE_DIR_MODE",
    "CACHE_FILE_MODE",
    "DEPRECATIONS_DIR",
    "AddReport",
    "AddResult",
    "Bundle",
    "BundleRef",
    "CacheResult",
    "CatalogChanges",
    "CatalogDiff",
    "CatalogDir",
    "CatalogView",
    "Channel",
    "ChannelEntry",
    "DeprecateReport",
    "DeprecateResult",
    "Deprecation",
    "DeprecationEntry",
    "FragmentPackage",
    "GraphUpdateMode",
    "Icon",
    "MemoryCatalog",
    "MergeReport",
    "MergeResult",
    "Other",
    "Overlay",
    "Package",
    "PackageDocs",
    "PackageOpReport",
    "PackageOpResult",
    "PackageSummary",
    "Property",
    "RelatedImage",
    "RenderedBundle",
    "SqliteCatalog",
    "TreeEntry",
    "ValidationOptions",
    "add_bundles",
    "add_max_ocp_version_property",
    "bundles_in_deprecation_list",
    "canonical_properties",
    "catalog_diff",
    "convert_to_csv_metadata",
    "deprecate_truncate",
    "deprecations_file",
    "directory_tree",
    "is_bundle_version_valid",
    "latest_bundles_per_package",
    "list_catalog_files",
    "load_sqlite_index",
    "merge_index",
    "missing_bundles",
    "normalize_yaml_to_json",
    "present_bundle_images",
    "remove_packages",
    "render_bundle",
    "replace_packages_from_fragment",
    "requires_max_ocp_version",
    "tree_digest",
    "upsert_deprecations",
    "validate",
    "validate_package",
    "write_catalog",
    "seal_serving_cache",
    "update_serving_cache",
    "write_serving_cache",
]
