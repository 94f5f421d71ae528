"""The unfiltered list's total (IIB's ``meta.total``): ``count(*)`` over every request against
the sum of ``request_count`` (kept by the triggers of migration 0003), on SQLite and PostgreSQL.

``--requests=N`` requests (default 100,000) are inserted in one transaction (its time is
printed: every row runs the counting trigger, the worst case for a bulk writer such as
``iib db import-iib``), the database is brought to a steady state (``VACUUM ANALYZE`` /
``ANALYZE``), then each statement runs ``--runs`` × 20 times on one connection.

    make bench BENCH_ARGS="total --requests=100000 --db=sqlite,postgresql"
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from services.request_store import models as m
from services.request_store.db import upgrade
from services.request_store.store import make_engine
from services.tooling.servers.postgres import start_postgres
from tests.bench.api import _option, steady_state

CALLS = 20
STATEMENTS = {
    "count(*) over request": "SELECT count(*) FROM request",
    "sum of request_count": "SELECT coalesce(sum(n), 0) FROM request_count",
}


def _fill(engine: Engine, count: int) -> float:
    """Insert ``count`` requests in one transaction; returns the seconds the INSERT took."""
    now = datetime(2026, 12, 6, 12, 0, 0)
    row = {
        "type": 1,
        "state": 2,
        "state_reason": "The request completed successfully",
        "updated": now,
        "created": now,
    }
    with engine.begin() as conn:
        batch = conn.execute(insert(m.BATCH).values().returning(m.BATCH.c.id)).scalar_one()
        start = time.perf_counter()
        conn.execute(insert(m.REQUEST), [{**row, "batch_id": batch} for _ in range(count)])
        return time.perf_counter() - start


def _measure(label: str, url: str, count: int, runs: int) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        took = _fill(engine, count)
        print(f"[{label}] {count} requests inserted in one transaction in {took:.2f} s")
        steady_state(url)
        with engine.connect() as conn:
            for name, sql in STATEMENTS.items():
                per_call = []
                for _ in range(runs):
                    start = time.perf_counter()
                    for _ in range(CALLS):
                        total = conn.execute(text(sql)).scalar_one()
                    per_call.append((time.perf_counter() - start) / CALLS * 1000)
                print(
                    f"[{label}] {name}: {total} -> {statistics.median(per_call):.3f} ms per call "
                    f"(median of {runs} × {CALLS} calls; min {min(per_call):.3f}, "
                    f"max {max(per_call):.3f})"
                )
    finally:
        engine.dispose()


def main(argv: list[str]) -> None:
    count = int(_option(argv, "requests", "100000"))
    runs = int(_option(argv, "runs", "5"))
    databases = _option(argv, "db", "sqlite,postgresql").split(",")
    with tempfile.TemporaryDirectory(prefix="iib-bench-total-") as tmp:
        workdir = Path(tmp)
        if "sqlite" in databases:
            _measure("sqlite", f"sqlite:///{workdir}/iib.db", count, runs)
        if "postgresql" in databases:
            workdir.chmod(0o711)
            pg = start_postgres(workdir / "pg")
            try:
                _measure("postgresql", pg.create_database("iib"), count, runs)
            finally:
                pg.stop()
