"""What a change set does to a catalog, in the terms a release engineer reads: packages,
channels and bundles added and removed, channel heads and default channels that moved, and
deprecations added.

Only the packages a change set touches are compared (each loaded once from the base view), so a
diff costs what the operation already read. A channel's head is opm's ``Channel.Head``
(:func:`.graph.channel_head`: the one entry no other entry replaces or skips); a channel whose
graph has no single head has head ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .graph import channel_head
from .model import PackageDocs
from .views import CatalogChanges, CatalogView, FragmentPackage

__all__ = ["CatalogDiff", "catalog_diff"]


@dataclass
class CatalogDiff:
    """The differences between a catalog and the same catalog with a change set applied.

    Every list is sorted (by package, then channel or bundle name), so equal inputs give equal
    diffs. A bundle is identified by its name and image: a bundle whose image changed (an
    overwrite of the latest bundle) is removed and added.
    """

    packages_added: list[str] = field(default_factory=list)
    packages_removed: list[str] = field(default_factory=list)
    channels_added: list[dict[str, str]] = field(default_factory=list)
    channels_removed: list[dict[str, str]] = field(default_factory=list)
    bundles_added: list[dict[str, str]] = field(default_factory=list)
    bundles_removed: list[dict[str, str]] = field(default_factory=list)
    channel_heads_moved: list[dict[str, str]] = field(default_factory=list)
    default_channels_moved: list[dict[str, str]] = field(default_factory=list)
    deprecations_added: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The diff as a JSON object (the field names of ``iib.builds.v1.CatalogDiff``)."""
        return {
            "packages_added": list(self.packages_added),
            "packages_removed": list(self.packages_removed),
            "channels_added": list(self.channels_added),
            "channels_removed": list(self.channels_removed),
            "bundles_added": list(self.bundles_added),
            "bundles_removed": list(self.bundles_removed),
            "channel_heads_moved": list(self.channel_heads_moved),
            "default_channels_moved": list(self.default_channels_moved),
            "deprecations_added": list(self.deprecations_added),
        }

    def extend(self, other: CatalogDiff) -> None:
        """Add ``other``'s entries (diffs of disjoint packages)."""
        for name in self.to_json():
            getattr(self, name).extend(getattr(other, name))


def _heads(docs: PackageDocs | None) -> dict[str, str]:
    """Channel name -> head bundle ("" when the channel has no single head)."""
    if docs is None:
        return {}
    heads: dict[str, str] = {}
    for channel in docs.channels:
        head, _error = channel_head({entry.name: entry for entry in channel.entries})
        heads.setdefault(channel.name, head or "")
    return heads


def _bundles(docs: PackageDocs | None) -> dict[tuple[str, str], str]:
    """(bundle name, image) -> version."""
    if docs is None:
        return {}
    return {(b.name, b.image): b.version() or "" for b in docs.bundles}


def _deprecations(docs: PackageDocs | None) -> set[tuple[str, str, str]]:
    """(schema, name, message) of every olm.deprecations entry."""
    if docs is None:
        return set()
    return {(e.schema, e.name, e.message) for d in docs.deprecations for e in d.entries}


def _default_channel(docs: PackageDocs | None) -> str:
    package = docs.package if docs is not None else None
    return package.default_channel if package is not None else ""


def package_diff(name: str, before: PackageDocs | None, after: PackageDocs | None) -> CatalogDiff:
    """The diff of one package (``None``: absent on that side)."""
    if before is not None and before.is_empty():
        before = None
    if after is not None and after.is_empty():
        after = None
    diff = CatalogDiff()
    if before is None and after is not None:
        diff.packages_added.append(name)
    elif before is not None and after is None:
        diff.packages_removed.append(name)
    old_heads, new_heads = _heads(before), _heads(after)
    for channel in sorted(new_heads.keys() - old_heads.keys()):
        diff.channels_added.append(
            {"package": name, "channel": channel, "head": new_heads[channel]}
        )
    for channel in sorted(old_heads.keys() - new_heads.keys()):
        diff.channels_removed.append(
            {"package": name, "channel": channel, "head": old_heads[channel]}
        )
    for channel in sorted(old_heads.keys() & new_heads.keys()):
        if old_heads[channel] != new_heads[channel]:
            diff.channel_heads_moved.append(
                {
                    "package": name,
                    "channel": channel,
                    "from_head": old_heads[channel],
                    "to_head": new_heads[channel],
                }
            )
    old_bundles, new_bundles = _bundles(before), _bundles(after)
    for key in sorted(new_bundles.keys() - old_bundles.keys()):
        diff.bundles_added.append(
            {"package": name, "name": key[0], "image": key[1], "version": new_bundles[key]}
        )
    for key in sorted(old_bundles.keys() - new_bundles.keys()):
        diff.bundles_removed.append(
            {"package": name, "name": key[0], "image": key[1], "version": old_bundles[key]}
        )
    if before is not None and after is not None:
        old_default, new_default = _default_channel(before), _default_channel(after)
        if old_default != new_default:
            diff.default_channels_moved.append(
                {"package": name, "from_channel": old_default, "to_channel": new_default}
            )
    for schema, entry_name, message in sorted(_deprecations(after) - _deprecations(before)):
        diff.deprecations_added.append(
            {"package": name, "schema": schema, "name": entry_name, "message": message}
        )
    return diff


def catalog_diff(base: CatalogView, changes: CatalogChanges) -> CatalogDiff:
    """What applying ``changes`` to ``base`` changes (call it before the changes are written)."""
    diff = CatalogDiff()
    for name in sorted(changes.updates):
        update = changes.updates[name]
        after = update.docs if isinstance(update, FragmentPackage) else update
        diff.extend(package_diff(name, base.load_package(name), after))
    return diff
