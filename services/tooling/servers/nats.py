"""nats-server (Debian package) with JetStream, on loopback, for ``iib dev`` and the tests: one
server (:func:`start_nats`) or a JetStream cluster of several (:func:`start_nats_cluster`, the
nodes joined by routes; streams then take ``IIB_NATS_STREAM_REPLICAS`` replicas).

With ``users`` the server runs one account (``IIB``, JetStream enabled) with a user and password
per service: unauthenticated clients are refused, and no user may publish on the server's own
subjects (``$JS.EVENT.>`` advisories, ``$SYS.>``), so nobody can forge a max-deliveries advisory;
worker users may not publish work items (``iib.work.>``) either.
"""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, free_port, http_ok, wait_until

__all__ = [
    "CLI_NATS_USER",
    "NatsCluster",
    "NatsServer",
    "cli_credentials",
    "start_nats",
    "start_nats_cluster",
]

#: The NATS user of command-line tools (``iib queues``) next to ``iib dev``.
CLI_NATS_USER = "iib-cli"


@dataclass
class NatsServer:
    """A running nats-server: ``url`` for clients, ``monitor`` for /healthz, /jsz, /varz."""

    port: int
    monitor_port: int
    store_dir: Path
    process: ManagedProcess
    config: Path
    #: user name -> password (empty: no authentication)
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def env(self, user: str) -> dict[str, str]:
        """The ``IIB_NATS_*`` settings of a process connecting as ``user``."""
        if not self.users:
            return {"IIB_NATS_URLS": json.dumps([self.url])}
        return {
            "IIB_NATS_URLS": json.dumps([self.url]),
            "IIB_NATS_USER": user,
            "IIB_NATS_PASSWORD": self.users[user],
        }

    def start(self, timeout: float = 30.0) -> None:
        """(Re)start the server with the same configuration and store."""
        self.process.start(
            ready=lambda: http_ok(f"{self.monitor}/healthz?js-enabled-only=true"), timeout=timeout
        )

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()


