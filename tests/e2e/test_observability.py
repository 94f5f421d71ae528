"""One trace per request and the services' /metrics, through the real stack.

Real processes: nats-server, the request store, the gateway (Envoy + auth service), gating and
the index builder, each with its own ``IIB_METRICS_LISTEN``; a docker-registry behind a fault
proxy that refuses the binary image's manifest once (503); an OTLP/HTTP receiver in the test.

An add request is submitted through Envoy with a W3C ``traceparent``. The spans of every
service must share its trace id: Envoy's, the request store's ``CreateAddRequest``, the index
builder's build span (whose parent is ``CreateAddRequest``'s span: the context crossed NATS in
the work item's headers), one span per step the request log lists, and the registry calls.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.common.processes import ManagedProcess, free_port, http_ok, tcp_open
from services.common.registry.client import RegistryClient
from services.common.registry.images import ImageService
from services.tooling.demo import images as fixture_images
from services.tooling.servers.registry import start_registry
from tests.common.dispatch.conftest import System
from tests.common.otlp import OtlpCollector, running_collector
from tests.common.registry.faultproxy import FaultProxy
from tests.common.registry.helpers import fast_settings
from tests.conftest import REPO
from tests.pki import tls_env

pytestmark = [pytest.mark.db, pytest.mark.slow]

TRACE_ID = "5a1e0c3f9d2b4e6f8a7b6c5d4e3f2a1b"
CLIENT_SPAN = "1122334455667788"


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    yield from running_collector()


def _metrics(port: int) -> dict[str, Any]:
    """Family name -> {(sample name, sorted labels): value} of a /metrics page."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        samples = out.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float | None:
    return families.get(family, {}).get((sample, tuple(sorted(labels.items()))))


def _ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[str]:
    names = []
    while span["parent_id"] in by_id:
        span = by_id[span["parent_id"]]
        names.append(span["name"])
    return names


