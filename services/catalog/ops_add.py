"""Adding bundles: ``opm registry add`` (replaces / semver / semver-skippatch) on FBC.

IIB adds bundles to a SQLite index and re-migrates it to FBC. This module produces the FBC
that migration would produce, working on the File-Based Catalog directly (§4.5, §4.10):

* **sanity checks** (all modes): image already in the package (``Bundle X already exists``),
  CSV name already in a channel (``Bundle already added that provides package and csv``,
  or the ``--overwrite-latest`` rules), replaces/skips/name edges that cross packages.
* **replaces mode**: channel heads are the highest versions among the bundles that are
  members of each channel (existing membership plus the new bundles' annotation channels);
  the default channel follows the highest bundle; every channel is rebuilt by walking CSV
  ``replaces`` from its head (skipped bundles become members), stopping at deprecated
  (truncated) bundles and failing on cycles or replaces of unknown bundles. Bundles no head
  reaches leave the catalog, as they would leave the migrated FBC.
* **semver / semver-skippatch**: the bundle is inserted into each channel's graph by version,
  edges of removed (skipped patch) nodes become ``skips``; afterwards bundles that head no
  channel lose their ``olm.bundle.object``/``olm.csv.metadata`` and related image names, as
  ``ClearNonHeadBundles`` does to the database (here: in the touched packages only).
* **post-check**: each added bundle must be reachable from the head of each of its
  channels (``add prunes bundle ...``).

What the SQLite model keeps but FBC cannot (tombstones of deprecated bundles, CSVs of
bundles dropped from every channel) is approximated: a ``replaces`` target that has no
bundle blob is treated as a deprecated tombstone where the chain ends, and a bundle's CSV
``replaces``/``skips`` are read from its channel entries (or from its CSV object when the
entries lack them).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from services.common.errors import CatalogError, CatalogValidationError

from . import semver
from .documents import loads_bounded
from .errors import aggregate
from .graph import Adjacency, adjacency, head_candidates, reachable
from .model import (
    PROP_BUNDLE_OBJECT,
    PROP_CSV_METADATA,
    Bundle,
    Channel,
    ChannelEntry,
    Package,
    PackageDocs,
    RelatedImage,
)
from .properties import csv_from_bundle
from .render import RenderedBundle
from .validate import ValidationOptions, validate_changed
from .views import CatalogChanges, CatalogView, Overlay

__all__ = [
    "AddReport",
    "AddResult",
    "GraphUpdateMode",
    "add_bundles",
]

GraphUpdateMode = Literal["replaces", "semver", "semver-skippatch"]

_ZERO = semver.Version(0, 0, 0)


@dataclass(slots=True)
class AddReport:
    """What an add did."""

    added: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    heads: dict[str, dict[str, str]] = field(default_factory=dict)
    default_channels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class AddResult:
    """The new catalog (an overlay), the changes to write, and the report."""

    catalog: Overlay
    changes: CatalogChanges
    report: AddReport


@dataclass(slots=True)
class _Facts:
    """What the SQLite loader knows of a bundle: its CSV edges and channel membership."""

    name: str
    image: str
    version: str
    replaces: str
    skips: list[str]
    skip_range: str
    substitutes_for: str
    channels: list[str]
    default_channel: str
    new: bool


def _csv_annotations(bundle: Bundle) -> dict[str, str]:
    for prop in bundle.properties:
        if prop.type == PROP_CSV_METADATA and isinstance(prop.value, dict):
            annotations = prop.value.get("annotations")
            if isinstance(annotations, dict):
                return {k: v for k, v in annotations.items() if isinstance(v, str)}
    return {}


def _existing_facts(docs: PackageDocs) -> dict[str, _Facts]:
    default = docs.package.default_channel if docs.package else ""
    entries_of: dict[str, list[ChannelEntry]] = {}
    channels_of: dict[str, list[str]] = {}
    for channel in sorted(docs.channels, key=lambda c: c.name):
        for entry in channel.entries:
            entries_of.setdefault(entry.name, []).append(entry)
            if channel.name not in channels_of.setdefault(entry.name, []):
                channels_of[entry.name].append(channel.name)
    facts: dict[str, _Facts] = {}
    for bundle in docs.bundles:
        if bundle.name in facts or bundle.name not in entries_of:
            continue
        entries = entries_of[bundle.name]
        replaces = next((e.replaces for e in entries if e.replaces), "")
        skips = next((list(e.skips) for e in entries if e.skips), [])
        skip_range = next((e.skip_range for e in entries if e.skip_range), "")
        annotations = _csv_annotations(bundle)
        has_objects = any(p.type == PROP_BUNDLE_OBJECT for p in bundle.properties)
        # The CSV object is read when the entries lack replaces, or for its annotations (the
        # olm.substitutesFor of an earlier substitution) when there is no olm.csv.metadata.
        if has_objects and (not replaces or not annotations):
            csv = csv_from_bundle(bundle)
            if csv is not None:
                spec = csv.get("spec") if isinstance(csv.get("spec"), dict) else {}
                assert isinstance(spec, dict)
                if not replaces and isinstance(spec.get("replaces"), str):
                    replaces = spec["replaces"]
                if not skips and isinstance(spec.get("skips"), list):
                    skips = [s for s in spec["skips"] if isinstance(s, str)]
                meta = csv.get("metadata") if isinstance(csv.get("metadata"), dict) else {}
                assert isinstance(meta, dict)
                raw = meta.get("annotations")
                if isinstance(raw, dict):
                    annotations = {k: v for k, v in raw.items() if isinstance(v, str)}
        if not skip_range:
            skip_range = annotations.get("olm.skipRange", "")
        facts[bundle.name] = _Facts(
            name=bundle.name,
            image=bundle.image,
            version=bundle.version() or "",
            replaces=replaces,
            skips=skips,
            skip_range=skip_range,
            substitutes_for=annotations.get("olm.substitutesFor", ""),
            channels=channels_of[bundle.name],
            default_channel=default,
            new=False,
        )
    return facts


def _new_facts(rendered: RenderedBundle) -> _Facts:
    return _Facts(
        name=rendered.csv_name,
        image=rendered.image,
        version=rendered.version,
        replaces=rendered.replaces,
        skips=list(rendered.skips),
        skip_range=rendered.skip_range,
        substitutes_for=rendered.substitutes_for,
        channels=list(rendered.channels),
        default_channel=rendered.default_channel,
        new=True,
    )


def _tombstones(docs: PackageDocs) -> set[str]:
    names = {b.name for b in docs.bundles}
    return {
        e.replaces
        for c in docs.channels
        for e in c.entries
        if e.replaces and e.replaces not in names
    }


def _parse_version(fact: _Facts) -> semver.Version:
    raw = fact.version or "0.0.0-z"
    try:
        return semver.parse(raw)
    except semver.SemverError as exc:
        raise CatalogError(f"error parsing bundle {fact.name} version {raw}: {exc}") from None


def _go_version(v: semver.Version) -> str:
    pre = " ".join(
        f"{{VersionStr:{p.text if p.number is None else ''} VersionNum:{p.number or 0} "
        f"IsNum:{'true' if p.number is not None else 'false'}}}"
        for p in v.pre
    )
    return f"{{Major:{v.major} Minor:{v.minor} Patch:{v.patch} Pre:[{pre}] Build:[{' '.join(v.build)}]}}"


def _semver_package_manifest(package: str, facts: Sequence[_Facts]) -> tuple[str, dict[str, str]]:
    """opm's ``SemverPackageManifest``: (default channel, channel -> head bundle name)."""
    heads: dict[str, list[object]] = {}
    default = ""
    best: list[object] = ["", _ZERO, 0]
    for fact in facts:
        version = _parse_version(fact)
        current: list[object] = [fact.name, version, 1]
        for channel in fact.channels:
            head = heads.get(channel)
            if head is None:
                heads[channel] = list(current)
                continue
            cmp = semver.build_id_compare(version, head[1])  # type: ignore[arg-type]
            if cmp < 0:
                continue
            if cmp == 0:
                current[2] = int(current[2]) + int(head[2])  # type: ignore[call-overload]
            heads[channel] = list(current)
        cmp = semver.build_id_compare(version, best[1])  # type: ignore[arg-type]
        if cmp < 0:
            continue
        if cmp == 0:
            current[2] = int(current[2]) + int(best[2])  # type: ignore[call-overload]
        best = list(current)
        if fact.default_channel:
            default = fact.default_channel
    if int(best[2]) > 1:  # type: ignore[call-overload]
        raise CatalogError(f"more than one bundle with maximum version {best[1]}")
    annotated = default  # opm checks the annotation's channel, not the one it picks
    found = len(heads) == 1 and annotated == ""
    for channel in sorted(heads):
        if int(heads[channel][2]) > 1:  # type: ignore[call-overload]
            raise CatalogError(f"more than one potential channel head for {channel}")
        if len(heads) == 1:
            default = channel
        found = found or channel == annotated
    if not found:
        listed = " ".join(
            f"{ch}:{{name:{h[0]} version:{_go_version(h[1])} count:{h[2]}}}"  # type: ignore[arg-type]
            for ch, h in sorted(heads.items())
        )
        raise CatalogError(
            f"unable to determine default channel among channel heads: map[{listed}]"
        )
    del package
    return default, {ch: str(h[0]) for ch, h in heads.items()}


