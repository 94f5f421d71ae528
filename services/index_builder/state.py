"""The builder's memory of the index images it built: catalog, serving cache and layers.

An :class:`IndexState` is an index image's catalog as files (``/configs`` and the serving
cache) plus the catalog layers that carry it in the registry, each with a fingerprint of the
files it was built from. A build that starts from a known state copies its files (hard links:
files are only ever replaced, never modified in place), changes the packages it changes, and
rebuilds only the layers whose fingerprints moved; every other layer is mounted as it is.

:class:`StateCache` keeps states on the worker's disk, keyed by the image's catalog layer
digests, so an add onto the output of the previous add starts warm: nothing is downloaded,
unpacked or parsed again. It is bounded (``IIB_INDEX_CACHE_BYTES`` of distinct files: entries
share the files they have in common; least recently used entries go first) and safe to lose: a
missing, partial or unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from services.catalog import CacheResult, TreeEntry
from services.catalog.cache import CACHE_DIR_MODE, CACHE_FILE_MODE
from services.common.registry.layers import RemoteLayer

__all__ = ["IndexState", "PartLayer", "StateCache", "catalog_key", "fingerprint"]

log = logging.getLogger(__name__)
_STATE_FILE = "state.json"
#: an entry's files: (inode, size) pairs, native 64-bit integers
_FILES = "files.bin"
_TRASH = ".trash-"
_FORMAT = 1
#: seconds a ``cp`` of a state's tree may take before the walk in Python is used instead
_CP_TIMEOUT = 300


@dataclass(frozen=True)
class PartLayer:
    """One catalog layer as pushed: its blob and the fingerprint of the files it holds."""

    name: str
    digest: str
    diff_id: str
    size: int
    created_by: str
    fingerprint: str

    def remote(self, source: str) -> RemoteLayer:
        return RemoteLayer(source, self.digest, self.diff_id, self.size, self.created_by)


@dataclass
class IndexState:
    """An index image's catalog on disk and the layers that carry it (in image order)."""

    configs: Path
    cache_dir: Path
    cache: CacheResult
    parts: list[PartLayer]
    fbc_packages: frozenset[str]
    #: a pull spec of an image whose repository holds the parts' blobs
    source: str
    #: packages changed since the state was read (what the next build must rewrite)
    changed: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return catalog_key([part.digest for part in self.parts])

    def fork(self, dest: Path) -> IndexState:
        """A copy of the state's files in ``dest`` (hard links), with nothing changed yet.

        The cache's ``digest`` file is not copied: every build of the copy writes its own (and
        the state's own may still be being written, when its build seals the cache while the
        next one has begun)."""
        # beside the group's push and seal lanes: one cp process per tree (_cp_link_tree),
        # the walk when cp cannot
        for source, copy, skip in (
            (self.configs, dest / "configs", frozenset[str]()),
            (self.cache_dir, dest / "cache", frozenset({"digest"})),
        ):
            if not _cp_link_tree(source, copy, skip):
                _link_tree(source, copy, skip)
        return IndexState(
            configs=dest / "configs",
            cache_dir=dest / "cache",
            cache=self.cache,
            parts=list(self.parts),
            fbc_packages=self.fbc_packages,
            source=self.source,
        )

    def part(self, name: str) -> PartLayer | None:
        return next((p for p in self.parts if p.name == name), None)


def catalog_key(digests: Sequence[str]) -> str:
    """The cache key of an image's catalog: its catalog layers' digests, in order."""
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def fingerprint(paths: Iterable[tuple[str, int, Path | bytes | None]]) -> str:
    """A fingerprint of layer entries ``(path, mode, content)``: files by inode, size and
    modification time (a changed file is a new file here: files are replaced, never edited),
    inline bytes by content, directories by path and mode."""
    h = hashlib.sha256()
    for path, mode, content in paths:
        h.update(f"{path}\0{mode:o}\0".encode())
        if isinstance(content, Path):
            st = os.stat(content)
            h.update(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode())
        elif content is not None:
            h.update(hashlib.sha256(content).digest())
        h.update(b"\n")
    return h.hexdigest()


