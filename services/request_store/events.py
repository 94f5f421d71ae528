"""Change notifications for the watch streams (``WatchBuild``, ``WatchBuilds``).

The store calls :meth:`BuildEvents.changed` after every commit that created requests or changed
a request's state (``Store.on_change``). Watchers of this process wake up at once
(:meth:`BuildEvents.wait`) and re-read what they watch from the database, so what they send is
always the stored state history, never the notification itself.

Other request store processes (``IIB_REQUEST_STORE_PROCESSES``, other hosts) commit changes
too: :class:`EventBridge` publishes each process's changes on the NATS subject
:data:`CHANGES_SUBJECT` and feeds the changes of the other processes into the local
:class:`BuildEvents`. While the NATS connection is down a change can be missed, so every
(re)connection wakes every watcher to re-read (:meth:`BuildEvents.resync`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable

from services.common import aio, messaging
from services.common.config import Settings

__all__ = ["CHANGES_SUBJECT", "BuildEvents", "Changes", "EventBridge"]

log = logging.getLogger(__name__)
#: Core NATS subject of the request store processes' change notifications (not IIB's events).
CHANGES_SUBJECT = "iib.internal.builds.changed"
#: Changes remembered for watchers that fall behind; one further back sees "everything changed".
_HISTORY = 4096
#: Request ids in one notification (~11 bytes each: far below NATS's 1 MB payload limit).
_IDS_PER_MESSAGE = 10_000


class Changes:
    """What changed since a watcher's cursor: request ids, or everything (``all``)."""

    def __init__(self, cursor: int, ids: frozenset[int], everything: bool) -> None:
        self.cursor = cursor
        self.ids = ids
        self.everything = everything

    def touches(self, request_id: int) -> bool:
        """Whether ``request_id`` may have changed."""
        return self.everything or request_id in self.ids

    def __bool__(self) -> bool:
        return self.everything or bool(self.ids)


class BuildEvents:
    """An in-process notification of stored changes, safe to use from any thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        # (sequence number, ids or None for everything)
        self._log: deque[tuple[int, frozenset[int] | None]] = deque(maxlen=_HISTORY)
        self._listeners: list[Callable[[list[int]], None]] = []

    @property
    def cursor(self) -> int:
        """The current position: :meth:`wait` from it returns only later changes."""
        with self._cond:
            return self._seq

    def subscribe(self, listener: Callable[[list[int]], None]) -> None:
        """Also call ``listener(ids)`` for every change of this process (the NATS bridge)."""
        self._listeners.append(listener)

    def changed(self, ids: Iterable[int]) -> None:
        """Record that the requests ``ids`` were created or changed state (this process)."""
        batch = [int(i) for i in ids]
        if not batch:
            return
        self._record(frozenset(batch))
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:  # a notification never fails the change that caused it
                log.exception("change listener failed")

    def remote(self, ids: Iterable[int]) -> None:
        """Record changes another process made (not passed on to the listeners)."""
        batch = frozenset(int(i) for i in ids)
        if batch:
            self._record(batch)

    def resync(self) -> None:
        """Tell every watcher that anything may have changed (changes may have been missed)."""
        self._record(None)

    def wake(self) -> None:
        """Wake every waiter without a change (e.g. a watch stream was cancelled)."""
        with self._cond:
            self._cond.notify_all()

    def _record(self, ids: frozenset[int] | None) -> None:
        with self._cond:
            self._seq += 1
            self._log.append((self._seq, ids))
            self._cond.notify_all()

    def wait(
        self, cursor: int, timeout: float | None, stop: Callable[[], bool] = lambda: False
    ) -> Changes:
        """The changes after ``cursor``: waits until there are some, ``stop()`` is true (checked
        on every wake-up) or ``timeout`` seconds passed; then returns them (possibly none)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > cursor or stop(), timeout)
            if self._seq == cursor:
                return Changes(cursor, frozenset(), False)
            oldest = self._log[0][0] if self._log else self._seq + 1
            if oldest > cursor + 1:  # fell behind the remembered changes
                return Changes(self._seq, frozenset(), True)
            ids: set[int] = set()
            for seq, changed in self._log:
                if seq <= cursor:
                    continue
                if changed is None:
                    return Changes(self._seq, frozenset(), True)
                ids.update(changed)
            return Changes(self._seq, frozenset(ids), False)


class EventBridge:
    """Carries change notifications between request store processes over core NATS."""

    def __init__(self, settings: Settings, events: BuildEvents) -> None:
        self.settings = settings
        self.events = events
        self.origin = uuid.uuid4().hex
        self._loop: asyncio.AbstractEventLoop | None = None
        # ids changed here and not yet published; the loop is woken only when the first one
        # arrives, and publishes all that came meanwhile in one message
        self._pending: list[int] = []
        self._pending_lock = threading.Lock()
        self._ready: asyncio.Event | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        events.subscribe(self._send)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="event-bridge", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def _wake(self) -> None:
        aio.set_from_thread(self._loop, self._ready)

    def _send(self, ids: list[int]) -> None:
        with self._pending_lock:
            first = not self._pending
            self._pending.extend(ids)
        if first:
            self._wake()

    def _take(self) -> list[int]:
        with self._pending_lock:
            ids, self._pending = self._pending, []
        return list(dict.fromkeys(ids))

    def _run(self) -> None:
        aio.run(self._main())

    async def _main(self) -> None:
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        backoff = 0.2

        async def resync() -> None:
            self.events.resync()

        while not self._stop.is_set():
            nc = None
            try:
                # no_echo: the server does not send this process's notifications back to it
                # (they were read and dropped: a fifth of the bridge's time under POST+PATCH)
                nc = await messaging.connect(
                    self.settings,
                    name="iib-request-store-events-bridge",
                    on_reconnect=resync,
                    no_echo=True,
                )

                async def received(msg: object) -> None:
                    try:
                        body = json.loads(getattr(msg, "data", b""))
                        if body.get("origin") != self.origin:
                            self.events.remote(int(i) for i in body.get("ids", []))
                    except (ValueError, TypeError, AttributeError):
                        log.warning("ignored a malformed change notification")

                await nc.subscribe(CHANGES_SUBJECT, cb=received)
                await nc.flush()
                self.connected.set()
                self.events.resync()  # anything committed elsewhere before the subscription
                backoff = 0.2
                while True:
                    ids = self._take()
                    if not ids:
                        if self._stop.is_set():
                            # what was committed before the stop has been sent
                            await nc.flush(timeout=1)
                            break
                        # set by the next id added to an empty list (after this take), or stop()
                        await self._ready.wait()
                        self._ready.clear()
                        continue
                    for start in range(0, len(ids), _IDS_PER_MESSAGE):
                        chunk = ids[start : start + _IDS_PER_MESSAGE]
                        body = json.dumps({"origin": self.origin, "ids": chunk}).encode()
                        await nc.publish(CHANGES_SUBJECT, body)
            except Exception as exc:
                self.connected.clear()
                log.warning(
                    "change notifications cannot reach NATS; watchers of other processes wait",
                    extra={"error": str(exc) or type(exc).__name__},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if nc is not None:
                    try:
                        await nc.close()
                    except Exception:
                        pass
