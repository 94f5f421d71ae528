"""The system scaled out on one machine, with the real parts: a 3-node NATS JetStream cluster
(streams with 3 replicas), PostgreSQL, the request store as two processes on one port behind
Envoy (the gateway), and index builder processes.

The index builders run the real worker runtime (JetStream consumers, leases, heartbeats,
redelivery) with the scripted handler of ``tests.common.dispatch.fake_worker``: an add request's
``fake/sleep:<s>`` bundle sleeps ``s`` seconds, and every start, finish and completion is
recorded with its process, so a test can tell what ran where, when, and how often. Used by
``tests/tooling/test_scale.py`` and ``make bench BENCH_ARGS=scale``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from services.common.processes import ManagedProcess, free_port, http_ok, tcp_open
from services.common.secrets import generate_key
from services.tooling.servers.nats import NatsCluster, start_nats_cluster
from services.tooling.servers.postgres import PostgresServer, start_postgres
from tests.conftest import REPO
from tests.pki import tls_env

__all__ = ["ScaleSystem", "add_body"]

USER = "scale@EXAMPLE.COM"


def add_body(seconds: float, index: str, serial: bool) -> dict[str, Any]:
    """An add request the scripted builders take ``seconds`` over; ``serial``: it overwrites
    ``index`` (SERIAL: one at a time per index, in submission order)."""
    body: dict[str, Any] = {
        "bundles": [f"fake/sleep:{seconds:g}"],
        "from_index": index,
        "binary_image": "q.io/bin:1",
    }
    if serial:
        body.update(overwrite_from_index=True, overwrite_from_index_token="user:token")
    return body


class ScaleSystem:
    """Start with :meth:`start`, drive through :meth:`submit`, stop with :meth:`close`."""

    def __init__(self, base: Path, *, ack_wait: float = 3.0, store_processes: int = 2) -> None:
        self.base = base
        self.ack_wait = ack_wait
        self.store_processes = store_processes
        # the PostgreSQL cluster runs as the postgres user: a directory it can reach
        self.pg_dir = Path(tempfile.mkdtemp(prefix="iib-scale-pg-"))
        os.chmod(self.pg_dir, 0o711)
        self.pg: PostgresServer | None = None
        self.nats: NatsCluster | None = None
        self.store: ManagedProcess | None = None
        self.gateway: ManagedProcess | None = None
        self.builders: list[ManagedProcess] = []
        self.records = base / "records.jsonl"
        self.env: dict[str, str] = {}
        self.base_url = ""
        self.http = requests.Session()
        self.http.trust_env = False

    def start(self, builders: int = 3) -> ScaleSystem:
        self.base.mkdir(parents=True, exist_ok=True)
        self.records.touch()
        self.pg = start_postgres(self.pg_dir / "pg")
        database = self.pg.create_database("iib")
        self.nats = start_nats_cluster(
            self.base / "nats", 3, users=["request-store"], workers=["index-builder"]
        )
        store = f"127.0.0.1:{free_port()}"
        listen = f"127.0.0.1:{free_port()}"
        admin = free_port()
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "SQLALCHEMY_DATABASE_URI": database,
            "IIB_SECRETS_KEY": generate_key(),
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(self.base / "nested"),
            "IIB_REQUEST_STORE_LISTEN": store,
            "IIB_REQUEST_STORE_ADDRESS": store,
            "IIB_REQUEST_STORE_PROCESSES": str(self.store_processes),
            "IIB_AUTH_TRUSTED_HEADER": "X-Remote-User",
            "IIB_AUTH_SERVICE_LISTEN": f"127.0.0.1:{free_port()}",
            "IIB_GATEWAY_LISTEN": listen,
            "IIB_GATEWAY_ADMIN_PORT": str(admin),
            "IIB_VAR_DIR": str(self.base / "var"),
            "IIB_WORK_ACK_WAIT": f"{self.ack_wait:g}",
            # a node or a builder killed must not spend a request's deliveries
            "IIB_WORK_MAX_DELIVER": "20",
            "IIB_RELAY_POLL_INTERVAL": "0.2",
            "IIB_MESSAGING_TIMEOUT": "3",
            "IIB_WORKER_SHUTDOWN_GRACE": "1",
            "IIB_LOG_LEVEL": "INFO",
        }
        iib = [sys.executable, "-m", "services.tooling.cli", "serve"]
        self.store = ManagedProcess(
            "request-store",
            [*iib, "request-store"],
            self.base / "request-store.log",
            env={**self.env, **tls_env("request-store"), **self.nats.env("request-store")},
            cwd=REPO,
        )
        host, _, port = store.rpartition(":")
        self.store.start(ready=lambda: tcp_open(host, int(port)), timeout=60)
        self.gateway = ManagedProcess(
            "gateway",
            [*iib, "gateway"],
            self.base / "gateway.log",
            env={**self.env, **tls_env("gateway")},
            cwd=REPO,
        )
        self.gateway.start(ready=lambda: http_ok(f"http://127.0.0.1:{admin}/ready"), timeout=60)
        self.base_url = f"http://{listen}"
        for _ in range(builders):
            self.add_builder()
        return self

    def add_builder(self) -> ManagedProcess:
        assert self.nats is not None
        n = len(self.builders)
        builder = ManagedProcess(
            f"index-builder-{n}",
            [sys.executable, "-m", "tests.common.dispatch.fake_worker", str(self.records)],
            self.base / f"index-builder-{n}.log",
            env={**self.env, **tls_env("index-builder"), **self.nats.env("index-builder")},
            cwd=REPO,
        )
        builder.start()
        self.builders.append(builder)
        return builder

    # --- REST through Envoy ---------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> int:
        resp = self.http.post(
            f"{self.base_url}/api/v1/builds/add",
            json=body,
            headers={"X-Remote-User": USER},
            timeout=60,
        )
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    def get(self, request_id: int) -> dict[str, Any]:
        resp = self.http.get(f"{self.base_url}/api/v1/builds/{request_id}", timeout=60)
        resp.raise_for_status()
        return dict(resp.json())

    def completed(self) -> int:
        """Requests completed so far (one listing call)."""
        resp = self.http.get(f"{self.base_url}/api/v1/builds?state=complete&per_page=1", timeout=60)
        resp.raise_for_status()
        return int(resp.json()["meta"]["total"])

    def wait_final(self, ids: list[int], timeout: float) -> dict[int, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        pending = set(ids)
        final: dict[int, dict[str, Any]] = {}
        while pending:
            assert time.monotonic() < deadline, f"never finished: {sorted(pending)[:20]}"
            for rid in sorted(pending):
                data = self.get(rid)
                if data["state"] in ("complete", "failed"):
                    final[rid] = data
                    pending.discard(rid)
            if pending:
                time.sleep(0.5)
        return final

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.records.read_text().splitlines() if line]

    def close(self) -> None:
        for builder in self.builders:
            builder.stop(grace=5)
        for proc in (self.gateway, self.store):
            if proc is not None:
                proc.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.pg is not None:
            self.pg.stop()
        shutil.rmtree(self.pg_dir, ignore_errors=True)
