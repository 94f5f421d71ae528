"""Safe extraction of image layers into a directory (what ``podman cp`` out of an image gives).

Rules, each enforced while extracting (a breach raises ``UnsafeLayerError`` naming the image,
the layer and the entry; nothing outside the root is ever touched):

- **No path traversal**: entry names are made relative; a name with a ``..`` component or a NUL
  byte is refused.
- **Nothing through links**: every parent directory is resolved on the host and must stay inside
  the root; files are created with ``O_EXCL | O_NOFOLLOW`` after removing what was there.
- **Links stay inside**: an absolute symlink target is rewritten relative to the link (its
  meaning inside the image); a target that leaves the root is refused. A final pass checks that
  every symlink in the tree still resolves inside the root (later layers can change what an
  earlier link points through). Hard links must point at an entry inside the root.
- **No devices**: character/block devices and FIFOs are skipped (listed in ``stats.skipped``);
  setuid/setgid/sticky bits are dropped; ownership is not applied.
- **Whiteouts**: ``.wh.<name>`` removes ``<name>`` of lower layers; ``.wh..wh..opq`` empties the
  directory of what lower layers put there. Whiteout files themselves are never written.
- **Limits**: entries per image, bytes per file, bytes in total, path length, size of one
  PAX / GNU long-name header, tar stream bytes read (skipped entries too) (``UnpackLimits``);
  bytes written by all the unpacks of one request (``UnpackBudget``). GNU sparse entries are
  refused; what follows the end of the tar archive is read (for the digest) but not inflated.
- **Clean-up**: every directory stays owner-writable (``mode | 0o700``), so a worker that is
  not root can always delete what it unpacked.

``include`` restricts extraction to some paths (e.g. ``["manifests", "metadata"]``); their parent
directories are created as needed.
"""

from __future__ import annotations

import contextvars
import gzip
import io
import os
import posixpath
import shutil
import stat
import tarfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from isal import igzip_threaded, isal_zlib

from services.common.registry.errors import UnsafeLayerError, UnsupportedManifestError

__all__ = ["UnpackBudget", "UnpackLimits", "UnpackStats", "Unpacker"]

_WHITEOUT_PREFIX = ".wh."
_OPAQUE = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BUFFER = 1024 * 1024
#: a block of inflated data handed from the inflating thread (which reads 8 blocks of the gzip
#: stream at a time and keeps 2 blocks queued: with the 1 MiB read buffer, ~4 MiB per layer)
_INFLATE_BLOCK = 256 * 1024
#: what ISA-L raises for a damaged deflate stream (its stub declares an instance, not a class)
_INFLATE_ERROR = cast("type[Exception]", isal_zlib.error)


@dataclass(frozen=True)
class UnpackLimits:
    """Upper bounds on what an image may unpack to."""

    max_total_bytes: int = 2 * 1024**3
    max_file_bytes: int = 1024**3
    max_entries: int = 500_000
    max_path_length: int = 4096
    #: one PAX extended header or GNU long name/link, held in memory while it is parsed
    max_header_bytes: int = 1024**2
    #: tar stream bytes read, entries that are skipped (``include``) or replaced included
    max_stream_bytes: int = 8 * 1024**3


class UnpackBudget:
    """Bytes that all the unpacks sharing it (one request's) may write to disk together."""

    def __init__(self, limit: int, name: str = "the per-request unpack limit") -> None:
        self.limit = limit
        self.name = name
        self.used = 0
        self._lock = threading.Lock()

    def take(self, count: int, source: str, path: str) -> None:
        """Account ``count`` more bytes, or raise ``UnsafeLayerError`` when over the limit."""
        with self._lock:
            if self.used + count > self.limit:
                raise UnsafeLayerError(
                    f"The images of this request unpack to more than {self.limit} bytes "
                    f"({self.name}), at {path!r} of {source}"
                )
            self.used += count


