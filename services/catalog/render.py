"""Rendering an unpacked bundle (``manifests/`` + ``metadata/``) into one ``olm.bundle`` blob.

Reproduces ``opm render <bundle image>`` (operator-registry ``pkg/registry/parse.go``,
``registry_to_model.go`` and ``alpha/action/render.go``):

* manifests: non-hidden regular files directly in ``manifests/``, in name order, first
  document of each; only the first ClusterServiceVersion counts; the bundle name is the
  CSV's ``metadata.name``; every CRD the CSV owns must be in the bundle.
* metadata: the first file with annotations, the first with ``dependencies`` and the first
  with ``properties`` (file names do not matter).
* properties: ``olm.package`` (last of properties.yaml / annotations / CSV ``olm.properties``
  wins), ``olm.gvk`` per provided API, ``olm.gvk.required`` per required API and ``olm.gvk``
  dependency, ``olm.package.required`` per package dependency, every other property and
  dependency, and one ``olm.bundle.object`` per manifest (compact Go JSON, keys sorted, HTML
  escaped, base64); sorted by type and value, objects last.
* relatedImages: the CSV's ``spec.relatedImages``, then the bundle image and the operator
  (init)container images not already listed (empty name), sorted by image.

With ``csv_metadata=True`` the objects are replaced by one ``olm.csv.metadata`` property
(opm 1.30-1.45 ``migrate`` and opm > 1.46 with ``--migrate-level``). Deliberate deviation:
a manifest that cannot be decoded is an error here (opm logs a warning and skips it).
"""

from __future__ import annotations

import base64
import decimal
import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.catalog.labels import (
    BUNDLE_CHANNELS,
    BUNDLE_DEFAULT_CHANNEL,
    BUNDLE_PACKAGE,
    OCP_VERSIONS,
)
from services.common.errors import CatalogError

from . import gojson, limits
from .documents import decode_stream, loads_bounded, read_bounded
from .model import (
    PROP_BUNDLE_OBJECT,
    PROP_GVK,
    PROP_GVK_REQUIRED,
    PROP_PACKAGE,
    PROP_PACKAGE_REQUIRED,
    Bundle,
    Property,
    RelatedImage,
)
from .properties import (
    convert_to_csv_metadata,
    gvk_value,
    package_required_value,
    package_value,
)

__all__ = [
    "RenderedBundle",
    "render_bundle",
]

CSV_KIND = "ClusterServiceVersion"
CRD_KIND = "CustomResourceDefinition"

