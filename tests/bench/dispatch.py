"""Benchmark, dispatch part: sustained submissions/s through the REST API, and the latency from
a request's commit to a worker receiving its work item, over N requests (default 10,000).

Real processes: nats-server, `iib serve request-store` (with its outbox relay),
`iib serve gateway` (Envoy), and worker processes running the real worker runtime with a handler
that records the arrival time and completes the request. Submissions come from wrk (POST
/api/v1/builds/add, 16 connections) and stop after N. Latency = arrival in the worker minus the
request's `created` time (taken inside the submitting transaction, so it slightly overstates).

    python -m tests.bench dispatch [--requests=10000] [--rate=40] [--workers=2] [--db=sqlite]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

from sqlalchemy import create_engine, select

from services.common.processes import ManagedProcess
from services.request_store import models as m
from services.tooling.servers.nats import start_nats
from services.tooling.servers.postgres import start_postgres
from tests.bench.api import _option
from tests.bench.common import REPO, run_wrk, running_api
from tests.pki import tls_env

POST_N = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Remote-User"] = "bench@EXAMPLE.COM"
wrk.body = '{body}'
local budget = {per_thread}
local done = 0
response = function(status, headers, body)
  done = done + 1
  if done >= budget then wrk.thread:stop() end
end
"""


def paced_submit(base_url: str, body: str, count: int, rate: float, threads: int = 8) -> float:
    """POST ``count`` requests at ``rate`` per second from ``threads`` keep-alive connections;
    returns the wall time taken."""
    import http.client
    import threading
    from urllib.parse import urlparse

    url = urlparse(base_url)
    per_thread = count // threads
    start = time.perf_counter()
    errors: list[str] = []

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        headers = {"Content-Type": "application/json", "X-Remote-User": "bench@EXAMPLE.COM"}
        for i in range(per_thread):
            target = start + (i * threads + n) / rate
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            conn.request("POST", "/api/v1/builds/add", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                errors.append(str(resp.status))
        conn.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise SystemExit(f"paced submissions failed: {errors[:5]}")
    return time.perf_counter() - start


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait_arrivals(
    arrivals: Path, expected: int, procs: list[ManagedProcess], workdir: Path
) -> None:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if len(arrivals.read_text().splitlines()) >= expected:
            return
        if not any(proc.running() for proc in procs):
            raise SystemExit(f"every bench worker exited; see {workdir}/worker-*.log")
        time.sleep(0.2)
    raise SystemExit("the workers did not receive every request within 15 minutes")


def _created(database_url: str) -> dict[int, float]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(m.REQUEST.c.id, m.REQUEST.c.created)).all()
    engine.dispose()
    return {row.id: row.created.replace(tzinfo=UTC).timestamp() for row in rows}


def run(
    label: str, database_url: str, count: int, workers: int, rate: float, workdir: Path
) -> None:
    nats = start_nats(workdir / "nats")
    arrivals = workdir / "arrivals.txt"
    arrivals.touch()
    procs: list[ManagedProcess] = []
    try:
        extra = {"IIB_NATS_URLS": json.dumps([nats.url]), "IIB_RELAY_POLL_INTERVAL": "0.2"}
        with running_api(database_url, workdir, extra) as api:
            for n in range(workers):
                proc = ManagedProcess(
                    f"bench-worker-{n}",
                    [sys.executable, "-m", "tests.bench.dispatch_worker", str(arrivals)],
                    workdir / f"worker-{n}.log",
                    env={**api.env, **tls_env("index-builder"), "IIB_WORKER_CONCURRENCY": "4"},
                    cwd=REPO,
                )
                proc.start()
                procs.append(proc)
            time.sleep(1.0)
            body = json.dumps(
                {
                    "bundles": ["registry.example.com/ns/b@sha256:" + "c" * 64],
                    "from_index": "registry.example.com/ns/index:v4.14",
                    "binary_image": "registry.example.com/opm:v4.14",
                }
            )

            # 1. saturation: as many submissions as the API takes, workers consuming meanwhile
            started = time.perf_counter()
            saturated = run_wrk(
                api.base_url + "/api/v1/builds/add",
                seconds=10,
                script=POST_N.format(body=body, per_thread=10**9),
            )
            _wait_arrivals(arrivals, len(_created(database_url)), procs, workdir)
            drained = time.perf_counter() - started
            total = len(_created(database_url))
            print(
                f"[{label}] sustained submissions (wrk, 16 connections, 10 s): "
                f"{saturated.requests_per_second:.0f}/s (POST p50 {saturated.p50_ms:.1f} ms, "
                f"p99 {saturated.p99_ms:.1f} ms){' ' + saturated.errors if saturated.errors else ''}; "
                f"the {workers} workers received all {total} in {drained:.1f} s "
                f"({total / drained:.0f}/s)",
                flush=True,
            )

            # 2. latency at a steady rate below the workers' capacity, over `count` requests
            before = set(_created(database_url))
            took = paced_submit(api.base_url, body, count, rate)
            created = {rid: t for rid, t in _created(database_url).items() if rid not in before}
            _wait_arrivals(arrivals, len(before) + len(created), procs, workdir)
            lines = arrivals.read_text().splitlines()
            arrived: dict[int, float] = {}
            duplicates = 0
            for line in lines:
                rid, at = line.split()
                if int(rid) in arrived:
                    duplicates += 1
                arrived[int(rid)] = float(at)
            latencies = [(arrived[rid] - t) * 1000 for rid, t in created.items() if rid in arrived]
            print(
                f"[{label}] paced: {len(created)} submissions at {rate:.0f}/s ({len(created) / took:.1f}/s "
                f"achieved); received {len(latencies)} of {len(created)}, duplicates {duplicates}",
                flush=True,
            )
            print(
                f"[{label}] commit -> worker receives: p50 {_percentile(latencies, 0.5):.1f} ms, "
                f"p99 {_percentile(latencies, 0.99):.1f} ms, mean {statistics.mean(latencies):.1f} ms, "
                f"max {max(latencies):.1f} ms (n={len(latencies)})",
                flush=True,
            )
    finally:
        for proc in procs:
            proc.stop()
        nats.stop()


def main(argv: list[str]) -> None:
    count = int(_option(argv, "requests", "10000"))
    workers = int(_option(argv, "workers", "2"))
    rate = float(_option(argv, "rate", "40"))
    databases = _option(argv, "db", "sqlite").split(",")
    print(
        f"dispatch benchmark: saturation with wrk (2 threads x 16 connections, 10 s), then {count} "
        f"requests paced at {rate:.0f}/s; {workers} worker processes x 4 concurrent items; all through "
        "Envoy on one 2-core host"
    )
    for db in databases:
        workdir = Path(tempfile.mkdtemp(prefix=f"iib-bench-dispatch-{db}-"))
        try:
            if db == "sqlite":
                run("sqlite", f"sqlite:///{workdir / 'iib.db'}", count, workers, rate, workdir)
            else:
                os.chmod(workdir, 0o711)  # the cluster runs as postgres when we are root
                pg = start_postgres(workdir / "pg")
                try:
                    run("postgresql", pg.create_database("iib"), count, workers, rate, workdir)
                finally:
                    pg.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
