"""``iib dev``: the whole system on one machine, on embedded defaults, stopped by Ctrl-C.

Everything lives under the var directory (``var/`` by default): the SQLite database, the
generated secrets key and self-signed TLS pair, artifact directories, server data and every
process's log. Settings you export yourself win over the embedded defaults.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from services.common.config import load_settings
from services.common.processes import ManagedProcess
from services.common.secrets import generate_key
from services.common.tls import ServicePKI, make_self_signed
from services.tooling.components import SERVICES
from services.tooling.servers.nats import CLI_NATS_USER, NatsServer, start_nats
from services.tooling.servers.registry import start_registry

__all__ = ["DEV_REGISTRY", "DevComponent", "dev_defaults", "run_dev"]

# The local docker-registry iib dev runs (plain HTTP on loopback) and pushes index images to.
DEV_REGISTRY = "127.0.0.1:5000"


@dataclass
class DevComponent:
    """One child process of ``iib dev``: how to start it and how to know it is ready."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    timeout: float = 60.0


def dev_defaults(var: Path) -> dict[str, str]:
    """Embedded default settings for ``iib dev`` (generating the key and TLS pair once)."""
    var.mkdir(parents=True, exist_ok=True)
    key_file = var / "secrets.key"
    if not key_file.exists():
        key_file.write_text(generate_key() + "\n")
        key_file.chmod(0o600)
    cert, key = var / "tls" / "server.crt", var / "tls" / "server.key"
    if not (cert.exists() and key.exists()):
        make_self_signed(cert, key)
    requests_dir = var / "requests"
    return {
        "IIB_VAR_DIR": str(var),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{(var / 'iib.db').resolve()}",
        "IIB_SECRETS_KEY_FILE": str(key_file.resolve()),
        "IIB_GATEWAY_TLS_CERT": str(cert.resolve()),
        "IIB_GATEWAY_TLS_KEY": str(key.resolve()),
        "IIB_REQUEST_LOGS_DIR": str((requests_dir / "logs").resolve()),
        "IIB_REQUEST_RELATED_BUNDLES_DIR": str((requests_dir / "related_bundles").resolve()),
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(
            (requests_dir / "recursive_related_bundles").resolve()
        ),
        "IIB_AUTH_TRUSTED_HEADER": "X-Remote-User",
        "IIB_WORKER_USERNAMES": '["iib-worker"]',
        "IIB_REGISTRY": DEV_REGISTRY,
        "IIB_INSECURE_REGISTRIES": f'["{DEV_REGISTRY}"]',
        # workers contact only the local registry unless told otherwise (SSRF)
        "IIB_ALLOWED_REGISTRIES": f'["{DEV_REGISTRY}"]',
    }


def _components(env: dict[str, str]) -> list[DevComponent]:
    settings = load_settings(env)
    iib = [sys.executable, "-m", "services.tooling.cli"]
    return [
        DevComponent(
            service.name,
            [*iib, "serve", service.name],
            service.ready(settings) if service.ready is not None else (lambda: True),
        )
        for service in SERVICES
    ]


#: NATS users of iib dev: the services that use NATS, and the CLI (``iib queues``).
NATS_USERS = ("request-store", CLI_NATS_USER)
NATS_WORKERS = tuple(service.name for service in SERVICES if service.worker)


def _start_nats(env: dict[str, str], var: Path) -> NatsServer:
    """nats-server with JetStream on the port of the first IIB_NATS_URLS entry, with a user
    and password per service (``var/nats/users.json``)."""
    settings = load_settings(env)
    url = urlparse(settings.nats_urls[0])
    if url.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(
            f"iib dev starts a local nats-server, but IIB_NATS_URLS points to {url.geturl()}"
        )
    return start_nats(
        var / "nats",
        port=url.port or 4222,
        monitor_port=settings.nats_monitor_port,
        users=NATS_USERS,
        workers=NATS_WORKERS,
    )


def _start_registry(env: dict[str, str], var: Path) -> ManagedProcess | None:
    """The local docker-registry, when IIB_REGISTRY is the dev default."""
    settings = load_settings(env)
    if settings.registry != DEV_REGISTRY:
        return None
    port = int(DEV_REGISTRY.rpartition(":")[2])
    return start_registry(var / "registry", port=port, log_level="warn").process


def run_dev(var_dir: Path | None = None) -> int:
    """Start every component, print where things are, and stop them all on Ctrl-C."""
    var = (var_dir or Path(os.environ.get("IIB_VAR_DIR", "var"))).resolve()
    env = {**dev_defaults(var), **os.environ}
    env["IIB_VAR_DIR"] = str(var)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started: list[ManagedProcess] = []
    try:
        print("iib dev: starting nats-server ...", flush=True)
        nats = _start_nats(env, var)
        started.append(nats.process)
        print("iib dev: starting docker-registry ...", flush=True)
        registry = _start_registry(env, var)
        if registry is not None:
            started.append(registry)
        pki = ServicePKI(var / "pki")
        for component in _components(env):
            proc = ManagedProcess(
                component.name,
                component.argv,
                var / "logs" / f"{component.name}.log",
                env={
                    **env,
                    **pki.env(component.name),
                    **(nats.env(component.name) if component.name in nats.users else {}),
                },
            )
            print(f"iib dev: starting {component.name} ...", flush=True)
            proc.start(ready=component.ready, timeout=component.timeout)
            started.append(proc)
        settings = load_settings(env)
        scheme = "https" if settings.gateway_tls_cert else "http"
        print(
            f"\niib dev: ready. REST API: {scheme}://{settings.gateway_listen}/api/v1/ "
            f"(docs at {scheme}://{settings.gateway_listen}/)\n"
            f"  TLS certificate: {settings.gateway_tls_cert}\n"
            f"  identity: send the header {settings.auth_trusted_header}: <user>\n"
            f"  NATS: {settings.nats_urls[0]} (monitoring http://127.0.0.1:{settings.nats_monitor_port})\n"
            f"  index images are pushed to: {settings.registry}\n"
            f"  logs: {var / 'logs'}\n  Ctrl-C stops everything.",
            flush=True,
        )
        while not stop.wait(1.0):
            for proc in started:
                if not proc.running():
                    print(
                        f"iib dev: {proc.name} exited; see {proc.log_path}:\n{proc.log_tail()}",
                        file=sys.stderr,
                    )
                    return 1
        return 0
    except Exception as exc:
        print(f"iib dev: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(started):
            print(f"iib dev: stopping {proc.name}", flush=True)
            proc.stop()
