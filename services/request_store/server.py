"""Assembly of the request store process: database, artifacts, outbox, gRPC services."""

from __future__ import annotations

from services.common.artifacts import artifact_store
from services.common.config import Settings
from services.common.grpc_server import GrpcServer
from services.common.pb.iib.v1 import builds_pb2_grpc, requests_pb2_grpc
from services.common.secrets import SecretBox
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


def build_core(settings: Settings, *, migrate: bool = True) -> RequestStoreCore:
    """The request store's core over the configured database (migrated to the newest schema)."""
    engine = make_engine(
        settings.database_uri,
        pool_size=settings.grpc_workers,
        statement_timeout=settings.database_statement_timeout,
    )
    if migrate:
        upgrade(engine)
    store = Store(engine, SecretBox(settings.secret_keys()))
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
        ],
    )


def serve(settings: Settings, *, migrate: bool = True, publish_umb: bool = True) -> None:
    """Serve the gRPC APIs and run the outbox relay (and, with AMQP ``IIB_MESSAGING_URLS``
    and ``publish_umb``, the UMB publisher) until SIGTERM/SIGINT."""
    from services.request_store.relay import OutboxRelay
    from services.request_store.umb import UmbPublisher

    core = build_core(settings, migrate=migrate)
    relay = OutboxRelay(settings, core.store)
    relay.start()
    stoppers = [relay.stop]
    if settings.amqp_messaging and publish_umb:
        umb = UmbPublisher(settings, core.store)
        umb.start()
        stoppers.append(umb.stop)

        def wake_both() -> None:
            relay.wake()
            umb.wake()

        core.store.on_outbox = wake_both

    def stop() -> None:
        for stopper in stoppers:
            stopper()

    build_server(core).serve_forever(on_stop=stop)


def _serve_child(settings: Settings, publish_umb: bool = True) -> None:
    from services.common.logs import configure_logging
    from services.common.telemetry import setup_telemetry

    configure_logging(settings, "request-store")
    setup_telemetry(settings, "request-store")
    serve(settings, migrate=False, publish_umb=publish_umb)


def serve_processes(settings: Settings) -> None:
    """Serve with ``IIB_REQUEST_STORE_PROCESSES`` processes sharing the port (SO_REUSEPORT).

    Python serves one call at a time per process (the GIL); several processes use several
    cores. The schema is migrated once, before the children start.
    """
    import multiprocessing
    import signal
    import threading

    upgrade(make_engine(settings.database_uri, pool_size=1))
    ctx = multiprocessing.get_context("spawn")
    children = [
        # one process sends to the AMQP broker (several would send each message several times)
        ctx.Process(target=_serve_child, args=(settings, n == 0), name=f"request-store-{n}")
        for n in range(settings.request_store_processes)
    ]
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    for child in children:
        child.start()
    try:
        while not stopped.wait(1.0):
            if any(not child.is_alive() for child in children):
                raise SystemExit("a request store process exited; stopping the others")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(10)
