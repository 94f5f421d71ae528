"""Safe unpacking: traversal, links, devices, whiteouts, limits."""

from __future__ import annotations

import contextvars
import gzip
import io
import os
import tarfile
import threading
import zlib
from typing import Any

import pytest

from services.common.registry.errors import DigestMismatchError, UnsafeLayerError
from services.common.registry.layers import LayerFile, LayerSymlink, LayerWhiteout, build_layer
from services.common.registry.unpack import Unpacker, UnpackLimits


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buffer.seek(0)
    return buffer


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


def test_path_traversal_is_refused(root, tmp_path):
    unpacker = Unpacker(root)
    with pytest.raises(UnsafeLayerError, match="path traversal"):
        unpacker.apply_layer(_tar(_file("../evil")), "l1")
    assert not (tmp_path / "evil").exists()


def test_absolute_names_land_inside_the_root(root):
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar(_file("/etc/passwd", b"image's")), "l1")
    assert (root / "etc" / "passwd").read_bytes() == b"image's"


def test_absolute_symlinks_are_rewritten_relative_to_the_root(root):
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar(_file("etc/real", b"r"), _link("usr/cfg", "/etc/real")), "l1")
    unpacker.finish()
    assert os.readlink(root / "usr" / "cfg") == "../etc/real"
    assert (root / "usr" / "cfg").read_bytes() == b"r"


def test_symlink_leaving_the_root_is_refused(root):
    with pytest.raises(UnsafeLayerError, match="leaves the root"):
        Unpacker(root).apply_layer(_tar(_link("a/escape", "../../outside")), "l1")


def test_writing_through_a_symlinked_parent_never_leaves_the_root(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    # The symlink itself resolves inside (absolute → rewritten), so the file lands in root/tmp.
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar(_link("dir", "/tmp"), _file("dir/x", b"in")), "l1")
    assert (root / "tmp" / "x").read_bytes() == b"in"
    assert list(outside.iterdir()) == []


def test_symlink_chain_that_escapes_through_a_later_link_is_caught_at_finish(root):
    unpacker = Unpacker(root)
    unpacker.apply_layer(
        _tar(
            _link("d/e/b", ".."),  # d/e/b -> d  (inside)
            _link("top", "d/e/b/../.."),  # lexically "d", physically leaves the root
        ),
        "l1",
    )
    with pytest.raises(UnsafeLayerError, match="resolves outside"):
        unpacker.finish()
    assert not os.path.lexists(root / "top")


def test_hard_link_to_outside_is_refused(root):
    with pytest.raises(UnsafeLayerError, match="path traversal"):
        Unpacker(root).apply_layer(_tar(_link("h", "../../etc/passwd", tarfile.LNKTYPE)), "l1")


def test_hard_link_inside_is_created(root):
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar(_file("a", b"data"), _link("b", "a", tarfile.LNKTYPE)), "l1")
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino


def test_devices_and_fifos_are_skipped(root):
    dev = tarfile.TarInfo("dev/sda")
    dev.type = tarfile.BLKTYPE
    fifo = tarfile.TarInfo("run/pipe")
    fifo.type = tarfile.FIFOTYPE
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar((dev, None), (fifo, None)), "l1")
    assert not (root / "dev" / "sda").exists() and not (root / "run" / "pipe").exists()
    assert {path for path, _ in unpacker.stats.skipped} == {"dev/sda", "run/pipe"}


def test_setuid_bits_are_dropped(root):
    info = tarfile.TarInfo("bin/tool")
    info.mode = 0o4755
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar((info, b"#!")), "l1")
    assert (root / "bin" / "tool").stat().st_mode & 0o7777 == 0o755


def test_whiteout_removes_a_lower_layer_file(root, tmp_path):
    lower = build_layer(
        [LayerFile("configs/a.json", data=b"a"), LayerFile("configs/b.json", data=b"b")],
        tmp_path / "1.tgz",
    )
    upper = build_layer([LayerWhiteout("configs/a.json")], tmp_path / "2.tgz")
    unpacker = Unpacker(root)
    for layer in (lower, upper):
        with layer.path.open("rb") as stream:
            unpacker.apply_layer(stream, layer.digest)
    assert sorted(p.name for p in (root / "configs").iterdir()) == ["b.json"]


