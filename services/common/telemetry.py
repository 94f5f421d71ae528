"""OpenTelemetry for every gRPC server and client (opentelemetry-instrumentation-grpc), and the
W3C trace context across NATS.

Instrumentation is always installed, so trace context propagates between services; spans are
exported only when ``IIB_OTEL_TRACING`` is true or an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set
(OTLP over HTTP). Without an exporter the SDK is not installed and the API is a no-op.

A work item carries the context of the call that created its request: the request store writes
the current ``traceparent`` (and ``tracestate``) into the outbox row's headers
(:func:`trace_headers`), the relay publishes them as NATS message headers, and the worker
starts its build span as their child (:func:`context_from`), so one trace runs from the
gateway through the request store, NATS and the worker to the registry calls.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.config import Settings

__all__ = [
    "context_from",
    "flush",
    "otlp_traces_endpoint",
    "setup_telemetry",
    "trace_headers",
    "tracer",
]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_done = False


def exporter_configured(settings: Settings) -> bool:
    return settings.otel_tracing or any(
        os.environ.get(k)
        for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def otlp_traces_endpoint(settings: Settings) -> str | None:
    """Where spans go over OTLP/HTTP (the OTel SDK's own rule: the traces endpoint as given,
    else ``<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces``); None when not exporting."""
    if not exporter_configured(settings):
        return None
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return base.rstrip("/") + "/v1/traces"


def setup_telemetry(settings: Settings, service_name: str) -> None:
    """Instrument gRPC servers and clients once per process; export spans if configured."""
    global _done
    with _lock:
        if _done:
            return
        _done = True
        from opentelemetry.instrumentation.grpc import (
            GrpcInstrumentorClient,
            GrpcInstrumentorServer,
        )

        if exporter_configured(settings):
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            name = os.environ.get("OTEL_SERVICE_NAME") or f"iib-{service_name}"
            provider = TracerProvider(resource=Resource.create({"service.name": name}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            log.info("exporting traces over OTLP", extra={"otel_service": name})
        GrpcInstrumentorServer().instrument()  # type: ignore[no-untyped-call]
        GrpcInstrumentorClient().instrument()  # type: ignore[no-untyped-call]


_PROPAGATOR = TraceContextTextMapPropagator()


def tracer(name: str) -> trace.Tracer:
    """The tracer of module ``name`` (a no-op one when nothing is exported)."""
    return trace.get_tracer(name)


def trace_headers() -> dict[str, str]:
    """The current span's W3C trace context as message headers (``traceparent``,
    ``tracestate``); empty when there is no recording span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by message ``headers`` (an empty context when none)."""
    wanted = {k.lower(): v for k, v in (headers or {}).items() if k.lower() in _FIELDS}
    return _PROPAGATOR.extract(wanted)


_FIELDS = frozenset(_PROPAGATOR.fields)


def flush(timeout_ms: int = 5000) -> None:
    """Export the spans still buffered (before a process ends with ``os._exit``)."""
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush(timeout_ms)
