"""A throwaway PostgreSQL cluster from Debian's packages (tests and benchmarks).

``initdb`` refuses to run as root, so when we are root the cluster is created and run as the
``postgres`` system user (its data directory's parent must be writable by that user).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, free_port, tcp_open

__all__ = ["PostgresServer", "pg_bin_dir", "start_postgres"]


def pg_bin_dir() -> Path:
    """The directory of the newest installed PostgreSQL server binaries."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ExternalServiceError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return versions[-1]


@dataclass
class PostgresServer:
    """A running cluster: connect with :meth:`url`."""

    port: int
    data_dir: Path
    process: ManagedProcess
    run_as: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database and return its SQLAlchemy URL."""
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def stop(self) -> None:
        self.process.stop()


def _traversable(directory: Path, uid: int, gids: set[int]) -> bool:
    st = os.stat(directory)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid in gids:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def start_postgres(base: Path, port: int | None = None) -> PostgresServer:
    """initdb a new cluster under ``base`` and start it on 127.0.0.1 (fsync off: tests only)."""
    bindir = pg_bin_dir()
    port = port or free_port()
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    run_as = "postgres" if os.geteuid() == 0 else None
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        gids = set(os.getgrouplist(run_as, entry.pw_gid))
        for parent in base.resolve().parents:
            if not _traversable(parent, entry.pw_uid, gids):
                raise ExternalServiceError(
                    f"PostgreSQL runs as the {run_as} user, which cannot reach {base}: "
                    f"{parent} is not searchable by it (use a directory it can traverse, "
                    "e.g. a fresh one under /tmp)"
                )
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=run_as,
            check=False,
        )
        if result.returncode != 0:
            raise ExternalServiceError(f"initdb failed: {result.stderr.strip()}")
    proc = ManagedProcess(
        "postgres",
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ],
        base / "postgres.log",
        user=run_as,
    )
    proc.start(ready=lambda: tcp_open("127.0.0.1", port) and _accepts(port), timeout=60)
    return PostgresServer(port=port, data_dir=data, process=proc, run_as=run_as)


def _accepts(port: int) -> bool:
    import psycopg2

    try:
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
    except psycopg2.OperationalError:
        return False
    return True
