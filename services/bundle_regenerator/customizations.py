"""Bundle customizations: IIB's ``_adjust_operator_bundle`` (worker semantics §2), sans-IO.

The functions here work on a bundle extracted to a directory (``manifests/`` and
``metadata/``): they rewrite the ClusterServiceVersion with the ``operator-manifest`` library
(the library IIB uses, so pull specs are found and replaced exactly as IIB finds and replaces
them) and ``metadata/annotations.yaml`` with round-trip YAML. The only outside information
they need, what a pull spec resolves to and which labels its image has, comes through the
:class:`ImageLookup` seam, so the rules are tested with plain data and the worker plugs in the
registry.

Customizations run in the configured order (IIB_ORGANIZATION_CUSTOMIZATIONS[organization], or
:data:`DEFAULT_CUSTOMIZATIONS` when the organization has none) and may repeat; each one sees
the rewrites of the ones before it. The result is the labels to set on the regenerated image
and, when ``related_bundles`` ran, the related bundle pull specs to store.

IIB iterates its pull specs as a Python set, whose order changes from run to run; here they
are always processed in sorted order, so the registry calls and the first error reported are
the same on every run.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import ruamel.yaml
from ruamel.yaml.error import YAMLError

from services.catalog import limits
from services.catalog.documents import check_yaml, check_yaml_files, read_bounded
from services.catalog.labels import BUNDLE_PACKAGE, DELIVERY_BUNDLE, PINNED
from services.common.errors import CatalogError

with warnings.catch_warnings():
    # operator-manifest imports pkg_resources, which warns on import; every `iib` command
    # imports this module (worker registration), so the warning is silenced here
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    from operator_manifest.helpers import ValidationException
    from operator_manifest.operator import ImageName, OperatorCSV, OperatorManifest

__all__ = [
    "DEFAULT_CUSTOMIZATIONS",
    "AdjustResult",
    "Customization",
    "ImageLookup",
    "adjust_operator_bundle",
    "customizations_for",
    "is_bundle_image",
    "load_operator_manifest",
    "related_bundle_images",
    "yaml_truthy",
]

log = logging.getLogger(__name__)

ANNOTATIONS_FILE = "annotations.yaml"

T = TypeVar("T")


class ImageLookup(Protocol):
    """What the customizations need to know about images (the registry, in the worker)."""

    def resolve(self, pull_spec: str) -> str:
        """IIB's ``get_resolved_image``: ``<name>@<digest>`` (a list's own digest); raises an
        ``IIBError`` naming the image when it cannot be read."""

    def labels(self, pull_spec: str) -> Mapping[str, str]:
        """The labels of the image (amd64 of a list), in the config's order."""


@dataclass(frozen=True)
class Customization:
    """One entry of an organization's customization list (its parameters, when it has them)."""

    type: str
    suffix: str = ""
    replacements: Mapping[str, str] = field(default_factory=dict)
    template: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    namespace: str = ""
    enclosure_glue: str = ""

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> Customization:
        """From a validated IIB_ORGANIZATION_CUSTOMIZATIONS entry (``{"type": ..., ...}``)."""
        params = {key: value for key, value in entry.items() if key != "type"}
        return cls(type=str(entry["type"]), **params)


#: IIB's list for an organization without configured customizations (and for no organization).
DEFAULT_CUSTOMIZATIONS: tuple[Customization, ...] = tuple(
    Customization(kind)
    for kind in (
        "resolve_image_pullspecs",
        "related_bundles",
        "package_name_suffix",
        "registry_replacements",
        "perform_bundle_replacements",
        "image_name_from_labels",
        "csv_annotations",
        "enclose_repo",
    )
)


def customizations_for(
    configured: Mapping[str, Sequence[Mapping[str, Any]]], organization: str | None
) -> list[Customization]:
    """The organization's customizations, or IIB's default list when it has none."""
    entries = configured.get(organization) if organization else None
    if not entries:
        return list(DEFAULT_CUSTOMIZATIONS)
    return [Customization.from_config(entry) for entry in entries]


