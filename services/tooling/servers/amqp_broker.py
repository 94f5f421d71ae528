"""An AMQP 1.0 broker on loopback for the UMB tests: RabbitMQ (Debian package
``rabbitmq-server``) with its ``rabbitmq_amqp1_0`` plugin.

IIB publishes to Apache ActiveMQ (UMB) over AMQP 1.0, but Debian's ``activemq`` package ships
without the AMQP transport (no ``activemq-amqp``), so the tests use RabbitMQ's AMQP 1.0 plugin:
a broker from another code base that checks the protocol (SASL, links, durable messages,
settlement, application properties). Its addresses differ from ActiveMQ's: ``/queue/<name>``
(a durable queue) and ``/topic/<key>`` instead of ``queue://``/``topic://``.

The broker and its own ``epmd`` (Erlang's port mapper, on a free port: the system-wide one
would outlive the test) run as ``ManagedProcess`` children with every file under ``base``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, free_port, tcp_open

__all__ = ["AmqpBroker", "start_amqp_broker"]

_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


@dataclass
class AmqpBroker:
    """A running broker: ``url`` for AMQP 1.0 clients (anonymous: RabbitMQ's guest user)."""

    port: int
    process: ManagedProcess
    epmd: ManagedProcess
    log_file: Path
    #: the TLS listener's port (0: none); clients must present a certificate of the CA
    tls_port: int = 0

    @property
    def url(self) -> str:
        return f"amqp://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"amqps://localhost:{self.tls_port}"

    def _ready(self) -> bool:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return False
        # the last start completed (the log is appended to across restarts)
        return text.rfind("Server startup complete") > text.rfind("Starting RabbitMQ") and tcp_open(
            "127.0.0.1", self.port
        )

    def start(self, timeout: float = 60.0) -> None:
        """(Re)start the broker with the same store (durable queues and messages survive)."""
        if not self.epmd.running():
            self.epmd.start()
        self.process.start(ready=self._ready, timeout=timeout)

    def stop(self) -> None:
        self.process.stop(grace=20.0)

    def close(self) -> None:
        self.stop()
        self.epmd.stop()


def start_amqp_broker(base: Path, tls: tuple[Path, Path, Path] | None = None) -> AmqpBroker:
    """Start RabbitMQ with AMQP 1.0 on a free loopback port, its files under ``base``.

    ``tls`` = (CA, certificate, key): also listen with TLS on ``tls_port``, requiring a client
    certificate signed by the CA."""
    if not _SERVER.exists() or shutil.which("epmd") is None:
        raise ExternalServiceError(
            "rabbitmq-server is not installed (Debian package rabbitmq-server; `make bootstrap` "
            "installs it)"
        )
    base.mkdir(parents=True, exist_ok=True)
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    tls_port = free_port() if tls else 0
    (base / "enabled_plugins").write_text("[rabbitmq_amqp1_0].\n")
    config = (
        f"listeners.tcp.1 = 127.0.0.1:{port}\n"
        # anonymous AMQP 1.0 clients connect as guest, which may then connect from loopback
        "loopback_users = none\n"
    )
    if tls:
        ca, cert, key = tls
        config += (
            f"listeners.ssl.1 = 127.0.0.1:{tls_port}\n"
            f"ssl_options.cacertfile = {ca}\n"
            f"ssl_options.certfile = {cert}\n"
            f"ssl_options.keyfile = {key}\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = true\n"
        )
    (base / "rabbitmq.conf").write_text(config)
    (base / "rabbitmq-env.conf").write_text("")
    nodename = f"iib-test-{port}@localhost"
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(base),  # the Erlang cookie
        "LANG": "C.UTF-8",
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_NODENAME": nodename,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
    }
    epmd = ManagedProcess(
        "epmd", ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"], base / "epmd.log"
    )
    process = ManagedProcess("rabbitmq", [str(_SERVER)], base / "rabbitmq.log", env=env)
    broker = AmqpBroker(port, process, epmd, base / "log" / f"{nodename}.log", tls_port)
    broker.start()
    return broker
