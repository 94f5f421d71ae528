"""The compiled FNV-1a 64 gives the same hashes as the Python loop."""

from __future__ import annotations

import os

from services.catalog.accel import native_fnv1a64
from services.catalog.gotar import fnv1a64, fnv1a64_python


def test_native_fnv_is_available_and_agrees_with_python() -> None:
    assert native_fnv1a64() is not None, "cc is part of the bootstrap; the accelerator must build"
    for size in (0, 1, 7, 64, 1000, 100_000):
        data = os.urandom(size) + b"\0" * 300 + os.urandom(size)
        assert fnv1a64(data) == fnv1a64_python(data)
    # chaining, as the tar streams hash chunk by chunk
    first, second = os.urandom(5000), os.urandom(3000)
    assert fnv1a64(second, fnv1a64(first)) == fnv1a64_python(first + second)
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C  # published FNV-1a 64 test vector