def _walk_replaces(
    head: str, facts: dict[str, _Facts], tombstones: set[str], errors: list[str]
) -> dict[str, ChannelEntry]:
    """Rebuild one channel from its head along CSV ``replaces`` (opm ``addPackageChannels``)."""
    entries: dict[str, ChannelEntry] = {}
    visited = {head}
    node = head
    while True:
        fact = facts[node]
        entry = ChannelEntry(node, "", list(fact.skips), fact.skip_range)
        entries[node] = entry
        for skip in fact.skips:
            if skip in facts and skip not in entries:
                entries[skip] = ChannelEntry(skip, "", [], facts[skip].skip_range)
        target = fact.replaces
        if not target:
            break
        entry.replaces = target
        if target in visited:
            errors.append(f"Cycle detected, {node} replaces {target}")
            break
        visited.add(target)
        if target in tombstones:
            break
        if target not in facts:
            errors.append(f"Invalid bundle {head}, replaces nonexistent bundle {target}")
            break
        node = target
    return entries


def _channel_graph(channel: Channel, real: set[str]) -> tuple[str | None, Adjacency, str | None]:
    """(head, edges) of a channel as opm's sqlite graph loader builds it, or an error."""
    nodes, targets = adjacency(channel.entries, real)
    candidates = head_candidates(nodes, targets)
    if not candidates:
        return None, nodes, f"no channel head found for {channel.name}"
    if len(candidates) > 1:
        return (
            None,
            nodes,
            f"multiple candidate channel heads found for {channel.name}: "
            f"map[{' '.join(c + ':{}' for c in candidates)}]",
        )
    return candidates[0], nodes, None


