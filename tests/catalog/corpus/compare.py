"""The corpus sweep: every bundle rendered by the engine and read by the oracle, field by field.

``compare_bundle`` renders one bundle with ``services.catalog.render_bundle`` (with
``csv_metadata`` off and on) and compares it with :func:`tests.catalog.corpus.oracle.read_bundle`.
``build_packages`` adds each package's bundles in version order onto an empty catalog (replaces
mode, ``add_bundles`` + ``validate``) as IIB would, and records the refusals.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.catalog import (
    MemoryCatalog,
    RenderedBundle,
    add_bundles,
    render_bundle,
    validate,
)
from services.common.errors import CatalogError, CatalogValidationError

from .convert import CorpusBundle, semver_key
from .oracle import OracleBundle, OracleError, read_bundle

__all__ = [
    "BundleOutcome",
    "Mismatch",
    "PackageOutcome",
    "build_packages",
    "compare_bundle",
    "group_reason",
    "image_for",
]

_OBJECT_TYPES = ("olm.bundle.object", "olm.csv.metadata")
_SHOW = 240


def image_for(bundle: CorpusBundle) -> str:
    """A digest-pinned bundle image reference for a corpus bundle (stable across runs)."""
    digest = hashlib.sha256(bundle.source.encode("utf-8")).hexdigest()
    return f"quay.io/community-operators-corpus/{bundle.package}@sha256:{digest}"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One field on which the engine and the oracle disagree."""

    bundle: str
    field: str
    ours: str
    oracle: str

    def __str__(self) -> str:
        return f"{self.bundle}: {self.field}: ours {self.ours} vs oracle {self.oracle}"


@dataclass(slots=True)
class BundleOutcome:
    """The comparison of one bundle."""

    source: str
    package: str
    mismatches: list[Mismatch] = field(default_factory=list)
    both_failed: str | None = None  # opm and the engine both refuse (the oracle's reason)
    deliberate: str | None = None  # a documented, deliberate engine difference
    engine_error: str | None = None  # why the engine refused the bundle, if it did
    rendered: RenderedBundle | None = None  # the csv_metadata=True rendering, when both agree


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