@dataclass
class AdjustResult:
    """What adjusting a bundle produced."""

    #: labels to set on the regenerated image, in the order they were decided
    labels: dict[str, str] = field(default_factory=dict)
    #: related bundle pull specs when ``related_bundles`` ran (its last run), else None
    related_bundles: list[str] | None = None
    #: the package name after ``package_name_suffix`` (None when annotations were not read)
    package_name: str | None = None


# --- YAML ------------------------------------------------------------------------------------


def _round_trip_yaml() -> ruamel.yaml.YAML:
    # IIB's settings: wide lines (JSON values in annotations must stay on one line) and quotes
    # kept as written, so a rewritten annotations.yaml differs only where it was changed.
    yaml = ruamel.yaml.YAML()
    yaml.width = 200
    yaml.preserve_quotes = True
    return yaml


def _check_round_trip(text: str, name: str) -> None:
    """Bound YAML before ruamel.yaml parses it (depth, nodes after alias expansion)."""
    check_yaml(
        text,
        name=name,
        max_nodes=limits.MAX_ROUND_TRIP_YAML_NODES,
        max_expanded_nodes=limits.MAX_ROUND_TRIP_YAML_NODES,
        expansion_ratio=0,
        syntax_errors=False,  # ruamel reports them, with IIB's messages
    )


def yaml_truthy(text: str) -> bool:
    """IIB's reading of a boolean label: the YAML 1.2 value of ``text`` (``false`` when empty),
    taken as Python truth. ``true``/``True`` are true, ``false``/``False``/``0`` false, and any
    other non-empty string (``yes``, ``no`` — strings in YAML 1.2) is true, as in IIB.

    :raises CatalogError: when the text is not YAML
    """
    try:
        _check_round_trip(text or "false", "label")
        return bool(_round_trip_yaml().load(text or "false"))
    except (YAMLError, CatalogError):
        shown = text if len(text) <= 80 else f"{text[:80]}..."
        raise CatalogError(f"The label value {shown!r} is not valid YAML") from None


def is_bundle_image(lookup: ImageLookup, pull_spec: str) -> bool:
    """Whether the image's ``com.redhat.delivery.operator.bundle`` label is YAML-true."""
    value = lookup.labels(pull_spec).get(DELIVERY_BUNDLE) or "false"
    try:
        return yaml_truthy(value)
    except CatalogError:
        raise CatalogError(
            f"The {DELIVERY_BUNDLE} label of {pull_spec} is not valid YAML: {value!r}"
        ) from None


# --- loading ---------------------------------------------------------------------------------


def _relative(text: str, root: Path) -> str:
    """``text`` with the workspace path removed, so messages name bundle files, not temp dirs."""
    return text.replace(f"{root}/", "")


def load_operator_manifest(manifests_dir: Path) -> OperatorManifest:
    """The bundle's ClusterServiceVersion, read with operator-manifest (exactly one required).

    :raises CatalogError: with IIB's ``The Operator Manifest is not in a valid YAML format: …``
        for YAML errors, or naming the problem (no CSV, several CSVs, schema violation)
    """
    root = manifests_dir.parent
    try:
        check_yaml_files(manifests_dir, syntax_errors=False)
    except CatalogError as exc:
        raise CatalogError(f"The Operator Manifest is not in a valid YAML format: {exc}") from None
    try:
        return OperatorManifest.from_directory(str(manifests_dir))
    except YAMLError as exc:
        raise CatalogError(
            _relative(f"The Operator Manifest is not in a valid YAML format: {exc}", root)
        ) from None
    except ValidationException as exc:
        raise CatalogError(
            f"The ClusterServiceVersion in {manifests_dir.name}/ does not match the "
            f"ClusterServiceVersion schema: {exc}"
        ) from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise CatalogError(
            _relative(f"The operator manifests in {manifests_dir.name}/ are invalid: {exc}", root)
        ) from None


def _csv_call(csv: OperatorCSV, root: Path, action: str, call: Callable[[], T]) -> T:
    """Run an operator-manifest call on ``csv``, turning its errors into a CatalogError."""
    try:
        return call()
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        name = _relative(str(csv.path), root)
        detail = _relative(str(exc), root)
        raise CatalogError(f"Failed to {action} in {name}: {detail}") from None


