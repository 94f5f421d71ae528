"""``iib serve gateway``: Envoy (the REST facade) and the ext_authz identity service."""

from __future__ import annotations

from services.common.config import Settings
from services.common.errors import IIBError
from services.common.processes import StopSignals
from services.gateway.server import Gateway

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    """Run the gateway until SIGTERM/SIGINT; raise when Envoy exits on its own."""
    gateway = Gateway(settings, settings.var_dir / "gateway")
    stopped = StopSignals()
    gateway.start()
    try:
        while not stopped.wait(1.0):
            if gateway.envoy is not None and not gateway.envoy.running():
                raise IIBError(f"envoy exited; see {gateway.envoy.log_path}")
    finally:
        gateway.stop()
