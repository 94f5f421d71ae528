"""``iib serve request-store``: the request store (one process, or several on one port)."""

from __future__ import annotations

from services.common.config import Settings
from services.request_store.server import serve as serve_one
from services.request_store.server import serve_processes, store_processes

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    """Serve ``iib.v1.Builds`` and ``iib.v1.RequestStore`` until SIGTERM/SIGINT, in
    ``IIB_REQUEST_STORE_PROCESSES`` processes."""
    processes = store_processes(settings)
    if processes > 1:
        serve_processes(settings, processes)
    else:
        serve_one(settings)