def test_one_trace_spans_gateway_store_nats_worker_and_registry_and_metrics_answer(
    tmp_path: Path, new_database_url: Any, collector: OtlpCollector
) -> None:
    registry = start_registry(tmp_path / "registry")
    proxy = FaultProxy(registry.registry).start()
    ports = {name: free_port() for name in ("store", "gateway", "gating", "builder")}
    gateway_listen = f"127.0.0.1:{free_port()}"
    admin_port = free_port()
    gating = f"127.0.0.1:{free_port()}"
    hosts = [registry.registry, proxy.registry]
    processes: list[ManagedProcess] = []
    system = None
    try:
        system = System(
            tmp_path / "system",
            new_database_url(),
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "IIB_METRICS_LISTEN": f"127.0.0.1:{ports['store']}",
                "IIB_REGISTRY": registry.registry,
                "IIB_INSECURE_REGISTRIES": json.dumps(hosts),
                "IIB_ALLOWED_REGISTRIES": json.dumps(hosts),
                "IIB_REQUEST_LOGS_DIR": str(tmp_path / "request-logs"),
                "IIB_RETRY_DELAY": "0.1",
                "IIB_RETRY_JITTER": "0.1",
                "IIB_RETRY_MULTIPLIER": "0.1",
                "IIB_TOTAL_ATTEMPTS": "3",
                "IIB_WORK_ACK_WAIT": "30",
                "IIB_AUTH_TRUSTED_HEADER": "X-Remote-User",
                "IIB_AUTH_SERVICE_LISTEN": f"127.0.0.1:{free_port()}",
                "IIB_GATING_LISTEN": gating,
                "IIB_GATING_ADDRESS": gating,
                "IIB_GATEWAY_LISTEN": gateway_listen,
                "IIB_GATEWAY_ADMIN_PORT": str(admin_port),
                "IIB_VAR_DIR": str(tmp_path / "var"),
            },
        )

        def start(name: str, metrics_port: int, ready: Any = None, **env: str) -> None:
            proc = ManagedProcess(
                name,
                [sys.executable, "-m", "services.tooling.cli", "serve", name],
                tmp_path / f"{name}.log",
                env={
                    **system.env,
                    **tls_env(name),
                    **env,
                    "IIB_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
                },
                cwd=REPO,
            )
            proc.start(ready=ready, timeout=60)
            processes.append(proc)

        start(
            "gateway",
            ports["gateway"],
            lambda: http_ok(f"http://127.0.0.1:{admin_port}/ready"),
        )
        host, _, port = gating.rpartition(":")
        start("gating", ports["gating"], lambda: tcp_open(host, int(port)))

        images = ImageService(RegistryClient(fast_settings(insecure_registries=frozenset(hosts))))
        bundle = fixture_images.push_fixture_bundles(images, registry.registry, packages=["keda"])[
            "keda"
        ][0]
        fixture_images.push_fake_binary_image(images, f"{registry.registry}/opm:v1", ["amd64"])
        # the builder's first read of the binary image's manifest gets a 503: one retry
        fault = proxy.add("GET", r"^/v2/opm/manifests/", status=503)

        # submitted while no index builder runs: the store's view shows it waiting
        http = requests.Session()
        http.trust_env = False
        resp = http.post(
            f"http://{gateway_listen}/api/v1/builds/add",
            json={
                "bundles": [bundle],
                "binary_image": f"{proxy.registry}/opm:v1",
                "add_arches": ["amd64"],
            },
            headers={
                "X-Remote-User": "tester@EXAMPLE.COM",
                "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01",
            },
            timeout=60,
        )
        assert resp.status_code == 201, resp.text
        rid = int(resp.json()["id"])
        deadline = time.monotonic() + 30
        store: dict[str, Any] = {}
        while time.monotonic() < deadline:
            store = _metrics(ports["store"])
            if _value(store, "iib_outbox_backlog", "iib_outbox_backlog", kind="work") is None:
                break  # the work item is published
            time.sleep(0.2)
        labels = {"service": "index", "queue": "default"}
        assert _value(store, "iib_queue_depth", "iib_queue_depth", **labels) == 1, store
        assert _value(store, "iib_queue_in_flight", "iib_queue_in_flight", **labels) == 0
        age = _value(
            store, "iib_queue_oldest_age_seconds", "iib_queue_oldest_age_seconds", **labels
        )
        assert age is not None and 0 <= age < 60
        assert _value(store, "iib_outbox_dead_letters", "iib_outbox_dead_letters") == 0
        assert _value(store, "iib_store_view_up", "iib_store_view_up") == 1
        assert requests.get(f"http://127.0.0.1:{ports['store']}/readyz", timeout=5).ok

        start("index-builder", ports["builder"], **system.nats.env("index-builder"))
        builder_ready = f"http://127.0.0.1:{ports['builder']}/readyz"
        deadline = time.monotonic() + 30
        while not http_ok(builder_ready):
            assert time.monotonic() < deadline, "the index builder never became ready"
            time.sleep(0.2)
        final = system.wait_final([rid], timeout=180)[rid]
        assert final["state"] == "complete", final["state_reason"]
        assert fault.hits == 1

        # --- metrics -------------------------------------------------------------------------
        add = {"service": "index", "request_type": "add", "outcome": "complete"}
        # the worker records the build once the request store has its final state: wait for it
        deadline = time.monotonic() + 15
        builder = _metrics(ports["builder"])
        while (
            _value(builder, "iib_build_duration_seconds", "iib_build_duration_seconds_count", **add)
            is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
            builder = _metrics(ports["builder"])
        assert (
            _value(builder, "iib_build_duration_seconds", "iib_build_duration_seconds_count", **add)
            == 1
        )
        assert (
            _value(
                builder,
                "iib_work_items",
                "iib_work_items_total",
                service="index",
                outcome="complete",
            )
            == 1
        )
        assert (
            _value(
                builder,
                "iib_registry_retries",
                "iib_registry_retries_total",
                registry=proxy.registry,
            )
            == fault.hits
        )
        log_text = http.get(f"http://{gateway_listen}/api/v1/builds/{rid}/logs", timeout=30).text
        match = re.search(r"Step durations: (.*) \(total", log_text)
        assert match, log_text[-2000:]
        steps = [part.rsplit(" ", 2)[0] for part in match.group(1).split(", ")]
        assert steps, match.group(0)
        for step in steps:
            count = _value(
                builder,
                "iib_build_step_duration_seconds",
                "iib_build_step_duration_seconds_count",
                request_type="add",
                step=step,
            )
            assert count is not None and count >= 1, (step, sorted(builder))
        store = _metrics(ports["store"])
        assert not _value(store, "iib_queue_depth", "iib_queue_depth", **labels)
        for other in (ports["gateway"], ports["gating"]):
            assert "process_cpu_seconds" in _metrics(other)
            assert requests.get(f"http://127.0.0.1:{other}/readyz", timeout=5).ok
            assert requests.get(f"http://127.0.0.1:{other}/healthz", timeout=5).ok

        # --- one trace -------------------------------------------------------------------------
        timed = set(steps)
        deadline = time.monotonic() + 30
        spans: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            spans = collector.trace(TRACE_ID)
            names = {s["name"] for s in spans}
            if (
                timed <= names
                and any(
                    s["service"] == "iib-gateway" and s["parent_id"] == CLIENT_SPAN for s in spans
                )
                and any(n.startswith("build ") for n in names)
            ):
                break
            time.sleep(0.3)
        by_id = {s["span_id"]: s for s in spans}
        services = {s["service"] for s in spans}
        assert {"iib-gateway", "iib-request-store", "iib-index-builder"} <= services, services
        # Envoy's span is the child of the client's, and the parent of the request store's
        ingress = [s for s in spans if s["parent_id"] == CLIENT_SPAN]
        assert [s["service"] for s in ingress] == ["iib-gateway"], "\n".join(
            f"{s['service']} {s['name']} {s['span_id']} <- {s['parent_id']}" for s in spans
        )
        create = [s for s in spans if s["name"] == "/iib.v1.Builds/CreateAddRequest"]
        assert len(create) == 1, spans
        assert ingress[0]["span_id"] in [create[0]["parent_id"], *_ids_above(create[0], by_id)]
        # across NATS: the build span's parent is the span that wrote the work item
        builds = [s for s in spans if s["name"] == "build add"]
        assert len(builds) == 1, [s["name"] for s in spans]
        assert builds[0]["service"] == "iib-index-builder"
        assert builds[0]["parent_id"] == create[0]["span_id"]
        # one span per step the request log lists, each under the build span
        for step in steps:
            step_spans = [s for s in spans if s["name"] == step]
            assert step_spans, (step, sorted({s["name"] for s in spans}))
            for span in step_spans:
                assert "build add" in _ancestors(span, by_id), (step, span)
        # registry calls, under the build span, the retried one among them
        registry_spans = [s for s in spans if s["name"].startswith("registry ")]
        assert any(s["name"] == "registry get the manifest of" for s in registry_spans)
        for span in registry_spans:
            assert "build add" in _ancestors(span, by_id), span
        # the worker's calls to the request store join the trace too
        assert any(
            s["name"] == "/iib.v1.RequestStore/UpdateJob" and s["service"] == "iib-request-store"
            for s in spans
        )
    finally:
        for proc in reversed(processes):
            proc.stop()
        if system is not None:
            system.close()
        proxy.stop()
        registry.stop()


def _ids_above(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[str]:
    ids = []
    while span["parent_id"] in by_id:
        ids.append(span["parent_id"])
        span = by_id[span["parent_id"]]
    return ids
