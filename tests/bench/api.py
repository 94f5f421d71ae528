"""Benchmark, API part: the REST API under a closed-loop load (issue 18's shape).

Real processes: nats-server, `iib serve request-store` (with its outbox relay publishing every
created request), `iib serve gateway` (Envoy + the authorization service) and, for the
PostgreSQL run, a PostgreSQL cluster. The store is seeded with ``--requests`` add requests
shaped like IIB's after a build (4 arches, 4 state-history entries, 10 images) through a fast
path that runs the store's own create and update code, many requests per transaction.

Scenarios, each ``--runs`` × ``--seconds`` with 16 keep-alive clients (tests/bench/load.py):
GET /builds/<id> (random ids), GET /builds?verbose=true&per_page=20 (random pages),
POST /builds/add, and the POST + 3 PATCH cycle a release tool and a worker make per build.
For each: requests/s, p50/p90/p99/max in ms and the cores each process used.

    python -m tests.bench api [--requests=100000] [--seconds=20] [--runs=3]
        [--db=sqlite,postgresql] [--processes=1,auto] [--clients=16]
        [--scenarios=get,list,post,cycle] [--seeded=DATABASE_URL]

``--seeded`` benchmarks a database seeded before (by :func:`seed`) instead of seeding one.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, update

from services.common.config import load_settings
from services.common.secrets import generate_key
from services.request_store import models as m
from services.request_store.domain import ImageList, NewRequest, RequestState, RequestType
from services.request_store.patch import plan_patch
from services.request_store.server import AUTO_PROCESSES_MAX, build_core, usable_cores
from services.tooling.servers.nats import start_nats
from services.tooling.servers.postgres import start_postgres
from tests.bench.common import running_api
from tests.bench.load import Client, LoadResult, run_load

WORKER = "worker@EXAMPLE.COM"
USER = "bench@EXAMPLE.COM"
ARCHES = ["amd64", "arm64", "ppc64le", "s390x"]

#: IIB 9.5.3 (gunicorn, 2 sync workers) on this machine, PostgreSQL 15, 5,000 seeded requests,
#: 16 clients, medians of 3 × 20 s, as measured and filed in issue 18 (not re-measured here).
IIB_REFERENCE = {
    "get": (101.8, 152.0, 221.0),
    "list": (9.6, 1667.0, 2111.0),
    "post": (98.2, 161.0, 230.0),
}


def _option(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def _patches(n: int) -> list[dict[str, Any]]:
    """The three PATCHes a worker makes for an add request, as IIB's worker sends them."""
    digest = f"sha256:{n:064x}"
    return [
        {
            "state": "in_progress",
            "state_reason": "Resolving the container images",
            "arches": ARCHES,
            "binary_image_resolved": f"registry.example.com/ose-operator-registry@{digest}",
            "from_index_resolved": f"registry.example.com/ns/index@{digest}",
        },
        {
            "state": "in_progress",
            "state_reason": "Building the index image for the following arches: "
            + ", ".join(ARCHES),
        },
        {
            "state": "complete",
            "state_reason": "The operator bundle(s) were successfully added to the index image",
            "index_image": f"registry.example.com/iib-build:{n}",
            "index_image_resolved": f"registry.example.com/iib-build@{digest}",
            "internal_index_image_copy": f"registry.example.com/iib-build:{n}",
            "internal_index_image_copy_resolved": f"registry.example.com/iib-build@{digest}",
        },
    ]


