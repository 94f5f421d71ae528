"""OpenTelemetry: with an OTLP endpoint configured, the request store exports a span for every
gRPC call it serves, joined to the caller's trace (W3C ``traceparent``). The collector is a small
OTLP/HTTP receiver (tests/common/otlp.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from services.common.pb.iib.v1 import builds_pb2
from tests.common.dispatch.conftest import add_body
from tests.common.otlp import OtlpCollector, running_collector

pytestmark = [pytest.mark.db, pytest.mark.slow]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    yield from running_collector()


def test_request_store_exports_grpc_spans_joined_to_the_callers_trace(
    system_factory: Any, collector: OtlpCollector
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
