"""A File-Based Catalog directory, read and written one package at a time.

:meth:`CatalogDir.open` walks the tree once (opm's load rules: every regular file is a
stream of JSON/YAML documents, ``.indexignore`` patterns apply, symlinks are skipped) and
keeps only an index: which files hold which package's documents, plus a small
:class:`~.model.PackageSummary` per package. :meth:`CatalogDir.load_package` re-reads just
that package's files.

Writing (:meth:`CatalogDir.apply`) touches only changed packages. A changed package is
written to ``<package>/catalog.json`` in opm's canonical form; files that held only its
documents are deleted; a file that mixed it with other packages is rewritten (the other
documents re-emitted canonically, in their original order). Files under
``_operator-deprecations-content/`` (IIB's add-deprecations output) are kept byte for byte
unless an operation replaced them. Untouched packages' files are never rewritten.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import CatalogError

from . import limits
from .codec import Doc, decode_doc, meta_of
from .documents import decode_stream, read_bounded
from .indexignore import IGNORE_FILE, IgnoreMatcher
from .model import (
    PROP_PACKAGE,
    SCHEMA_BUNDLE,
    SCHEMA_CHANNEL,
    SCHEMA_PACKAGE,
    Bundle,
    BundleRef,
    Channel,
    Deprecation,
    Other,
    Package,
    PackageDocs,
    PackageSummary,
)
from .views import CatalogChanges, FragmentPackage, PackageUpdate
from .write import encode_documents, encode_package, package_file

__all__ = [
    "DEPRECATIONS_DIR",
    "CatalogDir",
    "decode_package_files",
    "list_catalog_files",
    "write_catalog",
]

#: IIB's directory of add-deprecations output, kept verbatim.
DEPRECATIONS_DIR = "_operator-deprecations-content"

_PARSE_CACHE_BYTES = 128 * 1024 * 1024
#: files whose scan results are remembered (see :func:`_remembered_scan`)
_SCAN_MEMO_FILES = 200_000


def list_catalog_files(root: Path) -> list[str]:
    """Catalog-relative paths of every file opm would load, in walk (lexical) order."""
    if not root.is_dir():
        raise CatalogError(f"catalog directory {root} does not exist or is not a directory")
    files: list[str] = []
    ignore_files: list[tuple[str, Path]] = []

    def walk(directory: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise CatalogError(f"cannot list {directory}: {exc.strerror or exc}") from exc
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), child)
            elif entry.is_file(follow_symlinks=False):
                if entry.name == IGNORE_FILE:
                    ignore_files.append((rel, Path(entry.path)))
                else:
                    files.append(child)

    walk(root, "")
    matcher = IgnoreMatcher()
    for rel_dir, path in ignore_files:
        matcher.add_file(rel_dir, read_bounded(path, label=str(path)).decode("utf-8", "replace"))
    return [f for f in files if not matcher.ignored(f)]


def _is_aux(rel: str) -> bool:
    return rel.startswith(DEPRECATIONS_DIR + "/")


def decode_package_files(files: dict[str, bytes], *, label: str) -> dict[str, PackageDocs]:
    """Decode in-memory files (path -> bytes) into packages (key '' holds package-less docs)."""
    out: dict[str, PackageDocs] = {}
    for rel in sorted(files):
        where = f"{label}/{rel}"
        for index, raw in enumerate(decode_stream(files[rel], name=where), start=1):
            pkg, doc = decode_doc(raw, f"{where} (document {index})")
            _add_doc(out.setdefault(pkg, PackageDocs(pkg)), doc)
    return out


def _add_doc(docs: PackageDocs, doc: Doc) -> None:
    if isinstance(doc, Bundle):
        docs.bundles.append(doc)
    elif isinstance(doc, Channel):
        docs.channels.append(doc)
    elif isinstance(doc, Package):
        docs.packages.append(doc)
    elif isinstance(doc, Deprecation):
        docs.deprecations.append(doc)
    else:
        docs.others.append(doc)


@dataclass(slots=True)
class _Summariser:
    """Collects a package's summary from raw documents during the scan."""

    name: str
    bundles: list[BundleRef] = field(default_factory=list)
    edges: set[str] = field(default_factory=set)

    def add(self, schema: str, raw: dict[str, Any]) -> None:
        if schema == SCHEMA_BUNDLE:
            version = ""
            count = 0
            for prop in raw.get("properties") or ():
                if isinstance(prop, dict) and prop.get("type") == PROP_PACKAGE:
                    count += 1
                    value = prop.get("value")
                    if isinstance(value, dict) and isinstance(value.get("version"), str):
                        version = value["version"]
            name = raw.get("name")
            image = raw.get("image")
            self.bundles.append(
                BundleRef(
                    self.name,
                    name if isinstance(name, str) else "",
                    image if isinstance(image, str) else "",
                    version if count == 1 else "",
                )
            )
        elif schema == SCHEMA_CHANNEL:
            for entry in raw.get("entries") or ():
                if not isinstance(entry, dict):
                    continue
                for key in ("name", "replaces"):
                    value = entry.get(key)
                    if isinstance(value, str) and value:
                        self.edges.add(value)
                skips = entry.get("skips")
                if isinstance(skips, list):
                    self.edges.update(s for s in skips if isinstance(s, str))

    def result(self) -> PackageSummary:
        return PackageSummary(self.name, tuple(self.bundles), frozenset(self.edges))