def seed(database_url: str, count: int, workdir: Path) -> float:
    """Store ``count`` finished add requests; returns seconds taken.

    Each request is created and updated by the store's own code (one batch per request, the
    worker's three updates), 500 requests per transaction; their outbox rows are marked sent
    (the relay published them long ago)."""
    settings = load_settings(
        environ={},
        overrides={
            "SQLALCHEMY_DATABASE_URI": database_url,
            "IIB_SECRETS_KEY": generate_key(),
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(workdir / "nested"),
        },
    )
    core = build_core(settings)
    store = core.store
    start = time.perf_counter()
    chunk = 500
    for offset in range(0, count, chunk):
        with store._write() as conn:  # the fast path: many requests per transaction
            for n in range(offset, min(offset + chunk, count)):
                new = NewRequest(RequestType.ADD)
                new.images = {
                    "from_index": f"registry.example.com/ns/index-{n % 50}:v4.{n % 7 + 10}",
                    "binary_image": "registry.example.com/ose-operator-registry:v4.14",
                }
                new.image_lists = {
                    ImageList.BUNDLES: [
                        f"registry.example.com/ns/op-{n}-bundle@sha256:{n:064x}",
                        f"registry.example.com/ns/op-{n}-extra:1.0.{n}",
                    ],
                    ImageList.DEPRECATION_LIST: [],
                }
                new.build_tags = [f"tag-{n % 3}"]
                new.worker_args = {"overwrite_from_index": False}
                created = store._create(conn, [new], f"user{n % 7}@EXAMPLE.COM", [None], None, None)
                request_id = created.request_ids[0]
                state, reason = RequestState.IN_PROGRESS, "The request was initiated"
                for payload in _patches(n):
                    store._apply(
                        conn, request_id, plan_patch(payload, RequestType.ADD, state, reason)
                    )
                    state = RequestState[payload["state"].upper()]
                    reason = payload["state_reason"]
            conn.execute(
                update(m.OUTBOX)
                .where(m.OUTBOX.c.sent_at.is_(None))
                .values(sent_at=m.OUTBOX.c.created)
            )
    elapsed = time.perf_counter() - start
    store.engine.dispose()
    steady_state(database_url)
    return elapsed


def steady_state(database_url: str) -> None:
    """Bring a freshly seeded database to the state a database in use is in: PostgreSQL's
    autovacuum has set the visibility map and the statistics (right after seeding, every row
    updated three times still needs a heap visit in an index-only scan: counting 13,000
    requests took 3.5 ms before ``VACUUM ANALYZE`` and 1.3 ms after), SQLite has statistics."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name != "sqlite" else "ANALYZE")
    finally:
        engine.dispose()


def _postmaster_pid(database_url: str) -> int:
    """The PID of the PostgreSQL server behind ``database_url`` (from its postmaster.pid)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            data = conn.exec_driver_sql("SHOW data_directory").scalar_one()
    finally:
        engine.dispose()
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


# --- scenarios ----------------------------------------------------------------------------

ADD_BODY = {
    "bundles": ["registry.example.com/ns/new-bundle@sha256:" + "a" * 64],
    "from_index": "registry.example.com/ns/index-1:v4.14",
    "binary_image": "registry.example.com/ose-operator-registry:v4.14",
}


