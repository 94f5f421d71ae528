"""``iib serve bundle-regenerator``: the worker process that regenerates bundle images and
finds recursive related bundles."""

from __future__ import annotations

from services.bundle_regenerator.regenerator import BundleRegenerator
from services.common.config import Settings
from services.common.worker import WorkerRuntime

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    """Consume the bundle regenerator's work items until SIGTERM/SIGINT."""
    regenerator = BundleRegenerator(settings)
    WorkerRuntime(settings, "bundle", regenerator.handle).serve_forever()
