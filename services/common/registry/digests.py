"""Content digests (``sha256:<hex>``): computing, validating and verifying them while streaming."""

from __future__ import annotations

import hashlib

from services.common.reference import is_valid_digest

__all__ = ["DigestHasher", "compute_digest", "is_valid_digest", "split_digest"]


def split_digest(digest: str) -> tuple[str, str]:
    """Return ``(algorithm, hex)``; ``ValueError`` when the digest is malformed."""
    if not is_valid_digest(digest):
        raise ValueError(f"invalid digest {digest!r}")
    algorithm, _, hexpart = digest.partition(":")
    return algorithm, hexpart


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    """The digest of ``data`` in ``<algorithm>:<hex>`` form."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class DigestHasher:
    """Incremental digest of a byte stream; ``digest`` is ``<algorithm>:<hex>``."""

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    @classmethod
    def for_digest(cls, digest: str) -> DigestHasher:
        """A hasher using the algorithm of ``digest`` (so the result can be compared with it)."""
        return cls(split_digest(digest)[0])

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed ``data``."""
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        """The digest of everything fed so far."""
        return f"{self.algorithm}:{self._hash.hexdigest()}"
