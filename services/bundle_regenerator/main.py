"""``iib serve bundle-regenerator``: the worker process that regenerates bundle images and
finds recursive related bundles."""

from __future__ import annotations

from services.bundle_regenerator.regenerator import BundleRegenerator
from services.common.config import Settings
from services.common.worker import Handler, WorkerRuntime

__all__ = ["handler", "serve"]


def handler(settings: Settings) -> Handler:
    """The bundle regenerator's handler (also what a guarded child process builds)."""
    return BundleRegenerator(settings).handle


def serve(settings: Settings) -> None:
    """Consume the bundle regenerator's work items until SIGTERM/SIGINT."""
    WorkerRuntime(settings, "bundle", handler(settings), guarded=handler).serve_forever()
