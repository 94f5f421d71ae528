"""Building and running the project's gRPC servers the same way everywhere.

Each server gets the error-translating interceptor, the standard health service, reflection and
OpenTelemetry instrumentation, and stops gracefully on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.errors import ExternalServiceError
from services.common.grpc_edge import ErrorInterceptor

__all__ = ["GrpcServer", "channel"]

log = logging.getLogger(__name__)
MAX_MESSAGE = 64 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]


def channel(address: str) -> grpc.Channel:
    """An insecure channel to one of our services (loopback or a private network)."""
    return grpc.insecure_channel(address, options=_OPTIONS)


class GrpcServer:
    """A gRPC server with our interceptor, health and reflection."""

    def __init__(
        self,
        address: str,
        register: Sequence[tuple[Callable[[Any, grpc.Server], None], Any, str]],
        workers: int = 16,
    ) -> None:
        """``register`` holds (add_XServicer_to_server, servicer, full service name)."""
        self.address = address
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
            interceptors=[ErrorInterceptor()],
            options=_OPTIONS,
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        for add, servicer, name in register:
            add(servicer, self.server)
            names.append(name)
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        names.append(reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise ExternalServiceError(f"cannot listen on {address} (address in use?)")

    def start(self) -> None:
        self.server.start()
        log.info("gRPC server listening", extra={"address": self.address})

    def stop(self, grace: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()

    def serve_forever(self, on_stop: Callable[[], None] | None = None) -> None:
        """Start, then block until SIGTERM/SIGINT; stop gracefully."""
        stopped = threading.Event()

        def _signal(signum: int, _frame: Any) -> None:
            log.info("stopping on signal", extra={"signal": signum})
            stopped.set()

        signal.signal(signal.SIGTERM, _signal)
        signal.signal(signal.SIGINT, _signal)
        self.start()
        stopped.wait()
        if on_stop is not None:
            on_stop()
        self.stop()
