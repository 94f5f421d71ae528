"""Layers that are small on the wire and huge inside: memory, time and disk stay bounded, and a
worker that is not root can always delete what it unpacked (issue 12: a 398 KiB layer with a
huge long-name header took 1.2 GiB; 0o000 directories left 5 MB behind per request)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from services.common.registry.errors import UnsafeLayerError
from services.common.registry.unpack import UnpackBudget, Unpacker, UnpackLimits
from tests.common.registry.hostile import (
    MiB,
    entries,
    gzip_layer,
    header,
    long_header_stream,
    zero_members,
)

CSV = {"manifests/csv.yaml": b"kind: ClusterServiceVersion\n"}


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_a_huge_extended_header_is_refused_before_it_is_read(tmp_path: Path, kind: bytes) -> None:
    layer = gzip_layer(long_header_stream(64 * MiB, kind, entries(CSV)), tmp_path / "l.tar.gz")
    assert layer.size < 200_000
    tracemalloc.start()
    try:
        with (
            layer.path.open("rb") as blob,
            pytest.raises(UnsafeLayerError, match="has a 67108864-byte extended header"),
        ):
            Unpacker(tmp_path / "root").apply_layer(blob, "sha256:l")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB  # tarfile read the whole header into memory (several copies)


def test_extended_headers_up_to_the_limit_are_read(tmp_path: Path) -> None:
    name = "manifests/" + "d" * 200 + "/csv.yaml"  # a real long name
    layer = gzip_layer(iter([entries({name: b"x"}), b"\0" * 1024]), tmp_path / "l.tar.gz")
    root = tmp_path / "root"
    with layer.path.open("rb") as blob:
        Unpacker(root).apply_layer(blob, "sha256:l")
    assert (root / name).read_bytes() == b"x"


def test_gnu_sparse_entries_are_refused(tmp_path: Path) -> None:
    data = header("manifests/sparse", 0, tarfile.GNUTYPE_SPARSE) + b"\0" * 1024
    with pytest.raises(UnsafeLayerError, match="GNU sparse entry"):
        Unpacker(tmp_path / "root").apply_layer(io.BytesIO(data), "sha256:l")


def test_data_after_the_end_of_the_archive_is_not_inflated(tmp_path: Path) -> None:
    # 16 GiB of zeros in 16 MB of gzip members behind a valid layer
    trailing = zero_members(16 * 1024 * MiB)
    layer = gzip_layer(iter([entries(CSV), b"\0" * 1024]), tmp_path / "l.tar.gz", extra=trailing)
    read = 0

    class Counting(io.RawIOBase):
        def __init__(self, raw: io.BufferedReader) -> None:
            self.raw = raw

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            nonlocal read
            count = self.raw.readinto(buffer)
            read += count
            return count

    started = time.monotonic()
    with layer.path.open("rb") as blob:
        Unpacker(tmp_path / "root").apply_layer(Counting(blob), "sha256:l")
    assert time.monotonic() - started < 2.0  # inflating it took ~10 s
    assert read == layer.size  # still read to the end: the digest is checked at EOF
    assert (tmp_path / "root" / "manifests" / "csv.yaml").exists()


def test_skipped_entries_count_towards_the_stream_bound(tmp_path: Path) -> None:
    data = entries({"usr/big": b"\0" * (2 * MiB), **CSV}) + b"\0" * 1024
    limits = UnpackLimits(max_stream_bytes=MiB)
    with pytest.raises(UnsafeLayerError, match="more than 1048576 bytes of layer content"):
        Unpacker(tmp_path / "root", limits=limits, include=["manifests"]).apply_layer(
            io.BytesIO(data), "sha256:l"
        )


def test_the_members_tarfile_reads_are_not_kept(tmp_path: Path) -> None:
    names = {f"manifests/{n:05d}-" + "n" * 3000: b"" for n in range(3000)}
    data = entries(names) + b"\0" * 1024
    tracemalloc.start()
    try:
        Unpacker(tmp_path / "root", include=["metadata"]).apply_layer(io.BytesIO(data), "l")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB  # 3,000 TarInfo objects with their names were ~20 MB


def test_a_request_budget_is_shared_by_its_unpacks(tmp_path: Path) -> None:
    budget = UnpackBudget(3 * MiB, "IIB_REQUEST_DISK_LIMIT")
    layer = entries({"manifests/blob": b"b" * (2 * MiB)}) + b"\0" * 1024
    Unpacker(tmp_path / "one", budget=budget).apply_layer(io.BytesIO(layer), "l")
    with pytest.raises(
        UnsafeLayerError, match=r"more than 3145728 bytes \(IIB_REQUEST_DISK_LIMIT\)"
    ):
        Unpacker(tmp_path / "two", budget=budget, source="img").apply_layer(io.BytesIO(layer), "l")
    assert budget.used == 2 * MiB


def test_a_worker_that_is_not_root_can_delete_unpacked_0o000_directories(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    layer = (
        entries(
            {"locked/deeper/file": b"x" * 1000, "locked/file": b"y"},
            directories={"locked": 0o000, "locked/deeper": 0o000},
        )
        + b"\0" * 1024
    )
    work = Path(tempfile.mkdtemp(prefix="unpack-nobody-"))  # pytest's are root-only
    os.chown(work, 65534, 65534)
    try:
        _unpack_and_delete_as_nobody(work, layer)
    finally:
        shutil.rmtree(work)


def _unpack_and_delete_as_nobody(work: Path, layer: bytes) -> None:
    pid = os.fork()
    if pid == 0:  # the child: an unprivileged worker unpacks, then cleans up
        status = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            unpacker = Unpacker(work / "root")
            unpacker.apply_layer(io.BytesIO(layer), "l")
            unpacker.finish()
            shutil.rmtree(work / "root", ignore_errors=True)
            status = 0 if not (work / "root").exists() else 1
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unpacked tree could not be deleted"
