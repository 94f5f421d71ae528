"""Hostile layer blobs written byte by byte (``tarfile`` would not write most of them): a
huge GNU long-name or PAX header in front of ordinary entries, gzip members of zeros after the
end of the archive, GNU sparse entries. Small on the wire, large once inflated."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from services.common.registry.layers import Layer

MiB = 1024 * 1024
_ZERO_BLOCK = b"\0" * 512


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    info.mode = mode
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % 512)


def entries(files: dict[str, bytes], directories: dict[str, int] | None = None) -> bytes:
    """Plain tar members (no end-of-archive blocks): directories with their modes, files."""
    out = io.BytesIO()
    for name, mode in (directories or {}).items():
        out.write(header(name, 0, tarfile.DIRTYPE, mode))
    for name, data in files.items():
        out.write(header(name, len(data)) + data + _padding(len(data)))
    return out.getvalue()


def long_header_stream(size: int, kind: bytes, after: bytes) -> Iterator[bytes]:
    """An extended header (``L``: GNU long name, ``x``: PAX) of ``size`` bytes, then ``after``
    and the end of the archive. A PAX header's one record fills it: ``<len> comment=aaa...``."""
    yield header("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax", size, kind)
    if kind == tarfile.XHDTYPE:
        prefix = f"{size} comment=".encode()
        yield prefix
        remaining = size - len(prefix) - 1
    else:
        remaining = size - 1
    chunk = b"a" * MiB
    while remaining > 0:
        yield chunk[: min(remaining, MiB)]
        remaining -= MiB
    yield b"\n" if kind == tarfile.XHDTYPE else b"\0"
    yield _padding(size) + after + _ZERO_BLOCK * 2


def gzip_layer(parts: Iterator[bytes], dest: Path, *, extra: bytes = b"") -> Layer:
    """Write ``parts`` as one gzip member (then ``extra`` raw bytes) and describe the blob."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    tar_hash = hashlib.sha256()
    tar_size = 0
    with dest.open("wb") as out:
        for part in parts:
            tar_hash.update(part)
            tar_size += len(part)
            out.write(compressor.compress(part))
        out.write(compressor.flush())
        out.write(extra)
    blob = dest.read_bytes()
    return Layer(
        path=dest,
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        diff_id="sha256:" + tar_hash.hexdigest(),
        size=len(blob),
        uncompressed_size=tar_size,
    )


def zero_members(total: int, member: int = 64 * MiB) -> bytes:
    """Concatenated gzip members inflating to ``total`` zero bytes (~1/1000 of it)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    one = compressor.compress(b"\0" * member) + compressor.flush()
    return one * (total // member)