#: APIs removed in Kubernetes 1.22 (operator-framework/api ``getRemovedAPIsOn1_22From``).
REMOVED_IN_1_22: dict[str, frozenset[str]] = {
    "scheduling.k8s.io/v1beta1": frozenset({"PriorityClass"}),
    "rbac.authorization.k8s.io/v1beta1": frozenset(
        {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    ),
    "apiregistration.k8s.io/v1beta1": frozenset({"APIService"}),
    "authentication.k8s.io/v1beta1": frozenset({"TokenReview"}),
    "authorization.k8s.io/v1beta1": frozenset(
        {"LocalSubjectAccessReview", "SelfSubjectAccessReview", "SubjectAccessReview"}
    ),
    "admissionregistration.k8s.io/v1beta1": frozenset(
        {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    ),
    "coordination.k8s.io/v1beta1": frozenset({"Lease"}),
    "extensions/v1beta1": frozenset({"Ingress"}),
    "networking.k8s.io/v1beta1": frozenset({"Ingress", "IngressClass"}),
    "storage.k8s.io/v1beta1": frozenset(
        {"CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"}
    ),
    "certificates.k8s.io/v1beta1": frozenset({"CertificateSigningRequest"}),
    "apiextensions.k8s.io/v1beta1": frozenset({CRD_KIND}),
}


@dataclass(slots=True)
class RenderedBundle:
    """A rendered bundle: the ``olm.bundle`` blob plus what adding it to an index needs."""

    bundle: Bundle
    package: str
    channels: list[str]
    default_channel: str
    version: str
    replaces: str
    skips: list[str]
    skip_range: str
    substitutes_for: str
    csv_name: str
    annotations: dict[str, str]
    csv: dict[str, Any]
    objects: list[str]
    uses_removed_1_22_apis: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def image(self) -> str:
        """The bundle image reference the blob was rendered for."""
        return self.bundle.image

    @property
    def related_images(self) -> list[RelatedImage]:
        """The blob's related images."""
        return self.bundle.related_images

    @property
    def ocp_versions(self) -> str | None:
        """The ``com.redhat.openshift.versions`` annotation, when the bundle declares one."""
        return self.annotations.get(OCP_VERSIONS)

    @property
    def csv_annotations(self) -> dict[str, str]:
        """The CSV's ``metadata.annotations``."""
        annotations = self.csv.get("metadata", {}).get("annotations") or {}
        return {k: v or "" for k, v in annotations.items()}


def _is_package_manifest(doc: Any) -> bool:
    return isinstance(doc, dict) and "packageName" in doc and "channels" in doc


def _reject_package_manifest(root: Path, reason: str) -> None:
    raise CatalogError(
        f"bundle {root}: {reason}; this is the legacy package-manifest layout (a "
        "*.package.yaml with per-version directories), which is not supported: only bundle "
        "images with manifests/ and metadata/ can be added"
    )


def _files(directory: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise CatalogError(f"cannot list {directory}: {exc.strerror or exc}") from exc
    if len(entries) > limits.MAX_BUNDLE_FILES:
        raise CatalogError(
            f"{directory}: more than {limits.MAX_BUNDLE_FILES} entries in a bundle directory"
        )
    return [
        Path(e.path) for e in entries if e.is_file(follow_symlinks=False) and not e.is_symlink()
    ]


def _float32_text(value: float) -> str:
    """Go ``strconv.FormatFloat(value, 'g', -1, 32)`` (how sigs.k8s.io/yaml writes float keys)."""
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single) or math.isnan(single):
        return ".nan" if math.isnan(single) else (".inf" if single > 0 else "-.inf")
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    for precision in range(9):  # the shortest digits that read back as the same float32
        text = f"{abs(single):.{precision}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == abs(single):
            break
    mantissa, exp_text = text.split("e")
    digits, exp = mantissa.replace(".", ""), int(exp_text)
    sign = "-" if single < 0 else ""
    if exp < -4 or exp >= 6:
        lead = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{lead}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, fraction = digits[: exp + 1].ljust(exp + 1, "0"), digits[exp + 1 :]
    return sign + whole + ("." + fraction if fraction else "")


def _json_key(key: Any, where: str) -> str:
    """sigs.k8s.io/yaml turns YAML map keys into JSON object keys (``y:`` is the bool "true")."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and -(2**63) <= key < 2**63:
        return str(key)
    if isinstance(key, float):
        return _float32_text(key)
    raise CatalogError(f"{where}: unsupported map key {key!r}")


def _json_keys(obj: Any, where: str) -> Any:
    """A decoded document with every map key a string, as the JSON that opm reads has them."""
    if isinstance(obj, dict):
        if any(type(key) is not str for key in obj):
            obj = {k if type(k) is str else _json_key(k, where): v for k, v in obj.items()}
        for key, value in obj.items():
            if isinstance(value, (dict, list)):
                obj[key] = _json_keys(value, where)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            if isinstance(value, (dict, list)):
                obj[i] = _json_keys(value, where)
    return obj


def _first_document(path: Path, rel: str, max_bytes: int) -> tuple[Any, bool]:
    """The first document of a file and whether more followed (YAML/JSON auto-detected)."""
    data = read_bounded(path, max_bytes=max_bytes, label=rel)
    stream = decode_stream(data, name=rel)
    first = next(stream, None)
    more = next(stream, None) is not None if first is not None else False
    return _json_keys(first, rel), more


def _check_layout(root: Path) -> None:
    manifests = root / "manifests"
    metadata = root / "metadata"
    if manifests.is_dir() and metadata.is_dir():
        for path in _files(manifests):
            if path.name.endswith((".package.yaml", ".package.yml")) or path.name in (
                "package.yaml",
                "package.yml",
            ):
                _reject_package_manifest(root, f"manifests/{path.name} is a package manifest")
        return
    if not root.is_dir():
        raise CatalogError(f"bundle {root}: not a directory")
    for path in _files(root):
        if path.name.endswith((".package.yaml", ".package.yml")):
            _reject_package_manifest(root, f"{path.name} is a package manifest")
    if not manifests.is_dir() and not metadata.is_dir():
        has_versions = any(p.is_dir() for p in root.iterdir())
        if has_versions:
            _reject_package_manifest(root, "no manifests/ and metadata/ directories")
    missing = [name for name in ("manifests", "metadata") if not (root / name).is_dir()]
    raise CatalogError(
        f"bundle {root}: missing {' and '.join(d + '/' for d in missing)} director"
        f"{'ies' if len(missing) > 1 else 'y'} (a bundle needs manifests/ and metadata/)"
    )


def _str_field(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CatalogError(f"{where}: field {key} must be a string, got {json.dumps(value)}")
    return value


def _spec_list(spec: dict[str, Any], key: str, where: str) -> list[Any]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogError(f"{where}: field spec.{key} must be a list")
    return value


@dataclass(frozen=True, slots=True)
class _APIKey:
    group: str
    version: str
    kind: str
    plural: str

    def __str__(self) -> str:
        return f"{self.group}/{self.version}/{self.kind} ({self.plural})"


def _definitions(spec: dict[str, Any], key: str, where: str) -> tuple[list[Any], list[Any]]:
    value = spec.get(key)
    if value is None:
        return [], []
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: field spec.{key} must be an object")
    owned = value.get("owned") or []
    required = value.get("required") or []
    if not isinstance(owned, list) or not isinstance(required, list):
        raise CatalogError(f"{where}: fields spec.{key}.owned/required must be lists")
    for item in [*owned, *required]:
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: entries of spec.{key} must be objects")
    return owned, required


def render_bundle(
    bundle_root: Path,
    image: str,
    *,
    csv_metadata: bool = False,
    max_file_bytes: int = limits.MAX_FILE_BYTES,
) -> RenderedBundle:
    """Render the bundle unpacked at ``bundle_root`` as ``opm render <image>`` would.

    Raises :class:`~services.common.errors.CatalogError` naming the file and field for
    package-manifest layouts, undecodable manifests, a missing CSV or version, etc.
    """
    root = Path(bundle_root)
    _check_layout(root)
    warnings: list[str] = []

    objects: list[dict[str, Any]] = []
    csv: dict[str, Any] | None = None
    csv_file = ""
    for path in _files(root / "manifests"):
        if path.name.startswith("."):
            continue
        rel = f"manifests/{path.name}"
        doc, more = _first_document(path, rel, max_file_bytes)
        if doc is None:
            warnings.append(f"{rel}: no document, skipped")
            continue
        if _is_package_manifest(doc):
            _reject_package_manifest(root, f"{rel} is a package manifest")
        if not isinstance(doc, dict):
            raise CatalogError(f"{rel}: expected a Kubernetes object, found {type(doc).__name__}")
        kind = doc.get("kind")
        if not isinstance(kind, str) or not kind:
            raise CatalogError(f"{rel}: object has no kind")
        api_version = doc.get("apiVersion")
        if api_version is not None and not isinstance(api_version, str):
            raise CatalogError(f"{rel}: field apiVersion must be a string")
        if more:
            warnings.append(f"found more than one document inside {rel}, using only the first one")
        gojson.normalize_numbers(doc)
        if kind == CSV_KIND:
            if csv is not None:
                warnings.append(f"{rel}: second ClusterServiceVersion ignored")
                continue
            csv = doc
            csv_file = rel
        objects.append(doc)

    if not objects:
        raise CatalogError(f"bundle {root}: no bundle objects found in manifests/")
    if csv is None:
        raise CatalogError(
            f"bundle {root}: no csv in bundle (no ClusterServiceVersion in manifests/)"
        )

    metadata = csv.get("metadata")
    if not isinstance(metadata, dict):
        raise CatalogError(f"{csv_file}: field metadata must be an object")
    csv_name = _str_field(metadata, "name", f"{csv_file}: metadata")
    if not csv_name:
        raise CatalogError(f"{csv_file}: field metadata.name is missing")
    csv_annotations: dict[str, str] = {}
    for key in ("annotations", "labels"):
        value = metadata.get(key)
        if value is None:
            continue
        # A null value is Go's zero value: ObjectMeta decodes ``createdAt:`` as "".
        if not isinstance(value, dict) or not all(
            v is None or isinstance(v, str) for v in value.values()
        ):
            raise CatalogError(f"{csv_file}: field metadata.{key} must map strings to strings")
        if key == "annotations":
            csv_annotations = {k: v or "" for k, v in value.items()}
    spec = csv.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise CatalogError(f"{csv_file}: field spec must be an object")
    version = spec.get("version")
    if version is None or version == "":
        raise CatalogError(f"{csv_file}: field spec.version is missing (a bundle needs a version)")
    if not isinstance(version, str):
        raise CatalogError(
            f"{csv_file}: field spec.version must be a string, got {json.dumps(version)}"
        )
    release_text = _release_text(spec.get("release"), csv_file)
    replaces = _str_field(spec, "replaces", f"{csv_file}: spec")
    skips = _spec_list(spec, "skips", csv_file)
    if not all(isinstance(s, str) for s in skips):
        raise CatalogError(f"{csv_file}: field spec.skips must be a list of strings")

    # Provided APIs: CRD versions and owned API services.
    provided: dict[_APIKey, None] = {}
    for obj in objects:
        if obj.get("kind") != CRD_KIND:
            continue
        crd_version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        if crd_version not in ("v1", "v1beta1"):
            continue
        where = f"CRD {obj.get('metadata', {}).get('name', '?')}"
        crd_spec = obj.get("spec")
        if not isinstance(crd_spec, dict):
            raise CatalogError(
                f"error decoding {crd_version} CRD: {where}: field spec must be an object"
            )
        raw_names = crd_spec.get("names")
        names: dict[str, Any] = raw_names if isinstance(raw_names, dict) else {}
        group = _str_field(crd_spec, "group", where)
        kind = _str_field(names, "kind", where)
        plural = _str_field(names, "plural", where)
        for item in crd_spec.get("versions") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                provided[_APIKey(group, item["name"], kind, plural)] = None
        if (
            crd_version == "v1beta1"
            and isinstance(crd_spec.get("version"), str)
            and crd_spec["version"]
        ):
            provided[_APIKey(group, crd_spec["version"], kind, plural)] = None
    owned_apis, required_apis = _definitions(spec, "apiservicedefinitions", csv_file)
    for api in owned_apis:
        provided[
            _APIKey(
                _str_field(api, "group", csv_file),
                _str_field(api, "version", csv_file),
                _str_field(api, "kind", csv_file),
                _str_field(api, "name", csv_file),
            )
        ] = None
    owned_crds, required_crds = _definitions(spec, "customresourcedefinitions", csv_file)
    for crd in owned_crds:
        name = _str_field(crd, "name", csv_file)
        plural, dot, group = name.partition(".")
        if not dot:
            raise CatalogError(
                f"error checking provided apis in bundle {csv_name}: couldn't parse plural.group "
                f"from crd name: {name}"
            )
        api_key = _APIKey(
            group, _str_field(crd, "version", csv_file), _str_field(crd, "kind", csv_file), plural
        )
        if api_key not in provided:
            found = " ".join(f"{k}:{{}}" for k in sorted(provided, key=str))
            raise CatalogError(
                f"error checking provided apis in bundle {csv_name}: couldn't find {api_key} in "
                f"bundle. found: map[{found}]"
            )
    required: dict[tuple[str, str, str], None] = {}
    for crd in required_crds:
        name = _str_field(crd, "name", csv_file)
        plural, dot, group = name.partition(".")
        if not dot:
            raise CatalogError(f"{csv_file}: couldn't parse plural.group from crd name: {name}")
        # (group, kind, version), the order every gvk tuple here uses.
        required[
            (group, _str_field(crd, "kind", csv_file), _str_field(crd, "version", csv_file))
        ] = None
    for api in required_apis:
        required[
            (
                _str_field(api, "group", csv_file),
                _str_field(api, "kind", csv_file),
                _str_field(api, "version", csv_file),
            )
        ] = None

    # Metadata: annotations, dependencies, properties (first non-empty of each).
    annotations: dict[str, str] | None = None
    dependencies: list[dict[str, Any]] | None = None
    properties_file: list[dict[str, Any]] | None = None
    metadata_dir = root / "metadata"
    for path in _files(metadata_dir):
        rel = f"metadata/{path.name}"
        try:
            doc, _ = _first_document(path, rel, max_file_bytes)
        except CatalogError:
            if path.name.startswith("annotations."):
                raise
            warnings.append(f"{rel}: not a YAML/JSON document, ignored")
            continue
        if not isinstance(doc, dict):
            continue
        if annotations is None:
            raw = doc.get("annotations")
            if isinstance(raw, dict):
                # opm decodes only the three bundle keys (a null is Go's ""); it does not read
                # the others, so a null or non-string value there does not refuse the bundle.
                opm_keys = (BUNDLE_PACKAGE, BUNDLE_CHANNELS, BUNDLE_DEFAULT_CHANNEL)
                for key in opm_keys:
                    if raw.get(key) is not None and not isinstance(raw[key], str):
                        raise CatalogError(
                            f"{rel}: annotation {key} must be a string, got {json.dumps(raw[key])}"
                        )
                if any(raw.get(k) for k in opm_keys):
                    annotations = {}
                    for k, v in raw.items():
                        if v is None or isinstance(v, str):
                            annotations[str(k)] = v or ""
                        else:
                            warnings.append(f"{rel}: annotation {k} is not a string, ignored")
        if dependencies is None:
            raw_deps = doc.get("dependencies")
            if isinstance(raw_deps, list) and raw_deps:
                dependencies = _typed_items(raw_deps, rel, "dependencies")
        if properties_file is None:
            raw_props = doc.get("properties")
            if isinstance(raw_props, list) and raw_props:
                properties_file = _typed_items(raw_props, rel, "properties")
    if annotations is None:
        raise CatalogError(
            f"bundle {root}: Could not find annotations file (metadata/annotations.yaml with "
            f"{BUNDLE_PACKAGE})"
        )
    package = annotations.get(BUNDLE_PACKAGE, "")
    if not package:
        raise CatalogError(f"metadata/annotations.yaml: annotation {BUNDLE_PACKAGE} is missing")
    channels_text = annotations.get(BUNDLE_CHANNELS, "")
    channels = channels_text.split(",") if channels_text else []
    default_channel = annotations.get(BUNDLE_DEFAULT_CHANNEL, "")

    # Properties.
    bundle_props: list[Property] = [Property(p["type"], p["value"]) for p in properties_file or []]
    derived: list[Property] = []
    olm_properties = csv_annotations.get("olm.properties")
    if olm_properties:
        try:
            parsed = loads_bounded(olm_properties)
            if not isinstance(parsed, list):
                raise ValueError("not a list")
            for item in parsed:
                if not isinstance(item, dict) or not isinstance(item.get("type", ""), str):
                    raise ValueError("malformed entry")
                derived.append(Property(item.get("type", ""), item.get("value")))
        except ValueError as exc:
            derived = []
            warnings.append(f"failed to unmarshal csv annotation properties: {exc}")
    derived.insert(0, Property(PROP_PACKAGE, package_value(package, version, release_text)))
    derived.extend(Property(PROP_GVK, gvk_value(k.group, k.version, k.kind)) for k in provided)
    all_props = _dedupe(bundle_props + _dedupe(derived))

    gvks: dict[tuple[str, str, str], None] = {}
    gvks_required: dict[tuple[str, str, str], None] = {}
    package_prop: Property | None = None
    others: list[Property] = []
    for i, prop in enumerate(all_props):
        if prop.type == PROP_GVK:
            value = _typed_gvk(prop.value, f"property {i} (olm.gvk)")
            gvks[value] = None
        elif prop.type == PROP_PACKAGE:
            value_obj = prop.value if isinstance(prop.value, dict) else {}
            if not isinstance(prop.value, dict):
                raise CatalogError(f"bundle {csv_name}: olm.package property {i} must be an object")
            package_prop = Property(
                PROP_PACKAGE,
                package_value(
                    _str_field(value_obj, "packageName", "olm.package property"),
                    _str_field(value_obj, "version", "olm.package property"),
                    _str_field(value_obj, "release", "olm.package property"),
                ),
            )
        else:
            others.append(prop)
    package_required: list[Property] = []
    for i, dep in enumerate(dependencies or []):
        if dep["type"] == PROP_GVK:
            gvks_required[_typed_gvk(dep["value"], f"metadata dependency {i} (olm.gvk)")] = None
        elif dep["type"] == PROP_PACKAGE:
            value_obj = dep["value"] if isinstance(dep["value"], dict) else {}
            package_required.append(
                Property(
                    PROP_PACKAGE_REQUIRED,
                    package_required_value(
                        _str_field(value_obj, "packageName", "dependency"),
                        _str_field(value_obj, "version", "dependency"),
                    ),
                )
            )
        else:
            others.append(Property(dep["type"], dep["value"]))
    for req in required:
        gvks_required.setdefault(req, None)

    props: list[Property] = []
    encoded_objects: list[str] = []
    for obj in objects:
        text = gojson.go_marshal(obj)
        encoded_objects.append(text)
        props.append(
            Property(
                PROP_BUNDLE_OBJECT, {"data": base64.b64encode(text.encode("utf-8")).decode("ascii")}
            )
        )
    assert package_prop is not None
    props.append(package_prop)
    props.extend(Property(PROP_GVK, gvk_value(g, v, k)) for g, k, v in gvks)
    props.extend(Property(PROP_GVK_REQUIRED, gvk_value(g, v, k)) for g, k, v in gvks_required)
    props.extend(package_required)
    props.extend(others)
    props = _sort_props(props)

    related = _related_images(csv, spec, csv_file, image)
    bundle = Bundle(
        name=csv_name,
        package=package,
        image=image,
        properties=props,
        related_images=related,
    )
    if csv_metadata:
        convert_to_csv_metadata(bundle, csv)

    return RenderedBundle(
        bundle=bundle,
        package=package,
        channels=channels,
        default_channel=default_channel,
        version=version,
        replaces=replaces,
        skips=list(skips),
        skip_range=csv_annotations.get("olm.skipRange", ""),
        substitutes_for=csv_annotations.get("olm.substitutesFor", ""),
        csv_name=csv_name,
        annotations=annotations,
        csv=csv,
        objects=encoded_objects,
        uses_removed_1_22_apis=any(
            obj.get("kind") in REMOVED_IN_1_22.get(str(obj.get("apiVersion")), frozenset())
            for obj in objects
        ),
        warnings=warnings,
    )


def _release_text(release: Any, where: str) -> str:
    """``spec.release`` as opm's ``GetRelease`` reads it: a string, or a JSON number printed
    with ``%d`` when integral (in int64 range) and ``%g`` otherwise; anything else is an error.
    """
    if release is None:
        return ""
    if isinstance(release, str):
        return release
    if isinstance(release, bool) or not isinstance(release, (int, float)):
        raise CatalogError(f"{where}: field spec.release must be a string or number")
    number = float(release)  # Go decodes the JSON number into a float64
    if number.is_integer() and -(2**63) <= number < 2**63:
        return str(int(number))
    return _go_format_g(number)


def _go_format_g(value: float) -> str:
    """Go ``fmt.Sprintf("%g", value)``: shortest digits, exponent form below 1e-4 or from 1e6."""
    if math.isinf(value) or math.isnan(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that read back as the same float64, as Go does.
    _, digit_tuple, exp = decimal.Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exp  # position of the decimal point after the first digit
    digits = digits.rstrip("0") or "0"
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _typed_items(raw: list[Any], rel: str, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise CatalogError(f"{rel}: {key}[{i}] must be an object")
        item_type = item.get("type", "")
        if not isinstance(item_type, str):
            raise CatalogError(f"{rel}: {key}[{i}].type must be a string")
        # sigs.k8s.io/yaml converts YAML to JSON through Go maps, so keys come out sorted.
        out.append({"type": item_type, "value": _sorted_keys(item.get("value"))})
    return out


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted_keys(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return gojson.normalize_numbers(value)


def _typed_gvk(value: Any, where: str) -> tuple[str, str, str]:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: value must be an object with group, kind and version")
    return (
        _str_field(value, "group", where),
        _str_field(value, "kind", where),
        _str_field(value, "version", where),
    )


def _dedupe(props: list[Property]) -> list[Property]:
    seen: set[tuple[str, str]] = set()
    out: list[Property] = []
    for prop in props:
        key = (prop.type, gojson.compact(prop.value))
        if key not in seen:
            seen.add(key)
            out.append(prop)
    return out


def _sort_props(props: list[Property]) -> list[Property]:
    keyed = sorted(
        props,
        key=lambda p: (p.type.encode("utf-8"), gojson.compact(p.value).encode("utf-8")),
    )
    head = [p for p in keyed if p.type != PROP_BUNDLE_OBJECT]
    tail = [p for p in keyed if p.type == PROP_BUNDLE_OBJECT]
    return head + tail


def _related_images(
    csv: dict[str, Any], spec: dict[str, Any], csv_file: str, image: str
) -> list[RelatedImage]:
    related: list[RelatedImage] = []
    for i, item in enumerate(_spec_list(spec, "relatedImages", csv_file)):
        if not isinstance(item, dict):
            raise CatalogError(f"{csv_file}: spec.relatedImages[{i}] must be an object")
        related.append(
            RelatedImage(
                _str_field(item, "name", f"{csv_file}: spec.relatedImages[{i}]"),
                _str_field(item, "image", f"{csv_file}: spec.relatedImages[{i}]"),
            )
        )
    seen = {r.image for r in related}
    if image and image not in seen:
        related.append(RelatedImage("", image))
    install = spec.get("install")
    if isinstance(install, dict) and install.get("strategy") == "deployment":
        raw_strategy = install.get("spec")
        strategy: dict[str, Any] = raw_strategy if isinstance(raw_strategy, dict) else {}
        operator_images: dict[str, None] = {}
        for deployment in strategy.get("deployments") or []:
            if not isinstance(deployment, dict):
                continue
            pod = (((deployment.get("spec") or {}).get("template") or {}).get("spec")) or {}
            if not isinstance(pod, dict):
                continue
            for key in ("containers", "initContainers"):
                for container in pod.get(key) or []:
                    if isinstance(container, dict):
                        operator_images[_str_field(container, "image", f"{csv_file}: {key}")] = None
        for img in operator_images:
            if img not in seen:
                related.append(RelatedImage("", img))
            seen.add(img)
    related.sort(key=lambda r: r.image.encode("utf-8"))
    return related
