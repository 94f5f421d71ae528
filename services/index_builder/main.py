"""``iib serve index-builder``: the worker process that builds index images."""

from __future__ import annotations

from services.common.config import Settings
from services.common.worker import WorkerRuntime
from services.index_builder.builder import IndexBuilder

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    """Consume the index builder's work items until SIGTERM/SIGINT."""
    builder = IndexBuilder(settings)
    WorkerRuntime(settings, "index", builder.handle).serve_forever()
