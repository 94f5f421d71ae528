"""Reproducible layers: same description, same bytes; headers normalised; files streamed."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from services.common.registry.layers import (
    LayerDirectory,
    LayerEntry,
    LayerFile,
    LayerSymlink,
    LayerWhiteout,
    RemoteLayer,
    build_layer,
    build_or_reuse_layer,
    tree_entries,
)


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def test_same_entries_in_any_order_give_the_same_digest(tmp_path):
    entries: list[LayerEntry] = [
        LayerFile("configs/b/catalog.json", data=b'{"b":1}'),
        LayerFile("configs/a/catalog.json", data=b'{"a":1}'),
        LayerDirectory("tmp/cache", mode=0o770, uid=1001),
    ]
    first = build_layer(entries, tmp_path / "one.tar.gz")
    second = build_layer(list(reversed(entries)), tmp_path / "two.tar.gz")
    assert first.digest == second.digest
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert (
        first.digest
        == "sha256:" + hashlib.sha256((tmp_path / "one.tar.gz").read_bytes()).hexdigest()
    )


def test_diff_id_is_the_digest_of_the_uncompressed_tar(tmp_path):
    layer = build_layer([LayerFile("a.txt", data=b"hello")], tmp_path / "l.tar.gz")
    raw_tar = gzip.decompress((tmp_path / "l.tar.gz").read_bytes())
    assert layer.diff_id == "sha256:" + hashlib.sha256(raw_tar).hexdigest()
    assert layer.uncompressed_size == len(raw_tar)
    assert layer.size == (tmp_path / "l.tar.gz").stat().st_size


def test_headers_have_zero_mtime_given_owner_and_parents_first(tmp_path):
    layer = build_layer(
        [
            LayerFile("tmp/cache/cache.json", data=b"{}", mode=0o664, uid=1001, gid=0),
            LayerSymlink("configs/link", "a/catalog.json"),
        ],
        tmp_path / "l.tar.gz",
    )
    members = _members(layer.path)
    assert [m.name for m in members] == [
        "configs",
        "configs/link",
        "tmp",
        "tmp/cache",
        "tmp/cache/cache.json",
    ]
    assert all(m.mtime == 0 and m.uname == "" and m.gname == "" for m in members)
    cache = members[-1]
    assert (cache.uid, cache.gid, cache.mode) == (1001, 0, 0o664)
    assert members[0].isdir() and members[0].mode == 0o755 and members[0].uid == 0
    assert members[1].issym() and members[1].linkname == "a/catalog.json"


def test_gzip_header_carries_no_timestamp_or_name(tmp_path):
    layer = build_layer([LayerFile("x", data=b"x")], tmp_path / "l.tar.gz")
    header = layer.path.read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    assert header[3] == 0  # no FNAME/FEXTRA flags
    assert header[4:8] == b"\0\0\0\0"  # MTIME = 0


def test_whiteouts_are_written_as_wh_entries(tmp_path):
    layer = build_layer(
        [LayerWhiteout("configs", opaque=True), LayerWhiteout("database/index.db")],
        tmp_path / "l.tar.gz",
    )
    names = [m.name for m in _members(layer.path)]
    assert "configs/.wh..wh..opq" in names
    assert "database/.wh.index.db" in names


def test_large_files_are_streamed_from_disk(tmp_path):
    big = tmp_path / "big.bin"
    chunk = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB
    with big.open("wb") as out:
        for _ in range(24):
            out.write(chunk)
    layer = build_layer(
        [LayerFile("data/big.bin", source=big)], tmp_path / "l.tar.gz", compresslevel=1
    )
    with tarfile.open(layer.path, "r:gz") as tar:
        member = tar.getmember("data/big.bin")
        assert member.size == 24 * 1024 * 1024
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert (
            hashlib.sha256(extracted.read()).digest() == hashlib.sha256(big.read_bytes()).digest()
        )


def test_tree_entries_copy_a_directory_with_chown(tmp_path):
    src = tmp_path / "catalog"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "catalog.json").write_text("{}")
    (src / "pkg" / "catalog.json").chmod(0o640)
    layer = build_layer(tree_entries(src, "/configs", uid=1001), tmp_path / "l.tar.gz")
    members = {m.name: m for m in _members(layer.path)}
    assert members["configs/pkg/catalog.json"].mode == 0o640
    assert members["configs/pkg/catalog.json"].uid == 1001
    assert members["configs"].isdir()


def test_conflicting_or_duplicate_paths_are_refused(tmp_path):
    with pytest.raises(ValueError):
        build_layer([LayerFile("a", data=b""), LayerFile("a", data=b"")], tmp_path / "x.tar.gz")
    with pytest.raises(ValueError):
        build_layer([LayerFile("a", data=b""), LayerFile("a/b", data=b"")], tmp_path / "y.tar.gz")


def test_file_needs_exactly_one_of_data_or_source():
    with pytest.raises(ValueError):
        LayerFile("a")
    with pytest.raises(ValueError):
        LayerFile("a", data=b"", source=io.BytesIO())  # type: ignore[arg-type]


def test_a_layer_with_a_known_diff_id_is_reused_without_writing(tmp_path):
    entries: list[LayerEntry] = [LayerFile("configs/a/catalog.json", data=b'{"a":1}')]
    built = build_layer(entries, tmp_path / "first.tar.gz")
    known = RemoteLayer(
        "registry.example.com/index@sha256:" + "1" * 64, built.digest, built.diff_id, built.size
    )
    reused = build_or_reuse_layer(
        entries, tmp_path / "again.tar.gz", {built.diff_id: known}, created_by="part 1"
    )
    assert reused == RemoteLayer(known.source, built.digest, built.diff_id, built.size, "part 1")
    assert not (tmp_path / "again.tar.gz").exists()
    # any change in content or metadata gives a new diff_id, so the layer is built
    changed = [LayerFile("configs/a/catalog.json", data=b'{"a":1}', mode=0o600)]
    rebuilt = build_or_reuse_layer(changed, tmp_path / "changed.tar.gz", {built.diff_id: known})
    assert not isinstance(rebuilt, RemoteLayer)
    assert rebuilt.diff_id != built.diff_id
    assert rebuilt == build_layer(changed, tmp_path / "changed.tar.gz")


def _tarfile_layer(entries: list[LayerEntry], dest: Path) -> tuple[str, str]:
    """The oracle: the layer Python's ``tarfile`` writes for ``entries`` in stream mode (PAX,
    utf-8, 1 MiB buffer), through ISA-L gzip at the builder's level, as layers.py wrote it
    before it wrote the tar stream itself. Returns (digest of the blob, diff_id)."""
    from isal import igzip

    ordered = sorted(entries, key=lambda e: tuple(e.path.split("/")))
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8", bufsize=1 << 20
    ) as tar:
        tar.copybufsize = 1 << 20  # type: ignore[attr-defined]
        for entry in ordered:
            info = tarfile.TarInfo(entry.path)
            info.mtime, info.uname, info.gname = 0, "", ""
            info.uid = getattr(entry, "uid", 0)
            info.gid = getattr(entry, "gid", 0)
            if isinstance(entry, LayerDirectory):
                info.type, info.mode = tarfile.DIRTYPE, entry.mode
                tar.addfile(info)
            elif isinstance(entry, LayerSymlink):
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
                tar.addfile(info)
            else:
                assert isinstance(entry, LayerFile)
                data = entry.data if entry.data is not None else entry.source.read_bytes()  # type: ignore[union-attr]
                info.mode, info.size = entry.mode, len(data)
                tar.addfile(info, io.BytesIO(data))
    stream = raw.getvalue()
    # the chunks tarfile's stream handed on: 1 MiB whenever more was buffered, then the rest
    pieces = [stream[i : i + (1 << 20)] for i in range(0, len(stream), 1 << 20)]
    with dest.open("wb") as out:
        with igzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=1, mtime=0) as gz:
            for piece in pieces:
                gz.write(piece)
    return (
        "sha256:" + hashlib.sha256(dest.read_bytes()).hexdigest(),
        "sha256:" + hashlib.sha256(stream).hexdigest(),
    )


def test_layer_bytes_are_those_python_tarfile_writes(tmp_path):
    """Headers, data, padding and the end of the stream (two zero blocks, a 10,240-byte
    record) against ``tarfile`` itself: sizes around the 512-byte block and the 1 MiB buffer,
    files in memory and on disk, a name and a link target too long for a ustar header and a
    uid too large for one (PAX records), a non-ASCII name, setuid and sticky modes."""
    blob = bytes(range(256)) * (4 * 4096 + 3)  # ~4 MiB, not a multiple of 512
    on_disk = tmp_path / "src"
    on_disk.mkdir()
    entries: list[LayerEntry] = [
        LayerDirectory("configs", mode=0o755),
        LayerDirectory("tmp", mode=0o1777),
        LayerDirectory("tmp/cache", mode=0o750, uid=1001),
        LayerSymlink("configs/link", "../" + "x" * 120),
        LayerFile("configs/" + "long-" * 30 + ".json", data=b"{}", uid=2**21 + 5),
        LayerFile("configs/café/ñ.json", data=b"\xc3\xa9"),
        LayerFile("bin/tool", data=b"#!/bin/sh\n", mode=0o4755),
    ]
    for size in (0, 1, 511, 512, 513, (1 << 20) - 100, len(blob)):
        entries.append(LayerFile(f"configs/mem-{size}", data=blob[:size], mode=0o640))
        (on_disk / f"disk-{size}").write_bytes(blob[-size:] if size else b"")
        entries.append(LayerFile(f"tmp/cache/disk-{size}", source=on_disk / f"disk-{size}"))
    parents: list[LayerEntry] = [LayerDirectory(p, 0o755) for p in ("bin", "configs/café")]
    built = build_layer(entries + parents, tmp_path / "here.tar.gz", compresslevel=1)
    digest, diff_id = _tarfile_layer(entries + parents, tmp_path / "tarfile.tar.gz")
    assert built.diff_id == diff_id
    assert built.digest == digest
    assert (tmp_path / "here.tar.gz").read_bytes() == (tmp_path / "tarfile.tar.gz").read_bytes()