class _ReadInContext(io.RawIOBase):
    """``stream`` read in the context of the thread that made this reader (the request's log
    and trace), whichever thread reads: the gzip of a layer is inflated in a thread of its own.

    An error of the stream is raised again by every later read. The inflating thread reads
    ahead of the tar parsing and can meet the blob's end, and a digest-verifying reader's
    mismatch there, after the archive's end: the thread keeps the error to itself, and the
    blob reader answers the read that follows with an empty end. The unpacker's read of what
    follows the archive raises it instead."""

    def __init__(self, stream: BinaryIO | io.RawIOBase) -> None:
        super().__init__()
        self._stream = stream
        self._context = contextvars.copy_context()
        self._error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # one thread at a time: the inflating thread is joined before this thread reads on
        if self._error is not None:
            raise self._error
        try:
            count: int | None = self._context.run(self._stream.readinto, buffer)  # type: ignore[union-attr]
        except BaseException as exc:
            self._error = exc
            raise
        return count or 0


class _HeaderRefused(Exception):
    """A tar header the unpacker will not parse (raised through ``tarfile``, which would turn a
    ``HeaderError`` after the first member into a silent end of the archive)."""


class _BoundedTarInfo(tarfile.TarInfo):
    """``TarInfo`` refusing, before reading them, PAX and GNU long-name headers larger than
    ``max_header_bytes`` (``tarfile`` reads them whole into memory) and GNU sparse entries."""

    max_header_bytes = UnpackLimits.max_header_bytes

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADERS and self.size > self.max_header_bytes:
            raise _HeaderRefused(
                f"a {self.size}-byte extended header (more than {self.max_header_bytes})"
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _HeaderRefused("a GNU sparse entry")
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]
        if self.type == tarfile.XGLTYPE:
            held = sum(len(k) + len(v) for k, v in tarfile_.pax_headers.items())
            if held > self.max_header_bytes:
                raise _HeaderRefused(f"global PAX headers of more than {self.max_header_bytes}")
        return member

    def _proc_gnusparse_00(self, *args: object) -> None:
        raise _HeaderRefused("a GNU sparse entry")

    _proc_gnusparse_01 = _proc_gnusparse_00
    _proc_gnusparse_10 = _proc_gnusparse_00


_LONG_HEADERS = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


