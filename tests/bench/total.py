"""The unfiltered list's total (IIB's ``meta.total``): ``count(*)`` over every request against
the sum of ``request_count`` (kept by the triggers of migration 0003), on SQLite and PostgreSQL.

``--requests=N`` requests (default 100,000) are inserted in one transaction (its time is
printed: every row runs the counting trigger, the worst case for a bulk writer such as
``iib db import-iib``), the database is brought to a steady state (``VACUUM ANALYZE`` /
``ANALYZE``), then each statement runs ``--runs`` × 20 times on one connection. On PostgreSQL
it then times ``--inserts`` one-row INSERTs, each its own transaction (as a submission writes
its request), with the triggers enabled and disabled (``ALTER TABLE … DISABLE TRIGGER USER``),
alternating ``--runs`` times: what the triggers add to every submission.

    make bench BENCH_ARGS="total --requests=100000 --db=sqlite,postgresql"
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from services.request_store import models as m
from services.request_store.db import upgrade
from services.request_store.store import make_engine
from services.tooling.servers.postgres import start_postgres
from tests.bench.api import _median, _option, steady_state

CALLS = 20
STATEMENTS = {
    "count(*) over request": "SELECT count(*) FROM request",
    "sum of request_count": "SELECT coalesce(sum(n), 0) FROM request_count",
}


#: a finished add request's columns (the batch comes from the database)
ROW = {
    "type": 1,
    "state": 2,
    "state_reason": "The request completed successfully",
    "updated": datetime(2026, 12, 6, 12, 0, 0),
    "created": datetime(2026, 12, 6, 12, 0, 0),
}


def _fill(engine: Engine, count: int) -> float:
    """Insert ``count`` requests in one transaction; returns the seconds the INSERT took."""
    with engine.begin() as conn:
        batch = conn.execute(insert(m.BATCH).values().returning(m.BATCH.c.id)).scalar_one()
        start = time.perf_counter()
        conn.execute(insert(m.REQUEST), [{**ROW, "batch_id": batch} for _ in range(count)])
        return time.perf_counter() - start


def _insert_cost(engine: Engine, inserts: int, runs: int) -> None:
    """µs per one-row INSERT in its own transaction, with the triggers and without."""
    row = dict(ROW)
    timings: dict[str, list[float]] = {"enabled": [], "disabled": []}
    statement = insert(m.REQUEST)
    with engine.connect() as conn:
        row["batch_id"] = conn.execute(text("SELECT min(batch_id) FROM request")).scalar_one()
        conn.commit()
        for _ in range(runs):
            for triggers in timings:
                verb = "ENABLE" if triggers == "enabled" else "DISABLE"
                conn.exec_driver_sql(f"ALTER TABLE request {verb} TRIGGER USER")
                conn.commit()
                start = time.perf_counter()
                for _ in range(inserts):
                    conn.execute(statement, row)
                    conn.commit()
                timings[triggers].append((time.perf_counter() - start) / inserts * 1e6)
        conn.exec_driver_sql("ALTER TABLE request ENABLE TRIGGER USER")
        conn.commit()
    for triggers, per_insert in timings.items():
        print(
            f"[postgresql] one-row INSERT in its own transaction, triggers {triggers}: "
            f"{_median(per_insert)} µs (median (min–max) of {runs} × {inserts})"
        )


def _measure(label: str, url: str, count: int, runs: int, inserts: int = 0) -> None:
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
                    f"[{label}] {name}: {total} -> {_median(per_call, 3)} ms per call "
                    f"(median (min–max) of {runs} × {CALLS} calls)"
                )
        if inserts and engine.dialect.name == "postgresql":
            _insert_cost(engine, inserts, runs)
    finally:
        engine.dispose()


def main(argv: list[str]) -> None:
    count = int(_option(argv, "requests", "100000"))
    runs = int(_option(argv, "runs", "5"))
    inserts = int(_option(argv, "inserts", "2000"))
    databases = _option(argv, "db", "sqlite,postgresql").split(",")
    with tempfile.TemporaryDirectory(prefix="iib-bench-total-") as tmp:
        workdir = Path(tmp)
        if "sqlite" in databases:
            _measure("sqlite", f"sqlite:///{workdir}/iib.db", count, runs)
        if "postgresql" in databases:
            workdir.chmod(0o711)
            pg = start_postgres(workdir / "pg")
            try:
                _measure("postgresql", pg.create_database("iib"), count, runs, inserts)
            finally:
                pg.stop()
