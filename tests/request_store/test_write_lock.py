"""SQLite writers of several request store processes queue on one lock instead of SQLite's
busy handler (which sleeps up to 100 ms between tries: the POST tail with two processes)."""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import datetime
from pathlib import Path

from services.common.secrets import SecretBox, generate_key
from services.request_store.db import upgrade
from services.request_store.store import Store, make_engine


def test_a_write_waits_for_another_process_holding_the_writer_lock(tmp_path: Path) -> None:
    database = tmp_path / "iib.db"
    engine = make_engine(f"sqlite:///{database}", pool_size=2)
    upgrade(engine)
    store = Store(engine, SecretBox([generate_key()]))
    # another open file description of the lock file: as another process would hold it
    other = os.open(f"{database}-writer", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        done = threading.Event()

        def write() -> None:
            store.prune_outbox(datetime(2000, 1, 1))
            done.set()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        assert not done.wait(0.5), "the write did not wait for the other writer"
        fcntl.flock(other, fcntl.LOCK_UN)
        assert done.wait(10), "the write did not go on once the other writer let go"
        writer.join(10)
    finally:
        os.close(other)
    engine.dispose()
