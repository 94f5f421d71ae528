"""The ``iib`` command.

::

    iib serve request-store      the request store (gRPC: iib.v1.Builds, iib.v1.RequestStore)
    iib serve gateway            Envoy's REST facade + the ext_authz auth service
    iib serve index-builder      the worker that builds index images
    iib serve bundle-regenerator the worker for regenerate-bundle and recursive-related-bundles
    iib dev                      every service and the servers they need, on embedded defaults
    iib demo                     push fixture images and build an index through the REST API
    iib queues                   pending and in-flight work per queue
    iib db upgrade               migrate the database to the newest schema
    iib secrets-key              print a new IIB_SECRETS_KEY
    iib settings                 list every setting with its default
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from services.common.config import Settings, describe_settings, load_settings
from services.common.errors import IIBError
from services.common.logs import configure_logging
from services.common.telemetry import setup_telemetry

log = logging.getLogger("iib")


def _serve_request_store(settings: Settings) -> None:
    from services.request_store.server import serve, serve_processes

    if settings.request_store_processes > 1:
        serve_processes(settings)
    else:
        serve(settings)


def _serve_gateway(settings: Settings) -> None:
    import signal
    import threading

    from services.gateway.server import Gateway

    gateway = Gateway(settings, settings.var_dir / "gateway")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    gateway.start()
    try:
        while not stopped.wait(1.0):
            if gateway.envoy is not None and not gateway.envoy.running():
                raise IIBError(f"envoy exited; see {gateway.envoy.log_path}")
    finally:
        gateway.stop()


SERVICES: dict[str, Callable[[Settings], None]] = {
    "request-store": _serve_request_store,
    "gateway": _serve_gateway,
}


def _register_worker_services() -> None:
    """Services added by later components register themselves here when importable."""
    import importlib

    for name, module in (
        ("index-builder", "services.index_builder.main"),
        ("bundle-regenerator", "services.bundle_regenerator.main"),
    ):
        try:
            SERVICES[name] = importlib.import_module(module).serve
        except ModuleNotFoundError:
            pass


def main(argv: list[str] | None = None) -> int:
    _register_worker_services()
    parser = argparse.ArgumentParser(prog="iib", description="IIB Image Builder")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=sorted(SERVICES))
    dev = sub.add_parser("dev", help="run the whole system on embedded defaults")
    dev.add_argument("--var-dir", type=Path, default=None, help="runtime directory (default var/)")
    demo = sub.add_parser("demo", help="push fixture images, build an index through the API")
    demo.add_argument("--var-dir", type=Path, default=None, help="runtime directory (default var/)")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    sub.add_parser("queues", help="pending and in-flight work per queue")
    sub.add_parser("secrets-key", help="print a new random IIB_SECRETS_KEY")
    sub.add_parser("settings", help="list every setting with its default")
    args = parser.parse_args(argv)

    try:
        if args.command == "secrets-key":
            from services.common.secrets import generate_key

            print(generate_key())
            return 0
        if args.command == "settings":
            for name, default, doc in describe_settings():
                print(f"{name} (default {default})\n    {doc}")
            return 0
        if args.command == "dev":
            from services.dev import run_dev

            return run_dev(args.var_dir)
        if args.command == "demo":
            from services.demo.run import run_demo

            return run_demo(args.var_dir)
        settings = load_settings()
        worker = args.command == "serve" and args.service in ("index-builder", "bundle-regenerator")
        configure_logging(
            settings,
            args.service if args.command == "serve" else "iib",
            capture_level=settings.request_logs_level if worker else None,
        )
        if args.command != "serve":
            logging.getLogger().setLevel("WARNING")
        if args.command == "queues":
            from services.common.queues_report import print_queues

            return print_queues(settings)
        if args.command == "db":
            from services.request_store.db import upgrade
            from services.request_store.store import make_engine

            upgrade(make_engine(settings.database_uri))
            print("database is at the newest schema")
            return 0
        setup_telemetry(settings, args.service)
        SERVICES[args.service](settings)
        return 0
    except IIBError as exc:
        print(f"iib: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
