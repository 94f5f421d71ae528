"""The compiled FNV-1a 64 gives the same hashes as the Python loop, over bytes and over files
read in C (expected values: the published FNV-1a 64 test vector, and the pure-Python loop over
the tar stream built independently of the native file path)."""

from __future__ import annotations

import errno as errno_module
import os
from pathlib import Path

from services.catalog.accel import native_fnv
from services.catalog.gotar import (
    TreeEntry,
    directory_tree,
    fnv1a64,
    fnv1a64_python,
    tar_stream,
    tree_digest,
)


def test_native_fnv_is_available_and_agrees_with_python() -> None:
    assert native_fnv() is not None, "cc is part of the bootstrap; the accelerator must build"
    for size in (0, 1, 7, 64, 1000, 100_000):
        data = os.urandom(size) + b"\0" * 300 + os.urandom(size)
        assert fnv1a64(data) == fnv1a64_python(data)
    # chaining, as the tar streams hash chunk by chunk
    first, second = os.urandom(5000), os.urandom(3000)
    assert fnv1a64(second, fnv1a64(first)) == fnv1a64_python(first + second)
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C  # published FNV-1a 64 test vector


def test_files_hashed_in_c_match_the_python_stream(tmp_path: Path) -> None:
    # sizes around the C reader's 64 KiB buffer and the 512-byte tar blocks
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    for n, size in enumerate((0, 1, 511, 512, 65_535, 65_536, 65_537, 300_001)):
        (root / ("sub" if n % 2 else "") / f"f{n}.json").write_bytes(os.urandom(size))
    tree = directory_tree(root, dir_mode=0o755, file_mode=0o644)
    inline = [TreeEntry(".", 0o750), TreeEntry("packages.json", 0o640, b'{"a":1}')]
    stream = b"".join(tar_stream(tree)) + b"".join(tar_stream(inline))
    assert tree_digest(tree, inline) == f"{fnv1a64_python(stream):016x}"


def test_native_stream_reports_the_file_that_failed(tmp_path: Path) -> None:
    native = native_fnv()
    assert native is not None
    present = tmp_path / "present.json"
    present.write_bytes(b"12345")
    name = os.fsencode(str(present))
    state, failed, errno = native.hash_pieces([(b"ab", 2, False), (name, 5, True)], 7)
    assert (failed, errno) == (0, 0)
    assert state == fnv1a64_python(b"ab12345", 7)
    # a file whose size is not the one announced: named, no errno
    assert native.hash_pieces([(b"ab", 2, False), (name, 4, True)], 7)[1:] == (2, 0)
    missing = os.fsencode(str(tmp_path / "missing.json"))
    assert native.hash_pieces([(missing, 1, True)], 7)[1:] == (1, errno_module.ENOENT)
    # a symlink (the trees list regular files only: one appearing later is refused, not read;
    # open(2): O_NOFOLLOW on a symlink fails with ELOOP)
    link = tmp_path / "link.json"
    link.symlink_to(present)
    linked = os.fsencode(str(link))
    assert native.hash_pieces([(linked, 5, True)], 7)[1:] == (1, errno_module.ELOOP)
    # a file longer than announced is read only one byte past the announced size
    assert native.hash_pieces([(name, 2, True)], 7)[1:] == (1, 0)
