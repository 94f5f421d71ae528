"""The outbox relay's wake-ups (services/request_store/relay.py, ``OutboxRelay.wake``).

A commit that wrote outbox rows wakes the relay; one made while a wake-up is already on its way
sends none, because the scan that wake-up causes reads the outbox after it. The relay here
polls once an hour, so a row whose wake-up was lost would stay unsent: what is expected (every
row of every commit published within seconds) is the relay's contract (its module docstring:
it wakes up on every commit that wrote outbox rows), not a figure taken from this code.
"""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

from services.request_store import validation
from services.request_store.relay import OutboxRelay
from services.tooling.servers.nats import start_nats
from tests.bench.api import ADD_BODY, USER
from tests.request_store.cores import store_core

BURSTS = 12
THREADS = 8
EACH = 4


def _burst(store: Any, context: Any) -> None:
    """``THREADS`` threads each committing ``EACH`` add requests at once."""
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            for _ in range(EACH):
                new = validation.SINGLE_VALIDATORS["add"](copy.deepcopy(ADD_BODY), context)
                store.create([new], user=USER, queues=[None])
        except BaseException as exc:  # reported by the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_commits_from_many_threads_are_published_without_the_poll(tmp_path: Path) -> None:
    nats = start_nats(tmp_path / "nats")
    try:
        core = store_core(
            f"sqlite:///{tmp_path / 'store.sqlite'}",
            tmp_path,
            IIB_NATS_URLS=[nats.url],
            IIB_RELAY_POLL_INTERVAL=3600.0,
        )
        store = core.store
        context = core._validation_context(USER)
        relay = OutboxRelay(core.settings, store)
        relay.start()
        try:
            assert relay.connected.wait(30), "the relay did not connect to nats-server"
            for burst in range(BURSTS):
                _burst(store, context)
                # each burst ends with commits racing the scans of the ones before
                deadline = time.monotonic() + 10
                backlog = store.outbox_backlog()
                while backlog and time.monotonic() < deadline:
                    time.sleep(0.02)
                    backlog = store.outbox_backlog()
                assert backlog == {}, (
                    f"burst {burst}: rows unsent 10 s after its commits: {backlog}"
                )
            assert not store.dead_letters()
        finally:
            relay.stop()
    finally:
        nats.stop()
