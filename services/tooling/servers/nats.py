"""nats-server (Debian package) with JetStream, on loopback, for ``iib dev`` and the tests.

With ``users`` the server runs one account (``IIB``, JetStream enabled) with a user and password
per service: unauthenticated clients are refused, and no user may publish on the server's own
subjects (``$JS.EVENT.>`` advisories, ``$SYS.>``), so nobody can forge a max-deliveries advisory;
worker users may not publish work items (``iib.work.>``) either.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, free_port, http_ok

__all__ = ["CLI_NATS_USER", "NatsServer", "cli_credentials", "start_nats"]

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
    binary = shutil.which("nats-server")
    if binary is None:
        raise ExternalServiceError(
            "nats-server is not installed (Debian package nats-server; `make bootstrap` installs it)"
        )
    port = port or free_port()
    monitor_port = monitor_port or free_port()
    base.mkdir(parents=True, exist_ok=True)
    store = base / "store"
    config = base / "nats.conf"
    passwords = _passwords(base / "users.json", [*users, *workers])
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"http: 127.0.0.1:{monitor_port}\n"
        + (f"max_payload: {max_payload}\n" if max_payload else "")
        + "jetstream {\n"
        f'  store_dir: "{store}"\n'
        f"  max_memory_store: {max_memory_store}\n"
        f"  max_file_store: {max_file_store}\n"
        "}\n" + _accounts(passwords, set(workers))
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
