"""Read views of a catalog and the change sets operations return.

Operations are pure functions ``(catalog view, inputs) -> (changes, report)``. A
:class:`CatalogView` gives package names, one package's documents at a time, and a light
:class:`~.model.PackageSummary` per package; it never has to hold the whole catalog.
:class:`Overlay` presents "base + changes" as a new view, so operations chain without
touching the disk; :meth:`.directory.CatalogDir.apply` finally writes a change set.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .model import PackageDocs, PackageSummary

__all__ = [
    "CatalogChanges",
    "CatalogView",
    "FragmentPackage",
    "MemoryCatalog",
    "Overlay",
    "PackageUpdate",
]


@runtime_checkable
class CatalogView(Protocol):
    """What operations need from a catalog."""

    def package_names(self) -> list[str]:
        """Names of every package, sorted."""
        ...

    def load_package(self, name: str) -> PackageDocs | None:
        """A fresh copy of one package's documents (callers may mutate it), or ``None``."""
        ...

    def summary(self, name: str) -> PackageSummary | None:
        """The package's summary, or ``None`` when absent."""
        ...


@dataclass(slots=True)
class FragmentPackage:
    """A package replaced by the files of an FBC fragment, copied byte for byte.

    ``files`` maps paths relative to the package directory to their bytes; ``docs`` is what
    those files decode to (used for validation and summaries).
    """

    docs: PackageDocs
    files: dict[str, bytes]


PackageUpdate = PackageDocs | FragmentPackage | None
"""New content of a package: documents to write canonically, fragment files, or removal."""


@dataclass(slots=True)
class CatalogChanges:
    """Package-level changes; ``updates[name] is None`` removes the package."""

    updates: dict[str, PackageUpdate] = field(default_factory=dict)

    def set(self, name: str, update: PackageUpdate) -> None:
        """Record the new content of ``name`` (later calls win)."""
        self.updates[name] = update

    def merged(self, later: CatalogChanges) -> CatalogChanges:
        """These changes followed by ``later``."""
        out = CatalogChanges(dict(self.updates))
        out.updates.update(later.updates)
        return out

    def __bool__(self) -> bool:
        return bool(self.updates)


def _docs_of(update: PackageUpdate) -> PackageDocs | None:
    if isinstance(update, FragmentPackage):
        return update.docs
    return update


class MemoryCatalog:
    """A catalog held in memory (tests, fragments, small catalogs)."""

    def __init__(self, packages: Iterable[PackageDocs] = ()) -> None:
        self._packages: dict[str, PackageDocs] = {p.name: p for p in packages}

    def package_names(self) -> list[str]:
        """Names of every package, sorted."""
        return sorted(self._packages)

    def load_package(self, name: str) -> PackageDocs | None:
        """A deep copy of the package's documents."""
        docs = self._packages.get(name)
        return copy.deepcopy(docs) if docs is not None else None

    def summary(self, name: str) -> PackageSummary | None:
        """Summary computed from the held documents."""
        docs = self._packages.get(name)
        return PackageSummary.of(docs) if docs is not None else None

    def apply(self, changes: CatalogChanges) -> None:
        """Apply a change set in place."""
        for name, update in changes.updates.items():
            docs = _docs_of(update)
            if docs is None or docs.is_empty():
                self._packages.pop(name, None)
            else:
                self._packages[name] = copy.deepcopy(docs)


class Overlay:
    """``base`` with ``changes`` applied, as a read-only view (nothing is copied up front)."""

    def __init__(self, base: CatalogView, changes: CatalogChanges) -> None:
        self.base = base
        self.changes = changes
        self._summaries: dict[str, PackageSummary | None] = {}

    def package_names(self) -> list[str]:
        """Base names minus removed packages plus added ones, sorted."""
        names = set(self.base.package_names())
        for name, update in self.changes.updates.items():
            docs = _docs_of(update)
            if docs is None or docs.is_empty():
                names.discard(name)
            else:
                names.add(name)
        return sorted(names)

    def load_package(self, name: str) -> PackageDocs | None:
        """The changed package if it changed, else the base's."""
        if name in self.changes.updates:
            docs = _docs_of(self.changes.updates[name])
            if docs is None or docs.is_empty():
                return None
            return copy.deepcopy(docs)
        return self.base.load_package(name)

    def summary(self, name: str) -> PackageSummary | None:
        """Summary of the changed package if it changed, else the base's."""
        if name in self.changes.updates:
            if name not in self._summaries:
                docs = _docs_of(self.changes.updates[name])
                self._summaries[name] = (
                    PackageSummary.of(docs) if docs is not None and not docs.is_empty() else None
                )
            return self._summaries[name]
        return self.base.summary(name)


def iter_packages(view: CatalogView) -> Iterator[PackageDocs]:
    """Every package of a view, loaded one at a time in name order."""
    iterate = getattr(view, "iter_packages", None)
    if iterate is not None:
        yield from iterate()
        return
    for name in view.package_names():
        docs = view.load_package(name)
        if docs is not None:
            yield docs
