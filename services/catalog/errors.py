"""Error helpers: opm's aggregate formatting on top of the project's one error hierarchy."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import CatalogError

__all__ = ["aggregate", "raise_aggregate"]


def aggregate(messages: Sequence[str]) -> str:
    """Format messages like Kubernetes' ``utilerrors.NewAggregate`` (opm's error lists).

    One distinct message is shown alone; several are joined with ``", "`` inside brackets.
    """
    seen: list[str] = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def raise_aggregate(messages: Sequence[str]) -> None:
    """Raise one :class:`CatalogError` for all ``messages`` (no-op when empty)."""
    if messages:
        raise CatalogError(aggregate(messages))