def _post_check(docs: PackageDocs, added: Sequence[_Facts], errors: list[str]) -> None:
    """opm ``checkForBundles``: every added bundle is reachable from each channel head."""
    real = {b.name for b in docs.bundles}
    images = {b.name: b.image for b in docs.bundles}
    graphs: dict[str, tuple[str | None, dict[str, list[str]], str | None]] = {
        c.name: _channel_graph(c, real) for c in docs.channels
    }
    for fact in added:
        for channel in fact.channels:
            head, edges, error = graphs.get(channel, (None, {}, None))
            if error:
                errors.append(f"unable to verify added bundles for package {docs.name}: {error}")
                break
            if head is not None and any(
                images.get(n) == fact.image for n in reachable(head, edges)
            ):
                continue
            head_name = head or ""
            head_skips = edges.get(head_name, []) if head else []
            errors.append(
                f"add prunes bundle {fact.name} ({fact.image}) from package {docs.name}, "
                f"channel {channel}: this may be due to incorrect channel head ({head_name}, "
                f"skips/replaces [{' '.join(head_skips)}]). Be aware that the head of the "
                f"channel {channel} where you are trying to add the {fact.name} is {head_name}. "
                "Upgrade graphs follows the Semantic Versioning 2.0.0 (https://semver.org/) "
                "which means that is not possible add new versions lower then the head of the "
                "channel"
            )


