"""OpenTelemetry for every gRPC server and client (opentelemetry-instrumentation-grpc).

Instrumentation is always installed, so trace context propagates between services; spans are
exported only when ``IIB_OTEL_TRACING`` is true or an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set
(OTLP over HTTP). Without an exporter the SDK is not installed and the API is a no-op.
"""

from __future__ import annotations

import logging
import os
import threading

from services.common.config import Settings

__all__ = ["setup_telemetry"]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_done = False


def exporter_configured(settings: Settings) -> bool:
    return settings.otel_tracing or any(
        os.environ.get(k)
        for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


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