def test_opaque_whiteout_replaces_a_directory_like_oc_mirror(root, tmp_path):
    lower = build_layer([LayerFile("configs/old/catalog.json", data=b"old")], tmp_path / "1.tgz")
    upper = build_layer(
        [LayerWhiteout("configs", opaque=True), LayerFile("configs/new/catalog.json", data=b"new")],
        tmp_path / "2.tgz",
    )
    unpacker = Unpacker(root)
    for layer in (lower, upper):
        with layer.path.open("rb") as stream:
            unpacker.apply_layer(stream, layer.digest)
    assert sorted(p.name for p in (root / "configs").iterdir()) == ["new"]
    assert not (root / "configs" / ".wh..wh..opq").exists()


def test_opaque_whiteout_after_same_layer_entries_keeps_them(root):
    opaque = tarfile.TarInfo("configs/.wh..wh..opq")
    unpacker = Unpacker(root)
    unpacker.apply_layer(_tar(_file("configs/old", b"o")), "l1")
    unpacker.apply_layer(_tar(_file("configs/new", b"n"), (opaque, b"")), "l2")
    assert sorted(p.name for p in (root / "configs").iterdir()) == ["new"]


def test_file_size_limit_is_enforced(root):
    unpacker = Unpacker(root, limits=UnpackLimits(max_file_bytes=10))
    with pytest.raises(UnsafeLayerError, match="larger than 10 bytes"):
        unpacker.apply_layer(_tar(_file("big", b"x" * 11)), "l1")


def test_total_size_limit_is_enforced(root):
    unpacker = Unpacker(root, limits=UnpackLimits(max_total_bytes=15), source="reg/ns/bundle:1")
    with pytest.raises(UnsafeLayerError, match="reg/ns/bundle:1 unpacks to more than 15 bytes"):
        unpacker.apply_layer(_tar(_file("a", b"x" * 10), _file("b", b"x" * 10)), "l1")


def test_entry_count_limit_is_enforced(root):
    unpacker = Unpacker(root, limits=UnpackLimits(max_entries=2))
    with pytest.raises(UnsafeLayerError, match="more than 2 entries"):
        unpacker.apply_layer(_tar(_file("a"), _file("b"), _file("c")), "l1")


def test_include_extracts_only_the_wanted_paths(root):
    unpacker = Unpacker(root, include=["manifests", "metadata"])
    unpacker.apply_layer(
        _tar(
            _file("manifests/csv.yaml", b"csv"),
            _file("metadata/annotations.yaml", b"ann"),
            _file("etc/other", b"no"),
            _file("manifestsX/no", b"no"),
        ),
        "l1",
    )
    assert sorted(p.name for p in root.iterdir()) == ["manifests", "metadata"]


def test_corrupt_archive_names_the_layer(root):
    with pytest.raises(UnsafeLayerError, match="Layer l9 of reg/x:1"):
        Unpacker(root, source="reg/x:1").apply_layer(
            io.BytesIO(b"\x1f\x8b" + b"garbage" * 100), "l9"
        )