def _pullspecs(manifest: OperatorManifest, root: Path) -> list[Any]:
    """Every pull spec of the CSV (IIB's ``found_pullspecs``), sorted by their text."""
    found: set[Any] = set()
    for csv in manifest.files:
        found.update(_csv_call(csv, root, "find the pull specs", csv.get_pullspecs))
    return sorted(found, key=lambda image: str(image.to_str()))


def _load_annotations(metadata_dir: Path) -> tuple[Any, str]:
    """``metadata/annotations.yaml`` (round-trip document) and its package name, with IIB's
    checks and messages (worker semantics §2.2)."""
    path = metadata_dir / ANNOTATIONS_FILE
    if not path.is_file():
        raise CatalogError("metadata/annotations.yaml does not exist in the bundle")
    text = read_bounded(path, label="metadata/annotations.yaml").decode("utf-8", "replace")
    try:
        _check_round_trip(text, "metadata/annotations.yaml")
    except CatalogError as exc:
        raise CatalogError(f"metadata/annotations.yaml is not valid YAML: {exc}") from None
    try:
        document = _round_trip_yaml().load(text)
    except YAMLError:
        raise CatalogError("metadata/annotations.yaml is not valid YAML") from None
    if not isinstance(document, dict):
        # IIB fails here with an unexpected error; this names the file instead
        raise CatalogError("The value of metadata/annotations.yaml must be a dictionary")
    annotations = document.get("annotations", {})
    if not isinstance(annotations, dict):
        raise CatalogError("The value of metadata/annotations.yaml must be a dictionary")
    package = annotations.get(BUNDLE_PACKAGE)
    if not package:
        raise CatalogError(f"{BUNDLE_PACKAGE} is not set in metadata/annotations.yaml")
    if not isinstance(package, str):
        raise CatalogError(
            f"The value of {BUNDLE_PACKAGE} in metadata/annotations.yaml is not a string"
        )
    return document, str(package)


# --- the customizations ----------------------------------------------------------------------


class _Bundle:
    """One bundle being adjusted: its CSV (kept in memory between steps, as IIB does), paths
    and the lookup."""

    def __init__(self, manifests_dir: Path, metadata_dir: Path, lookup: ImageLookup) -> None:
        self.root = manifests_dir.parent
        self.metadata_dir = metadata_dir
        self.lookup = lookup
        self.manifest = load_operator_manifest(manifests_dir)

    @property
    def csvs(self) -> list[OperatorCSV]:
        return list(self.manifest.files)

    def pullspecs(self) -> list[Any]:
        return _pullspecs(self.manifest, self.root)

    def replace(self, replacements: Mapping[Any, Any]) -> None:
        """IIB's ``_replace_csv_pullspecs``: replace everywhere, create ``spec.relatedImages``
        when the CSV has none, write the CSV back."""
        for old, new in replacements.items():
            log.debug("%s will be replaced with %s in the bundle CSVs", old, new.to_str())
        for csv in self.csvs:
            log.info("Replacing the pull specifications on %s", Path(csv.path).name)
            _csv_call(
                csv,
                self.root,
                "replace the pull specifications",
                functools.partial(csv.replace_pullspecs_everywhere, replacements),
            )
            if not _csv_call(csv, self.root, "read spec.relatedImages", csv.has_related_images):
                log.info("Setting spec.relatedImages on %s", Path(csv.path).name)
                _csv_call(csv, self.root, "set spec.relatedImages", csv.set_related_images)
            self.dump(csv)

    def dump(self, csv: OperatorCSV) -> None:
        try:
            csv.dump()
        except OSError as exc:
            raise CatalogError(
                f"Failed to write {_relative(str(csv.path), self.root)}: {exc.strerror}"
            ) from None


def _resolve_image_pullspecs(bundle: _Bundle, labels: dict[str, str], pinned: bool) -> None:
    """Pin every pull spec given by tag to the digest it resolves to (each is resolved, which
    also proves it exists), unless the bundle was already pinned by IIB."""
    replacements: dict[Any, Any] = {}
    pullspecs = bundle.pullspecs()
    if pinned:
        return
    for pullspec in pullspecs:
        resolved = ImageName.parse(bundle.lookup.resolve(pullspec.to_str()))
        if ":" not in pullspec.tag:
            log.debug("%s will be pinned to %s", pullspec, resolved.to_str())
            labels[PINNED] = "true"
            replacements[pullspec] = resolved
    if replacements:
        bundle.replace(replacements)


