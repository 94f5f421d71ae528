"""Import rate of ``iib db import-iib``: an IIB 9.5 database (tests/request_store/iib_9_5) grown to
``--requests=N`` add requests (3 states, 2 bundles, 2 arches, a build tag each, 10 per batch) is
imported into a SQLite file and into a PostgreSQL database; prints requests/s for each.

    .venv/bin/python -m tests.bench.iib_import --requests=20000
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine

from services.request_store.db import upgrade
from services.request_store.iib_import import import_iib
from services.request_store.store import make_engine
from services.tooling.servers.postgres import start_postgres

FIXTURES = Path(__file__).resolve().parents[1] / "request_store" / "iib_9_5"

GROW = """
INSERT INTO batch (id) SELECT 10000 + g FROM generate_series(1, :batches) g;
INSERT INTO image (id, operator_id, pull_specification)
    SELECT 1000 + g, 1, 'quay.example.com/ns/bundle-' || g || ':1.0' FROM generate_series(1, :n) g;
INSERT INTO request (id, type, user_id, batch_id)
    SELECT 10000 + g, 1, 1 + mod(g, 2), 10000 + 1 + (g - 1) / 10 FROM generate_series(1, :n) g;
INSERT INTO request_add (id, binary_image_id, from_index_id, index_image_id, distribution_scope)
    SELECT 10000 + g, 1, 3, 3, 'prod' FROM generate_series(1, :n) g;
INSERT INTO request_add_bundle (request_add_id, image_id)
    SELECT 10000 + g, 1000 + g FROM generate_series(1, :n) g
    UNION ALL SELECT 10000 + g, 7 FROM generate_series(1, :n) g;
INSERT INTO request_architecture (request_id, architecture_id)
    SELECT 10000 + g, a FROM generate_series(1, :n) g, (VALUES (1), (2)) v(a);
INSERT INTO request_build_tag (request_id, tag_id) SELECT 10000 + g, 1 FROM generate_series(1, :n) g;
INSERT INTO request_state (id, request_id, state, state_reason, updated)
    SELECT 100000 + 3 * g + s, 10000 + g, CASE WHEN s = 2 THEN 2 ELSE 1 END,
           'state ' || s, timestamp '2024-01-01' + (g || ' minutes')::interval + (s || ' seconds')::interval
    FROM generate_series(1, :n) g, generate_series(0, 2) s;
UPDATE request SET request_state_id = 100000 + 3 * (id - 10000) + 2 WHERE id > 10000;
"""


def main(argv: list[str]) -> None:
    n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--requests=")), 20000)
    base = Path(tempfile.mkdtemp(prefix="iib-bench-import-"))
    base.chmod(0o755)  # the cluster runs as postgres
    server = start_postgres(base / "pg")
    try:
        source = server.create_database("iib_source")
        engine = create_engine(source)
        with engine.begin() as conn:
            conn.exec_driver_sql((FIXTURES / "schema.sql").read_text())
            conn.exec_driver_sql((FIXTURES / "seed.sql").read_text())
            for statement in GROW.split(";"):
                if statement.strip():
                    conn.exec_driver_sql(
                        statement.replace(":batches", str((n + 9) // 10)).replace(":n", str(n))
                    )
        engine.dispose()
        total = n + 13
        print(f"source: {total} requests ({3 * n + 26} states)")
        for name, url in (
            ("sqlite", f"sqlite:///{base}/target.db"),
            ("postgresql", server.create_database("iib_target")),
        ):
            target = make_engine(url)
            upgrade(target)
            started = time.perf_counter()
            report = import_iib(source, target)
            seconds = time.perf_counter() - started
            again = time.perf_counter()
            import_iib(source, target)
            repeat = time.perf_counter() - again
            print(
                f"{name:10} imported {report.imported} requests in {seconds:.1f} s "
                f"({report.imported / seconds:.0f} requests/s); repeated import (nothing to do) "
                f"{repeat:.1f} s"
            )
            target.dispose()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
