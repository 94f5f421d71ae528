"""The watch streams' change notifications: the in-process BuildEvents and the NATS bridge that
carries each request store process's changes to the others (a real nats-server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.config import load_settings
from services.request_store.events import _HISTORY, BuildEvents, EventBridge
from services.tooling.servers.nats import NatsServer, start_nats


def test_a_waiter_wakes_on_a_change_with_its_ids() -> None:
    events = BuildEvents()
    cursor = events.cursor
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(events.wait(cursor, 10)))
    waiter.start()
    time.sleep(0.1)
    started = time.monotonic()
    events.changed([7, 9])
    waiter.join(5)
    assert time.monotonic() - started < 1.0  # woken by the change, not by the timeout
    changes = got[0]
    assert changes.touches(7) and changes.touches(9) and not changes.touches(8)  # type: ignore[attr-defined]


def test_changes_since_a_cursor_add_up_and_the_cursor_moves_on() -> None:
    events = BuildEvents()
    cursor = events.cursor
    events.changed([1])
    events.remote([2])
    changes = events.wait(cursor, 0)
    assert changes.ids == frozenset({1, 2}) and not changes.everything
    assert not events.wait(changes.cursor, 0)  # nothing newer


def test_a_watcher_that_fell_behind_or_a_resync_sees_everything() -> None:
    events = BuildEvents()
    cursor = events.cursor
    for n in range(_HISTORY + 1):
        events.changed([n])
    assert events.wait(cursor, 0).everything
    cursor = events.cursor
    events.resync()
    assert events.wait(cursor, 0).touches(123456)


def test_a_stopped_waiter_returns_without_changes() -> None:
    events = BuildEvents()
    stop = threading.Event()
    got: list[object] = []
    waiter = threading.Thread(
        target=lambda: got.append(events.wait(events.cursor, 30, stop=stop.is_set))
    )
    waiter.start()
    time.sleep(0.1)
    stop.set()
    events.wake()
    waiter.join(5)
    assert not waiter.is_alive() and not got[0]


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats", users=["request-store"])
    yield server
    server.process.stop()


def test_the_bridge_carries_changes_between_processes(nats: NatsServer, tmp_path: Path) -> None:
    settings = load_settings(
        {**nats.env("request-store"), "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp_path)}
    )
    here, there = BuildEvents(), BuildEvents()
    bridges = [EventBridge(settings, here), EventBridge(settings, there)]
    for bridge in bridges:
        bridge.start()
    try:
        for bridge in bridges:
            assert bridge.connected.wait(10)
        cursor_here, cursor_there = here.cursor, there.cursor
        here.changed([41])
        changes = there.wait(cursor_there, 10, stop=lambda: False)
        deadline = time.monotonic() + 10
        while not changes.touches(41) and time.monotonic() < deadline:
            changes = there.wait(changes.cursor, 1)
        assert changes.touches(41) and not changes.everything
        # a process does not hear its own changes back
        mine = here.wait(cursor_here, 0.5)
        assert mine.ids == frozenset({41})
        time.sleep(0.3)
        assert not here.wait(mine.cursor, 0.2)
    finally:
        for bridge in bridges:
            bridge.stop()


def test_the_bridge_carries_every_change_of_a_burst_and_those_made_before_it_connected(
    nats: NatsServer, tmp_path: Path
) -> None:
    """Changes made while the bridge is not connected yet, and 2,000 made at once by 4 threads,
    all reach the other process (the bridge publishes what accumulated in one message)."""
    settings = load_settings(
        {**nats.env("request-store"), "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp_path)}
    )
    here, there = BuildEvents(), BuildEvents()
    receiver = EventBridge(settings, there)
    receiver.start()
    sender = EventBridge(settings, here)
    try:
        assert receiver.connected.wait(10)
        cursor = there.cursor
        here.changed([1, 2])  # before the sender's thread even runs
        sender.start()
        assert sender.connected.wait(10)

        def burst(offset: int) -> None:
            for n in range(500):
                here.changed([offset + n])

        threads = [threading.Thread(target=burst, args=(1000 * (k + 1),)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wanted = {1, 2} | {1000 * (k + 1) + n for k in range(4) for n in range(500)}
        seen: set[int] = set()
        deadline = time.monotonic() + 10
        while not wanted <= seen and time.monotonic() < deadline:
            changes = there.wait(cursor, 1)
            cursor = changes.cursor
            assert not changes.everything
            seen |= changes.ids
        assert wanted <= seen
    finally:
        sender.stop()
        receiver.stop()


def test_changes_made_just_before_the_bridge_stops_still_reach_the_other_process(
    nats: NatsServer, tmp_path: Path
) -> None:
    """A stop (SIGTERM) lands while calls commit: the changes they made before the bridge's
    stop are sent, not dropped with the pending list (review of 8a06439)."""
    settings = load_settings(
        {**nats.env("request-store"), "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp_path)}
    )
    here, there = BuildEvents(), BuildEvents()
    receiver, sender = EventBridge(settings, there), EventBridge(settings, here)
    receiver.start()
    sender.start()
    try:
        assert receiver.connected.wait(10) and sender.connected.wait(10)
        cursor = there.cursor
        for attempt in range(20):  # each one a race the bridge lost before
            here.changed([100 + attempt])
            sender.stop()
            wanted = 100 + attempt
            deadline = time.monotonic() + 10
            seen: set[int] = set()
            while wanted not in seen and time.monotonic() < deadline:
                changes = there.wait(cursor, 1)
                cursor = changes.cursor
                seen |= changes.ids
            assert wanted in seen, f"attempt {attempt}: the change was dropped at the stop"
            sender = EventBridge(settings, here)
            sender.start()
            assert sender.connected.wait(10)
    finally:
        sender.stop()
        receiver.stop()
