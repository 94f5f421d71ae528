"""OpenTelemetry: with an OTLP endpoint configured, the request store exports a span for every
gRPC call it serves, joined to the caller's trace (W3C ``traceparent``). The collector is a small
OTLP/HTTP receiver in the test."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from services.common.pb.iib.v1 import builds_pb2
from tests.common.dispatch.conftest import add_body

pytestmark = [pytest.mark.db, pytest.mark.slow]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class _Collector(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource_spans in export.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.server.spans.append(
                            {
                                "service": attributes.get("service.name"),
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                            }
                        )
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_request_store_exports_grpc_spans_joined_to_the_callers_trace(
    system_factory: Any, collector: _Collector
) -> None:
    system = system_factory(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    created = system.submit(add_body())
    system.builds.GetBuild(
        builds_pb2.GetBuildRequest(id=str(created["id"])),
        metadata=[("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01")],
        timeout=30,
    )
    deadline = time.monotonic() + 20
    joined: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not joined:
        with collector.lock:
            spans = list(collector.spans)
        joined = [s for s in spans if s["trace_id"] == TRACE_ID]
        time.sleep(0.1)
    names = {s["name"] for s in spans}
    assert "/iib.v1.Builds/CreateAddRequest" in names, names
    assert joined, spans
    assert joined[0]["name"] == "/iib.v1.Builds/GetBuild"
    assert joined[0]["parent_id"] == PARENT_ID
    assert joined[0]["service"] == "iib-request-store"
