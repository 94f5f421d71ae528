"""``iib serve gating``: the Gating gRPC service (Greenwave decisions)."""

from __future__ import annotations

from services.common.config import Settings
from services.common.grpc_server import GrpcServer
from services.common.pb.iib.v1 import gating_pb2_grpc
from services.gating.service import GatingServicer

__all__ = ["build_server", "serve"]


def build_server(settings: Settings, address: str | None = None) -> GrpcServer:
    """The gRPC server exposing ``iib.v1.Gating``."""
    return GrpcServer.for_settings(
        settings,
        address or settings.gating_listen,
        [(gating_pb2_grpc.add_GatingServicer_to_server, GatingServicer(settings), "iib.v1.Gating")],
    )


def serve(settings: Settings) -> None:
    """Serve ``iib.v1.Gating`` until SIGTERM/SIGINT."""
    build_server(settings).serve_forever()
