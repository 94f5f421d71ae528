"""Building and running the project's gRPC servers the same way everywhere.

Each server gets mutual TLS and the per-method authorization of ``grpc_auth``, the
error-translating interceptor, the standard health service, reflection and OpenTelemetry
instrumentation, and stops gracefully on SIGTERM/SIGINT. :func:`channel` is the client side:
TLS with this process's certificate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.config import Settings
from services.common.errors import ExternalServiceError
from services.common.grpc_auth import (
    AuthorizationInterceptor,
    InternalTLS,
    MethodPolicy,
    default_policy,
    internal_tls,
)
from services.common.grpc_edge import ErrorInterceptor
from services.common.processes import StopSignals

__all__ = ["GrpcServer", "channel", "service_channel"]

log = logging.getLogger(__name__)
MAX_MESSAGE = 64 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]
#: seconds calls in flight may take to finish at a stop
_STOP_GRACE = 5.0


def channel(address: str, tls: InternalTLS | None) -> grpc.Channel:
    """A channel to one of our services: mutual TLS, or plaintext when ``tls`` is None
    (``IIB_INTERNAL_INSECURE``)."""
    if tls is None:
        return grpc.insecure_channel(address, options=_OPTIONS)
    return grpc.secure_channel(address, tls.channel_credentials(), options=_OPTIONS)


def service_channel(settings: Settings, address: str) -> grpc.Channel:
    """A channel to ``address`` with this process's internal TLS settings."""
    return channel(address, internal_tls(settings))


class Admission(grpc.ServerInterceptor):  # type: ignore[misc]
    """Let at most ``limit`` unary calls run Python at once; the others wait their turn.

    A sync gRPC server runs each call on a pool thread. With 16 of them busy, the threads
    fight for the GIL and the thread that polls the network waits behind them: measured on 2
    cores, GET /builds/<id> ran at 716 req/s with p99 119 ms with 16 threads running and at
    987 req/s with p99 33 ms with 4 (docs/benchmarks.md). Streaming calls (a watcher waiting for
    events) do not take a turn, so the pool can stay larger than the limit.
    """

    def __init__(self, limit: int) -> None:
        self._turns = threading.BoundedSemaphore(limit)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        turns = self._turns

        def admitted(request: Any, context: grpc.ServicerContext) -> Any:
            with turns:
                return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            admitted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """A gRPC server with our interceptor, health and reflection."""

    def __init__(
        self,
        address: str,
        register: Sequence[tuple[Callable[[Any, grpc.Server], None], Any, str]],
        workers: int = 16,
        *,
        tls: InternalTLS | None,
        policy: MethodPolicy | None = None,
        concurrency: int | None = None,
    ) -> None:
        """``register`` holds (add_XServicer_to_server, servicer, full service name). With
        ``tls`` the port requires client certificates and ``policy`` decides per method;
        without, it is plaintext and open (``IIB_INTERNAL_INSECURE``). ``concurrency`` bounds the
        unary calls running at once (:class:`Admission`; None: the pool's size)."""
        self.address = address
        interceptors: list[grpc.ServerInterceptor] = [ErrorInterceptor()]
        if tls is not None:
            interceptors.insert(0, AuthorizationInterceptor(policy or MethodPolicy({})))
        if concurrency is not None and concurrency < workers:
            interceptors.insert(0, Admission(concurrency))
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
            interceptors=interceptors,
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
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, tls.server_credentials())
        if self.port == 0:
            raise ExternalServiceError(f"cannot listen on {address} (address in use?)")

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        address: str,
        register: Sequence[tuple[Callable[[Any, grpc.Server], None], Any, str]],
    ) -> GrpcServer:
        """A server with the process's internal TLS and the project's method policy."""
        return cls(
            address,
            register,
            settings.grpc_workers,
            tls=internal_tls(settings),
            policy=default_policy(settings),
            concurrency=settings.grpc_concurrency,
        )

    def start(self) -> None:
        self.server.start()
        log.info("gRPC server listening", extra={"address": self.address})

    def stop(self, grace: float = _STOP_GRACE) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()

    def serve_forever(self, on_stop: Callable[[], None] | None = None) -> None:
        """Start, then block until SIGTERM/SIGINT (``StopSignals``: whichever thread the signal
        lands on); stop gracefully."""
        stopped = StopSignals()
        self.start()
        stopped.wait()
        log.info("stopping on signal", extra={"signal": stopped.received[0]})
        # new calls are refused from here on; the calls in flight finish, then the background
        # work (relay, change notifications, UMB) stops, with every commit made
        self.stop()
        if on_stop is not None:
            on_stop()
