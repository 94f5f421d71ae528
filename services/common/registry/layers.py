"""Reproducible layers: the same tree description always gives the same blob, byte for byte.

Rules (what makes a layer reproducible):

- entries are written sorted by path components, parents before children; missing parent
  directories are added (mode 0755, owned by ``parent_uid``/``parent_gid``, default 0:0);
- every header has ``mtime = 0``, empty user/group names, the uid/gid/mode given in the
  description (mode masked to 0o7777); PAX format, UTF-8 names;
- the gzip stream has ``mtime = 0``, no file name, and a fixed compression level; it is
  written by ISA-L (``isal``), whose output is stable for a given level.

Files can be given as bytes or as a path on disk; paths are streamed (never held in memory).
The tar stream is hashed as it is written (``diff_id``) and so is the gzip stream (``digest``).

Reuse: given the layers an existing image already has (:class:`RemoteLayer`, keyed by
``diff_id``), :func:`build_layer` first hashes the uncompressed tar stream only; when that
``diff_id`` is known it returns the existing blob instead of compressing anything. The same
tar stream has the same ``diff_id``, so an unchanged part of a catalog costs one hashing pass
and no upload (the blob is mounted or already present).
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from isal import igzip

from services.common.registry.digests import DigestHasher
from services.common.registry.manifest import Descriptor
from services.common.registry.mediatypes import ImageFormat

__all__ = [
    "AnyLayer",
    "Layer",
    "LayerDirectory",
    "LayerEntry",
    "LayerFile",
    "LayerSymlink",
    "LayerWhiteout",
    "RemoteLayer",
    "build_layer",
    "build_or_reuse_layer",
    "tree_entries",
]

_COPY_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class LayerFile:
    """A regular file: ``data`` in memory or ``source`` on disk (exactly one of them)."""

    path: str
    data: bytes | None = None
    source: Path | None = None
    mode: int = 0o644
    uid: int = 0
    gid: int = 0

    def __post_init__(self) -> None:
        if (self.data is None) == (self.source is None):
            raise ValueError(f"{self.path}: give either data or source")


@dataclass(frozen=True)
class LayerDirectory:
    """A directory."""

    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class LayerSymlink:
    """A symbolic link to ``target`` (stored verbatim)."""

    path: str
    target: str
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class LayerWhiteout:
    """Deletes ``path`` from lower layers (``.wh.<name>``), or with ``opaque`` all of its
    lower-layer contents (``<path>/.wh..wh..opq``) — the way oc-mirror replaces ``/configs``."""

    path: str
    opaque: bool = False


LayerEntry = LayerFile | LayerDirectory | LayerSymlink | LayerWhiteout


@dataclass(frozen=True)
class Layer:
    """A built layer blob on disk."""

    path: Path
    digest: str
    diff_id: str
    size: int
    uncompressed_size: int
    created_by: str = ""

    def descriptor(self, fmt: ImageFormat) -> Descriptor:
        """The layer's descriptor in a manifest of ``fmt`` (gzip media type of that format)."""
        return Descriptor(fmt.layer_gzip_type, self.digest, self.size)


@dataclass(frozen=True)
class RemoteLayer:
    """A gzip layer blob that already exists in the repository of ``source`` (a pull spec).

    Pushing an image with it mounts or copies the blob instead of uploading a file.
    """

    source: str
    digest: str
    diff_id: str
    size: int
    created_by: str = ""

    def descriptor(self, fmt: ImageFormat) -> Descriptor:
        """The layer's descriptor in a manifest of ``fmt`` (gzip media type of that format)."""
        return Descriptor(fmt.layer_gzip_type, self.digest, self.size)


AnyLayer = Layer | RemoteLayer


