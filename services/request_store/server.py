"""Assembly of the request store process: database, artifacts, outbox, gRPC services."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from services.common.artifacts import artifact_store
from services.common.config import Settings
from services.common.grpc_server import GrpcServer
from services.common.pb.iib.builds.v1 import build_service_pb2_grpc
from services.common.pb.iib.v1 import builds_pb2_grpc, requests_pb2_grpc
from services.common.processes import StopSignals, stop_children
from services.common.secrets import SecretBox
from services.request_store.build_service import BuildServiceServicer, DashboardServicer
from services.request_store.db import upgrade
from services.request_store.docs import DocsServicer
from services.request_store.outbox import OutboxPlanner
from services.request_store.service import (
    BuildsServicer,
    RequestStoreCore,
    RequestStoreServicer,
    settings_public_url,
)
from services.request_store.store import Store, make_engine

__all__ = ["build_core", "build_server"]

log = logging.getLogger(__name__)


def build_core(settings: Settings, *, migrate: bool = True) -> RequestStoreCore:
    """The request store's core over the configured database (migrated to the newest schema)."""
    engine = make_engine(
        settings.database_uri,
        # the calls running at once (IIB_GRPC_CONCURRENCY), the relay and the UMB publisher;
        # make_engine allows a few more on demand
        pool_size=min(settings.grpc_workers, settings.grpc_concurrency) + 2,
        statement_timeout=settings.database_statement_timeout,
    )
    if migrate:
        upgrade(engine)
    store = Store(engine, SecretBox(settings.secret_keys()), prepare=settings.database_prepare)
    core = RequestStoreCore(settings, store, artifact_store(settings))
    store.outbox_builder = OutboxPlanner(
        store,
        core.render_context(settings_public_url(settings)),
        settings.messaging_build_state_destination,
        settings.messaging_batch_state_destination,
        amqp=settings.amqp_messaging,
    )
    return core


