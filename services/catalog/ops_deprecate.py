"""``opm registry deprecatetruncate --allow-package-removal`` on FBC (§4.7).

1. Every image must be a bundle of the catalog (``target bundlepaths for deprecation missing
   from registry: [...]``).
2. Package removal: an image that heads its package's default channel removes the whole
   package, provided the list also holds the heads of all the package's other channels
   (else ``cannot deprecate default channel head from package without removing all other
   channel heads in package p: must deprecate h, head of channel c``).
3. Every other image D is deprecated in order: the "tail" is everything reachable from D over
   ``replaces`` and ``skips`` edges; tail bundles lose their entries in D's channels and
   disappear when all their channels are D's channels and everything that points to them is
   in the tail; channels headed by D disappear; D itself is deprecated, so it leaves the FBC
   while entries above it keep ``replaces: D``. A tail that contains the default channel's
   head is an error (``Bundle deprecation causing default channel removal``).

Edges into entries that SQLite deletes are dropped from the surviving entries, exactly as the
migration of the truncated database shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.errors import CatalogError

from .errors import aggregate
from .graph import channel_head, entry_edges
from .model import ChannelEntry, PackageDocs
from .validate import ValidationOptions, validate_changed
from .views import CatalogChanges, CatalogView, Overlay

__all__ = ["DeprecateReport", "DeprecateResult", "deprecate_truncate"]


@dataclass(slots=True)
class DeprecateReport:
    """What a deprecate-truncate did."""

    removed_packages: list[str] = field(default_factory=list)
    deprecated: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    removed_channels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DeprecateResult:
    """The new catalog, the changes to write and the report."""

    catalog: Overlay
    changes: CatalogChanges
    report: DeprecateReport


def _heads(docs: PackageDocs) -> dict[str, str]:
    heads: dict[str, str] = {}
    for channel in docs.channels:
        head, _ = channel_head({e.name: e for e in channel.entries})
        if head is not None:
            heads[channel.name] = head
    return heads


@dataclass(slots=True)
class _Tail:
    channels: set[str] = field(default_factory=set)
    replaces: set[str] = field(default_factory=set)
    replaced_by: set[str] = field(default_factory=set)


def _tail(docs: PackageDocs, start: str) -> dict[str, _Tail]:
    """opm's ``getTailFromBundle``: every node reachable from ``start`` with its edges."""
    by_channel = {c.name: {e.name: e for e in c.entries} for c in docs.channels}
    skip_targets: dict[str, dict[str, list[str]]] = {}
    for channel_name, entries in by_channel.items():
        for entry in entries.values():
            for target in entry_edges(entry):
                skip_targets.setdefault(channel_name, {}).setdefault(target, []).append(entry.name)
    tail: dict[str, _Tail] = {}
    frontier = [start]
    while frontier:
        name = frontier.pop(0)
        if name in tail:
            continue
        node = tail[name] = _Tail()
        for channel_name, entries in by_channel.items():
            pointed_by = skip_targets.get(channel_name, {}).get(name, [])
            own = entries.get(name)
            if own is None and not pointed_by:
                continue
            node.channels.add(channel_name)
            if own is not None:
                node.replaces.update(entry_edges(own))
            node.replaced_by.update(pointed_by)
        frontier.extend(sorted(node.replaces - set(tail)))
    return tail


def _drop_edges_to(entries: list[ChannelEntry], target: str) -> None:
    for entry in entries:
        if entry.replaces == target:
            entry.replaces = ""
        if target in entry.skips:
            entry.skips = [s for s in entry.skips if s != target]