def _ordered(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _deliberate(error: CatalogError, oracle: OracleBundle) -> str | None:
    """Whether an engine refusal of a bundle opm accepts is a documented deliberate difference."""
    message = error.message
    if any(w.startswith("failed to decode") for w in oracle.warnings) and (
        "object has no kind" in message or "expected a Kubernetes object" in message
    ):
        return "undecodable manifest refused (opm skips it with a warning)"
    if not oracle.version and "spec.version is missing" in message:
        return "CSV without spec.version refused (opm renders an empty version)"
    if not oracle.name and "metadata.name is missing" in message:
        return "CSV without metadata.name refused"
    return None


def _by_type(props: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for prop_type, value in props:
        grouped.setdefault(prop_type, []).append(value)
    return {t: sorted(v) for t, v in grouped.items()}


def _first_difference(ours: str, theirs: str) -> tuple[str, str]:
    """Short excerpts of two long texts around their first difference."""
    i = next((n for n, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
    if i is None:
        i = min(len(ours), len(theirs))
    start = max(0, i - 60)
    return (
        f"...{ours[start : i + 80]}... (len {len(ours)})",
        f"...{theirs[start : i + 80]}... (len {len(theirs)})",
    )


def _compare_properties(
    source: str, ours: list[tuple[str, str]], expected: Sequence[tuple[str, str]], label: str
) -> list[Mismatch]:
    out: list[Mismatch] = []
    ours_by_type = _by_type(ours)
    expected_by_type = _by_type(expected)
    for prop_type in sorted(set(ours_by_type) | set(expected_by_type)):
        if prop_type == "olm.bundle.object":
            continue  # compared object by object
        mine = ours_by_type.get(prop_type, [])
        theirs = expected_by_type.get(prop_type, [])
        if mine != theirs:
            extra = [v for v in mine if v not in theirs]
            missing = [v for v in theirs if v not in mine]
            out.append(
                Mismatch(
                    source,
                    f"{label}[{prop_type}]",
                    _show(extra or mine),
                    _show(missing or theirs),
                )
            )
    if not out and list(ours) != list(expected):
        first = next(i for i, (a, b) in enumerate(zip(ours, expected, strict=False)) if a != b)
        out.append(
            Mismatch(
                source,
                f"{label} (order)",
                _show(f"#{first}: {ours[first]}"),
                _show(f"#{first}: {expected[first]}"),
            )
        )
    return out


def _compare_objects(source: str, rendered: RenderedBundle, oracle: OracleBundle) -> list[Mismatch]:
    texts = [
        base64.b64decode(p.value["data"]).decode("utf-8")
        for p in rendered.bundle.properties
        if p.type == "olm.bundle.object"
    ]
    if len(texts) != len(oracle.objects):
        return [
            Mismatch(source, "olm.bundle.object (count)", str(len(texts)), str(len(oracle.objects)))
        ]
    out = []
    for i, (mine, theirs) in enumerate(zip(texts, oracle.objects, strict=True)):
        if mine != theirs:
            a, b = _first_difference(mine, theirs)
            out.append(Mismatch(source, f"olm.bundle.object[{i}]", a, b))
    return out


def _compare_rendered(
    source: str, rendered: RenderedBundle, oracle: OracleBundle, image: str
) -> list[Mismatch]:
    out: list[Mismatch] = []
    bundle = rendered.bundle
    scalars: list[tuple[str, Any, Any]] = [
        ("name", bundle.name, oracle.name),
        ("csv_name", rendered.csv_name, oracle.name),
        ("package", bundle.package, oracle.package),
        ("image", bundle.image, image),
        ("channels", list(rendered.channels), list(oracle.channels)),
        ("default_channel", rendered.default_channel, oracle.default_channel),
        ("version", rendered.version, oracle.version),
        ("replaces", rendered.replaces, oracle.replaces),
        ("skips", list(rendered.skips), list(oracle.skips)),
        ("skip_range", rendered.skip_range, oracle.skip_range),
        ("substitutes_for", rendered.substitutes_for, oracle.substitutes_for),
        (
            "related_images",
            sorted((r.image, r.name) for r in bundle.related_images),
            [list(r) for r in oracle.related_images],
        ),
    ]
    for name, mine, theirs in scalars:
        if name == "related_images":
            mine = [list(r) for r in mine]
        if mine != theirs:
            out.append(Mismatch(source, name, _show(mine), _show(theirs)))
    ours_props = [(p.type, _ordered(p.value)) for p in bundle.properties]
    out.extend(_compare_properties(source, ours_props, oracle.properties, "properties"))
    out.extend(_compare_objects(source, rendered, oracle))
    return out


def _compare_csv_metadata(
    source: str, rendered: RenderedBundle, oracle: OracleBundle
) -> list[Mismatch]:
    props = rendered.bundle.properties
    ours = [(p.type, _ordered(p.value)) for p in props if p.type != "olm.csv.metadata"]
    expected = [p for p in oracle.properties if p[0] not in _OBJECT_TYPES]
    out = _compare_properties(source, ours, expected, "csv_metadata properties")
    metadata = [p for p in props if p.type == "olm.csv.metadata"]
    if len(metadata) != 1 or props[-1].type != "olm.csv.metadata":
        out.append(
            Mismatch(
                source, "olm.csv.metadata (placement)", _show([p.type for p in props]), "one, last"
            )
        )
        return out
    mine, theirs = _ordered(metadata[0].value), _ordered(oracle.csv_metadata)
    if mine != theirs:
        a, b = _first_difference(mine, theirs)
        out.append(Mismatch(source, "olm.csv.metadata", a, b))
    return out


def compare_bundle(bundle: CorpusBundle) -> BundleOutcome:
    """Render one corpus bundle with the engine and compare it with the oracle."""
    image = image_for(bundle)
    outcome = BundleOutcome(bundle.source, bundle.package)
    oracle: OracleBundle | None = None
    oracle_error: str | None = None
    try:
        oracle = read_bundle(bundle.root, image)
    except OracleError as exc:
        oracle_error = str(exc)
    try:
        rendered = render_bundle(bundle.root, image, csv_metadata=False)
    except CatalogError as exc:
        outcome.engine_error = exc.message
        if oracle is None:
            outcome.both_failed = oracle_error
            return outcome
        reason = _deliberate(exc, oracle)
        if reason:
            outcome.deliberate = reason
        else:
            outcome.mismatches.append(
                Mismatch(bundle.source, "render", f"error: {_show(exc.message)}", "renders")
            )
        return outcome
    if oracle is None:
        outcome.mismatches.append(
            Mismatch(bundle.source, "render", "renders", f"error: {_show(oracle_error)}")
        )
        return outcome
    outcome.mismatches.extend(_compare_rendered(bundle.source, rendered, oracle, image))

    try:
        with_metadata = render_bundle(bundle.root, image, csv_metadata=True)
    except CatalogError as exc:
        outcome.engine_error = exc.message
        if oracle.csv_metadata_error is None:
            outcome.mismatches.append(
                Mismatch(
                    bundle.source, "render csv_metadata", f"error: {_show(exc.message)}", "renders"
                )
            )
        return outcome
    if oracle.csv_metadata_error is not None:
        outcome.mismatches.append(
            Mismatch(
                bundle.source,
                "render csv_metadata",
                "renders",
                f"error: {_show(oracle.csv_metadata_error)}",
            )
        )
        return outcome
    outcome.mismatches.extend(_compare_csv_metadata(bundle.source, with_metadata, oracle))
    outcome.rendered = with_metadata
    return outcome


# -- per-package add sweep ---------------------------------------------------------------------


@dataclass(slots=True)
class PackageOutcome:
    """What adding a package's bundles one by one onto an empty catalog did."""

    package: str
    bundles: int
    added: int = 0
    reason: str | None = None  # the first refusal, None when the package was built

    @property
    def built(self) -> bool:
        """Whether every bundle was added and the catalog validated."""
        return self.reason is None


_IMAGE = re.compile(r"[a-z0-9.-]+/[^\s\"',@]+@sha256:[0-9a-f]{64}")


def group_reason(reason: str, names: Iterable[str], package: str) -> str:
    """A refusal message with the package's own names replaced, so refusals can be counted."""
    text = _IMAGE.sub("<image>", reason)
    text = re.sub(r'pull spec "[^"]*"', 'pull spec "<image>"', text)
    text = re.sub(r"map\[.*\]", "map[...]", text)
    for name in sorted(set(names), key=len, reverse=True):
        if name:
            text = text.replace(name, "<bundle>")
    text = re.sub(rf"\b{re.escape(package)}\b", "<package>", text)
    text = re.sub(r"\b\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?\b", "<version>", text)
    return text.splitlines()[0] if text else text


def build_packages(
    rendered_by_package: dict[str, list[RenderedBundle]],
    failed_renders: dict[str, str] | None = None,
) -> list[PackageOutcome]:
    """Add each package's bundles in version order onto an empty catalog, one add at a time.

    Each add is ``add_bundles(mode="replaces")`` followed by ``validate``; a package stops at
    its first refusal. Packages listed in ``failed_renders`` are refused with that reason.
    """
    outcomes: list[PackageOutcome] = []
    failed_renders = failed_renders or {}
    for package in sorted(set(rendered_by_package) | set(failed_renders)):
        bundles = sorted(
            rendered_by_package.get(package, []), key=lambda r: (semver_key(r.version), r.csv_name)
        )
        outcome = PackageOutcome(package, len(bundles))
        outcomes.append(outcome)
        if package in failed_renders:
            outcome.reason = f"render: {failed_renders[package]}"
            continue
        catalog = MemoryCatalog()
        for rendered in bundles:
            try:
                result = add_bundles(catalog, [rendered], mode="replaces")
                validate(result.catalog)
            except CatalogValidationError as exc:
                outcome.reason = "; ".join(exc.problems) or exc.message
                break
            except CatalogError as exc:
                outcome.reason = exc.message
                break
            catalog.apply(result.changes)
            outcome.added += 1
    return outcomes


def refusal_groups(outcomes: Iterable[PackageOutcome], names: dict[str, set[str]]) -> Counter[str]:
    """Refused packages counted by their reason with names replaced (``group_reason``)."""
    return Counter(
        group_reason(o.reason, names.get(o.package, set()), o.package)
        for o in outcomes
        if o.reason is not None
    )
