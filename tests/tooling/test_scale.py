"""Scale-out on one machine with the real parts (tests/tooling/scale.py): a 3-node NATS
JetStream cluster with 3-replica streams, PostgreSQL, two request store processes behind Envoy
and three index builders. 200 requests are submitted through Envoy while one NATS node and one
index builder are killed (SIGKILL) and restarted: none is lost, none is done twice, and the
serial requests of each index run one at a time in submission order."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.common.dispatch.conftest import recorded
from tests.tooling.scale import ScaleSystem, add_body

pytestmark = [pytest.mark.slow]

INDEXES = [f"q.io/scale/index-{n}:v4.14" for n in range(4)]


def test_200_requests_survive_a_nats_node_and_a_builder_killed_and_restarted(
    tmp_path: Path,
) -> None:
    system = ScaleSystem(tmp_path / "system", ack_wait=3.0).start(builders=3)
    try:
        assert system.nats is not None
        streams = _stream_replicas(system)
        ids: list[int] = []
        serial_of: dict[int, str] = {}

        def submit(count: int) -> None:
            for _ in range(count):
                n = len(ids)
                # three serial requests for every parallel one, over four indexes
                serial = n % 4 != 3
                index = INDEXES[n % len(INDEXES)]
                rid = system.submit(add_body(0.2 + (n % 3) * 0.1, index, serial))
                ids.append(rid)
                if serial:
                    serial_of[rid] = index

        submit(60)
        # kill a builder in the middle of a request, and the node leading the work stream
        victim = system.builders[0]
        held = _wait_for_request_in_flight(system, victim.pid)
        leader = _work_stream_leader(system)
        victim_pid = victim.pid
        victim.kill()
        system.nats.nodes[leader].kill()
        submit(80)
        system.nats.nodes[leader].start()
        victim.start()
        submit(60)
        final = system.wait_final(ids, timeout=240)
        system.nats.wait_ready()
        recorded(system.events, ids)  # the last requests' "complete" records land
    finally:
        events = system.events()
        system.close()

    assert streams == {"IIB_WORK": 3, "IIB_ADVISORIES": 3}
    # 0 lost: every request completed
    assert {rid: final[rid]["state"] for rid in ids} == dict.fromkeys(ids, "complete")
    # 0 done twice: one final state per request, one completion per request
    for rid in ids:
        finals = [h for h in final[rid]["state_history"] if h["state"] in ("complete", "failed")]
        assert len(finals) == 1, (rid, final[rid]["state_history"])
    completions: dict[int, int] = defaultdict(int)
    for event in events:
        if event["event"] == "complete":
            completions[event["id"]] += 1
    assert dict(completions) == dict.fromkeys(ids, 1)
    # what the killed builder held was redelivered and done by another builder
    redone = [e for e in events if e["id"] == held and e["event"] == "complete"]
    assert len(redone) == 1 and redone[0]["pid"] != victim_pid, events
    # the restarted builder took work again
    pids = {e["pid"] for e in events if e["event"] == "start"}
    assert len(pids) == 4, pids
    # SERIAL: per index, every run of a request starts after the previous request's work
    # finished, and the requests run in submission order
    starts: dict[int, list[float]] = defaultdict(list)
    finish: dict[int, float] = {}
    for event in events:
        if event["event"] == "start":
            starts[event["id"]].append(event["t"])
        elif event["event"] == "finish":
            finish[event["id"]] = max(finish.get(event["id"], 0.0), event["t"])
    by_index: dict[str, list[int]] = defaultdict(list)
    for rid in ids:
        if rid in serial_of:
            by_index[serial_of[rid]].append(rid)
    for index, members in by_index.items():
        assert members == sorted(members)
        for earlier, later in zip(members, members[1:], strict=False):
            assert min(starts[later]) >= finish[earlier], f"{index}: {later} overlapped {earlier}"


def _wait_for_request_in_flight(system: ScaleSystem, pid: int | None) -> int:
    """A request that builder ``pid`` has started and not finished."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running: dict[int, int] = {}
        for event in system.events():
            if event["pid"] == pid and event["event"] == "start":
                running[event["id"]] = 1
            elif event["pid"] == pid:
                running.pop(event["id"], None)
        if running:
            return next(iter(running))
        time.sleep(0.02)
    raise AssertionError("the builder never took a request")


def _jsz(system: ScaleSystem, node: int = 0) -> dict[str, Any]:
    assert system.nats is not None
    url = f"{system.nats.nodes[node].monitor}/jsz?accounts=true&streams=true&config=true"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return dict(json.load(resp))


def _work_stream_leader(system: ScaleSystem) -> int:
    """The index of the node leading the IIB_WORK stream's replicas (nats-server's view)."""
    for account in _jsz(system).get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == "IIB_WORK":
                return int(stream["cluster"]["leader"].removeprefix("n"))
    raise AssertionError("no IIB_WORK stream")


def _stream_replicas(system: ScaleSystem, timeout: float = 30.0) -> dict[str, int]:
    """Replicas of the work and advisory streams, from a node's /jsz (nats-server's own view).

    The request store's relay creates the two streams one after the other once it has connected,
    which is after its gRPC port opens, so this waits until both are there (or the time is up).
    """
    deadline = time.monotonic() + timeout
    while True:
        out = {}
        for account in _jsz(system).get("account_details", []):
            for stream in account.get("stream_detail", []):
                out[stream["name"]] = int(stream["config"].get("num_replicas", 1))
        if {"IIB_WORK", "IIB_ADVISORIES"} <= out.keys() or time.monotonic() > deadline:
            return out
        time.sleep(0.2)