def build_server(core: RequestStoreCore, address: str | None = None) -> GrpcServer:
    """The gRPC server exposing ``iib.v1.Builds`` and ``iib.v1.RequestStore``."""
    settings = core.settings
    return GrpcServer.for_settings(
        settings,
        address or settings.request_store_listen,
        [
            (builds_pb2_grpc.add_BuildsServicer_to_server, BuildsServicer(core), "iib.v1.Builds"),
            (builds_pb2_grpc.add_DocsServicer_to_server, DocsServicer(), "iib.v1.Docs"),
            (
                requests_pb2_grpc.add_RequestStoreServicer_to_server,
                RequestStoreServicer(core),
                "iib.v1.RequestStore",
            ),
            (
                build_service_pb2_grpc.add_BuildServiceServicer_to_server,
                # half the server's threads at most wait in watch streams
                BuildServiceServicer(core, core.events, settings.grpc_workers // 2),
                "iib.builds.v1.BuildService",
            ),
            (
                build_service_pb2_grpc.add_DashboardServicer_to_server,
                DashboardServicer(),
                "iib.builds.v1.Dashboard",
            ),
        ],
    )


def serve(
    settings: Settings,
    *,
    migrate: bool = True,
    publish_umb: bool = True,
    relay_wake: tuple[int | None, int | None] = (None, None),
) -> None:
    """Serve the gRPC APIs and run the outbox relay (and, with AMQP ``IIB_MESSAGING_URLS``
    and ``publish_umb``, the UMB publisher) until SIGTERM/SIGINT.

    ``relay_wake`` is (read fd, write fd) of the pipe of ``serve_processes``: the process
    holding the read end runs the relay (and is woken through it), the others only write a
    byte to it after each commit that wrote outbox rows.
    """
    from services.request_store.events import EventBridge
    from services.request_store.relay import OutboxRelay
    from services.request_store.umb import UmbPublisher

    core = build_core(settings, migrate=migrate)
    wake_read, wake_write = relay_wake
    relay: OutboxRelay | None = None
    if wake_write is not None:
        core.store.on_outbox = _pipe_poker(wake_write)
    else:
        relay = OutboxRelay(settings, core.store, wake_fd=wake_read)
        relay.start()
    bridge = EventBridge(settings, core.events)
    bridge.start()
    stoppers = [bridge.stop] if relay is None else [relay.stop, bridge.stop]
    if settings.amqp_messaging and publish_umb:
        umb = UmbPublisher(settings, core.store)
        umb.start()
        stoppers.append(umb.stop)

        wake_relay = core.store.on_outbox

        def wake_both() -> None:
            if wake_relay is not None:
                wake_relay()
            umb.wake()

        core.store.on_outbox = wake_both

    def stop() -> None:
        # side by side: each waits for its own thread (the relay up to 10 s), and together
        # they must end within the parent's STOP_GRACE
        threads = [threading.Thread(target=stopper) for stopper in stoppers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    build_server(core).serve_forever(on_stop=stop)


def _pipe_poker(fd: int) -> Callable[[], None]:
    import os

    os.set_blocking(fd, False)

    def poke() -> None:
        try:
            os.write(fd, b"\0")
        except (BlockingIOError, BrokenPipeError):
            pass  # a full pipe wakes the relay anyway; without a reader the parent stops us

    return poke


def _serve_child(settings: Settings, first: bool, wake: Any) -> None:
    from services.common.logs import configure_logging
    from services.common.telemetry import setup_telemetry

    configure_logging(settings, "request-store")
    setup_telemetry(settings, "request-store")
    # the first process runs the relay and sends to the AMQP broker (several would publish
    # every message several times); the others wake it through the pipe
    fd = wake.fileno()
    serve(
        settings,
        migrate=False,
        publish_umb=first,
        relay_wake=(fd, None) if first else (None, fd),
    )


#: seconds the processes of ``serve_processes`` have, in all, to stop before they are killed
#: (a process's own stop takes at most ~15 s: 5 s for the calls in flight, then up to 10 s for
#: the relay's and the UMB publisher's threads)
STOP_GRACE = 20.0

#: ``IIB_REQUEST_STORE_PROCESSES=0`` uses at most this many processes
AUTO_PROCESSES_MAX = 4


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, bounded by a cgroup v2 CPU quota
    (``cpu.max``, as a container's CPU limit sets it), rounded up."""
    import math
    import os

    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def store_processes(settings: Settings) -> int:
    """How many processes serve the request store: ``IIB_REQUEST_STORE_PROCESSES``, or with 0
    one per usable core, at most :data:`AUTO_PROCESSES_MAX`."""
    if settings.request_store_processes > 0:
        return settings.request_store_processes
    return min(usable_cores(), AUTO_PROCESSES_MAX)


def serve_processes(settings: Settings, processes: int) -> None:
    """Serve with ``processes`` processes sharing the port (SO_REUSEPORT).

    Python runs one thread at a time per process (the GIL); several processes use several
    cores: on 2 cores GET /builds/<id> went from ~1,100 to ~1,600 requests/s with 2 processes
    (docs/benchmarks.md). The schema is migrated once, before the children start.
    """
    import multiprocessing

    upgrade(make_engine(settings.database_uri, pool_size=1))
    ctx = multiprocessing.get_context("spawn")
    wake_read, wake_write = ctx.Pipe(duplex=False)
    children = [
        ctx.Process(
            target=_serve_child,
            args=(settings, n == 0, wake_read if n == 0 else wake_write),
            name=f"request-store-{n}",
        )
        for n in range(processes)
    ]
    stopped = StopSignals()
    try:
        for child in children:
            child.start()
        while not stopped.wait(1.0):
            if any(not child.is_alive() for child in children):
                # a child that got the stop signal first is not a failure
                if stopped.wait(2.0):
                    break
                raise SystemExit("a request store process exited; stopping the others")
    finally:
        killed = stop_children(children, STOP_GRACE)
        if killed:
            log.warning(
                "request store processes did not stop in time; killed them",
                extra={"processes": killed},
            )
