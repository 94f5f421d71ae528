"""Helpers shared by the benchmark parts: running the real services, load generation with wrk,
peak RSS of child processes, a thread running Python beside what is timed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.common.processes import ManagedProcess, free_port, http_ok, tcp_open
from services.common.secrets import generate_key
from tests.pki import tls_env

REPO = Path(__file__).resolve().parents[2]


def ensure_debian_package(binary: str, package: str) -> str:
    """The path of ``binary``, installing its Debian package first if needed."""
    path = shutil.which(binary)
    if path:
        return path
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"bench: installing Debian package {package} (for {binary})", flush=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which(binary)
    if not found:
        raise SystemExit(f"{binary} is still missing after installing {package}")
    return found


@dataclass
class RunningApi:
    """The request store and the gateway as separate processes, as in production."""

    base_url: str
    env: dict[str, str]
    processes: list[ManagedProcess]

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


@contextmanager
def running_api(
    database_url: str, workdir: Path, extra: dict[str, str] | None = None
) -> Iterator[RunningApi]:
    store = f"127.0.0.1:{free_port()}"
    listen = f"127.0.0.1:{free_port()}"
    admin = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IIB_", "SQLALCHEMY_"))},
        "SQLALCHEMY_DATABASE_URI": database_url,
        "IIB_SECRETS_KEY": generate_key(),
        "IIB_REQUEST_LOGS_DIR": str(workdir / "logs"),
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(workdir / "nested"),
        "IIB_AUTH_TRUSTED_HEADER": "X-Remote-User",
        "IIB_REQUEST_STORE_LISTEN": store,
        "IIB_REQUEST_STORE_ADDRESS": store,
        "IIB_AUTH_SERVICE_LISTEN": f"127.0.0.1:{free_port()}",
        "IIB_GATEWAY_LISTEN": listen,
        "IIB_GATEWAY_ADMIN_PORT": str(admin),
        "IIB_VAR_DIR": str(workdir),
        "IIB_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }
    iib = [sys.executable, "-m", "services.tooling.cli", "serve"]
    host, _, port = store.rpartition(":")
    procs = []
    try:
        p = ManagedProcess(
            "request-store",
            [*iib, "request-store"],
            workdir / "store.log",
            env={**env, **tls_env("request-store")},
            cwd=REPO,
        )
        p.start(ready=lambda: tcp_open(host, int(port)), timeout=60)
        procs.append(p)
        g = ManagedProcess(
            "gateway",
            [*iib, "gateway"],
            workdir / "gateway.log",
            env={**env, **tls_env("gateway")},
            cwd=REPO,
        )
        g.start(ready=lambda: http_ok(f"http://127.0.0.1:{admin}/ready"), timeout=60)
        procs.append(g)
        api = RunningApi(f"http://{listen}", env, procs)
        yield api
    finally:
        for proc in reversed(procs):
            proc.stop()


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: str


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if match is None:
        raise SystemExit(f"cannot read wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 16,
    threads: int = 2,
    script: str | None = None,
) -> WrkResult:
    wrk = ensure_debian_package("wrk", "wrk")
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        if script:
            fh.write(script)
    if script:
        cmd += ["-s", fh.name]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in out:
        raise SystemExit(f"wrk failed:\n{out}")
    os.unlink(fh.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = ""
    for line in out.splitlines():
        if "Non-2xx" in line or "Socket errors" in line:
            errors += line.strip() + "; "
    return WrkResult(rps, p50, p99, total, errors)


@contextmanager
def python_running() -> Iterator[None]:
    """A thread running Python meanwhile, as a builder's push lane and layer threads do: a
    system call that gives up the GIL then waits to get it back."""
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