def _registry_replacements(bundle: _Bundle, registries: Mapping[str, str]) -> None:
    replacements: dict[Any, Any] = {}
    for pullspec in bundle.pullspecs():
        new = ImageName.parse(pullspec.to_str())
        registry = registries.get(new.registry) if new.registry else None
        if registry:
            new.registry = registry
            replacements[pullspec] = new
    if replacements:
        bundle.replace(replacements)


def _perform_bundle_replacements(bundle: _Bundle, bundle_replacements: Mapping[str, str]) -> None:
    replacements: dict[Any, Any] = {}
    for old in sorted(bundle_replacements):
        if is_bundle_image(bundle.lookup, old):
            replacements[ImageName.parse(old)] = ImageName.parse(bundle_replacements[old])
    bundle.replace(replacements)


def _image_name_from_labels(bundle: _Bundle, template: str) -> None:
    replacements: dict[Any, Any] = {}
    for pullspec in bundle.pullspecs():
        spec = pullspec.to_str()
        image_labels = dict(bundle.lookup.labels(spec))
        try:
            namespace_repo = template.format(**image_labels)
        except KeyError:
            raise CatalogError(
                f"Pull spec {spec} is missing one or more label(s) required in the "
                f"image_name_from_labels {template}. Available labels: "
                f"{', '.join(image_labels)}"
            ) from None
        except (IndexError, ValueError) as exc:
            raise CatalogError(
                f"The image_name_from_labels template {template} cannot be applied to {spec}: {exc}"
            ) from None
        new = ImageName.parse(spec)
        parts: list[str | None] = list(namespace_repo.split("/", 1))
        if len(parts) == 1:
            parts.insert(0, None)
        new.namespace, new.repo = parts
        replacements[pullspec] = new
    bundle.replace(replacements)


def _enclose_repo(bundle: _Bundle, namespace: str, glue: str) -> None:
    replacements: dict[Any, Any] = {}
    for pullspec in bundle.pullspecs():
        new = ImageName.parse(pullspec.to_str())
        repo_parts = str(new.repo).split("/")
        if new.namespace and namespace != new.namespace:
            repo_parts.insert(0, new.namespace)
        new.namespace = namespace
        new.repo = glue.join(repo_parts)
        replacements[pullspec] = new
    bundle.replace(replacements)


def _csv_annotations(bundle: _Bundle, package_name: str, annotations: Mapping[str, str]) -> None:
    for csv in bundle.csvs:
        log.debug("Processing the ClusterServiceVersion file %s", Path(csv.path).name)
        metadata = csv.data.setdefault("metadata", {})
        if not isinstance(metadata, dict) or not isinstance(
            metadata.setdefault("annotations", {}), dict
        ):
            raise CatalogError(
                f"Failed to set the CSV annotations in {_relative(str(csv.path), bundle.root)}: "
                "metadata.annotations is not a mapping"
            )
        for key, template in annotations.items():
            try:
                metadata["annotations"][key] = template.format(package_name=package_name)
            except (KeyError, IndexError, ValueError) as exc:
                raise CatalogError(
                    f"The csv_annotations template {template!r} for {key} cannot be applied: "
                    f"only {{package_name}} is available ({type(exc).__name__}: {exc})"
                ) from None
        bundle.dump(csv)


def _package_name_suffix(metadata_dir: Path, suffix: str) -> tuple[str, dict[str, str]]:
    """Append ``suffix`` to the package name in ``metadata/annotations.yaml`` unless it is
    already there; returns the package name and the label to set (none when unchanged)."""
    document, package = _load_annotations(metadata_dir)
    if package.endswith(suffix):
        log.debug("No modifications are needed on %s in metadata/annotations.yaml", BUNDLE_PACKAGE)
        return package, {}
    new = f"{package}{suffix}"
    document["annotations"][BUNDLE_PACKAGE] = new
    out = io.StringIO()
    _round_trip_yaml().dump(document, out)
    path = metadata_dir / ANNOTATIONS_FILE
    try:
        path.write_text(out.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"Failed to write metadata/annotations.yaml: {exc.strerror}") from None
    log.info("Modified %s in metadata/annotations.yaml from %s to %s", BUNDLE_PACKAGE, package, new)
    return new, {BUNDLE_PACKAGE: new}


