"""A legacy index.db comes from an image: it may compute instead of store (generated columns,
virtual tables), hold huge values or make a query run for ever. Each is refused (issue 12: a
20 KB index.db with ``hex(zeroblob(1e8))`` took 1.4 GiB)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.catalog import limits
from services.catalog.sqlite_import import load_sqlite_index
from services.common.errors import CatalogError
from tests.conftest import REPO

TABLES = """
CREATE TABLE package (name TEXT PRIMARY KEY, default_channel TEXT);
CREATE TABLE channel (name TEXT, package_name TEXT, head_operatorbundle_name TEXT);
CREATE TABLE channel_entry (entry_id INTEGER PRIMARY KEY, channel_name TEXT,
    package_name TEXT, operatorbundle_name TEXT, replaces INTEGER, depth INTEGER);
"""
BUNDLES = """
CREATE TABLE operatorbundle (name TEXT PRIMARY KEY, csv TEXT, bundle TEXT, bundlepath TEXT,
    version TEXT, skiprange TEXT);
"""
ZEROBLOB_BUNDLES = """
CREATE TABLE operatorbundle (name TEXT PRIMARY KEY,
    csv TEXT GENERATED ALWAYS AS (hex(zeroblob(100000000))) VIRTUAL,
    bundle TEXT, bundlepath TEXT, version TEXT, skiprange TEXT);
"""
ROWS = """
INSERT INTO package VALUES ('p', 'stable');
INSERT INTO channel VALUES ('stable', 'p', 'p.v1');
INSERT INTO channel_entry VALUES (1, 'stable', 'p', 'p.v1', NULL, 0);
"""
SCHEMA = TABLES + BUNDLES


def zeroblob_db(path: Path) -> Path:
    """The 28 KB database of the issue: reading operatorbundle.csv computes 200 MB."""
    db = sqlite3.connect(path)
    db.executescript(TABLES + ZEROBLOB_BUNDLES + ROWS)
    db.execute(
        "INSERT INTO operatorbundle (name, bundle, bundlepath, version, skiprange) "
        "VALUES ('p.v1', '', 'q/p:1', '1.0.0', '')"
    )
    db.commit()
    db.close()
    return path


def test_a_generated_column_is_refused_before_it_is_computed(tmp_path: Path) -> None:
    db = zeroblob_db(tmp_path / "index.db")
    assert db.stat().st_size < 64 * 1024
    code = (
        "from pathlib import Path\n"
        "from services.catalog.sqlite_import import load_sqlite_index\n"
        "from services.common.errors import CatalogError\n"
        "try:\n"
        f"    list(load_sqlite_index(Path({str(db)!r})).iter_packages())\n"
        "except CatalogError as exc:\n"
        "    print(exc)\n"
        "status = Path('/proc/self/status').read_text()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    message, peak_mib = done.stdout.strip().splitlines()
    assert message == f"{db}: table operatorbundle has generated columns (refused): csv"
    assert int(peak_mib) < 100  # ~880 MiB when the column was read


def test_a_virtual_table_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "index.db")
    db.executescript(SCHEMA + ROWS)
    db.execute("CREATE VIRTUAL TABLE properties USING fts5(operatorbundle_name, type, value)")
    db.commit()
    db.close()
    with pytest.raises(CatalogError, match="table properties is a virtual table"):
        load_sqlite_index(tmp_path / "index.db")


def test_values_longer_than_the_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_SQLITE_VALUE_BYTES", 1024 * 1024)
    db = sqlite3.connect(tmp_path / "index.db")
    db.executescript(SCHEMA + ROWS)
    db.execute(
        "INSERT INTO operatorbundle VALUES ('p.v1', ?, '', 'q/p:1', '1.0.0', '')",
        ("x" * (2 * 1024 * 1024),),
    )
    db.commit()
    db.close()
    catalog = load_sqlite_index(tmp_path / "index.db")
    with pytest.raises(CatalogError, match="query failed: string or blob too big"):
        list(catalog.iter_packages())


def test_a_query_past_its_deadline_is_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sqlite3.connect(tmp_path / "index.db")
    db.executescript(SCHEMA + ROWS)
    db.executemany(
        "INSERT INTO channel_entry VALUES (?, 'stable', 'p', 'p.v1', NULL, 5)",
        ((n,) for n in range(2, 200_000)),
    )
    db.commit()
    db.close()
    monkeypatch.setattr(limits, "MAX_SQLITE_QUERY_SECONDS", -1)
    with pytest.raises(CatalogError, match="a query took longer than -1 seconds"):
        load_sqlite_index(tmp_path / "index.db")