@dataclass
class UnpackStats:
    """What an unpack wrote and skipped."""

    files: int = 0
    directories: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    whiteouts: int = 0
    entries: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Unpacker:
    """Applies layers, lowest first, onto ``root`` following the module's rules."""

    def __init__(
        self,
        root: Path,
        *,
        limits: UnpackLimits | None = None,
        include: Sequence[str] | None = None,
        source: str = "the image",
        budget: UnpackBudget | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.limits = limits or UnpackLimits()
        self.budget = budget
        self._streamed = 0
        self.include = [p.strip("/") for p in include] if include else None
        self.source = source
        self.stats = UnpackStats()
        self._dir_modes: dict[str, int] = {}
        self._layer_paths: set[str] = set()
        self._layer = ""

    # ------------------------------------------------------------------ public

    def apply_layer(self, stream: BinaryIO | io.RawIOBase, name: str) -> None:
        """Extract one layer (tar, tar+gzip; detected from the first bytes) from ``stream``.

        The stream is read to its end, so a digest-verifying reader gets to verify.
        """
        self._layer = name
        self._layer_paths = set()
        buffered = io.BufferedReader(_ReadInContext(stream), _BUFFER)
        head = buffered.peek(4)[:4]
        if head.startswith(_ZSTD_MAGIC):
            raise UnsupportedManifestError(
                f"Layer {name} of {self.source} is zstd-compressed, which is not supported"
            )
        # gzip is inflated by ISA-L in a thread of its own (it releases the GIL), up to two blocks
        # ahead of the tar parsing here; the thread is stopped before this thread reads on
        inflated = (
            igzip_threaded.open(  # type: ignore[no-untyped-call]
                buffered, "rb", threads=1, block_size=_INFLATE_BLOCK
            )
            if head.startswith(_GZIP_MAGIC)
            else None
        )
        data = cast(BinaryIO, inflated or buffered)
        info = type(
            "_LayerTarInfo", (_BoundedTarInfo,), {"max_header_bytes": self.limits.max_header_bytes}
        )
        try:
            with tarfile.open(fileobj=data, mode="r|", encoding="utf-8", tarinfo=info) as tar:
                while (member := tar.next()) is not None:
                    cast(Any, tar).members.clear()  # else tarfile keeps every member read
                    self._member(tar, member)
            if inflated is not None:
                inflated.close()
            # what follows the archive's end is read for the digest, not inflated
            while buffered.read(_BUFFER):
                pass
        except _HeaderRefused as exc:
            raise UnsafeLayerError(f"Layer {name} of {self.source} has {exc}") from None
        except RecursionError:
            raise UnsafeLayerError(
                f"Layer {name} of {self.source} chains too many extended headers"
            ) from None
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, _INFLATE_ERROR) as exc:
            raise UnsafeLayerError(
                f"Layer {name} of {self.source} is not a valid tar archive: {exc}"
            ) from None
        finally:
            if inflated is not None:
                inflated.close()  # joins its thread (also when the layer was refused)

    def finish(self) -> UnpackStats:
        """Check every symlink still resolves inside the root, then restore directory modes."""
        for current, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                full = os.path.join(current, name)
                if os.path.islink(full) and not self._inside(os.path.realpath(full)):
                    os.unlink(full)
                    rel = os.path.relpath(full, self.root)
                    raise UnsafeLayerError(
                        f"The symlink {rel} in {self.source} resolves outside the root"
                    )
        for rel, mode in sorted(self._dir_modes.items(), key=lambda kv: -kv[0].count("/")):
            path = self.root / rel
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, mode | 0o700)  # the worker must be able to delete it
        return self.stats

    # ------------------------------------------------------------------ entries

    def _fail(self, entry: str, reason: str) -> UnsafeLayerError:
        return UnsafeLayerError(
            f"Layer {self._layer} of {self.source} has an unsafe entry {entry!r}: {reason}"
        )

    def _normalize(self, raw_name: str) -> str:
        if "\0" in raw_name:
            raise self._fail(raw_name, "NUL byte in the name")
        if len(raw_name) > self.limits.max_path_length:
            raise self._fail(raw_name[:80] + "…", "path too long")
        parts = [p for p in raw_name.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self._fail(raw_name, "path traversal ('..')")
        return "/".join(parts)

    def _wanted(self, path: str) -> bool:
        if self.include is None:
            return True
        return any(path == inc or path.startswith(inc + "/") for inc in self.include)

    def _affects(self, path: str) -> bool:
        """True when removing ``path`` can touch included content (path or an ancestor)."""
        if self.include is None:
            return True
        return any(
            path == inc or path.startswith(inc + "/") or inc.startswith(path + "/") or path == ""
            for inc in self.include
        )

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.stats.entries += 1
        if self.stats.entries > self.limits.max_entries:
            raise UnsafeLayerError(f"{self.source} has more than {self.limits.max_entries} entries")
        self._streamed += member.size
        if self._streamed > self.limits.max_stream_bytes:
            raise UnsafeLayerError(
                f"{self.source} has more than {self.limits.max_stream_bytes} bytes of layer "
                f"content (at layer {self._layer})"
            )
        path = self._normalize(member.name)
        if not path:
            return
        parent, base = posixpath.split(path)
        if base == _OPAQUE:
            self.stats.whiteouts += 1
            if self._affects(parent):
                self._opaque(parent)
            return
        if base.startswith(_WHITEOUT_PREFIX):
            self.stats.whiteouts += 1
            target = posixpath.join(parent, base[len(_WHITEOUT_PREFIX) :])
            if self._affects(target):
                self._remove(target)
            return
        if not self._wanted(path):
            return
        if member.isdir():
            self._directory(path, member.mode)
        elif member.isreg():
            self._file(tar, member, path)
        elif member.issym():
            self._symlink(path, member.linkname)
        elif member.islnk():
            self._hardlink(path, member.linkname)
        else:
            kind = "device" if (member.ischr() or member.isblk()) else "special file"
            self.stats.skipped.append((path, kind))

    def _inside(self, real: str) -> bool:
        root = str(self.root)
        return real == root or real.startswith(root + os.sep)

    def _parent_dir(self, path: str, entry: str) -> str:
        """The host directory for ``path``'s parent, created as needed, checked to be inside."""
        current = str(self.root)
        parent = posixpath.dirname(path)
        for part in parent.split("/") if parent else []:
            candidate = os.path.join(current, part)
            if os.path.islink(candidate):
                resolved = os.path.realpath(candidate)
                if not self._inside(resolved):
                    raise self._fail(entry, "a parent directory is a link leading outside the root")
                candidate = resolved
            if not os.path.exists(candidate):
                os.mkdir(candidate, 0o755)
                self.stats.directories += 1
            elif not os.path.isdir(candidate):
                raise self._fail(entry, f"parent {part!r} is not a directory")
            current = candidate
        return current

    def _clear(self, full: str) -> None:
        """Remove whatever is at ``full`` without following a link."""
        try:
            info = os.lstat(full)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(full)
        else:
            os.unlink(full)

    def _directory(self, path: str, mode: int) -> None:
        full = os.path.join(self._parent_dir(path, path), posixpath.basename(path))
        if os.path.islink(full) or (os.path.lexists(full) and not os.path.isdir(full)):
            self._clear(full)
        if not os.path.lexists(full):
            os.mkdir(full, 0o755)
            self.stats.directories += 1
        os.chmod(full, 0o755 | (mode & 0o777))
        self._dir_modes[os.path.relpath(full, self.root)] = mode & 0o777
        self._layer_paths.add(path)

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        if member.size > self.limits.max_file_bytes:
            raise self._fail(path, f"file larger than {self.limits.max_file_bytes} bytes")
        if self.stats.bytes + member.size > self.limits.max_total_bytes:
            raise UnsafeLayerError(
                f"{self.source} unpacks to more than {self.limits.max_total_bytes} bytes "
                f"(at {path!r} in layer {self._layer})"
            )
        if self.budget is not None:
            self.budget.take(member.size, self.source, path)
        full = os.path.join(self._parent_dir(path, path), posixpath.basename(path))
        self._clear(full)
        source = tar.extractfile(member)
        assert source is not None
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, _BUFFER)
        os.chmod(full, member.mode & 0o777)
        self.stats.files += 1
        self.stats.bytes += member.size
        self._layer_paths.add(path)

    def _symlink(self, path: str, target: str) -> None:
        if "\0" in target:
            raise self._fail(path, "NUL byte in the link target")
        link_dir = posixpath.dirname(path)
        if target.startswith("/"):
            inside = posixpath.normpath(target).lstrip("/")
            target = posixpath.relpath(inside or ".", link_dir or ".")
        resolved = posixpath.normpath(posixpath.join(link_dir, target))
        if resolved == ".." or resolved.startswith("../"):
            raise self._fail(path, f"symlink to {target!r} leaves the root")
        full = os.path.join(self._parent_dir(path, path), posixpath.basename(path))
        self._clear(full)
        os.symlink(target, full)
        self.stats.symlinks += 1
        self._layer_paths.add(path)

    def _hardlink(self, path: str, linkname: str) -> None:
        target = self._normalize(linkname)
        if not target:
            raise self._fail(path, "hard link to the root")
        target_full = os.path.join(self._parent_dir(target, path), posixpath.basename(target))
        if not os.path.lexists(target_full):
            self.stats.skipped.append((path, f"hard link to {target} which was not extracted"))
            return
        if os.path.isdir(target_full) and not os.path.islink(target_full):
            raise self._fail(path, "hard link to a directory")
        full = os.path.join(self._parent_dir(path, path), posixpath.basename(path))
        self._clear(full)
        os.link(target_full, full, follow_symlinks=False)
        self.stats.hardlinks += 1
        self._layer_paths.add(path)

    def _remove(self, path: str) -> None:
        if not path:
            return
        try:
            parent = self._parent_dir_existing(path)
        except FileNotFoundError:
            return
        self._clear(os.path.join(parent, posixpath.basename(path)))

    def _opaque(self, directory: str) -> None:
        try:
            host_dir = (
                os.path.join(self._parent_dir_existing(directory), posixpath.basename(directory))
                if directory
                else str(self.root)
            )
        except FileNotFoundError:
            return
        if not os.path.isdir(host_dir) or os.path.islink(host_dir):
            return
        for name in os.listdir(host_dir):
            rel = posixpath.join(directory, name) if directory else name
            if rel not in self._layer_paths and self._affects(rel):
                self._clear(os.path.join(host_dir, name))

    def _parent_dir_existing(self, path: str) -> str:
        """Like ``_parent_dir`` but never creates anything (FileNotFoundError when absent)."""
        current = str(self.root)
        parent = posixpath.dirname(path)
        for part in parent.split("/") if parent else []:
            candidate = os.path.join(current, part)
            if os.path.islink(candidate):
                candidate = os.path.realpath(candidate)
                if not self._inside(candidate):
                    raise self._fail(path, "a parent directory is a link leading outside the root")
            if not os.path.isdir(candidate):
                raise FileNotFoundError(candidate)
            current = candidate
        return current
