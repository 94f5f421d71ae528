"""Prometheus metrics and the health endpoints of every service (``IIB_METRICS_LISTEN``).

``iib serve <service>`` starts a small HTTP server on ``IIB_METRICS_LISTEN`` (when set) with:

* ``/metrics`` — the Prometheus text format (prometheus-client's default registry: the metrics
  below, the process's own ``process_*``/``python_*`` families, and the collectors a service
  adds, e.g. the request store's queue and outbox view);
* ``/healthz`` — 200 while the process serves (liveness);
* ``/readyz`` — 200 when the service can do its work (its port answers, the worker consumes
  from NATS...), 503 naming what is not ready (readiness).

The families defined here are observed where the work happens: the worker runtime (builds),
``StepTimer`` (build steps) and the registry client (retries). Their label values are bounded:
request types, step names and registry hosts (``IIB_ALLOWED_REGISTRIES``), never request ids.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

from services.common.config import Settings

__all__ = [
    "BUILD_DURATION",
    "REGISTRY_RETRIES",
    "STEP_DURATION",
    "WORK_ITEMS",
    "OpsServer",
    "build_labels",
    "clear_build_labels",
    "current_request_type",
    "set_state",
    "start_ops_server",
]

log = logging.getLogger(__name__)

#: Builds last from a fraction of a second (a scripted handler) to an hour (IIB's timeout).
_BUILD_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

BUILD_DURATION = Histogram(
    "iib_build_duration_seconds",
    "Time a worker spent on a request, from receiving its work item to its final state.",
    ["service", "request_type", "outcome"],
    buckets=_BUILD_BUCKETS,
)
STEP_DURATION = Histogram(
    "iib_build_step_duration_seconds",
    "Time of one step of a build (resolve, load catalog, render bundles, ...).",
    ["request_type", "step"],
    buckets=_STEP_BUCKETS,
)
REGISTRY_RETRIES = Counter(
    "iib_registry_retries",
    "Registry calls retried after a network error or a retryable status (429, 5xx).",
    ["registry"],
)
WORK_ITEMS = Counter(
    "iib_work_items",
    "Work items a worker finished with: complete, failed, skipped (already final), "
    "released (handed back), lost (its lease went to another worker).",
    ["service", "outcome"],
)

#: The request type (API name) of the build running in this context, for the step histogram.
_request_type: contextvars.ContextVar[str] = contextvars.ContextVar(
    "iib_request_type", default="unknown"
)


def build_labels(request_type: str) -> contextvars.Token[str]:
    """Label the steps timed in this context with ``request_type`` (the worker sets it)."""
    return _request_type.set(request_type)


def clear_build_labels(token: contextvars.Token[str]) -> None:
    """Undo :func:`build_labels`."""
    _request_type.reset(token)


def current_request_type() -> str:
    """The request type :func:`build_labels` set in this context (``unknown``: none)."""
    return _request_type.get()


# --- health ------------------------------------------------------------------------------------

_states: dict[str, bool] = {}
_states_lock = threading.Lock()


def set_state(name: str, ok: bool) -> None:
    """Record a readiness condition of this process (``nats``: the worker consumes)."""
    with _states_lock:
        _states[name] = ok


def _not_ready(check: Callable[[], bool] | None) -> list[str]:
    with _states_lock:
        failing = [name for name, ok in _states.items() if not ok]
    if check is not None:
        try:
            if not check():
                failing.append("service")
        except Exception as exc:  # a check that breaks means not ready
            failing.append(f"service ({type(exc).__name__})")
    return failing


class OpsServer(ThreadingHTTPServer):
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port, served from a daemon thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], ready: Callable[[], bool] | None) -> None:
        super().__init__(address, _Handler)
        self.ready = ready
        self.thread = threading.Thread(target=self.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: OpsServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            failing = _not_ready(self.server.ready)
            if failing:
                self._send(503, ("not ready: " + ", ".join(failing) + "\n").encode())
            else:
                self._send(200, b"ready\n")
        else:
            self._send(404, b"not found\n")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_ops_server(
    settings: Settings,
    *,
    ready: Callable[[], bool] | None = None,
    collectors: Iterable[Collector] = (),
) -> OpsServer | None:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``IIB_METRICS_LISTEN`` (None when
    unset). ``ready`` is the service's own readiness check; ``collectors`` are added to the
    default registry."""
    if not settings.metrics_listen:
        return None
    for collector in collectors:
        REGISTRY.register(collector)
    host, _, port = settings.metrics_listen.rpartition(":")
    server = OpsServer((host.strip("[]"), int(port)), ready)
    server.thread.start()
    log.info("metrics and health endpoints listening", extra={"address": settings.metrics_listen})
    return server