def _gzip_layer(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    # the stdlib's gzip writer (not the ISA-L code under test), mtime 0 for stable bytes
    return gzip.compress(_tar(*members).getvalue(), mtime=0)


def _damaged(kind: str) -> bytes:
    """A gzip layer damaged as RFC 1952 defines each fault (Python's ``gzip`` refuses all three:
    checked in the test below)."""
    good = _gzip_layer(_file("manifests/csv.yaml", os.urandom(300_000)))
    if kind == "deflate":  # bytes of the deflate blocks flipped
        return good[:40] + bytes(b ^ 0x55 for b in good[40:4000]) + good[4000:]
    if kind == "crc":  # CRC32 of the trailer zeroed
        return good[:-8] + bytes(4) + good[-4:]
    return good[: len(good) // 2]  # truncated


@pytest.mark.parametrize("kind", ["deflate", "crc", "truncated"])
def test_a_damaged_gzip_layer_fails_readably_and_stops_its_inflating_thread(root, kind):
    data = _damaged(kind)
    with pytest.raises((gzip.BadGzipFile, EOFError, zlib.error)):  # the oracle: the stdlib
        gzip.decompress(data)
    threads = set(threading.enumerate())
    with pytest.raises(UnsafeLayerError, match="Layer l3 of reg/x:1 is not a valid tar archive"):
        Unpacker(root, source="reg/x:1").apply_layer(io.BytesIO(data), "l3")
    assert set(threading.enumerate()) <= threads  # the inflating thread was joined


def test_a_layer_refused_mid_stream_stops_its_inflating_thread(root, tmp_path):
    # the refusal comes from the first entry, while the gzip thread still has 8 MiB to inflate
    # (it waits on its full queue: only the unpacker's close stops it)
    data = _gzip_layer(_file("../evil"), _file("a/big", os.urandom(8 * 1024 * 1024)))
    threads = set(threading.enumerate())
    with pytest.raises(UnsafeLayerError, match="path traversal") as caught:
        Unpacker(root).apply_layer(io.BytesIO(data), "l1")
    # the error's traceback keeps the unpacker's frame (and its reader) alive: the thread must
    # have been stopped by the unpacker, not by the reader's garbage collection
    assert caught.traceback
    assert set(threading.enumerate()) <= threads
    assert not (tmp_path / "evil").exists()


class _VerifyingBlob(io.RawIOBase):
    """A blob read the way client.py's ``BlobReader`` reads one: at its end the digest is
    checked, a mismatch is raised once, and every later read is an empty end."""

    def __init__(self, blob: bytes) -> None:
        self.inner = io.BytesIO(blob)
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.done:
            return 0
        count = self.inner.readinto(buffer)
        if not count:
            self.done = True
            raise DigestMismatchError("sha256:l1 does not match the content received")
        return count


def test_a_digest_mismatch_met_ahead_of_the_tar_parsing_still_fails_the_layer(root):
    # the inflating thread reads the blob to its end (and meets the mismatch) while the tar
    # parsing is still before the archive's end; 300 KB of data follow that end in the gzip
    # stream, which the unpacker reads without inflating
    tar = _tar(_file("a/f", os.urandom(1_900_000))).getvalue()
    blob = gzip.compress(tar + os.urandom(300_000), mtime=0)
    with pytest.raises(DigestMismatchError, match="does not match"):
        Unpacker(root).apply_layer(_VerifyingBlob(blob), "l1")


_request = contextvars.ContextVar("request", default=0)


def test_a_gzip_layer_is_read_once_in_order_in_the_callers_context(root):
    """A digest-verifying reader must see every byte once, in order, and its reads (and their
    retries' log lines) belong to the caller's request, although the gzip stream is inflated
    by another thread."""
    blob = _gzip_layer(_file("a/f", os.urandom(3 * 1024 * 1024)), _file("b/g", b"g")) + bytes(5000)
    seen = bytearray()
    readers: set[tuple[str, int]] = set()

    class Recording(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(blob)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            readers.add((threading.current_thread().name, _request.get()))
            count = self.inner.readinto(buffer)
            seen.extend(bytes(buffer[:count]))
            return count

    token = _request.set(7)
    try:
        Unpacker(root).apply_layer(Recording(), "l1")
    finally:
        _request.reset(token)
    assert bytes(seen) == blob
    assert (root / "b" / "g").read_bytes() == b"g"
    assert {request for _thread, request in readers} == {7}
    assert len({thread for thread, _request_id in readers}) == 2  # inflating thread and caller


def test_symlink_in_a_built_layer_round_trips(root, tmp_path):
    layer = build_layer([LayerFile("a/f", data=b"f"), LayerSymlink("a/l", "f")], tmp_path / "l.tgz")
    unpacker = Unpacker(root)
    with layer.path.open("rb") as stream:
        unpacker.apply_layer(stream, layer.digest)
    unpacker.finish()
    assert (root / "a" / "l").read_bytes() == b"f"


def test_writing_below_a_link_that_escapes_physically_is_refused(root, tmp_path):
    unpacker = Unpacker(root)
    with pytest.raises(UnsafeLayerError, match="parent directory is a link leading outside"):
        unpacker.apply_layer(
            _tar(_link("d/e/b", ".."), _link("top", "d/e/b/../.."), _file("top/planted", b"x")),
            "l1",
        )
    assert not (tmp_path / "planted").exists()
