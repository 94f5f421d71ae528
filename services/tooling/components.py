"""The one list of the system's services: what ``iib serve <name>`` runs and ``iib dev`` starts.

Each service is a module with ``serve(settings)``. The module is imported when the service is
run; a service whose module (or one of its dependencies) cannot be imported is an error that
names it, never a service that silently disappears.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.registry import Collector

from services.common.config import Settings
from services.common.errors import ConfigError
from services.common.processes import http_ok, tcp_open

__all__ = ["SERVICES", "Service", "service_named"]


def _listening(address: str) -> Callable[[], bool]:
    host, _, port = address.rpartition(":")
    return lambda: tcp_open(host or "127.0.0.1", int(port))


def _store_collectors(settings: Settings) -> list[Collector]:
    """The request store's queue and outbox view (its own connection to the database)."""
    from services.request_store.metrics import StoreCollector
    from services.request_store.store import make_engine

    return [StoreCollector(make_engine(settings.database_uri, pool_size=1))]


@dataclass(frozen=True)
class Service:
    """A service: its ``iib serve`` name, its module, and whether it consumes work items."""

    name: str
    module: str
    worker: bool = False
    #: How ``iib dev`` knows the started process is ready to serve (None: once it runs); also
    #: the service's ``/readyz`` check.
    ready: Callable[[Settings], Callable[[], bool]] | None = None
    #: Prometheus collectors the service adds to its ``/metrics`` (services.common.metrics).
    collectors: Callable[[Settings], list[Collector]] | None = None

    def serve_function(self) -> Callable[[Settings], None]:
        """The module's ``serve``; a missing module or dependency raises, naming the service."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise ConfigError(
                f"the {self.name} service cannot start: importing {self.module} failed: {exc}"
            ) from exc
        serve: Callable[[Settings], None] = module.serve
        return serve


SERVICES: tuple[Service, ...] = (
    Service(
        "request-store",
        "services.request_store.main",
        ready=lambda s: _listening(s.request_store_listen),
        collectors=lambda s: _store_collectors(s),
    ),
    Service(
        "gateway",
        "services.gateway.main",
        ready=lambda s: lambda: http_ok(f"http://127.0.0.1:{s.gateway_admin_port}/ready"),
    ),
    Service("gating", "services.gating.main", ready=lambda s: _listening(s.gating_listen)),
    Service("index-builder", "services.index_builder.main", worker=True),
    Service("bundle-regenerator", "services.bundle_regenerator.main", worker=True),
)


def service_named(name: str) -> Service:
    """The service called ``name``."""
    for service in SERVICES:
        if service.name == name:
            return service
    raise ConfigError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")