class _NullWriter(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        return len(data)


def _isal_level(zlib_level: int) -> int:
    """ISA-L's level (0-3) for a zlib-style level (1-9): ISA-L compresses JSON about as well as
    zlib at level 1 and some ten times faster."""
    return 0 if zlib_level <= 0 else 1 if zlib_level <= 3 else 2 if zlib_level <= 6 else 3


def _clean(path: str) -> str:
    cleaned = posixpath.normpath("/" + path.strip()).lstrip("/")
    if not cleaned or cleaned == ".":
        raise ValueError(f"invalid layer path {path!r}")
    return cleaned


def _sort_key(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


class _HashingWriter(io.RawIOBase):
    """Writes through to ``target`` while hashing what passes."""

    def __init__(self, target: BinaryIO | io.RawIOBase | igzip.GzipFile) -> None:
        super().__init__()
        self.target = target
        self.hasher = DigestHasher()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.hasher.update(data)
        self.target.write(data)
        return len(data)


def build_layer(
    entries: Iterable[LayerEntry],
    dest: Path,
    *,
    compresslevel: int = 6,
    created_by: str = "",
    parent_uid: int = 0,
    parent_gid: int = 0,
) -> Layer:
    """Write a reproducible ``tar+gzip`` layer to ``dest``; returns digest, diff_id and size."""
    layer = _build(entries, dest, compresslevel, created_by, parent_uid, parent_gid, None)
    assert isinstance(layer, Layer)
    return layer


def build_or_reuse_layer(
    entries: Iterable[LayerEntry],
    dest: Path,
    reuse: Mapping[str, RemoteLayer],
    *,
    compresslevel: int = 6,
    created_by: str = "",
    parent_uid: int = 0,
    parent_gid: int = 0,
) -> AnyLayer:
    """:func:`build_layer`, unless the tar stream's ``diff_id`` is one of ``reuse`` (existing
    layers by ``diff_id``): then that :class:`RemoteLayer` is returned and nothing is written
    or compressed (the stream is only hashed)."""
    return _build(entries, dest, compresslevel, created_by, parent_uid, parent_gid, reuse)


def _build(
    entries: Iterable[LayerEntry],
    dest: Path,
    compresslevel: int,
    created_by: str,
    parent_uid: int,
    parent_gid: int,
    reuse: Mapping[str, RemoteLayer] | None,
) -> AnyLayer:
    by_path: dict[str, LayerEntry] = {}
    for entry in entries:
        path = _clean(entry.path)
        name = path
        if isinstance(entry, LayerWhiteout):
            if entry.opaque:
                name = posixpath.join(path, ".wh..wh..opq")
            else:
                head, tail = posixpath.split(path)
                name = posixpath.join(head, f".wh.{tail}")
        if name in by_path:
            raise ValueError(f"duplicate layer path {name!r}")
        by_path[name] = entry
    for name in list(by_path):
        parent = posixpath.dirname(name)
        while parent:
            if parent not in by_path:
                by_path[parent] = LayerDirectory(parent, 0o755, parent_uid, parent_gid)
            elif not isinstance(by_path[parent], LayerDirectory):
                raise ValueError(f"{parent!r} is used as a directory and as a file")
            parent = posixpath.dirname(parent)

    ordered = sorted(by_path, key=_sort_key)
    if reuse:
        hashing = _HashingWriter(_NullWriter())
        _write_tar(hashing, ordered, by_path)
        known = reuse.get(hashing.hasher.digest)
        if known is not None:
            return RemoteLayer(known.source, known.digest, known.diff_id, known.size, created_by)

    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        blob = _HashingWriter(out)
        with igzip.GzipFile(  # type: ignore[no-untyped-call]
            filename="", mode="wb", fileobj=blob, compresslevel=_isal_level(compresslevel), mtime=0
        ) as gz:
            tar_stream = _HashingWriter(gz)
            _write_tar(tar_stream, ordered, by_path)
    return Layer(
        path=dest,
        digest=blob.hasher.digest,
        diff_id=tar_stream.hasher.digest,
        size=blob.hasher.size,
        uncompressed_size=tar_stream.hasher.size,
        created_by=created_by,
    )


class _Records:
    """What ``tarfile``'s stream mode (``w|``) hands on: the bytes in pieces of exactly
    ``_COPY_BUFFER`` (its ``_Stream`` writes whenever more than that is buffered), the rest at
    the end. The compressor sees the same pieces as before, so a layer's compressed bytes, not
    only its tar stream, are those ``tarfile`` gave."""

    def __init__(self, stream: _HashingWriter) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.offset = 0

    def add(self, data: bytes | bytearray) -> None:
        self.offset += len(data)
        buf = self.buf
        buf += data
        if len(buf) > _COPY_BUFFER:
            start = 0
            while len(buf) - start > _COPY_BUFFER:
                self.stream.write(buf[start : start + _COPY_BUFFER])
                start += _COPY_BUFFER
            del buf[:start]

    def header(self, info: tarfile.TarInfo) -> None:
        """The member's header, as ``TarFile.addfile`` makes it."""
        self.add(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def pad(self, unit: int) -> None:
        """NUL bytes up to the next multiple of ``unit`` (a member's data to 512 bytes, the
        archive to a 10,240-byte record)."""
        if remainder := self.offset % unit:
            self.add(b"\0" * (unit - remainder))

    def close(self) -> None:
        if self.buf:
            self.stream.write(self.buf)
            self.buf = bytearray()


def _write_tar(stream: _HashingWriter, ordered: list[str], by_path: dict[str, LayerEntry]) -> None:
    """The tar stream ``tarfile.open(mode="w|", format=PAX_FORMAT, encoding="utf-8")`` writes for
    these entries, byte for byte: each header from ``TarInfo.tobuf``, the data, NUL padding to
    512 bytes, two zero blocks and padding to a 10,240-byte record at the end. Written here
    rather than through ``TarFile.addfile``, whose per-file machinery (a copy of each header,
    a member list, buffered copies through its stream) was 13.5 % of a cold build's samples
    (docs/benchmarks.md)."""
    out = _Records(stream)
    for name in ordered:
        _add(out, name, by_path[name])
    out.add(b"\0" * (2 * tarfile.BLOCKSIZE))
    out.pad(tarfile.RECORDSIZE)
    out.close()


def _header(name: str, type_: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
    if uid < 0 or gid < 0:
        raise ValueError(f"{name}: uid and gid must not be negative")
    info = tarfile.TarInfo(name)
    info.type = type_
    info.mode = mode & 0o7777
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def _add(out: _Records, name: str, entry: LayerEntry) -> None:
    if isinstance(entry, LayerDirectory):
        out.header(_header(name, tarfile.DIRTYPE, entry.mode, entry.uid, entry.gid))
    elif isinstance(entry, LayerSymlink):
        info = _header(name, tarfile.SYMTYPE, 0o777, entry.uid, entry.gid)
        info.linkname = entry.target
        out.header(info)
    elif isinstance(entry, LayerWhiteout):
        out.header(_header(name, tarfile.REGTYPE, 0o644, 0, 0))
    elif entry.data is not None:
        info = _header(name, tarfile.REGTYPE, entry.mode, entry.uid, entry.gid)
        info.size = len(entry.data)
        out.header(info)
        out.add(entry.data)
        out.pad(tarfile.BLOCKSIZE)
    else:
        assert entry.source is not None
        with entry.source.open("rb", buffering=0) as source:
            info = _header(name, tarfile.REGTYPE, entry.mode, entry.uid, entry.gid)
            info.size = os.fstat(source.fileno()).st_size
            out.header(info)
            left = info.size
            while left:
                chunk = source.read(min(left, _COPY_BUFFER))
                if not chunk:  # the file shrank since its size was read: as tarfile says it
                    raise OSError("unexpected end of data")
                out.add(chunk)
                left -= len(chunk)
            out.pad(tarfile.BLOCKSIZE)


def tree_entries(
    source_dir: Path,
    dest: str,
    *,
    uid: int = 0,
    gid: int = 0,
    file_mode: int | None = None,
    dir_mode: int | None = None,
    exclude: Sequence[str] = (),
) -> list[LayerEntry]:
    """Describe a directory on disk as layer entries under ``dest`` (like ``COPY src dest``).

    Files are referenced by path (streamed at build time). Modes are the source's permission
    bits unless ``file_mode``/``dir_mode`` is given; ownership is ``uid:gid`` (``--chown``).
    Symlinks are kept as symlinks; other special files are refused.
    """
    root = Path(source_dir)
    base = _clean(dest)
    entries: list[LayerEntry] = [
        LayerDirectory(
            base, dir_mode if dir_mode is not None else stat.S_IMODE(root.stat().st_mode), uid, gid
        )
    ]
    excluded = set(exclude)
    for current, dirnames, filenames in os.walk(root):
        rel_dir = Path(current).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if str(rel_dir / d) not in excluded)
        for name in sorted(dirnames) + sorted(filenames):
            rel = rel_dir / name
            if str(rel) in excluded:
                continue
            full = Path(current) / name
            target = posixpath.join(base, rel.as_posix())
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries.append(LayerSymlink(target, os.readlink(full), uid, gid))
                if name in dirnames:
                    dirnames.remove(name)
            elif stat.S_ISDIR(info.st_mode):
                mode = dir_mode if dir_mode is not None else stat.S_IMODE(info.st_mode)
                entries.append(LayerDirectory(target, mode, uid, gid))
            elif stat.S_ISREG(info.st_mode):
                mode = file_mode if file_mode is not None else stat.S_IMODE(info.st_mode)
                entries.append(LayerFile(target, source=full, mode=mode, uid=uid, gid=gid))
            else:
                raise ValueError(f"{full} is not a regular file, directory or symlink")
    return entries