def _deprecate_one(docs: PackageDocs, name: str, report: DeprecateReport) -> str | None:
    """Deprecate bundle ``name`` of ``docs`` in place; returns an error message or ``None``."""
    heads = _heads(docs)
    default = docs.package.default_channel if docs.package else ""
    default_head = heads.get(default, "")
    if not default_head:
        return f"invalid default channel head '{default_head}' for {name}"
    tail = _tail(docs, name)
    if default_head in tail:
        return "Bundle deprecation causing default channel removal"
    head_channels = tail[name].channels if name in tail else set()
    queue = [name]
    seen = {name}
    by_name = {c.name: c for c in docs.channels}
    while queue:
        current = queue.pop(0)
        node = tail.get(current)
        if node is None:
            continue
        for target in sorted(node.replaces):
            if target not in seen:
                seen.add(target)
                queue.append(target)
        if current == name:
            continue
        d_channels = [c for c in docs.channels if any(e.name == name for e in c.entries)]
        for channel in d_channels:
            _drop_edges_to(channel.entries, current)
            channel.entries = [e for e in channel.entries if e.name != current]
        if len(node.channels) > len(head_channels):
            continue
        if not node.channels <= head_channels:
            continue
        if not all(b in tail for b in node.replaced_by):
            continue
        for channel in docs.channels:
            _drop_edges_to(channel.entries, current)
            channel.entries = [e for e in channel.entries if e.name != current]
        if docs.bundle(current) is not None:
            report.truncated.append(current)
    for channel in docs.channels:
        for entry in channel.entries:
            if entry.name == name:
                entry.replaces = ""
                entry.skips = []
    for channel_name, head in heads.items():
        if head == name and channel_name in by_name:
            report.removed_channels.append(f"{docs.name}/{channel_name}")
            docs.channels = [c for c in docs.channels if c.name != channel_name]
    for channel in docs.channels:
        channel.entries = [e for e in channel.entries if e.name != name]
    report.deprecated.append(name)
    members = {e.name for c in docs.channels for e in c.entries}
    docs.bundles = [b for b in docs.bundles if b.name in members]
    return None


def deprecate_truncate(
    catalog: CatalogView,
    bundle_images: Sequence[str],
    *,
    allow_package_removal: bool = True,
    validation: ValidationOptions | None = None,
) -> DeprecateResult:
    """Deprecate bundles (by image) and truncate the upgrade graph below them.

    Raises :class:`~services.common.errors.CatalogError` with opm's messages; nothing is
    written by this function.
    """
    report = DeprecateReport()
    changes = CatalogChanges()
    if not bundle_images:
        return DeprecateResult(Overlay(catalog, changes), changes, report)
    owner: dict[str, tuple[str, str]] = {}
    for pkg in catalog.package_names():
        summary = catalog.summary(pkg)
        if summary is None:
            continue
        for ref in summary.bundles:
            owner.setdefault(ref.image, (pkg, ref.name))
    if not owner:
        return DeprecateResult(Overlay(catalog, changes), changes, report)
    missing = [image for image in bundle_images if image not in owner]
    if missing:
        raise CatalogError(
            f"target bundlepaths for deprecation missing from registry: [{' '.join(missing)}]"
        )
    loaded: dict[str, PackageDocs] = {}

    def docs_of(pkg: str) -> PackageDocs | None:
        if pkg not in loaded:
            docs = catalog.load_package(pkg)
            if docs is None:
                return None
            loaded[pkg] = docs
        return loaded[pkg]

    remaining = list(bundle_images)
    if allow_package_removal:
        errors: list[str] = []
        packages: list[str] = []
        for image in bundle_images:
            pkg, name = owner[image]
            docs = docs_of(pkg)
            if docs is None or docs.package is None:
                continue
            if _heads(docs).get(docs.package.default_channel) == name:
                packages.append(pkg)
        removed_paths: list[str] = []
        for pkg in packages:
            docs = docs_of(pkg)
            assert docs is not None
            images = {b.name: b.image for b in docs.bundles}
            for channel, head in sorted(_heads(docs).items()):
                path = images.get(head, "")
                if path not in bundle_images:
                    errors.append(
                        "cannot deprecate default channel head from package without removing "
                        f"all other channel heads in package {pkg}: must deprecate {path}, head "
                        f"of channel {channel}"
                    )
                    raise CatalogError(aggregate(errors))
                removed_paths.append(path)
        for pkg in dict.fromkeys(packages):
            changes.set(pkg, None)
            loaded.pop(pkg, None)
            report.removed_packages.append(pkg)
        remaining = [image for image in bundle_images if image not in removed_paths]
    errors = []
    removed = set(report.removed_packages)
    for image in remaining:
        pkg, name = owner[image]
        if pkg in removed:
            continue
        docs = docs_of(pkg)
        if docs is None or docs.bundle(name) is None:
            continue
        error = _deprecate_one(docs, name, report)
        if error is not None:
            errors.append(f"error deprecating bundle {image}: {error}")
            if error != "Bundle deprecation causing default channel removal":
                break
            continue
        changes.set(pkg, docs)
    if errors:
        raise CatalogError(aggregate(errors))
    validate_changed(dict(changes.updates), validation)
    return DeprecateResult(Overlay(catalog, changes), changes, report)