def _apply_substitutes(facts: dict[str, _Facts], new: _Facts, errors: list[str]) -> None:
    """``olm.substitutesFor`` (alpha, always enabled by IIB) for one new bundle.

    opm's sqlite ``addSubstitutesFor`` step by step, on the facts (its ``operatorbundle`` rows);
    ``new`` must already be in ``facts``. The substitutions of existing bundles are read from
    their CSV annotations (FBC keeps no updated ``substitutesfor`` column).
    """
    name = new.name

    def substituting(target: str) -> list[str]:
        return [f.name for f in facts.values() if f.substitutes_for == target]

    def mark(seen: set[str], item: str) -> bool:
        if item in seen:
            errors.append(f'cyclic substitutesFor chain detected involving "{item}"')
            return False
        seen.add(item)
        return True

    def append_skips(target: str, extra: list[str]) -> None:
        current = facts[target].skips
        for skip in extra:
            if skip not in current:
                current.append(skip)

    skips = list(new.skips)
    replaces = new.replaces
    target = new.substitutes_for
    if target:
        for fact in facts.values():
            if fact.replaces == target:
                fact.replaces = name
        others = substituting(target)
        seen_others = {name}
        while others:
            other = others.pop(0)
            if other == name:
                continue
            if not mark(seen_others, other):
                return
            cmp = semver.build_id_compare(_parse_version(facts[other]), _parse_version(new))
            if cmp < 0:
                new.substitutes_for = other
                others.extend(substituting(other))
            elif cmp > 0:
                facts[other].substitutes_for = name
                append_skips(other, [*skips, name])
                if len(substituting(name)) > 1:
                    errors.append(
                        f"programmer error: more than one substitution pointing to {name}"
                    )
                    return
            else:
                errors.append("cannot determine latest substitution because of duplicate versions")
                return
    # The chain of what this bundle substitutes for is skipped.
    chain = new.substitutes_for
    seen = {name}
    while chain:
        if not mark(seen, chain):
            return
        skips.append(chain)
        chain = facts[chain].substitutes_for if chain in facts else ""
    # Substitutions added before this bundle take over its skips (opm stops quietly when two
    # bundles substitute for the same one).
    subs = substituting(name)
    if len(subs) > 1:
        return
    seen = {name}
    while subs:
        if not mark(seen, subs[0]):
            return
        append_skips(subs[0], [*skips, name])
        subs = substituting(subs[0])
        if len(subs) > 1:
            return
    # Skipping a substituted bundle also skips its substitutions.
    if skips:
        merged: dict[str, None] = {}
        for skip in skips:
            merged[skip] = None
            subs = substituting(skip)
            if len(subs) > 1:
                return
            seen = {skip}
            while subs:
                sub = subs.pop(0)
                if sub == name:
                    continue
                if not mark(seen, sub):
                    return
                merged[sub] = None
                subs = substituting(sub)
                if len(subs) > 1:
                    return
        skips = list(merged)
    # Replacing a substituted bundle replaces its latest substitution.
    if replaces:
        subs = substituting(replaces)
        seen = {replaces}
        while subs:
            replaces = subs[0]
            if not mark(seen, replaces):
                return
            subs = substituting(replaces)
            if len(subs) > 1:
                return
    new.replaces = replaces
    new.skips = skips


def _sanity_checks(
    view: CatalogView,
    bundles: Sequence[RenderedBundle],
    loaded: dict[str, PackageDocs],
    overwrite: bool,
) -> dict[str, list[str]]:
    """opm's ``globalSanityCheck`` + ``ValidateEdgeBundlePackage``; returns overwrites."""
    errors: list[str] = []
    overwrites: dict[str, list[str]] = {}
    images = {b.image for b in bundles}
    for rendered in bundles:
        docs = loaded.get(rendered.package)
        if docs is None or not docs.package:
            continue
        if overwrite:
            existing = docs.bundle(rendered.csv_name)
            if existing is not None:
                if not existing.image:
                    raise CatalogError(
                        "index add --overwrite-latest is only supported when using bundle images"
                    )
                overwrites.setdefault(rendered.package, []).append(rendered.csv_name)
    attempted: set[str] = set()
    for rendered in bundles:
        docs = loaded.get(rendered.package)
        if docs is None or not docs.package:
            continue
        bundle_paths = {
            b.image
            for b in docs.bundles
            if any(b.name == e.name for c in docs.channels for e in c.entries)
        }
        for path in sorted(bundle_paths):
            if path in images:
                errors.append(f"Bundle {rendered.image} already exists")
        valid_overwrite = False
        real = {b.name for b in docs.bundles}
        for channel in sorted(docs.channels, key=lambda c: c.name):
            if rendered.csv_name not in real or not any(
                e.name == rendered.csv_name for e in channel.entries
            ):
                continue
            if not overwrite:
                errors.append("Bundle already added that provides package and csv")
                break
            replaced_by = [
                e.name
                for e in channel.entries
                if e.replaces == rendered.csv_name or rendered.csv_name in e.skips
            ]
            if not replaced_by:
                valid_overwrite = True
                continue
            errors.append(
                "Cannot overwrite a bundle that is not at the head of a channel using "
                "--overwrite-latest"
            )
            valid_overwrite = False
            break
        if valid_overwrite:
            if rendered.package in attempted:
                errors.append(
                    "Cannot overwrite more than one bundle at a time for a given package using "
                    "--overwrite-latest"
                )
                break
            attempted.add(rendered.package)

    expected: dict[str, str] = {}
    edge_error: str | None = None
    for rendered in bundles:
        for name in [*rendered.skips, rendered.replaces, rendered.csv_name]:
            if not name:
                continue
            known = expected.get(name)
            if known is not None and known != rendered.package:
                pkgs = sorted([known, rendered.package])
                edge_error = (
                    f"bundle {name} must belong to exactly one package, found on: "
                    f"[{' '.join(pkgs)}]"
                )
                break
            expected[name] = rendered.package
        if edge_error:
            break
    if edge_error is None and expected:
        for pkg_name in view.package_names():
            summary = view.summary(pkg_name)
            if summary is None:
                continue
            clash = sorted(
                n for n in summary.edge_names if n in expected and expected[n] != pkg_name
            )
            if clash:
                edge_error = (
                    f"bundle {clash[0]} belongs to package {pkg_name} on index, cannot be added "
                    f"as an edge for package {expected[clash[0]]}"
                )
                break
    if edge_error:
        errors.append(edge_error)
    if errors:
        raise CatalogError(aggregate(errors))
    return overwrites


def _clear_non_heads(docs: PackageDocs, report: AddReport) -> None:
    heads = set()
    for channel in docs.channels:
        real = {b.name for b in docs.bundles}
        head, _, _ = _channel_graph(channel, real)
        if head:
            heads.add(head)
    for bundle in docs.bundles:
        if bundle.name in heads or not bundle.image:
            continue
        stripped = [
            p for p in bundle.properties if p.type not in (PROP_BUNDLE_OBJECT, PROP_CSV_METADATA)
        ]
        names_blank = [RelatedImage("", r.image) for r in bundle.related_images]
        unique: dict[str, RelatedImage] = {}
        for related in names_blank:
            unique.setdefault(related.image, related)
        new_related = sorted(unique.values(), key=lambda r: r.image.encode("utf-8"))
        if stripped != bundle.properties or new_related != bundle.related_images:
            bundle.properties = stripped
            bundle.related_images = new_related
            report.cleared.append(bundle.name)


def _add_replaces(
    docs: PackageDocs,
    new_bundles: Sequence[RenderedBundle],
    report: AddReport,
    known_tombstones: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    facts = _existing_facts(docs)
    tombstones = _tombstones(docs) | (known_tombstones - set(facts))
    errors: list[str] = []
    new_facts: list[_Facts] = []
    for rendered in new_bundles:
        fact = _new_facts(rendered)
        if fact.name in facts:
            raise CatalogError(
                f'failed to add bundle "{fact.name}": UNIQUE constraint failed: operatorbundle.name'
            )
        facts[fact.name] = fact
        # Also for bundles that substitute nothing: a replaces of a substituted bundle points
        # at its latest substitute.
        _apply_substitutes(facts, fact, errors)
        new_facts.append(fact)
    if errors:
        raise CatalogError(aggregate(errors))
    ordered = sorted((f for f in facts.values() if not f.new), key=lambda f: f.name) + new_facts
    default, heads = _semver_package_manifest(docs.name, ordered)
    if default not in heads:
        errors.append(f"no default channel specified for {docs.name}")
    rebuilt: dict[str, dict[str, ChannelEntry]] = {}
    for channel_name in sorted(heads):
        rebuilt[channel_name] = _walk_replaces(heads[channel_name], facts, tombstones, errors)
    if errors:
        raise CatalogError(aggregate(errors))

    old_channels = {c.name: c for c in docs.channels}
    docs.channels = [
        Channel(
            name,
            docs.name,
            [entries[n] for n in sorted(entries)],
            list(old_channels[name].properties) if name in old_channels else [],
        )
        for name, entries in sorted(rebuilt.items())
    ]
    members = {n for entries in rebuilt.values() for n in entries}
    new_blobs = {r.csv_name: copy.deepcopy(r.bundle) for r in new_bundles}
    kept: list[Bundle] = []
    for bundle in docs.bundles:
        if bundle.name in members:
            kept.append(bundle)
        else:
            report.dropped.append(bundle.name)
    kept.extend(b for n, b in new_blobs.items() if n in members)
    for name in new_blobs:
        if name not in members:
            report.dropped.append(name)
    docs.bundles = kept
    _set_default(docs, default)
    report.heads[docs.name] = dict(sorted(heads.items()))
    report.default_channels[docs.name] = default
    _post_check(docs, new_facts, errors)
    if errors:
        raise CatalogError(aggregate(errors))


def _set_default(docs: PackageDocs, default: str) -> None:
    if docs.packages:
        docs.packages[0].default_channel = default
    else:
        docs.packages = [Package(docs.name, default)]


def is_skip_patch_candidate(added: semver.Version, other: semver.Version) -> bool:
    """opm's ``isSkipPatchCandidate``: same major and minor, and a higher version."""
    return added.major == other.major and added.minor == other.minor and added > other


def _add_semver(
    docs: PackageDocs, rendered: RenderedBundle, skippatch: bool, report: AddReport
) -> None:
    fact = _new_facts(rendered)
    try:
        version = semver.parse(fact.version)
    except semver.SemverError:
        raise CatalogError(f"Bundle version {fact.version} is not valid") from None
    real = {b.name for b in docs.bundles}
    if fact.name in real:
        raise CatalogError(
            f'error loading bundle {fact.name} into db: failed to add bundle "{fact.name}": '
            "UNIQUE constraint failed: operatorbundle.name"
        )
    versions: dict[str, semver.Version] = {}
    skip_ranges: dict[str, str] = {}
    for bundle in docs.bundles:
        skip_ranges[bundle.name] = next(
            (
                e.skip_range
                for c in docs.channels
                for e in c.entries
                if e.name == bundle.name and e.skip_range
            ),
            "",
        )
    graph: dict[str, tuple[str, dict[str, list[str]]]] = {}
    default = docs.package.default_channel if docs.package else ""
    for channel in docs.channels:
        head, edges, error = _channel_graph(channel, real)
        if error:
            raise CatalogError(error)
        assert head is not None
        graph[channel.name] = (head, edges)
    for bundle in docs.bundles:
        raw = bundle.version() or ""
        try:
            versions[bundle.name] = semver.parse(raw)
        except semver.SemverError:
            in_graph = any(bundle.name in edges for _, edges in graph.values())
            if in_graph:
                raise CatalogError(
                    "Unable to parse existing bundle version stored in index "
                    f"{bundle.name} {raw} {bundle.image}"
                ) from None
    if fact.default_channel:
        default = fact.default_channel
    if not default:
        if not fact.channels:
            raise CatalogError("Default channel is missing and can't be inferred")
        default = sorted(fact.channels)[0]
    for channel_name in fact.channels:
        if channel_name not in graph:
            graph[channel_name] = (fact.name, {fact.name: []})
            continue
        head, edges = graph[channel_name]
        lowest_ahead: str | None = None
        greatest_behind: str | None = None
        replaces: list[str] = []
        candidates: list[str] = []
        for member in list(edges):
            node_version = versions[member]
            cmp = node_version.compare(version)
            if cmp == 0:
                raise CatalogError(f"Bundle version {fact.version} already added to index")
            if cmp > 0:
                if lowest_ahead is None or node_version < versions[lowest_ahead]:
                    lowest_ahead = member
            else:
                if greatest_behind is None or node_version > versions[greatest_behind]:
                    greatest_behind = member
            if skippatch and is_skip_patch_candidate(version, node_version):
                candidates.append(member)
                replaces.append(member)
        if greatest_behind is not None and greatest_behind not in replaces:
            replaces.insert(0, greatest_behind)
        elif greatest_behind is not None:
            replaces.remove(greatest_behind)
            replaces.insert(0, greatest_behind)
        if lowest_ahead is not None:
            edges[lowest_ahead] = [fact.name]
        else:
            head = fact.name
        for candidate in candidates:
            del edges[candidate]
        edges[fact.name] = replaces
        graph[channel_name] = (head, edges)
    if default not in graph:
        raise CatalogError(
            f"error loading bundle {fact.name} into db: the default channel ({default}) does not "
            "exist"
        )
    versions[fact.name] = version
    skip_ranges[fact.name] = fact.skip_range
    all_real = real | {fact.name}
    old_channels = {c.name: c for c in docs.channels}
    channels: list[Channel] = []
    errors: list[str] = []
    for channel_name in sorted(graph):
        head, edges = graph[channel_name]
        entries: dict[str, ChannelEntry] = {}
        current: str | None = head
        depth = 0
        walked: set[str] = set()
        while current is not None:
            if current in walked:
                errors.append(f"Cycle detected in channel {channel_name} at {current}")
                break
            walked.add(current)
            entry = ChannelEntry(current, "", [], skip_ranges.get(current, ""))
            entries[current] = entry
            next_node: str | None = None
            for target in edges.get(current, []):
                if target in edges:
                    if next_node is None:
                        next_node = target
                else:
                    entry.skips.append(target)
                    if target in all_real and target not in entries:
                        entries[target] = ChannelEntry(target, "", [], skip_ranges.get(target, ""))
            if next_node is None:
                if len(edges) - 1 != depth:
                    errors.append(
                        "Invalid graph: some (non-bottom) nodes defined in the graph were not "
                        f"mentioned as replacements of any node ({len(edges) - 1} != {depth})"
                    )
                break
            entry.replaces = next_node
            current = next_node
            depth += 1
        props = list(old_channels[channel_name].properties) if channel_name in old_channels else []
        channels.append(
            Channel(channel_name, docs.name, [entries[n] for n in sorted(entries)], props)
        )
    if errors:
        raise CatalogError(f"error loading bundle {fact.name} into db: {aggregate(errors)}")
    docs.channels = channels
    docs.bundles.append(copy.deepcopy(rendered.bundle))
    members = {e.name for c in channels for e in c.entries}
    dropped = [b.name for b in docs.bundles if b.name not in members]
    docs.bundles = [b for b in docs.bundles if b.name in members]
    report.dropped.extend(dropped)
    _set_default(docs, default)
    report.heads[docs.name] = {name: graph[name][0] for name in sorted(graph)}
    report.default_channels[docs.name] = default
    post_errors: list[str] = []
    _post_check(docs, [fact], post_errors)
    if post_errors:
        raise CatalogError(aggregate(post_errors))


def add_bundles(
    catalog: CatalogView,
    bundles: Sequence[RenderedBundle],
    *,
    mode: GraphUpdateMode = "replaces",
    overwrite_latest: bool = False,
    validation: ValidationOptions | None = None,
) -> AddResult:
    """Add rendered bundles to a catalog as ``opm registry add --enable-alpha`` would.

    Only the packages of the added bundles are loaded and rewritten. Raises
    :class:`~services.common.errors.CatalogError` with opm's message when opm would fail,
    and :class:`~services.common.errors.CatalogValidationError` when the resulting packages
    would not pass ``opm validate`` (IIB's migration validates them); nothing is written by
    this function.
    """
    if mode not in ("replaces", "semver", "semver-skippatch"):
        raise CatalogError(f"unsupported graph update mode {mode!r}")
    for rendered in bundles:
        if rendered.bundle.image != rendered.image or not rendered.csv_name:
            raise CatalogError("rendered bundle is inconsistent")
    report = AddReport()
    packages = list(dict.fromkeys(b.package for b in bundles))
    loaded: dict[str, PackageDocs] = {}
    for name in packages:
        docs = catalog.load_package(name)
        if docs is not None:
            loaded[name] = docs
    overwrites = _sanity_checks(catalog, bundles, loaded, overwrite_latest)
    changes = CatalogChanges()
    failures = [err for b in bundles if (err := _csv_properties_error(b)) is not None]
    for name in packages:
        try:
            _add_to_package(name, loaded, bundles, mode, overwrites, changes, report)
        except CatalogValidationError:
            raise
        except CatalogError as exc:
            # opm regenerates every package's graph and reports all failures together.
            failures.append(exc.message)
    if failures:
        raise CatalogError(aggregate(failures))
    validate_changed(dict(changes.updates), validation)
    return AddResult(Overlay(catalog, changes), changes, report)


#: The property types opm's SQLite loader decodes from a CSV's olm.properties annotation, and
#: the string fields of the struct each decodes into.
_TYPED_CSV_PROPERTIES = {
    "olm.label": ("label",),
    "olm.package": ("packageName", "version"),
    "olm.gvk": ("group", "kind", "version"),
}


def _csv_properties_error(rendered: RenderedBundle) -> str | None:
    """opm's ``addBundleProperties``: the CSV's ``olm.properties`` annotation must be a JSON
    list of properties, and label/package/gvk values must decode into their structs (``opm
    render`` only warns; ``opm registry add`` refuses the bundle)."""
    annotations = rendered.csv.get("metadata", {}).get("annotations") or {}
    if not isinstance(annotations, dict) or "olm.properties" not in annotations:
        return None
    where = f"error adding operator bundle {rendered.csv_name}: olm.properties annotation"
    text = annotations.get("olm.properties") or ""
    try:
        props = loads_bounded(text)
    except ValueError as exc:
        return f"{where}: {exc}"
    if props is None:
        return None
    if not isinstance(props, list) or not all(
        p is None or (isinstance(p, dict) and isinstance(p.get("type", ""), (str, type(None))))
        for p in props
    ):
        return f"{where}: json: cannot unmarshal into Go value of type []registry.Property"
    for prop in props:
        if prop is None:
            continue
        fields = _TYPED_CSV_PROPERTIES.get(prop.get("type") or "")
        if fields is None:
            continue
        if "value" not in prop:  # an empty json.RawMessage does not decode
            return f"{where}: unexpected end of JSON input"
        value = prop["value"]
        if value is None:
            continue
        if not isinstance(value, dict) or any(
            not isinstance(value.get(f), (str, type(None))) for f in fields
        ):
            return f"{where}: json: cannot unmarshal {prop.get('type')} value"
    return None


def _add_to_package(
    name: str,
    loaded: dict[str, PackageDocs],
    bundles: Sequence[RenderedBundle],
    mode: GraphUpdateMode,
    overwrites: dict[str, list[str]],
    changes: CatalogChanges,
    report: AddReport,
) -> None:
    """Add one package's new bundles to its documents and record the result in ``changes``."""
    docs = loaded.get(name) or PackageDocs(name)
    group = [b for b in bundles if b.package == name]
    if mode == "replaces":
        # Deprecated bundles named only by the entries an overwrite removes stay known.
        tombstones = _tombstones(docs)
        for overwritten in overwrites.get(name, [])[:1]:
            for channel in docs.channels:
                for entry in channel.entries:
                    if entry.replaces == overwritten or overwritten in entry.skips:
                        raise CatalogError(
                            f"cannot overwrite bundle {overwritten} from package {name}: "
                            f"replaced by {entry.name} on channel {channel.name}"
                        )
            for channel in docs.channels:
                channel.entries = [e for e in channel.entries if e.name != overwritten]
            docs.channels = [c for c in docs.channels if c.entries]
            docs.bundles = [b for b in docs.bundles if b.name != overwritten]
            report.overwritten.append(overwritten)
        _add_replaces(docs, group, report, tombstones)
    else:
        for rendered in group:
            _add_semver(docs, rendered, mode == "semver-skippatch", report)
        _clear_non_heads(docs, report)
    report.added.extend(b.csv_name for b in group)
    changes.set(name, docs)
