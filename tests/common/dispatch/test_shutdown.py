"""SIGTERM stops the request store cleanly: exit status 0 and nothing logged as an error.

Issue 18 found an "exception was never retrieved" traceback (ConnectionClosedError) in the
request store's log at every stop: the relay closed its NATS connection under a running fetch.
"""

from __future__ import annotations

import json

import pytest

from tests.common.dispatch.conftest import add_body


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sigterm_stops_the_request_store_without_errors(system_factory, processes: str) -> None:
    system = system_factory(IIB_REQUEST_STORE_PROCESSES=processes)
    system.start_worker()
    ids = [system.submit(add_body())["id"] for _ in range(5)]
    system.wait_final(ids, timeout=60)
    store = system.store
    assert store.proc is not None
    store.stop(grace=20)
    assert store.proc.returncode == 0, store.log_tail()
    errors = []
    for line in store.log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            errors.append(line)  # not a log record: a traceback printed by the interpreter
            continue
        if record.get("level") in ("ERROR", "CRITICAL") or "exc" in record:
            errors.append(line)
    assert errors == []
