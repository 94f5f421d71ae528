"""Dispatch over NATS JetStream with real servers: nothing lost, nothing done twice, SERIAL
ordering, crashes, shutdowns, exhausted deliveries and events."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from typing import Any

import nats
import pytest

from services.tooling.servers.nats import NatsServer
from tests.common.dispatch.conftest import USER, System, add_body, recorded
from tests.pki import tls

pytestmark = [pytest.mark.db, pytest.mark.slow]


def _completions(system: System, ids: list[int]) -> Counter[int]:
    """The "complete" records by request, once every one of ``ids`` has one."""
    return Counter(e["id"] for e in recorded(system.events, ids) if e["event"] == "complete")


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_accepted_requests_are_processed_once(system_factory) -> None:
    system = system_factory()
    system.start_worker()
    ids = [system.submit(add_body(f"fake/sleep:0.{n % 3}"))["id"] for n in range(10)]
    final = system.wait_final(ids)
    assert {d["state"] for d in final.values()} == {"complete"}
    assert all(
        d["state_reason"] == "The operator bundle(s) were successfully added to the index image"
        for d in final.values()
    )
    assert _completions(system, ids) == Counter({rid: 1 for rid in ids})
    history = [h["state_reason"] for h in reversed(system.get(ids[0])["state_history"])]
    assert history[:2] == ["The request was initiated", "Resolving the bundles"]


def test_worker_killed_mid_request_is_redelivered_and_completes_once(system_factory) -> None:
    system = system_factory()
    first = system.start_worker()
    rid = system.submit(add_body("fake/sleep:2"))["id"]
    _wait_for(lambda: any(e["event"] == "start" for e in system.events()), 20, "the first start")
    first.kill()
    system.start_worker()
    final = system.wait_final([rid], timeout=60)
    assert final[rid]["state"] == "complete"
    starts = [e for e in system.events() if e["event"] == "start" and e["id"] == rid]
    assert [s["delivery"] for s in starts] == [1, 2]
    assert starts[0]["pid"] != starts[1]["pid"]
    assert _completions(system, [rid])[rid] == 1


def test_restarting_nats_with_200_pending_loses_and_duplicates_nothing(system_factory) -> None:
    system = system_factory()
    ids = [system.submit(add_body())["id"] for _ in range(100)]
    time.sleep(1.0)  # let the relay publish these (no worker is consuming yet)
    system.nats.stop()
    # NATS is down: submissions are still accepted (201 over REST) and kept in the outbox
    ids += [system.submit(add_body())["id"] for _ in range(100)]
    system.nats.start()
    system.start_worker()
    system.start_worker()
    final = system.wait_final(ids, timeout=120)
    assert len(final) == 200
    assert {d["state"] for d in final.values()} == {"complete"}
    completions = _completions(system, ids)
    assert set(completions) == set(ids)
    assert max(completions.values()) == 1
    starts = Counter(e["id"] for e in system.events() if e["event"] == "start")
    assert max(starts.values()) == 1


def test_serial_requests_for_one_index_never_overlap_and_keep_order(system_factory) -> None:
    system = system_factory(IIB_WORKER_CONCURRENCY="2")
    for _ in range(3):
        system.start_worker()
    indexes = [f"q.io/serial/index-{n}:v4" for n in range(3)]
    ids = []
    for n in range(24):
        ids.append(
            system.submit(add_body(f"fake/sleep:0.{n % 4 + 1}", index=indexes[n % 3], serial=True))[
                "id"
            ]
        )
    # parallel requests to the same index are not serialized
    parallel = [system.submit(add_body("fake/sleep:0.3", index=indexes[0]))["id"] for _ in range(4)]
    system.wait_final(ids + parallel, timeout=120)
    _completions(system, ids)  # every "complete" record is written
    intervals: dict[int, dict[str, float]] = defaultdict(dict)
    for e in system.events():
        intervals[e["id"]][e["event"]] = e["t"]
    keys = {rid: indexes[n % 3] for n, rid in enumerate(ids)}
    by_index: dict[str, list[int]] = defaultdict(list)
    for rid in ids:
        by_index[keys[rid]].append(rid)
    for index, members in by_index.items():
        ordered = sorted(members, key=lambda rid: intervals[rid]["start"])
        assert ordered == sorted(members), f"{index} ran out of submission order"
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            assert intervals[earlier]["finish"] <= intervals[later]["start"], f"{index} overlapped"
    # different indexes did run at the same time
    spans = sorted((intervals[rid]["start"], intervals[rid]["complete"], keys[rid]) for rid in ids)
    assert any(a[1] > b[0] and a[2] != b[2] for a, b in zip(spans, spans[1:], strict=False))


def test_handler_errors_fail_the_request_with_the_message(system_factory) -> None:
    system = system_factory()
    system.start_worker()
    rid = system.submit(add_body("fake/fail:The bundle q.io/x:1 does not have the label y=z"))["id"]
    final = system.wait_final([rid])
    assert final[rid]["state"] == "failed"
    assert final[rid]["state_reason"] == "The bundle q.io/x:1 does not have the label y=z"


def test_exhausted_deliveries_fail_the_request_with_a_reason(system_factory) -> None:
    system = system_factory()
    rid = system.submit(add_body("fake/crash:1"))["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and system.get(rid)["state"] == "in_progress":
        if not any(w.running() for w in system.workers):
            system.start_worker()  # a supervisor restarting crashed workers
        time.sleep(0.2)
    data = system.get(rid)
    assert data["state"] == "failed"
    assert data["state_reason"] == (
        "The request could not be processed: its work was delivered 3 times and no worker "
        "finished it (workers stopped or stopped responding)"
    )
    assert len([e for e in system.events() if e["event"] == "start"]) == 3


def test_graceful_shutdown_releases_the_current_item(system_factory) -> None:
    system = system_factory()
    first = system.start_worker()
    rid = system.submit(add_body("fake/stubborn:4"))["id"]
    _wait_for(lambda: any(e["event"] == "start" for e in system.events()), 20, "the first start")
    stopped_at = time.time()
    first.stop(grace=10)  # SIGTERM: the handler ignores cancellation, the runtime releases it
    assert first.proc is not None and first.proc.returncode == 0  # exited, not SIGKILLed
    assert time.time() - stopped_at < 5.0
    system.start_worker()
    final = system.wait_final([rid], timeout=60)
    assert final[rid]["state"] == "complete"
    second = [e for e in system.events() if e["event"] == "start" and e["delivery"] == 2]
    assert second and second[0]["t"] - stopped_at < 2.0 + 1.5  # released, not left to time out
    assert _completions(system, [rid])[rid] == 1


def test_an_idle_worker_exits_promptly_on_sigterm(system_factory) -> None:
    system = system_factory()
    worker = system.start_worker()
    _wait_for(lambda: "worker consuming" in worker.log_tail(50), 20, "the worker to consume")
    started = time.time()
    worker.stop(grace=10)
    assert worker.proc is not None and worker.proc.returncode == 0
    assert time.time() - started < 3.0


def test_a_request_already_final_is_acked_and_skipped(system_factory) -> None:
    system = system_factory()
    rid = system.submit(add_body("fake/sleep:0"))["id"]
    # a worker principal finishes it before any worker picks the item up
    from services.common.worker import StoreClient

    StoreClient(system.env["IIB_REQUEST_STORE_ADDRESS"], tls("index-builder")).update(
        rid, state=3, reason="cancelled by hand"
    )
    system.start_worker()
    later = system.submit(add_body("fake/sleep:0"))["id"]
    system.wait_final([later])
    assert [e["id"] for e in system.events() if e["event"] == "start"] == [later]


async def _connect(server: NatsServer, user: str = "request-store") -> Any:
    """A raw client connected as ``user`` (the test's NATS requires a user per service)."""
    return await nats.connect(server.url, user=user, password=server.users[user])


async def _publish_raw(server: NatsServer, subject: str, data: bytes) -> None:
    """Publish to the work stream once the request store's relay has created it (the relay
    connects in the background after the gRPC port opens)."""
    from nats.js.errors import NoStreamResponseError

    nc = await _connect(server)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                await nc.jetstream().publish(subject, data)
                return
            except NoStreamResponseError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


def test_a_malformed_work_item_is_dropped_and_the_worker_goes_on(system_factory) -> None:
    from services.common.subjects import work_subject_for

    system = system_factory()
    # a corrupt protobuf where a WorkItem should be, queued ahead of a real request
    asyncio.run(_publish_raw(system.nats, work_subject_for("index", None), b"\x0a\xff"))
    worker = system.start_worker()
    rid = system.submit(add_body("fake/sleep:0"))["id"]
    assert system.wait_final([rid])[rid]["state"] == "complete"
    assert worker.running()
    assert "dropping a malformed work item" in worker.log_tail(200)


async def _consumer_limits(server: NatsServer) -> tuple[float, int]:
    from services.common.subjects import WORK_STREAM

    nc = await _connect(server)
    try:
        info = await nc.jetstream().consumer_info(WORK_STREAM, "index-default")
        return float(info.config.ack_wait or 0), int(info.config.max_deliver or 0)
    finally:
        await nc.close()


def test_a_restarted_worker_applies_changed_consumer_settings(system_factory) -> None:
    system = system_factory()
    first = system.start_worker()
    _wait_for(lambda: "worker consuming" in first.log_tail(50), 20, "the first worker")
    assert asyncio.run(_consumer_limits(system.nats)) == (2.0, 3)
    first.stop()
    second = system.start_worker(IIB_WORK_ACK_WAIT="7", IIB_WORK_MAX_DELIVER="5")
    _wait_for(lambda: "worker consuming" in second.log_tail(50), 20, "the second worker")
    assert asyncio.run(_consumer_limits(system.nats)) == (7.0, 5)


async def _collect(
    server: NatsServer,
    subjects: list[str],
    out: list[tuple[str, dict, dict]],
    ready: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    nc = await _connect(server)

    async def handler(msg) -> None:
        out.append((msg.subject, dict(msg.headers or {}), json.loads(msg.data)))

    for subject in subjects:
        await nc.subscribe(subject, cb=handler)
    await nc.flush()
    ready.set()
    await stop.wait()
    await nc.drain()


def test_events_are_published_for_every_state_change(system_factory) -> None:
    system = system_factory(
        IIB_MESSAGING_BUILD_STATE_DESTINATION="iib.build.state",
        IIB_MESSAGING_BATCH_STATE_DESTINATION="iib.batch.state",
    )
    received: list[tuple[str, dict, dict]] = []
    loop = asyncio.new_event_loop()
    ready, stop = asyncio.Event(), asyncio.Event()
    import threading

    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(
            _collect(system.nats, ["iib.build.state", "iib.batch.state"], received, ready, stop),
        ),
        daemon=True,
    )
    thread.start()
    _wait_for(ready.is_set, 10, "the event subscriber")
    system.start_worker()
    rid = system.submit(add_body("fake/sleep:0.2"))["id"]
    system.wait_final([rid])
    _wait_for(
        lambda: (
            sum(1 for s, _, b in received if s == "iib.build.state" and b["state"] == "complete")
            == 1
        ),
        10,
        "the complete event",
    )
    builds = [(h, b) for s, h, b in received if s == "iib.build.state" and b["id"] == rid]
    assert [b["state_reason"] for _, b in builds] == [
        "The request was initiated",
        "Resolving the bundles",
        "The operator bundle(s) were successfully added to the index image",
    ]
    headers, body = builds[-1]
    assert headers.pop("Nats-Msg-Id") == f"build-state-{rid}-3"  # de-duplicates re-publishes
    assert headers == {
        "batch": str(body["batch"]),
        "id": str(rid),
        "state": "complete",
        "user": USER,
    }
    assert "state_history" not in body and "logs" not in body  # the non-verbose form
    assert body == {k: v for k, v in system.get(rid).items() if k in body}
    batches = [
        (h, b) for s, h, b in received if s == "iib.batch.state" and b["batch"] == body["batch"]
    ]
    assert [b["state"] for _, b in batches] == ["in_progress", "complete"]
    assert batches[0][1] == {
        "annotations": None,
        "batch": body["batch"],
        "state": "in_progress",
        "user": USER,
        "requests": [{"id": rid, "organization": None, "request_type": "add"}],
    }
    assert {k: v for k, v in batches[0][0].items() if k != "Nats-Msg-Id"} == {
        "batch": str(body["batch"]),
        "state": "in_progress",
        "user": USER,
    }
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


def test_iib_queues_reports_pending_and_held_work(system_factory) -> None:
    system = system_factory()
    worker = system.start_worker()
    rid = system.submit(add_body("fake/sleep:0"))["id"]
    system.wait_final([rid])
    worker.stop()
    for _ in range(3):
        system.submit(add_body())
    # a serial request held behind an unfinished one for the same index
    system.submit(add_body(index="q.io/held:1", serial=True))
    system.submit(add_body(index="q.io/held:1", serial=True))
    _wait_for(lambda: "index-default" in _queues(system), 20, "the consumer report")
    _wait_for(lambda: " 4 " in _queues(system).splitlines()[1], 20, "4 pending items")
    out = _queues(system)
    assert "iib.work.index.default" in out
    held = [line for line in out.splitlines() if line.strip().startswith("iib.work.index.default")]
    assert held and held[0].split()[-1] == "1"


def _queues(system: System) -> str:
    import subprocess
    import sys

    from tests.conftest import REPO

    result = subprocess.run(
        [sys.executable, "-m", "services.tooling.cli", "queues"],
        env=system.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout
