"""Benchmark, API part: requests/s and p50/p99 through Envoy with N stored requests.

Measures GET /builds/<id> (random ids), GET /builds?verbose=true (a page of 20) and
POST /builds/add, with wrk (16 connections, 2 threads) against the real processes
(`iib serve request-store` + `iib serve gateway`), on SQLite and on PostgreSQL.

    python -m tests.bench api [--requests=100000] [--seconds=10] [--db=sqlite,postgresql]
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from services.common.config import load_settings
from services.common.secrets import generate_key
from services.request_store.domain import ImageList, NewRequest, RequestType
from services.request_store.server import build_core
from services.tooling.servers.postgres import start_postgres
from tests.bench.common import run_wrk, running_api


def _option(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def populate(database_url: str, count: int, workdir: Path) -> float:
    """Store ``count`` add requests directly through the store; returns seconds taken."""
    settings = load_settings(
        environ={},
        overrides={
            "SQLALCHEMY_DATABASE_URI": database_url,
            "IIB_SECRETS_KEY": generate_key(),
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(workdir / "nested"),
        },
    )
    core = build_core(settings)
    start = time.perf_counter()
    batch = 500
    for offset in range(0, count, batch):
        news = []
        for n in range(offset, min(offset + batch, count)):
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
            new.worker_args = {"add_arches": ["amd64"], "overwrite_from_index": False}
            news.append(new)
        core.store.create(news, user=f"user{offset % 7}@EXAMPLE.COM", queues=[None] * len(news))
    elapsed = time.perf_counter() - start
    core.store.engine.dispose()
    return elapsed


GET_ONE = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/builds/" .. math.random(1, {count}))
end
"""
POST_ADD = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Remote-User"] = "bench@EXAMPLE.COM"
wrk.body = '{body}'
"""


def bench_database(label: str, url: str, count: int, seconds: int, workdir: Path) -> None:
    print(f"\n[{label}] populating {count} stored requests ...", flush=True)
    took = populate(url, count, workdir)
    print(
        f"[{label}] populated {count} requests in {took:.1f} s ({count / took:.0f}/s direct)",
        flush=True,
    )
    with running_api(url, workdir, {"IIB_REQUEST_STORE_PROCESSES": "2"}) as api:
        body = json.dumps(
            {
                "bundles": ["registry.example.com/ns/new-bundle@sha256:" + "a" * 64],
                "from_index": "registry.example.com/ns/index-1:v4.14",
                "binary_image": "registry.example.com/ose-operator-registry:v4.14",
            }
        )
        cases = [
            ("GET /api/v1/builds/<id>", api.base_url + "/", GET_ONE.format(count=count)),
            (
                "GET /api/v1/builds?verbose=true (20 per page)",
                api.base_url + "/api/v1/builds?verbose=true",
                None,
            ),
            (
                "POST /api/v1/builds/add",
                api.base_url + "/api/v1/builds/add",
                POST_ADD.format(body=body),
            ),
        ]
        for name, url_, script in cases:
            result = run_wrk(url_, seconds=seconds, script=script)
            print(
                f"[{label}] {name}: {result.requests_per_second:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms ({result.requests} requests in {seconds} s, "
                f"16 connections){' ' + result.errors if result.errors else ''}",
                flush=True,
            )


def main(argv: list[str]) -> None:
    count = int(_option(argv, "requests", "100000"))
    seconds = int(_option(argv, "seconds", "10"))
    databases = _option(argv, "db", "sqlite,postgresql").split(",")
    print(
        f"API benchmark: {count} stored requests, wrk 2 threads x 16 connections, {seconds} s per case, "
        "Envoy --concurrency 2, request store 2 processes x 16 gRPC threads; load generator on the same 2-core host"
    )
    for db in databases:
        workdir = Path(tempfile.mkdtemp(prefix=f"iib-bench-api-{db}-"))
        try:
            if db == "sqlite":
                bench_database("sqlite", f"sqlite:///{workdir / 'iib.db'}", count, seconds, workdir)
            elif db == "postgresql":
                os.chmod(workdir, 0o711)  # the cluster runs as postgres when we are root
                pg = start_postgres(workdir / "pg")
                try:
                    bench_database("postgresql", pg.create_database("iib"), count, seconds, workdir)
                finally:
                    pg.stop()
            else:
                raise SystemExit(f"unknown database {db!r}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
