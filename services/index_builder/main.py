"""``iib serve index-builder``: the worker process that builds index images."""

from __future__ import annotations

from services.common.config import Settings
from services.common.worker import Handler, WorkerRuntime
from services.index_builder.builder import IndexBuilder

__all__ = ["handler", "serve"]


def handler(settings: Settings) -> Handler:
    """The index builder's handler (also what a guarded child process builds for itself)."""
    return IndexBuilder(settings).handle


def serve(settings: Settings) -> None:
    """Consume the index builder's work items until SIGTERM/SIGINT."""
    WorkerRuntime(settings, "index", handler(settings), guarded=handler).serve_forever()