@dataclass(frozen=True, slots=True)
class _FileScan:
    """What scanning one file adds to the index: its packages ('' for package-less documents)
    and, per package in order of first appearance, its bundle references and channel edges."""

    packages: frozenset[str]
    contributions: tuple[tuple[str, tuple[BundleRef, ...], frozenset[str]], ...]


def _scan_data(data: bytes, rel: str) -> _FileScan:
    packages: set[str] = set()
    summarisers: dict[str, _Summariser] = {}
    for index, raw in enumerate(decode_stream(data, name=rel), start=1):
        schema, package, name = meta_of(raw, f"{rel} (document {index})")
        pkg = name if schema == SCHEMA_PACKAGE else package
        packages.add(pkg)
        if pkg:
            summariser = summarisers.get(pkg)
            if summariser is None:
                summariser = summarisers[pkg] = _Summariser(pkg)
            summariser.add(schema, raw)
    return _FileScan(
        frozenset(packages),
        tuple((p, tuple(s.bundles), frozenset(s.edges)) for p, s in summarisers.items()),
    )


_scan_memo: OrderedDict[tuple[int, int, int, int, str], _FileScan] = OrderedDict()
_scan_memo_lock = threading.Lock()


def _remembered_scan(
    path: Path, rel: str, read: Callable[[str], bytes], max_bytes: int
) -> _FileScan:
    """Scan one catalog file, or recall the scan of the very same file.

    For trees whose files are replaced, never edited in place (the index builder's states:
    a warm build opens hard-linked copies), a file is known by its device, inode, size and
    modification time, as the state cache's layer fingerprints know it; a warm build's
    catalog thus opens without parsing its unchanged files again. A scan is remembered only
    when the file did not change while it was read; failures are not remembered, and a file
    over the size bound is always read (and refused)."""
    try:
        before = os.stat(path)
    except OSError:
        return _scan_data(read(rel), rel)
    if before.st_size > max_bytes:
        return _scan_data(read(rel), rel)
    key = (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns, rel)
    with _scan_memo_lock:
        scanned = _scan_memo.get(key)
        if scanned is not None:
            _scan_memo.move_to_end(key)
            return scanned
    scanned = _scan_data(read(rel), rel)
    after = os.stat(path)
    if (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns, rel) == key:
        with _scan_memo_lock:
            _scan_memo[key] = scanned
            while len(_scan_memo) > _SCAN_MEMO_FILES:
                _scan_memo.popitem(last=False)
    return scanned