@dataclass
class NatsCluster:
    """Nodes of one JetStream cluster; clients get every node's URL."""

    nodes: list[NatsServer]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def users(self) -> dict[str, str]:
        return self.nodes[0].users

    def env(self, user: str) -> dict[str, str]:
        """The ``IIB_NATS_*`` settings of a process connecting as ``user``, with every node and
        the streams replicated on every node."""
        env = {**self.nodes[0].env(user), "IIB_NATS_URLS": json.dumps(self.urls)}
        env["IIB_NATS_STREAM_REPLICAS"] = str(len(self.nodes))
        return env

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every node runs JetStream and the cluster has elected its meta leader."""
        wait_until(
            lambda: all(_meta_leader(node) for node in self.nodes if node.process.running()),
            timeout,
            "the NATS cluster's JetStream meta leader",
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _meta_leader(node: NatsServer) -> bool:
    try:
        with urllib.request.urlopen(f"{node.monitor}/jsz", timeout=1) as resp:
            info = json.load(resp)
    except (OSError, ValueError):
        return False
    return bool((info.get("meta_cluster") or {}).get("leader"))


def start_nats_cluster(
    base: Path,
    size: int = 3,
    *,
    users: Collection[str] = (),
    workers: Collection[str] = (),
    max_file_store: str = "1GB",
    max_memory_store: str = "64MB",
) -> NatsCluster:
    """``size`` nats-servers under ``base/n<i>`` joined into one JetStream cluster by routes on
    loopback, sharing one set of users (``base/users.json``); returns once the cluster has a
    meta leader. A node restarted with ``start()`` rejoins with its store."""
    binary = _binary()
    base.mkdir(parents=True, exist_ok=True)
    passwords = _passwords(base / "users.json", [*users, *workers])
    routes = [free_port() for _ in range(size)]
    nodes = []
    try:
        for n in range(size):
            node_base = base / f"n{n}"
            node_base.mkdir(parents=True, exist_ok=True)
            port, monitor_port = free_port(), free_port()
            cluster = (
                "cluster {\n"
                "  name: iib\n"
                f"  listen: 127.0.0.1:{routes[n]}\n"
                "  routes: ["
                + ", ".join(f'"nats-route://127.0.0.1:{r}"' for i, r in enumerate(routes) if i != n)
                + "]\n}\n"
            )
            config = node_base / "nats.conf"
            config.write_text(
                f"server_name: n{n}\n"
                + _config(
                    port,
                    monitor_port,
                    node_base / "store",
                    max_file_store,
                    max_memory_store,
                    None,
                    passwords,
                    set(workers),
                )
                + cluster
            )
            proc = ManagedProcess(
                f"nats-server-n{n}", [binary, "-c", str(config)], node_base / "nats.log"
            )
            node = NatsServer(port, monitor_port, node_base / "store", proc, config, passwords)
            # JetStream is enabled on a node only once it reaches the others: start all first
            proc.start()
            nodes.append(node)
        cluster_ = NatsCluster(nodes)
        for node in nodes:
            _wait_js(node)
        cluster_.wait_ready()
    except Exception:
        for node in nodes:
            node.stop()
        raise
    return cluster_


def _wait_js(node: NatsServer, timeout: float = 60.0) -> None:
    def ready() -> bool:
        return node.process.running() and http_ok(f"{node.monitor}/healthz?js-enabled-only=true")

    wait_until(ready, timeout, f"nats-server {node.process.name}")


def _binary() -> str:
    binary = shutil.which("nats-server")
    if binary is None:
        raise ExternalServiceError(
            "nats-server is not installed (Debian package nats-server; `make bootstrap` installs it)"
        )
    return binary


def _config(
    port: int,
    monitor_port: int,
    store: Path,
    max_file_store: str,
    max_memory_store: str,
    max_payload: int | None,
    passwords: dict[str, str],
    workers: set[str],
) -> str:
    return (
        f"listen: 127.0.0.1:{port}\n"
        f"http: 127.0.0.1:{monitor_port}\n"
        + (f"max_payload: {max_payload}\n" if max_payload else "")
        + "jetstream {\n"
        f'  store_dir: "{store}"\n'
        f"  max_memory_store: {max_memory_store}\n"
        f"  max_file_store: {max_file_store}\n"
        "}\n" + _accounts(passwords, workers)
    )


def start_nats(
    base: Path,
    port: int | None = None,
    monitor_port: int | None = None,
    *,
    max_file_store: str = "10GB",
    max_memory_store: str = "256MB",
    users: Collection[str] = (),
    workers: Collection[str] = (),
    max_payload: int | None = None,
) -> NatsServer:
    """Write a config under ``base`` and start nats-server with JetStream (file store in
    ``base/jetstream``). Limits are explicit because JetStream otherwise sizes itself from the
    machine. ``users`` (and ``workers``, users with narrower rights) get generated passwords,
    kept in ``base/users.json`` so a restart keeps them."""
    binary = _binary()
    port = port or free_port()
    monitor_port = monitor_port or free_port()
    base.mkdir(parents=True, exist_ok=True)
    store = base / "store"
    config = base / "nats.conf"
    passwords = _passwords(base / "users.json", [*users, *workers])
    config.write_text(
        _config(
            port,
            monitor_port,
            store,
            max_file_store,
            max_memory_store,
            max_payload,
            passwords,
            set(workers),
        )
    )
    proc = ManagedProcess("nats-server", [binary, "-c", str(config)], base / "nats.log")
    server = NatsServer(port, monitor_port, store, proc, config, passwords)
    server.start()
    return server


#: Subjects only the server itself publishes on.
_SERVER_SUBJECTS = ["$JS.EVENT.>", "$SYS.>"]


def _passwords(path: Path, names: list[str]) -> dict[str, str]:
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {name: known.get(name) or secrets.token_urlsafe(24) for name in names}
    if wanted and wanted != known:
        path.write_text(json.dumps(wanted, indent=2))
        path.chmod(0o600)
    return wanted


def _accounts(passwords: dict[str, str], workers: set[str]) -> str:
    if not passwords:
        return ""
    users = []
    for name, password in passwords.items():
        deny = _SERVER_SUBJECTS + (["iib.work.>"] if name in workers else [])
        users.append(
            f"      {{user: {json.dumps(name)}, password: {json.dumps(password)}, "
            f"permissions: {{publish: {{deny: {json.dumps(deny)}}}}}}}"
        )
    return (
        "accounts {\n  IIB {\n    jetstream: enabled\n    users: [\n"
        + ",\n".join(users)
        + "\n    ]\n  }\n}\n"
    )


def cli_credentials(var_dir: Path) -> dict[str, str]:
    """``IIB_NATS_USER``/``IIB_NATS_PASSWORD`` of the CLI user when ``iib dev`` runs NATS with
    users under ``var_dir`` (empty otherwise)."""
    path = var_dir / "nats" / "users.json"
    try:
        users = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    password = users.get(CLI_NATS_USER) if isinstance(users, dict) else None
    return {"IIB_NATS_USER": CLI_NATS_USER, "IIB_NATS_PASSWORD": password} if password else {}