def _scenarios(count: int) -> dict[str, tuple[str, Callable[[Client, int], Any], list[str]]]:
    """name -> (title, step, labels whose latencies are reported)."""
    user = {"X-Remote-User": USER}
    worker = {"X-Remote-User": WORKER}
    pages = max(1, count // 20)

    async def get(c: Client, n: int) -> None:
        status, _ = await c.call("GET", "GET", f"/api/v1/builds/{c.rng.randint(1, count)}")
        _expect(status, 200)

    async def listing(c: Client, n: int) -> None:
        page = c.rng.randint(1, pages)
        status, _ = await c.call(
            "list", "GET", f"/api/v1/builds?verbose=true&per_page=20&page={page}"
        )
        _expect(status, 200)

    async def post(c: Client, n: int) -> None:
        status, _ = await c.call("POST", "POST", "/api/v1/builds/add", ADD_BODY, user)
        _expect(status, 201)

    async def cycle(c: Client, n: int) -> None:
        status, body = await c.call("POST", "POST", "/api/v1/builds/add", ADD_BODY, user)
        _expect(status, 201)
        request_id = json.loads(body)["id"]
        for payload in _patches(n):
            status, _ = await c.call(
                "PATCH", "PATCH", f"/api/v1/builds/{request_id}", payload, worker
            )
            _expect(status, 200)

    return {
        "get": ("GET /api/v1/builds/<id>", get, ["GET"]),
        "list": ("GET /api/v1/builds?verbose=true&per_page=20", listing, ["list"]),
        "post": ("POST /api/v1/builds/add", post, ["POST"]),
        "cycle": ("POST /builds/add + 3 PATCH /builds/<id> (cycles/s)", cycle, ["POST", "PATCH"]),
    }


def _expect(status: int, wanted: int) -> None:
    if status != wanted:
        raise ValueError(f"HTTP {status}, expected {wanted}")


# --- CPU per process ------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _cpu(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


class CpuMeter:
    """Cores used per named process group between ``start`` and ``stop``."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups

    def start(self) -> None:
        self._pids = {name: _tree(pid) for name, pid in self.groups.items()}
        self._before = {name: _cpu(pids) for name, pids in self._pids.items()}
        self._t = time.perf_counter()

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._t
        out = {}
        for name in self._pids:
            after = _cpu(_tree(self.groups[name]))
            before = self._before[name]
            out[name] = sum(after[p] - before.get(p, 0.0) for p in after) / elapsed
        return out


# --- running ----------------------------------------------------------------------------------


def _median(values: list[float], digits: int = 1) -> str:
    """``median (min–max)`` of ``values``."""
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f})"
    )


def bench_database(
    label: str,
    url: str,
    count: int,
    seconds: float,
    runs: int,
    process_counts: list[str],
    clients: int,
    wanted: list[str],
    workdir: Path,
    extra_groups: dict[str, int],
    seeded: bool = False,
) -> None:
    if seeded:
        steady_state(url)
        print(f"\n[{label}] using the database given by --seeded", flush=True)
    else:
        print(f"\n[{label}] seeding {count} requests ...", flush=True)
        took = seed(url, count, workdir)
        print(
            f"[{label}] seeded {count} requests in {took:.1f} s ({count / took:.0f}/s)", flush=True
        )
    nats = start_nats(workdir / "nats")
    try:
        for processes in process_counts:
            extra = {
                "IIB_NATS_URLS": json.dumps([nats.url]),
                "IIB_WORKER_USERNAMES": json.dumps([WORKER]),
            }
            if processes != "auto":
                extra["IIB_REQUEST_STORE_PROCESSES"] = processes
            with running_api(url, workdir, extra) as api:
                store_pid, gateway_pid = (p.pid for p in api.processes)
                assert store_pid is not None and gateway_pid is not None
                groups = {
                    "request-store": store_pid,
                    "gateway": gateway_pid,
                    "nats": nats.process.pid or 0,
                    **extra_groups,
                }
                shown = (
                    processes
                    if processes != "auto"
                    else f"auto={min(usable_cores(), AUTO_PROCESSES_MAX)}"
                )
                for name in wanted:
                    # every scenario starts from a vacuumed database, as autovacuum keeps one at
                    # IIB's write rate: the rows the POST scenarios just wrote (tens of thousands
                    # in a minute) made the next list scenario count them through the heap
                    steady_state(url)
                    title, step, labels = _scenarios(count)[name]
                    _run_scenario(
                        f"[{label}, {shown} store process(es)] {title}",
                        api.base_url,
                        step,
                        labels,
                        name,
                        groups,
                        seconds,
                        runs,
                        clients,
                    )
    finally:
        nats.stop()


def _run_scenario(
    title: str,
    base_url: str,
    step: Callable[[Client, int], Any],
    labels: list[str],
    name: str,
    groups: dict[str, int],
    seconds: float,
    runs: int,
    clients: int,
) -> None:
    results: list[tuple[LoadResult, dict[str, float]]] = []
    for _ in range(runs):
        meter = CpuMeter(groups)
        meter.start()
        result = run_load(base_url, step, clients=clients, seconds=seconds, warmup=2.0)
        cores = meter.stop()
        cores["loader"] = result.loader_cores
        results.append((result, cores))
        if result.errors:
            print(f"  errors: {len(result.errors)}, first: {result.errors[0]}", flush=True)
    rates = [r.per_second for r, _ in results]
    print(
        f"{title}: {_median(rates)} per s (median (min–max) of {runs} × {seconds:g} s, "
        f"{clients} clients)",
        flush=True,
    )
    for label in labels:
        stats = [r.summary(label) for r, _ in results]
        cols = " ".join(
            f"{key} {_median([s[key] for s in stats])}" for key in ("p50", "p90", "p99", "max")
        )
        print(f"  {label} ms: {cols}", flush=True)
    core_names = list(results[0][1])
    print(
        "  cores: "
        + ", ".join(
            f"{n} {statistics.median([c.get(n, 0.0) for _, c in results]):.2f}" for n in core_names
        )
        + f"; total {statistics.median([sum(c.values()) for _, c in results]):.2f}",
        flush=True,
    )
    statuses: dict[int, int] = {}
    for r, _ in results:
        for status, n in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    print(f"  HTTP statuses: {dict(sorted(statuses.items()))}", flush=True)
    if name in IIB_REFERENCE:
        rps, p50, p99 = IIB_REFERENCE[name]
        median_rps = statistics.median(rates)
        print(
            f"  IIB 9.5.3 (issue 18): {rps} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms -> "
            f"{median_rps / rps:.1f}x its throughput",
            flush=True,
        )


def main(argv: list[str]) -> None:
    count = int(_option(argv, "requests", "100000"))
    seconds = float(_option(argv, "seconds", "20"))
    runs = int(_option(argv, "runs", "3"))
    clients = int(_option(argv, "clients", "16"))
    databases = _option(argv, "db", "sqlite,postgresql").split(",")
    process_counts = _option(argv, "processes", "1,auto").split(",")
    wanted = _option(argv, "scenarios", "get,list,post,cycle").split(",")
    seeded_url = _option(argv, "seeded", "")
    if seeded_url:
        with create_engine(seeded_url).connect() as conn:
            count = int(conn.exec_driver_sql("SELECT count(*) FROM request").scalar_one())
    print(
        f"API benchmark: {count} stored requests, {clients} closed-loop clients (keep-alive), "
        f"{runs} runs × {seconds:g} s per scenario after 2 s of warm-up, request store "
        f"processes {process_counts}; loader, Envoy and the services on the same "
        f"{os.cpu_count()}-core host"
    )

    def run(
        label: str, url: str, workdir: Path, groups: dict[str, int], seeded: bool = False
    ) -> None:
        bench_database(
            label,
            url,
            count,
            seconds,
            runs,
            process_counts,
            clients,
            wanted,
            workdir,
            groups,
            seeded=seeded,
        )

    if seeded_url:
        # a database seeded before (python -c 'from tests.bench.api import seed; ...'): seeding
        # 100,000 requests into PostgreSQL takes ~20 min on 2 cores
        workdir = Path(tempfile.mkdtemp(prefix="iib-bench-api-seeded-"))
        try:
            if seeded_url.startswith("sqlite"):
                run("sqlite", seeded_url, workdir, {}, seeded=True)
            else:
                pg_group = {"postgresql": _postmaster_pid(seeded_url)}
                run("postgresql", seeded_url, workdir, pg_group, seeded=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    for db in databases:
        workdir = Path(tempfile.mkdtemp(prefix=f"iib-bench-api-{db}-"))
        try:
            if db == "sqlite":
                run("sqlite", f"sqlite:///{workdir / 'iib.db'}", workdir, {})
            elif db == "postgresql":
                os.chmod(workdir, 0o711)  # the cluster runs as postgres when we are root
                pg = start_postgres(workdir / "pg")
                try:
                    run(
                        "postgresql",
                        pg.create_database("iib"),
                        workdir,
                        {"postgresql": pg.process.pid or 0},
                    )
                finally:
                    pg.stop()
            else:
                raise SystemExit(f"unknown database {db!r}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