def _link_tree(
    source: Path,
    dest: Path,
    skip: frozenset[str] = frozenset(),
    *,
    sizes: dict[int, int] | None = None,
) -> None:
    """Copy the tree ``source`` to ``dest`` with hard links (directories keep their modes;
    symlinks are linked as symlinks, never followed), leaving out the files named in ``skip``
    at its top; ``sizes`` gets the inode and size of every file in ``dest``.

    It works on directory descriptors (``scandir`` and ``linkat`` relative to them), so a file
    costs one system call: a catalog of 3,000 bundles is ~4,800 files, and this is on the path
    of every warm build (``StateCache.get``, ``IndexState.fork``, ``StateCache.put``)."""
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, stat.S_IMODE(os.stat(source).st_mode))
    # (source directory fd, dest directory fd, their paths for a copy across filesystems)
    pending = [(os.fspath(source), os.fspath(dest), True)]
    while pending:
        src_path, dst_path, top = pending.pop()
        src_fd = os.open(src_path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            dst_fd = os.open(dst_path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                with os.scandir(src_fd) as entries:
                    for entry in entries:
                        name = entry.name
                        if entry.is_dir(follow_symlinks=False):
                            mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
                            try:
                                os.mkdir(name, 0o700, dir_fd=dst_fd)
                            except FileExistsError:
                                pass
                            os.chmod(name, mode, dir_fd=dst_fd)
                            pending.append(
                                (os.path.join(src_path, name), os.path.join(dst_path, name), False)
                            )
                            continue
                        if top and name in skip:
                            continue
                        try:
                            os.link(
                                name,
                                name,
                                src_dir_fd=src_fd,
                                dst_dir_fd=dst_fd,
                                follow_symlinks=False,
                            )
                        except OSError:  # another filesystem: copy
                            shutil.copy2(
                                os.path.join(src_path, name),
                                os.path.join(dst_path, name),
                                follow_symlinks=False,
                            )
                            if sizes is not None:
                                st = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
                                sizes[st.st_ino] = st.st_size
                        else:
                            if sizes is not None:
                                st = entry.stat(follow_symlinks=False)
                                sizes[st.st_ino] = st.st_size
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)


@cache
def _cp() -> str | None:
    return shutil.which("cp")


def _cp_link_tree(source: Path, dest: Path, skip: frozenset[str] = frozenset()) -> bool:
    """Copy the tree ``source`` to ``dest``, which must not exist, with hard links, as
    :func:`_link_tree` does, in one ``cp`` process; False (and nothing left at ``dest``) when
    ``cp`` is missing or fails, e.g. across filesystems, where links cannot go. For callers
    that run beside other threads: alone in its process the walk takes about as long (~50-100
    ms for a 3,000-bundle catalog and its cache, ``make bench BENCH_ARGS=state``).

    Why a process: the walk in Python gives up the GIL for every file's system call and waits
    to get it back; beside a thread running Python (a group's push lane, the layer threads)
    that wait is up to the interpreter's switch interval (5 ms) per file, and a fork of a
    3,000-bundle catalog (~5,000 calls) took seconds instead of ~50 ms. Waiting for ``cp``
    gives the GIL up once."""
    cp = _cp()
    if cp is None or os.path.lexists(dest):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [
                cp,
                "--recursive",
                "--no-dereference",
                "--link",
                "--preserve=mode",
                "--no-target-directory",
                "--",
                os.fspath(source),
                os.fspath(dest),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=_CP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    else:
        if done.returncode == 0:
            for name in skip:  # (cp has no exclusion; a directory so named is not skipped)
                try:
                    os.unlink(dest / name)
                except (FileNotFoundError, IsADirectoryError):
                    pass
            return True
        failure = done.stderr.decode("utf-8", "replace").strip()[:500]
    log.debug("linking %s with cp failed, walking it instead: %s", source, failure)
    shutil.rmtree(dest, ignore_errors=True)
    return False


def _place(source: Path, dest: Path, move: bool, sizes: dict[int, int]) -> None:
    """Put the tree ``source`` at ``dest``, moved (``move``, when both are on one filesystem)
    or linked; ``sizes`` gets the inode and size of every file in ``dest``."""
    if move:
        try:
            os.rename(source, dest)
        except OSError:  # another filesystem: link (copy) instead
            pass
        else:
            _tree_sizes(dest, sizes)
            return
    _link_tree(source, dest, sizes=sizes)


def _tree_sizes(root: Path, sizes: dict[int, int]) -> None:
    """Put the inode and size of every file under ``root`` (symlinks not followed) in
    ``sizes``."""
    pending = [os.fspath(root)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
                sizes[st.st_ino] = st.st_size


class _Usage:
    """The disk space of the cache's entries, counted by distinct file (inode): a warm build's
    state shares all its unchanged files with the state it started from, so a chain of adds
    onto one index costs its first catalog plus the packages each add changed.

    Each entry lists its files' inodes and sizes (``files.bin``, written by ``put``); this
    keeps them in memory and counts, for every inode, how many entries hold it. It follows
    the directory: entries that appeared (another process's) are read, entries gone are
    released first (an inode number can only be reused once no entry holds the file)."""

    def __init__(self) -> None:
        self.files: dict[str, array[int]] = {}
        self.holders: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.total = 0

    def follow(self, entries: dict[str, tuple[Path, float]]) -> None:
        """Count the entries now in the cache (path and last use by name), and only them."""
        for name in [name for name in self.files if name not in entries]:
            self.release(name)
        for name, (entry, _) in entries.items():
            if name not in self.files:
                self._hold(name, _entry_files(entry))

    def _hold(self, name: str, pairs: array[int]) -> None:
        self.files[name] = pairs
        for ino, size in zip(pairs[0::2], pairs[1::2], strict=True):
            held = self.holders.get(ino, 0)
            self.holders[ino] = held + 1
            if not held:
                self.sizes[ino] = size
                self.total += size

    def release(self, name: str) -> None:
        pairs = self.files.pop(name)
        for ino in pairs[0::2]:
            held = self.holders[ino] - 1
            if held:
                self.holders[ino] = held
            else:
                del self.holders[ino]
                self.total -= self.sizes.pop(ino)


_unknown_inode = itertools.count(-1, -1)


def _entry_files(entry: Path) -> array[int]:
    """The (inode, size) pairs of an entry's files, flat; an entry without a readable list
    counts as its whole size (``state.json``'s ``bytes``) in files of its own."""
    pairs = array("q")
    try:
        pairs.frombytes((entry / _FILES).read_bytes())
        if len(pairs) % 2 == 0:
            return pairs
    except (OSError, ValueError):
        pass
    try:
        size = int(json.loads((entry / _STATE_FILE).read_text()).get("bytes", 0))
    except (OSError, ValueError, AttributeError):
        size = 0
    return array("q", [next(_unknown_inode), size])


class StateCache:
    """States of built index images on the worker's disk (see the module docstring)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        #: trash directories a background thread is deleting
        self._deleting: set[str] = set()
        self._usage = _Usage()

    def get(self, key: str, dest: Path) -> IndexState | None:
        """A private copy (hard links) of the state stored under ``key``, in ``dest``."""
        entry = self.directory / key
        meta_path = entry / _STATE_FILE
        if self.max_bytes <= 0 or not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != _FORMAT:
                raise ValueError("unknown format")
            _link_tree(entry / "configs", dest / "configs")
            _link_tree(entry / "cache", dest / "cache")
            os.utime(meta_path)  # recently used
            state = _state_from(meta, dest / "configs", dest / "cache")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("dropping an unusable index cache entry %s: %s", key, exc)
            shutil.rmtree(entry, ignore_errors=True)
            shutil.rmtree(dest, ignore_errors=True)
            return None
        if state.key != key:
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return state

    def put(self, state: IndexState, *, move: bool = False) -> None:
        """Keep ``state``: its files are linked, so the caller may go on using them; with
        ``move`` its two directories are moved into the cache instead (the caller is done with
        them: a build keeps its catalog just before its workspace is deleted), which costs a
        rename and a walk to count the bytes instead of a link per file."""
        if self.max_bytes <= 0:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = self.directory / state.key
        if (entry / _STATE_FILE).is_file():
            os.utime(entry / _STATE_FILE)
            return
        tmp = Path(tempfile.mkdtemp(prefix=".put-", dir=self.directory))
        try:
            sizes: dict[int, int] = {}
            _place(state.configs, tmp / "configs", move, sizes)
            _place(state.cache_dir, tmp / "cache", move, sizes)
            meta = _meta_of(state)
            meta["bytes"] = sum(sizes.values())
            (tmp / _FILES).write_bytes(array("q", itertools.chain(*sizes.items())).tobytes())
            (tmp / _STATE_FILE).write_text(json.dumps(meta))
            os.replace(tmp, entry)
        except OSError as exc:
            log.warning("could not keep the index state %s: %s", state.key, exc)
            shutil.rmtree(tmp, ignore_errors=True)
            return
        self._evict()

    def _evict(self) -> None:
        """Drop the least recently used entries while the distinct files of all of them
        (:class:`_Usage`) take more than ``max_bytes``. An entry leaves the cache at once
        (renamed to ``.trash-*``); its files are deleted in a background thread, so the next
        request, which the worker takes right after keeping a state, does not wait for
        thousands of unlinks (trash an interrupted process left is deleted too)."""
        entries, trash = self._scan()
        with self._lock:
            usage = self._usage
            usage.follow(entries)
            for _, name in sorted((used, name) for name, (_, used) in entries.items()):
                if usage.total <= self.max_bytes:
                    break
                trash.append(entries[name][0])
                usage.release(name)
        self._discard(trash)

    def _scan(self) -> tuple[dict[str, tuple[Path, float]], list[Path]]:
        """The cache's entries (path, last used) by name, and what is to be deleted."""
        entries: dict[str, tuple[Path, float]] = {}
        trash: list[Path] = []
        for entry in self.directory.iterdir():
            if entry.name.startswith(_TRASH):
                trash.append(entry)
                continue
            try:
                entries[entry.name] = (entry, (entry / _STATE_FILE).stat().st_mtime)
            except OSError:
                if entry.name.startswith(".put-"):
                    if time.time() - entry.stat().st_mtime > 3600:  # an interrupted put
                        shutil.rmtree(entry, ignore_errors=True)
                else:
                    trash.append(entry)
        return entries, trash

    def held(self) -> int:
        """The bytes of the distinct files of the entries as of the last ``put`` (no scan)."""
        with self._lock:
            return self._usage.total

    def usage(self) -> int:
        """The bytes of the distinct files of the cache's entries (the directory scanned)."""
        if not self.directory.is_dir():
            return 0
        entries, _ = self._scan()
        with self._lock:
            self._usage.follow(entries)
            return self._usage.total

    def _discard(self, paths: list[Path]) -> None:
        moved = []
        for path in paths:
            target = path
            if not path.name.startswith(_TRASH):
                target = path.with_name(f"{_TRASH}{uuid.uuid4().hex}")
                try:
                    os.rename(path, target)
                except OSError:
                    shutil.rmtree(path, ignore_errors=True)
                    continue
            with self._lock:
                if target.name in self._deleting:
                    continue
                self._deleting.add(target.name)
            moved.append(target)
        if moved:
            threading.Thread(
                target=self._delete, args=(moved,), name="iib-state-evict", daemon=True
            ).start()

    def _delete(self, paths: list[Path]) -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
            with self._lock:
                self._deleting.discard(path.name)


def _meta_of(state: IndexState) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "source": state.source,
        "fbc_packages": sorted(state.fbc_packages),
        "digest": state.cache.digest,
        "owners": state.cache.owners,
        "parts": [vars(part) for part in state.parts],
    }


def _state_from(meta: dict[str, Any], configs: Path, cache_dir: Path) -> IndexState:
    owners = {str(k): str(v) for k, v in meta["owners"].items()}
    cache = cache_dir / "cache"
    tree = [TreeEntry(".", CACHE_DIR_MODE)]
    dirs: set[str] = set()
    for rel in owners:
        names = rel.split("/")
        for depth in range(1, len(names)):
            dirs.add("/".join(names[:depth]))
    tree.extend(TreeEntry(d, CACHE_DIR_MODE) for d in sorted(dirs))
    tree.extend(TreeEntry(rel, CACHE_FILE_MODE, cache / rel) for rel in sorted(owners))
    index = json.loads((cache / "packages.json").read_bytes())
    if not isinstance(index, dict):
        raise ValueError("packages.json is not an object")
    result = CacheResult(str(meta["digest"]), tree, owners, index)
    layers = [PartLayer(**{k: p[k] for k in PartLayer.__dataclass_fields__}) for p in meta["parts"]]
    return IndexState(
        configs=configs,
        cache_dir=cache_dir,
        cache=result,
        parts=layers,
        fbc_packages=frozenset(meta["fbc_packages"]),
        source=str(meta["source"]),
    )
