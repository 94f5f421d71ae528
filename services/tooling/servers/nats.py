"""nats-server (Debian package) with JetStream, on loopback, for ``iib dev`` and the tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, free_port, http_ok

__all__ = ["NatsServer", "start_nats"]


@dataclass
class NatsServer:
    """A running nats-server: ``url`` for clients, ``monitor`` for /healthz, /jsz, /varz."""

    port: int
    monitor_port: int
    store_dir: Path
    process: ManagedProcess
    config: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

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
) -> NatsServer:
    """Write a config under ``base`` and start nats-server with JetStream (file store in
    ``base/jetstream``). Limits are explicit because JetStream otherwise sizes itself from the
    machine."""
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
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"http: 127.0.0.1:{monitor_port}\n"
        "jetstream {\n"
        f'  store_dir: "{store}"\n'
        f"  max_memory_store: {max_memory_store}\n"
        f"  max_file_store: {max_file_store}\n"
        "}\n"
    )
    proc = ManagedProcess("nats-server", [binary, "-c", str(config)], base / "nats.log")
    server = NatsServer(port, monitor_port, store, proc, config)
    server.start()
    return server