class CatalogDir:
    """A catalog directory on disk: a :class:`~.views.CatalogView` that can also be written."""

    def __init__(self, root: Path, *, max_file_bytes: int = limits.MAX_FILE_BYTES) -> None:
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self._file_packages: dict[str, set[str]] = {}
        self._package_files: dict[str, list[str]] = {}
        self._summaries: dict[str, PackageSummary] = {}
        self._cache: OrderedDict[str, list[tuple[str, Any]]] = OrderedDict()
        self._cache_sizes: dict[str, int] = {}
        self._cache_bytes = 0

    @classmethod
    def open(
        cls, root: Path, *, max_file_bytes: int = limits.MAX_FILE_BYTES, remember: bool = False
    ) -> CatalogDir:
        """Scan ``root`` (parsing every file once) and return the indexed catalog.

        ``remember``: the caller vouches that the tree's files are replaced, never edited in
        place (the index builder's states, hard-linked copies of immutable files); each file's
        scan is then remembered by the file's identity and recalled for the very same file
        (see :func:`_remembered_scan`), so an unchanged file is not parsed twice."""
        catalog = cls(root, max_file_bytes=max_file_bytes)
        catalog._scan(remember)
        return catalog

    # -- reading -------------------------------------------------------------------------

    def _read(self, rel: str) -> bytes:
        return read_bounded(self.root / rel, max_bytes=self.max_file_bytes, label=rel)

    def _parse(self, rel: str, cache: bool = True) -> list[tuple[str, Any]]:
        """``[(package, raw document)]`` of one file, with a small LRU cache."""
        cached = self._cache.get(rel)
        if cached is not None:
            self._cache.move_to_end(rel)
            return cached
        data = self._read(rel)
        docs: list[tuple[str, Any]] = []
        for index, raw in enumerate(decode_stream(data, name=rel), start=1):
            schema, package, name = meta_of(raw, f"{rel} (document {index})")
            docs.append((name if schema == SCHEMA_PACKAGE else package, raw))
        size = len(data)
        # Only files shared by several packages are parsed more than once; cache just those.
        if cache and len(self._file_packages.get(rel, ())) > 1 and size <= _PARSE_CACHE_BYTES // 4:
            self._cache[rel] = docs
            self._cache_sizes[rel] = size
            self._cache_bytes += size
            while self._cache_bytes > _PARSE_CACHE_BYTES and self._cache:
                old, _ = self._cache.popitem(last=False)
                self._cache_bytes -= self._cache_sizes.pop(old)
        return docs

    def _forget(self, rel: str) -> None:
        if rel in self._cache:
            del self._cache[rel]
            self._cache_bytes -= self._cache_sizes.pop(rel)

    def _scan(self, remember: bool = False) -> None:
        summarisers: dict[str, _Summariser] = {}
        for rel in list_catalog_files(self.root):
            scanned = (
                _remembered_scan(self.root / rel, rel, self._read, self.max_file_bytes)
                if remember
                else _scan_data(self._read(rel), rel)
            )
            self._file_packages[rel] = set(scanned.packages)
            for pkg in scanned.packages:
                self._package_files.setdefault(pkg, []).append(rel)
            for pkg, refs, edges in scanned.contributions:
                summariser = summarisers.get(pkg)
                if summariser is None:
                    summariser = summarisers[pkg] = _Summariser(pkg)
                summariser.bundles.extend(refs)
                summariser.edges.update(edges)
        self._summaries = {name: s.result() for name, s in summarisers.items()}

    def package_names(self) -> list[str]:
        """Names of every package (documents with an empty package name excluded), sorted."""
        return sorted(name for name in self._package_files if name)

    def files_of(self, name: str) -> list[str]:
        """Catalog-relative files holding documents of package ``name``."""
        return list(self._package_files.get(name, ()))

    def files(self) -> list[str]:
        """Every loaded catalog file (relative path), sorted."""
        return sorted(self._file_packages)

    def summary(self, name: str) -> PackageSummary | None:
        """The summary recorded for ``name`` at scan/write time."""
        return self._summaries.get(name) if name else None

    def load_package(self, name: str) -> PackageDocs | None:
        """Decode the documents of one package (reading only the files that hold it)."""
        files = self._package_files.get(name)
        if not files:
            return None
        docs = PackageDocs(name)
        for rel in files:
            origin = rel if _is_aux(rel) else None
            if origin is not None:
                docs.aux_files[rel] = self._read(rel)
            for index, (pkg, raw) in enumerate(self._parse(rel), start=1):
                if pkg != name:
                    continue
                _, doc = decode_doc(raw, f"{rel} (document {index})", origin)
                _add_doc(docs, doc)
        return docs

    def iter_packages(self) -> Iterator[PackageDocs]:
        """Every package, one at a time.

        Packages kept in their own files come in name order. Packages that share a file with
        others (e.g. a single-file catalog) are yielded together when that file is parsed, so a
        big shared file is parsed once rather than once per package.
        """
        shared = {
            rel for rel, pkgs in self._file_packages.items() if len({p for p in pkgs if p}) > 1
        }
        grouped: dict[str, list[str]] = {}
        for name in self.package_names():
            files = self._package_files.get(name, [])
            shared_files = [f for f in files if f in shared]
            if len(shared_files) == 1 and len(files) == 1:
                grouped.setdefault(shared_files[0], []).append(name)
                continue
            docs = self.load_package(name)
            if docs is not None:
                yield docs
        for rel in sorted(grouped):
            names = set(grouped[rel])
            by_name = {name: PackageDocs(name) for name in grouped[rel]}
            for index, (pkg, raw) in enumerate(self._parse(rel, cache=False), start=1):
                if pkg in names:
                    _add_doc(by_name[pkg], decode_doc(raw, f"{rel} (document {index})")[1])
            yield from by_name.values()

    def root_documents(self) -> list[Doc]:
        """Documents that belong to no package (e.g. custom schemas without a package)."""
        out: list[Doc] = []
        for rel in self._package_files.get("", ()):
            for index, (pkg, raw) in enumerate(self._parse(rel), start=1):
                if not pkg:
                    out.append(decode_doc(raw, f"{rel} (document {index})")[1])
        return out

    # -- writing -------------------------------------------------------------------------

    def _write_file(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self._forget(rel)

    def _delete_file(self, rel: str) -> None:
        try:
            (self.root / rel).unlink()
        except FileNotFoundError:
            pass
        self._forget(rel)

    def _drop_from_index(self, rel: str) -> None:
        for pkg in self._file_packages.pop(rel, set()):
            files = self._package_files.get(pkg)
            if files and rel in files:
                files.remove(rel)
                if not files:
                    del self._package_files[pkg]

    def _index_file(self, rel: str, packages: set[str]) -> None:
        self._drop_from_index(rel)
        if not packages:
            return
        self._file_packages[rel] = set(packages)
        for pkg in packages:
            files = self._package_files.setdefault(pkg, [])
            if rel not in files:
                files.append(rel)
                files.sort()

    def _check_package_dir(self, name: str) -> None:
        prefix = name + "/"
        for rel, packages in self._file_packages.items():
            if rel.startswith(prefix) and packages - {name}:
                others = ", ".join(sorted(p or "<no package>" for p in packages - {name}))
                raise CatalogError(
                    f"cannot replace package {name!r}: its directory file {rel} also holds "
                    f"documents of {others}"
                )

    def _strip_package(self, name: str, keep_aux: dict[str, bytes] | None) -> None:
        """Remove every document of ``name`` from the files that hold them."""
        for rel in list(self._package_files.get(name, ())):
            packages = self._file_packages.get(rel, set())
            if _is_aux(rel):
                if keep_aux is not None and rel in keep_aux:
                    continue
                self._delete_file(rel)
                self._drop_from_index(rel)
                continue
            if packages <= {name}:
                self._delete_file(rel)
                self._drop_from_index(rel)
                continue
            remaining = [
                decode_doc(raw, f"{rel} (document {i})")[1]
                for i, (pkg, raw) in enumerate(self._parse(rel), start=1)
                if pkg != name
            ]
            self._write_file(rel, encode_documents(remaining))
            self._index_file(rel, packages - {name})

    def _remove_tree(self, rel_dir: str) -> None:
        path = self.root / rel_dir
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        prefix = rel_dir + "/"
        for rel in [r for r in self._file_packages if r.startswith(prefix)]:
            self._drop_from_index(rel)
            self._forget(rel)

    def _write_docs(self, name: str, docs: PackageDocs) -> None:
        old_aux = {r for r in self._package_files.get(name, ()) if _is_aux(r)}
        self._strip_package(name, keep_aux=docs.aux_files)
        for rel in old_aux - set(docs.aux_files):
            self._delete_file(rel)
            self._drop_from_index(rel)
        aux_dir = self.root / DEPRECATIONS_DIR / name
        if aux_dir.is_dir() and not any(aux_dir.iterdir()):
            aux_dir.rmdir()
        data = encode_package(docs)
        rel = package_file(name)
        if data:
            self._write_file(rel, data)
            self._index_file(rel, {name})
        for aux_rel, content in sorted(docs.aux_files.items()):
            current = self.root / aux_rel
            if not (current.is_file() and current.read_bytes() == content):
                self._write_file(aux_rel, content)
            self._index_file(aux_rel, {name})
        self._summaries[name] = PackageSummary.of(docs)

    def apply(self, changes: CatalogChanges) -> None:
        """Write a change set to the directory (only the changed packages are touched)."""
        for name in sorted(changes.updates):
            self._apply_one(name, changes.updates[name])

    def _apply_one(self, name: str, update: PackageUpdate) -> None:
        if not name or "/" in name or name in (".", "..") or name == DEPRECATIONS_DIR:
            raise CatalogError(
                f"invalid package name {name!r}: must be a single local path element"
            )
        if update is None or (isinstance(update, PackageDocs) and update.is_empty()):
            self._check_package_dir(name)
            self._strip_package(name, keep_aux=None)
            self._remove_tree(name)
            self._remove_tree(f"{DEPRECATIONS_DIR}/{name}")
            self._summaries.pop(name, None)
            return
        if isinstance(update, FragmentPackage):
            self._check_package_dir(name)
            self._strip_package(name, keep_aux=update.docs.aux_files)
            self._remove_tree(name)
            if not update.docs.aux_files:
                self._remove_tree(f"{DEPRECATIONS_DIR}/{name}")
            for rel, content in sorted(update.files.items()):
                self._write_file(f"{name}/{rel}", content)
            for aux_rel, content in sorted(update.docs.aux_files.items()):
                self._write_file(aux_rel, content)
                self._index_file(aux_rel, {name})
            # Re-index the copied files as opm would load them (ignore rules included).
            prefix = name + "/"
            for rel in list_catalog_files(self.root):
                if rel.startswith(prefix):
                    packages = {pkg for pkg, _ in self._parse(rel)}
                    self._index_file(rel, packages)
            self._summaries[name] = PackageSummary.of(update.docs)
            return
        self._write_docs(name, update)

    def write_package(self, docs: PackageDocs) -> None:
        """Write one package canonically to ``<name>/catalog.json`` (replacing its documents)."""
        self._apply_one(docs.name, docs)

    def remove_package(self, name: str) -> None:
        """Remove a package: its documents, ``<name>/`` and its deprecations directory."""
        self._apply_one(name, None)


def write_catalog(view: Any, dest: Path) -> list[str]:
    """Write every package of a catalog view to an empty directory in opm's layout.

    ``<dest>/<package>/catalog.json`` per package (plus the package's verbatim aux files),
    package-less documents of other schemas in ``<dest>/catalog.json`` (as opm's ``WriteFS``;
    package-less olm.* documents are dropped). Returns the files written. Writing the
    same catalog twice yields identical bytes.
    """
    from .views import iter_packages

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise CatalogError(f"output directory {dest} is not empty")
    written: list[str] = []
    for docs in iter_packages(view):
        name = docs.name
        if not name or "/" in name or name in (".", "..") or name == DEPRECATIONS_DIR:
            raise CatalogError(
                f"invalid package name {name!r}: must be a single local path element"
            )
        data = encode_package(docs)
        if data:
            rel = package_file(name)
            (dest / name).mkdir(exist_ok=True)
            (dest / rel).write_bytes(data)
            written.append(rel)
        for rel, content in sorted(docs.aux_files.items()):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(content)
            written.append(rel)
    root_docs = getattr(view, "root_documents", None)
    if root_docs is not None:
        # opm's WriteFS keeps only package-less documents of other schemas (Others).
        docs_list = [doc for doc in root_docs() if isinstance(doc, Other)]
        if docs_list:
            (dest / "catalog.json").write_bytes(encode_documents(docs_list))
            written.append("catalog.json")
    return written
