"""``iib dev``: the whole system on one machine, on embedded defaults, stopped by Ctrl-C.

Everything lives under the var directory (``var/`` by default): the SQLite database, the
generated secrets key and self-signed TLS pair, artifact directories, server data and every
process's log. Settings you export yourself win over the embedded defaults.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from services.common.config import load_settings
from services.common.processes import ManagedProcess, StopSignals, http_ok
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


@dataclass
class _Child:
    """A supervised child: how to know it is ready, and its restart schedule."""

    process: ManagedProcess
    ready: Callable[[], bool] | None
    timeout: float = 60.0
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0


def _ports(env: dict[str, str]) -> list[tuple[str, int, str]]:
    """(host, port, what) of every port iib dev's children listen on."""
    settings = load_settings(env)
    nats = urlparse(settings.nats_urls[0])
    out = [
        ("127.0.0.1", nats.port or 4222, "nats-server"),
        ("127.0.0.1", settings.nats_monitor_port, "nats-server monitoring"),
    ]
    if settings.registry == DEV_REGISTRY:
        out.append(("127.0.0.1", int(DEV_REGISTRY.rpartition(":")[2]), "docker-registry"))
    for address, what in (
        (settings.request_store_listen, "the request store (IIB_REQUEST_STORE_LISTEN)"),
        (settings.gating_listen, "the gating service (IIB_GATING_LISTEN)"),
        (settings.auth_service_listen, "the gateway's auth service (IIB_AUTH_SERVICE_LISTEN)"),
        (settings.gateway_listen, "the gateway (IIB_GATEWAY_LISTEN)"),
    ):
        host, _, port = address.rpartition(":")
        out.append((host.strip("[]") or "127.0.0.1", int(port), what))
    out.append(("127.0.0.1", settings.gateway_admin_port, "Envoy's admin (IIB_GATEWAY_ADMIN_PORT)"))
    return out


def taken_ports(env: dict[str, str]) -> list[str]:
    """The ports iib dev needs that something else holds, described for the user."""
    taken = []
    for host, port, what in _ports(env):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                taken.append(f"{host}:{port} ({what})")
    return taken


def run_dev(var_dir: Path | None = None) -> int:
    """Start every component, print where things are, keep them running (a child that exits
    is restarted with backoff) and stop them all on Ctrl-C or SIGTERM."""
    var = (var_dir or Path(os.environ.get("IIB_VAR_DIR", "var"))).resolve()
    env = {**dev_defaults(var), **os.environ}
    env["IIB_VAR_DIR"] = str(var)
    taken = taken_ports(env)
    if taken:
        print(
            "iib dev: these ports are taken, nothing was started (another iib dev, or a "
            "leftover process: `ss -ltnp` names it):\n  " + "\n  ".join(taken),
            file=sys.stderr,
        )
        return 1
    stop = StopSignals()
    children: list[_Child] = []
    try:
        print("iib dev: starting nats-server ...", flush=True)
        nats = _start_nats(env, var)
        children.append(
            _Child(
                nats.process,
                lambda: http_ok(f"{nats.monitor}/healthz?js-enabled-only=true"),
                started_at=time.monotonic(),
            )
        )
        print("iib dev: starting docker-registry ...", flush=True)
        registry = _start_registry(env, var)
        if registry is not None:
            children.append(
                _Child(
                    registry,
                    lambda: http_ok(f"http://{DEV_REGISTRY}/v2/"),
                    started_at=time.monotonic(),
                )
            )
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
            children.append(
                _Child(proc, component.ready, component.timeout, started_at=time.monotonic())
            )
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
        while not stop.wait(0.5):
            for child in children:
                _supervise(child, stop)
        return 0
    except Exception as exc:
        print(f"iib dev: {exc}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            print(f"iib dev: stopping {child.process.name}", flush=True)
            child.process.stop()


#: Restart delays of a child that keeps exiting: 1 s, doubling up to 30 s; a child that ran for
#: a minute is forgiven its earlier exits.
_BACKOFF_START, _BACKOFF_MAX, _FORGIVE_AFTER = 1.0, 30.0, 60.0


def _supervise(child: _Child, stop: StopSignals) -> None:
    """Restart ``child`` (with backoff) when it has exited."""
    proc = child.process
    if proc.running() or stop.is_set():
        return
    now = time.monotonic()
    if child.next_start == 0.0:
        if now - child.started_at > _FORGIVE_AFTER:
            child.restarts = 0
        delay = min(_BACKOFF_START * 2**child.restarts, _BACKOFF_MAX)
        child.next_start = now + delay
        status = proc.proc.returncode if proc.proc is not None else "?"
        print(
            f"iib dev: {proc.name} exited (status {status}); restarting it in {delay:.0f} s. "
            f"Its log: {proc.log_path}",
            file=sys.stderr,
            flush=True,
        )
        return
    if now < child.next_start:
        return
    child.restarts += 1
    child.next_start = 0.0
    child.started_at = time.monotonic()
    try:
        proc.start(ready=child.ready, timeout=child.timeout)
        print(f"iib dev: {proc.name} restarted", flush=True)
    except Exception as exc:
        print(f"iib dev: {proc.name} did not restart: {exc}", file=sys.stderr, flush=True)
