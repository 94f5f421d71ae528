"""One message NATS will never take must not stop dispatch.

On main a publish over NATS's payload limit was treated as "NATS unreachable" and retried
forever before any later outbox row, work items of other requests included. Here nats-server
runs with a 64 KiB payload limit, so the state event of a request with a large (but accepted)
body cannot be published; the real request store's relay must give that one message up (a dead
letter, logged) and go on with the requests behind it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.config import load_settings
from services.tooling.queues_report import collect_queues
from tests.common.dispatch.conftest import System, add_body

pytestmark = [pytest.mark.db]


@pytest.fixture
def system(tmp_path: Path, new_database_url: Any) -> Iterator[System]:
    made = System(
        tmp_path / "system",
        new_database_url(),
        {"IIB_MESSAGING_BUILD_STATE_DESTINATION": "iib.build.state"},
        max_payload=64 * 1024,
    )
    yield made
    made.close()


def test_an_unpublishable_event_is_a_dead_letter_and_blocks_nothing(system: System) -> None:
    big = add_body("fake/sleep:0")
    big["deprecation_list"] = [f"q.io/deprecated/{'d' * 1500}:{n}" for n in range(60)]  # ~90 KB
    big_id = system.submit(big)["id"]
    later = [
        system.submit(add_body("fake/sleep:0", index=f"q.io/idx{n}:v4.14"))["id"] for n in range(3)
    ]
    system.start_worker()
    done = system.wait_final([big_id, *later], timeout=60)
    assert all(done[rid]["state"] == "complete" for rid in [big_id, *later])
    consumers, backlog = collect_queues(load_settings(system.env))
    assert backlog.get("(dead letter) iib.build.state", 0) >= 1
    log = (system.base / "store.log").read_text()
    assert "outbox message moved to the dead letters" in log
    assert "over the NATS payload limit" in log