def related_bundle_images(
    manifest: OperatorManifest, lookup: ImageLookup, root: Path | None = None
) -> list[str]:
    """The pull specs of the CSV whose image is an operator bundle (label
    ``com.redhat.delivery.operator.bundle`` YAML-true), as written in the CSV, sorted."""
    base = root if root is not None else Path("/")
    return [
        spec
        for spec in (pullspec.to_str() for pullspec in _pullspecs(manifest, base))
        if is_bundle_image(lookup, spec)
    ]


def adjust_operator_bundle(
    manifests_dir: Path,
    metadata_dir: Path,
    lookup: ImageLookup,
    customizations: Iterable[Customization],
    *,
    organization: str | None = None,
    pinned_by_iib: bool = False,
    bundle_replacements: Mapping[str, str] | None = None,
    stop_before_related_bundles: bool = False,
) -> AdjustResult:
    """Apply ``customizations`` in order to the bundle in ``manifests_dir``/``metadata_dir``.

    Files are rewritten in place. ``stop_before_related_bundles`` is the recursive related
    bundles mode: processing ends at the first ``related_bundles`` entry.

    :raises CatalogError: naming the file, field or image at fault (IIB's texts where IIB has
        one); registry errors from ``lookup`` are passed through
    """
    bundle = _Bundle(manifests_dir, metadata_dir, lookup)
    _document, package_name = _load_annotations(metadata_dir)
    result = AdjustResult(package_name=package_name)
    labels = result.labels
    for customization in customizations:
        kind = customization.type
        if kind == "package_name_suffix":
            if customization.suffix:
                log.info("Applying package_name_suffix : %s", customization.suffix)
                package_name, package_labels = _package_name_suffix(
                    metadata_dir, customization.suffix
                )
                labels.update(package_labels)
                result.package_name = package_name
        elif kind == "registry_replacements":
            if customization.replacements:
                log.info("Applying registry replacements")
                _registry_replacements(bundle, customization.replacements)
        elif kind == "csv_annotations":
            if organization and customization.annotations:
                log.info("Applying csv annotations for organization %s", organization)
                _csv_annotations(bundle, package_name, customization.annotations)
        elif kind == "image_name_from_labels":
            if customization.template:
                _image_name_from_labels(bundle, customization.template)
        elif kind == "enclose_repo":
            if customization.namespace and customization.enclosure_glue:
                log.info(
                    "Applying enclose_repo customization with namespace %s and enclosure_glue "
                    "%s for organization %s",
                    customization.namespace,
                    customization.enclosure_glue,
                    organization,
                )
                _enclose_repo(bundle, customization.namespace, customization.enclosure_glue)
        elif kind == "related_bundles":
            if stop_before_related_bundles:
                log.debug(
                    "Stopping before the related_bundles customization: no further "
                    "customizations are applied for organization %s",
                    organization,
                )
                return result
            log.info("Applying related_bundles customization")
            result.related_bundles = related_bundle_images(bundle.manifest, lookup, bundle.root)
        elif kind == "resolve_image_pullspecs":
            log.info("Resolving image pull specs")
            if pinned_by_iib:
                log.info(
                    "Bundle has been pinned by IIB: its pull specs are not resolved again and "
                    "relatedImages are kept"
                )
            _resolve_image_pullspecs(bundle, labels, pinned_by_iib)
        elif kind == "perform_bundle_replacements":
            log.info("Performing bundle replacements")
            if bundle_replacements:
                _perform_bundle_replacements(bundle, bundle_replacements)
        else:
            # settings are validated at start-up; an unknown type here is a programming error
            raise CatalogError(f"Unknown customization type {kind!r}")
    return result
