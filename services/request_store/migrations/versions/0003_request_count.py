"""request_count: how many requests are stored, kept by triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 15:20:00

The unfiltered list answers IIB's ``meta.total`` from this table instead of counting every
request (PostgreSQL counted 116,421 requests in 21.5 ms, the largest part of a list call).
Triggers on ``request`` keep it in the same transaction as the rows, for every writer: the
request store, ``iib db import-iib``, the bench's seed and hand-written SQL alike.

PostgreSQL: 16 rows; a session adds to the row of its backend PID modulo 16, so concurrent
submissions seldom wait on one row lock. The table is locked against writers while the
existing requests are counted. SQLite: one row (SQLite has one writer at a time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SHARDS = 16


# Statement-level triggers with transition tables: one counter update per statement, however
# many rows it writes (a row-level trigger updating one row n times in one transaction makes
# PostgreSQL walk n versions of it each time: 100,000 rows inserted by one transaction took
# 138.7 s, `make bench BENCH_ARGS=total`).
def _counting(transition: str, sign: str) -> str:
    """The function of the trigger whose transition table is ``transition``: adds (``+``) or
    subtracts (``-``) its rows on the session's counter row."""
    return f"""
CREATE FUNCTION request_count_{transition}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rows bigint := (SELECT count(*) FROM {transition});
BEGIN
    IF rows > 0 THEN
        UPDATE request_count SET n = n {sign} rows WHERE shard = pg_backend_pid() % {SHARDS};
    END IF;
    RETURN NULL;
END
$$
"""


POSTGRESQL_FUNCTIONS = [
    _counting("added", "+"),
    _counting("removed", "-"),
    """
CREATE FUNCTION request_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_count SET n = 0;
    RETURN NULL;
END
$$
""",
]
POSTGRESQL_TRIGGERS = [
    "CREATE TRIGGER request_count_added AFTER INSERT ON request "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION request_count_added()",
    "CREATE TRIGGER request_count_removed AFTER DELETE ON request "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION request_count_removed()",
    "CREATE TRIGGER request_count_truncated AFTER TRUNCATE ON request "
    "FOR EACH STATEMENT EXECUTE FUNCTION request_count_truncated()",
]


def upgrade() -> None:
    op.create_table(
        "request_count",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_request_count")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # no request is added or removed between the count below and the triggers
        op.execute("LOCK TABLE request IN SHARE ROW EXCLUSIVE MODE")
        op.execute(
            "INSERT INTO request_count (shard, n) "
            f"SELECT s, 0 FROM generate_series(0, {SHARDS - 1}) s"
        )
        for statement in POSTGRESQL_FUNCTIONS + POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        # this INSERT takes SQLite's write lock: no other writer until the count below is in
        op.execute("INSERT INTO request_count (shard, n) VALUES (0, 0)")
        op.execute(
            "CREATE TRIGGER request_count_insert AFTER INSERT ON request "
            "BEGIN UPDATE request_count SET n = n + 1 WHERE shard = 0; END"
        )
        op.execute(
            "CREATE TRIGGER request_count_delete AFTER DELETE ON request "
            "BEGIN UPDATE request_count SET n = n - 1 WHERE shard = 0; END"
        )
    op.execute("UPDATE request_count SET n = (SELECT count(*) FROM request) WHERE shard = 0")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("added", "removed", "truncated"):
            op.execute(f"DROP TRIGGER request_count_{name} ON request")
            op.execute(f"DROP FUNCTION request_count_{name}()")
    else:
        op.execute("DROP TRIGGER request_count_delete")
        op.execute("DROP TRIGGER request_count_insert")
    op.drop_table("request_count")
