"""A real dispatch system: nats-server, the request store process (with its outbox relay) and
worker processes running the real worker runtime with a scripted handler."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api import httpbody_pb2

from services.common.grpc_server import channel
from services.common.pb.iib.v1 import builds_pb2, builds_pb2_grpc
from services.common.processes import ManagedProcess, free_port, tcp_open
from services.common.secrets import generate_key
from services.tooling.servers.nats import NatsServer, start_nats
from tests.conftest import REPO
from tests.pki import tls, tls_env

USER = "tester@EXAMPLE.COM"


class System:
    """Processes of one dispatch scenario and helpers to drive and observe them."""

    def __init__(
        self, base: Path, database_url: str, extra: dict[str, str], **nats_options: Any
    ) -> None:
        """``nats_options`` go to ``start_nats`` (e.g. ``max_payload``)."""
        self.base = base
        # NATS with a user per service, as iib dev runs it
        self.nats: NatsServer = start_nats(
            base / "nats",
            users=["request-store"],
            workers=["index-builder", "bundle-regenerator"],
            **nats_options,
        )
        store = f"127.0.0.1:{free_port()}"
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "IIB_SECRETS_KEY": generate_key(),
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(base / "nested"),
            "IIB_REQUEST_STORE_LISTEN": store,
            "IIB_REQUEST_STORE_ADDRESS": store,
            **self.nats.env("request-store"),
            "IIB_WORK_ACK_WAIT": "2",
            "IIB_WORK_MAX_DELIVER": "3",
            "IIB_RELAY_POLL_INTERVAL": "0.1",
            "IIB_MESSAGING_TIMEOUT": "2",
            "IIB_WORKER_SHUTDOWN_GRACE": "1",
            "IIB_LOG_LEVEL": "INFO",
            **tls_env("request-store"),
            **extra,
        }
        self.records = base / "records.jsonl"
        self.records.touch()
        self.store = ManagedProcess(
            "request-store",
            [sys.executable, "-m", "services.tooling.cli", "serve", "request-store"],
            base / "store.log",
            env=self.env,
            cwd=REPO,
        )
        host, _, port = store.rpartition(":")
        self.store.start(ready=lambda: tcp_open(host, int(port)), timeout=60)
        # the test submits as the gateway does: the only identity whose x-iib-user counts
        self.builds = builds_pb2_grpc.BuildsStub(channel(store, tls("gateway")))
        self.workers: list[ManagedProcess] = []

    def start_worker(self, **extra: str) -> ManagedProcess:
        n = len(self.workers)
        worker = ManagedProcess(
            f"worker-{n}",
            [sys.executable, "-m", "tests.common.dispatch.fake_worker", str(self.records)],
            self.base / f"worker-{n}.log",
            env={**self.env, **tls_env("index-builder"), **self.nats.env("index-builder"), **extra},
            cwd=REPO,
        )
        worker.start()
        self.workers.append(worker)
        return worker

    def submit(self, body: dict[str, Any], endpoint: str = "CreateAddRequest") -> dict[str, Any]:
        request = builds_pb2.SubmitRequest(
            body=httpbody_pb2.HttpBody(
                content_type="application/json", data=json.dumps(body).encode()
            )
        )
        response = getattr(self.builds, endpoint)(
            request, metadata=[("x-iib-user", USER)], timeout=30
        )
        return dict(json.loads(response.data))

    def get(self, request_id: int) -> dict[str, Any]:
        response = self.builds.GetBuild(builds_pb2.GetBuildRequest(id=str(request_id)), timeout=30)
        return dict(json.loads(response.data))

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.records.read_text().splitlines() if line]

    def wait_final(self, ids: list[int], timeout: float = 60.0) -> dict[int, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        pending = set(ids)
        final: dict[int, dict[str, Any]] = {}
        while pending and time.monotonic() < deadline:
            for rid in list(pending):
                data = self.get(rid)
                if data["state"] in ("complete", "failed"):
                    final[rid] = data
                    pending.discard(rid)
            if pending:
                time.sleep(0.2)
        assert not pending, f"requests never finished: {sorted(pending)[:20]}"
        return final

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(grace=5)
        self.store.stop()
        self.nats.stop()


def recorded(
    events: Callable[[], list[dict[str, Any]]], ids: list[int], event: str = "complete"
) -> list[dict[str, Any]]:
    """The handlers' records, once each of ``ids`` has an ``event`` one. The scripted handler
    writes "complete" after the store has the final state, so it may lag ``wait_final``; the
    wait is bounded (30 s): a record still missing then is missing, and a duplicate shows."""
    deadline = time.monotonic() + 30
    while True:
        found = events()
        have = {e["id"] for e in found if e["event"] == event}
        if set(ids) <= have or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def add_body(
    *instructions: str, index: str = "q.io/idx:v4.14", serial: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bundles": list(instructions) or ["fake/sleep:0"],
        "from_index": index,
        "binary_image": "q.io/bin:1",
    }
    if serial:
        body.update(overwrite_from_index=True, overwrite_from_index_token="user:token")
    return body


@pytest.fixture
def system_factory(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> Iterator[Callable[..., System]]:
    systems: list[System] = []

    def make(**extra: str) -> System:
        system = System(tmp_path / f"system{len(systems)}", new_database_url(), extra)
        systems.append(system)
        return system

    yield make
    for system in systems:
        system.close()
