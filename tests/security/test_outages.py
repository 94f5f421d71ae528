"""Partial outages: a request store that goes away does not fail queued work, and a build that
lost its lease (its worker stalled, another took over) changes nothing.

On main a request-store outage made workers nak every item, each nak spent a delivery, and
about 10 s of outage failed queued requests; a redelivery while the first worker still built
ran two builds. Real nats-server and request store; workers run the real worker runtime with
the scripted handler of tests/common/dispatch/fake_worker.py (``start`` is recorded when a
build begins)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.processes import tcp_open
from tests.common.dispatch.conftest import System, add_body, recorded

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture
def system(tmp_path: Path, new_database_url: Any) -> Iterator[System]:
    made = System(tmp_path / "system", new_database_url(), {"IIB_WORK_MAX_DELIVER": "2"})
    yield made
    made.close()


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _starts(system: System, rid: int) -> list[dict[str, Any]]:
    return [e for e in system.events() if e["event"] == "start" and e["id"] == rid]


def test_a_request_store_outage_fails_no_queued_work(system: System) -> None:
    worker = system.start_worker()
    ids = [system.submit(add_body("fake/sleep:1"))["id"] for _ in range(3)]
    _wait_for(lambda: bool(_starts(system, ids[0])), 30, "the first build")
    system.store.stop()
    time.sleep(12)  # on main: 2 deliveries x nak(2 s) spent long before this
    host, _, port = system.env["IIB_REQUEST_STORE_LISTEN"].rpartition(":")
    system.store.start(ready=lambda: tcp_open(host, int(port)), timeout=60)
    done = system.wait_final(ids, timeout=90)
    assert [done[rid]["state"] for rid in ids] == ["complete"] * 3
    assert worker.running()
    assert "holding the work item" in worker.log_tail(400) or "retrying the update" in (
        worker.log_tail(400)
    )


def test_a_stalled_worker_loses_its_lease_and_changes_nothing(system: System) -> None:
    first = system.start_worker()
    rid = system.submit(add_body("fake/sleep:4"))["id"]
    _wait_for(lambda: bool(_starts(system, rid)), 30, "the first build")
    assert first.pid is not None
    os.kill(first.pid, signal.SIGSTOP)  # no heartbeats, no lease renewals
    try:
        second = system.start_worker()
        # JetStream redelivers after the ack wait (2 s); the lease (3 x ack wait) runs out
        # later, so the second worker first finds it held, then takes the request over
        _wait_for(lambda: len(_starts(system, rid)) == 2, 60, "the take-over")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    done = system.wait_final([rid], timeout=60)[rid]
    assert done["state"] == "complete"
    _wait_for(lambda: "build lease lost" in first.log_tail(400), 30, "the first worker to stop")
    events = recorded(system.events, [rid])
    finishes = [e["pid"] for e in events if e["event"] == "complete" and e["id"] == rid]
    assert finishes == [second.pid]
    assert first.running()
    # one state history: the stale worker recorded nothing after the take-over
    reasons = [h["state_reason"] for h in done["state_history"]]
    assert reasons.count("The operator bundle(s) were successfully added to the index image") == 1
