"""The breadth-first walk of recursive-related-bundles (worker semantics §1.8), sans-IO."""

from __future__ import annotations

from collections.abc import Callable

from services.common.errors import IIBError

__all__ = ["MAX_EXCEEDED", "walk_related_bundles"]

MAX_EXCEEDED = "Max number of related bundles exceeded. Potential DOS attack!"


def walk_related_bundles(
    root: str,
    children_of: Callable[[str], list[str]],
    limit: int,
    *,
    check: Callable[[], None] = lambda: None,
) -> list[str]:
    """Every bundle reachable from ``root``, level by level: ``[root, *level1, *level2, ...]``.

    ``children_of(bundle)`` gives a bundle's related bundles (duplicates are kept, as in IIB).
    After each bundle the running number of children found is compared with ``limit``: reaching
    it fails the request with IIB's message (this also ends cycles). The walk stops at the first
    level without children. ``check`` runs before each bundle (the worker's cancellation check).

    IIB writes the result reversed (deepest level first, the root last).
    """
    found = [root]
    level = [root]
    total = 0
    while level:
        next_level: list[str] = []
        for bundle in level:
            check()
            children = children_of(bundle)
            next_level.extend(children)
            total += len(children)
            if total >= limit:
                raise IIBError(MAX_EXCEEDED)
        found.extend(next_level)
        level = next_level
    return found
