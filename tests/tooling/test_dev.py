"""``iib dev`` keeps the system running and leaves nothing behind.

Everything here is real: ``iib dev`` in its own process with its own var directory and ports,
its nats-server, request store, gateway, gating and workers; a docker-registry of the test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from services.common.processes import free_port, http_ok
from services.common.registry.client import RegistryClient
from services.common.registry.images import ImageService
from services.tooling.demo import images as fixture_images
from services.tooling.servers.registry import RegistryServer, start_registry
from tests.common.registry.helpers import fast_settings
from tests.conftest import REPO

pytestmark = [pytest.mark.slow]


def _env(var: Path, registry: RegistryServer) -> dict[str, str]:
    store, gating, auth = (f"127.0.0.1:{free_port()}" for _ in range(3))
    return {
        "PATH": os.environ["PATH"],
        "IIB_VAR_DIR": str(var),
        "IIB_NATS_URLS": json.dumps([f"nats://127.0.0.1:{free_port()}"]),
        "IIB_NATS_MONITOR_PORT": str(free_port()),
        "IIB_REQUEST_STORE_LISTEN": store,
        "IIB_REQUEST_STORE_ADDRESS": store,
        "IIB_GATING_LISTEN": gating,
        "IIB_GATING_ADDRESS": gating,
        "IIB_AUTH_SERVICE_LISTEN": auth,
        "IIB_GATEWAY_LISTEN": f"127.0.0.1:{free_port()}",
        "IIB_GATEWAY_ADMIN_PORT": str(free_port()),
        "IIB_REGISTRY": registry.registry,
        "IIB_INSECURE_REGISTRIES": json.dumps([registry.registry]),
        "IIB_WORK_ACK_WAIT": "5",
        "IIB_LOG_LEVEL": "WARNING",
    }


def _processes_of(var: Path) -> list[int]:
    """PIDs of the processes running for ``var`` (by their environment or command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if state != "Z" and (
            f"IIB_VAR_DIR={var}".encode() in environ or str(var).encode() in cmdline
        ):
            found.append(int(entry.name))
    return found


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path / "registry")
    yield server
    server.stop()


def _start(env: dict[str, str], var: Path) -> subprocess.Popen[bytes]:
    log = open(var.parent / "dev.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "services.tooling.cli", "dev", "--var-dir", str(var)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_taken_port_is_reported_before_anything_starts(
    tmp_path: Path, registry: RegistryServer
) -> None:
    var = tmp_path / "var"
    env = _env(var, registry)
    host, _, port = env["IIB_GATEWAY_LISTEN"].rpartition(":")
    with socket.socket() as holder:
        holder.bind((host, int(port)))
        holder.listen()
        dev = _start(env, var)
        assert dev.wait(timeout=60) == 1
    log = (tmp_path / "dev.log").read_text()
    assert f"{host}:{port} (the gateway (IIB_GATEWAY_LISTEN))" in log
    assert "starting" not in log
    assert _processes_of(var) == []


def test_crashed_children_are_restarted_and_no_request_is_lost(
    tmp_path: Path, registry: RegistryServer
) -> None:
    var = tmp_path / "var"
    env = _env(var, registry)
    images = ImageService(
        RegistryClient(fast_settings(insecure_registries=frozenset({registry.registry})))
    )
    bundle = fixture_images.push_fixture_bundles(images, registry.registry, packages=["keda"])[
        "keda"
    ][0]
    binary = fixture_images.push_fake_binary_image(images, f"{registry.registry}/opm:v1", ["amd64"])
    dev = _start(env, var)
    base = f"https://{env['IIB_GATEWAY_LISTEN']}"
    http = requests.Session()
    http.trust_env = False
    try:
        deadline = time.monotonic() + 120
        # every child started (the workers start after the gateway answers)
        while "iib dev: ready" not in (tmp_path / "dev.log").read_text():
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "iib dev did not become ready"
            time.sleep(0.5)
        assert http_ok(f"{base}/api/v1/healthcheck")
        http.verify = str(var / "tls" / "server.crt")  # iib dev's self-signed pair
        ids: list[int] = []
        body = {"bundles": [bundle], "binary_image": binary, "add_arches": ["amd64"]}
        for n in range(100):
            resp = http.post(
                f"{base}/api/v1/builds/add", json=body, headers={"X-Remote-User": "dev@EXAMPLE"}
            )
            assert resp.status_code == 201, resp.text
            ids.append(int(resp.json()["id"]))
            if n == 20:
                _kill(var, b"serve index-builder")
            if n == 50:
                _kill(var, b"nats-server")
        final = _wait_final(http, base, ids)
        for rid in ids:
            history = final[rid]["state_history"]
            finals = [h for h in history if h["state"] in ("complete", "failed")]
            assert len(finals) == 1, (rid, history)
        assert {final[rid]["state"] for rid in ids} == {"complete"}
        log = (tmp_path / "dev.log").read_text()
        assert "index-builder exited" in log and "index-builder restarted" in log
        assert "nats-server exited" in log and "nats-server restarted" in log

        # iib dev killed outright: its children go with it
        children = _processes_of(var)
        assert len(children) >= 6
        os.kill(dev.pid, signal.SIGKILL)
        dev.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _processes_of(var) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_of(var) == []
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGTERM)
            dev.wait(timeout=60)


def _kill(var: Path, what: bytes) -> None:
    for pid in _processes_of(var):
        try:
            if what in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def _wait_final(http: requests.Session, base: str, ids: list[int]) -> dict[int, Any]:
    deadline = time.monotonic() + 300
    final: dict[int, Any] = {}
    while len(final) < len(ids):
        assert time.monotonic() < deadline, f"{len(ids) - len(final)} requests never finished"
        for rid in ids:
            if rid not in final:
                data = http.get(f"{base}/api/v1/builds/{rid}").json()
                if data["state"] in ("complete", "failed"):
                    final[rid] = data
        time.sleep(0.5)
    return final
