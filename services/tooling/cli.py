"""The ``iib`` command.

::

    iib serve request-store      the request store (gRPC: iib.v1.Builds, iib.v1.RequestStore)
    iib serve gateway            Envoy's REST facade + the ext_authz auth service
    iib serve index-builder      the worker that builds index images
    iib serve bundle-regenerator the worker for regenerate-bundle and recursive-related-bundles
    iib dev                      every service and the servers they need, on embedded defaults
    iib demo                     push fixture images and build an index through the REST API
    iib queues                   pending and in-flight work per queue
    iib builds get|watch <id>    a build through the typed API (watch: live, with step times)
    iib db upgrade               migrate the database to the newest schema
    iib db import-iib --from URL copy an IIB 9.5 database's requests (docs/migrating-from-iib.md)
    iib secrets-key              print a new IIB_SECRETS_KEY
    iib settings                 list every setting with its default
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from services.common.config import describe_settings, load_settings
from services.common.errors import IIBError
from services.common.logs import configure_logging
from services.common.telemetry import setup_telemetry
from services.tooling.components import SERVICES, service_named

log = logging.getLogger("iib")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="iib", description="IIB Image Builder")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=[s.name for s in SERVICES])
    dev = sub.add_parser("dev", help="run the whole system on embedded defaults")
    dev.add_argument("--var-dir", type=Path, default=None, help="runtime directory (default var/)")
    demo = sub.add_parser("demo", help="push fixture images, build an index through the API")
    demo.add_argument("--var-dir", type=Path, default=None, help="runtime directory (default var/)")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "import-iib"])
    db.add_argument(
        "--from", dest="source", help="import-iib: IIB's database, postgresql://user@host/iib"
    )
    db.add_argument(
        "--chunk", type=int, default=500, help="import-iib: requests per transaction (500)"
    )
    db.add_argument(
        "--fail-in-progress",
        action="store_true",
        help="import-iib: import the requests IIB had not finished as failed",
    )
    sub.add_parser("queues", help="pending and in-flight work per queue")
    builds = sub.add_parser("builds", help="a build through the typed gRPC API")
    builds.add_argument("action", choices=["get", "watch"])
    builds.add_argument("id", type=int, help="the build (request) id")
    builds.add_argument("--address", help="the gateway's host:port (default IIB_GATEWAY_LISTEN)")
    builds.add_argument("--cacert", type=Path, help="the gateway's certificate or its CA (PEM)")
    builds.add_argument("--json", action="store_true", help="get: the Build message as JSON")
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
            from services.tooling.dev import run_dev

            return run_dev(args.var_dir)
        if args.command == "demo":
            from services.tooling.demo.run import run_demo

            return run_demo(args.var_dir)
        settings = load_settings()
        service = service_named(args.service) if args.command == "serve" else None
        worker = service is not None and service.worker
        configure_logging(
            settings,
            args.service if args.command == "serve" else "iib",
            capture_level=settings.request_logs_level if worker else None,
        )
        if args.command != "serve":
            logging.getLogger().setLevel("WARNING")
        if args.command == "builds":
            from services.tooling.builds_cli import run_builds

            return run_builds(
                settings,
                args.action,
                args.id,
                address=args.address,
                cacert=args.cacert,
                as_json=args.json,
            )
        if args.command == "queues":
            import os

            from services.tooling.queues_report import print_queues
            from services.tooling.servers.nats import cli_credentials

            if not settings.nats_user and not settings.nats_creds_file:
                # next to iib dev: its NATS requires a user; take the CLI's
                settings = load_settings({**cli_credentials(settings.var_dir), **os.environ})
            return print_queues(settings)
        if args.command == "db":
            from services.request_store.db import upgrade
            from services.request_store.store import make_engine

            if args.action == "import-iib" and not args.source:
                parser.error("import-iib needs --from postgresql://...")
            engine = make_engine(settings.database_uri)
            upgrade(engine)
            if args.action == "import-iib":
                from services.tooling.iib_import_cli import run_import

                return run_import(args.source, engine, args.chunk, args.fail_in_progress)
            print("database is at the newest schema")
            return 0
        assert service is not None
        serve_function = service.serve_function()
        setup_telemetry(settings, service.name)
        from services.common.metrics import start_ops_server

        start_ops_server(
            settings,
            ready=service.ready(settings) if service.ready is not None else None,
            collectors=service.collectors(settings) if service.collectors is not None else (),
        )
        serve_function(settings)
        return 0
    except IIBError as exc:
        print(f"iib: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
