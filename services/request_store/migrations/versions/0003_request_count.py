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

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION request_count_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE request_count SET n = 0;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE request_count SET n = n + 1 WHERE shard = pg_backend_pid() % {SHARDS};
    ELSE
        UPDATE request_count SET n = n - 1 WHERE shard = pg_backend_pid() % {SHARDS};
    END IF;
    RETURN NULL;
END
$$
"""


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
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(
            "CREATE TRIGGER request_count_rows AFTER INSERT OR DELETE ON request "
            "FOR EACH ROW EXECUTE FUNCTION request_count_bump()"
        )
        op.execute(
            "CREATE TRIGGER request_count_truncate AFTER TRUNCATE ON request "
            "FOR EACH STATEMENT EXECUTE FUNCTION request_count_bump()"
        )
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
        op.execute("DROP TRIGGER request_count_truncate ON request")
        op.execute("DROP TRIGGER request_count_rows ON request")
        op.execute("DROP FUNCTION request_count_bump()")
    else:
        op.execute("DROP TRIGGER request_count_delete")
        op.execute("DROP TRIGGER request_count_insert")
    op.drop_table("request_count")
