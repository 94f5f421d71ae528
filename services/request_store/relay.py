"""The outbox relay: publishes what the request store committed, and nothing is lost.

Runs in the request store process, on its own thread and asyncio loop:

1. Reads unsent outbox rows in order (work items that SERIAL ordering holds back are skipped
   until their predecessor is final) and publishes them: work items and durable events to
   JetStream with ``Nats-Msg-Id`` (a re-publish is dropped by the stream, so a crash between the
   publish ack and the "sent" mark never makes a second work item), other events as plain NATS
   messages. A row is marked sent only after the publish is acknowledged.
2. When NATS is unreachable, or JetStream does not answer (no stream responder, no ack in
   time: a cluster electing a stream leader after losing a node), rows simply stay unsent and
   count no attempt: submissions keep being accepted and are published once it answers again.
3. Consumes JetStream's max-deliveries advisories: a work item that no worker finished within
   ``IIB_WORK_MAX_DELIVER`` deliveries fails its request with a reason and is removed.

It wakes up on every commit that wrote outbox rows (``Store.on_outbox``) and otherwise scans every
``IIB_RELAY_POLL_INTERVAL`` seconds (rows written by other request store processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import DecodeError
from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError
from nats.js.errors import APIError, NoStreamResponseError
from nats.js.errors import Error as JetStreamError

from services.common import aio, messaging
from services.common.config import Settings
from services.common.pb.iib.v1 import requests_pb2
from services.common.subjects import WORK_STREAM
from services.request_store.store import Store

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)
_BATCH = 500
_PRUNE_EVERY = 3600.0


class OutboxRelay:
    """Publishes outbox rows to NATS; start() runs it on a background thread."""

    def __init__(self, settings: Settings, store: Store, wake_fd: int | None = None) -> None:
        """``wake_fd``: the read end of a pipe the request store's other processes write a
        byte to after a commit that wrote outbox rows (``serve_processes``)."""
        self.settings = settings
        self.store = store
        self._wake_fd = wake_fd
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        # a wake-up is on its way to the loop and the scan it causes has not begun: a commit
        # made meanwhile is seen by that scan, so it need not send another (written from the
        # committing threads, cleared by the loop before it reads the outbox)
        self._woken = False
        self.connected = threading.Event()
        self._pruned = float("-inf")

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        self.store.on_outbox = self.wake

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Scan the outbox now (thread-safe). Under load most commits find a wake-up already
        on its way and send none: each one is a write to the loop's self-pipe and a switch to
        its thread."""
        if self._woken:
            return
        # set before the wake-up is sent: the loop clears it, and it may run at once
        self._woken = True
        if not aio.set_from_thread(self._loop, self._wake):
            self._woken = False  # no loop to wake (not started yet, or closed)

    def _woken_by_pipe(self) -> None:
        assert self._wake_fd is not None and self._wake is not None
        try:
            if not os.read(self._wake_fd, 4096):  # every writer is gone
                assert self._loop is not None
                self._loop.remove_reader(self._wake_fd)
        except BlockingIOError:
            return
        self._wake.set()

    def _run(self) -> None:
        aio.run(self._main())

    # --- main loop -----------------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._wake_fd is not None:
            os.set_blocking(self._wake_fd, False)
            self._loop.add_reader(self._wake_fd, self._woken_by_pipe)
        backoff = 0.2
        while not self._stop.is_set():
            nc = events_nc = None
            try:
                nc = await messaging.connect(self.settings, name="iib-request-store-relay")
                js = nc.jetstream()
                await messaging.ensure_work_stream(js, self.settings)
                await messaging.ensure_advisory_stream(js, self.settings)
                events_nc = nc
                if self.settings.events_nats_urls:
                    events_nc = await messaging.connect(
                        self.settings, events=True, name="iib-request-store-events"
                    )
                events_js = events_nc.jetstream()
                await messaging.ensure_events_stream(events_js, self.settings)
                advisories = await js.pull_subscribe(
                    messaging.MAX_DELIVERIES_ADVISORY,
                    durable="request-store-advisories",
                    stream=messaging.ADVISORY_STREAM,
                )
                self.connected.set()
                backoff = 0.2
                log.info("outbox relay connected to NATS")
                watcher = asyncio.create_task(self._watch_advisories(js, advisories))
                try:
                    while not self._stop.is_set():
                        if watcher.done():
                            watcher.result()  # re-raise what stopped it
                        sent = await self._publish_batch(nc, js, events_nc, events_js)
                        await self._prune_now_and_then()
                        if sent < _BATCH:
                            await self._sleep(self.settings.relay_poll_interval)
                finally:
                    # wait for the watcher to end before its connection closes: a fetch cut
                    # short by the close raises ConnectionClosedError, which nobody would read
                    watcher.cancel()
                    with contextlib.suppress(
                        asyncio.CancelledError, TimeoutError, NatsError, JetStreamError, OSError
                    ):
                        await watcher
            except (TimeoutError, NatsError, JetStreamError, OSError) as exc:
                self.connected.clear()
                log.warning(
                    "outbox relay cannot reach NATS; submissions stay queued in the outbox",
                    extra={"error": str(exc) or type(exc).__name__},
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                self.connected.clear()
                log.exception("outbox relay failed; restarting it")
                await self._sleep(1.0)
            finally:
                for conn in {id(c): c for c in (events_nc, nc) if c is not None}.values():
                    try:
                        await conn.close()
                    except Exception:
                        pass

    async def _prune_now_and_then(self) -> None:
        """Delete published rows and dead letters past ``IIB_OUTBOX_RETENTION_HOURS`` (hourly)."""
        if time.monotonic() - self._pruned < _PRUNE_EVERY:
            return
        self._pruned = time.monotonic()
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(
            hours=self.settings.outbox_retention_hours
        )
        removed = await asyncio.to_thread(self.store.prune_outbox, cutoff)
        if removed:
            log.info("pruned old outbox messages", extra={"removed": removed})

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        self._wake.clear()
        # before the next scan reads the outbox: a commit after this line sends a wake-up
        self._woken = False

    async def _publish_batch(self, nc: Any, js: Any, events_nc: Any, events_js: Any) -> int:
        """Publish one batch of rows in order. A row that can never be published (over the
        payload limit, refused by the stream) becomes a dead letter at once; a row that keeps
        failing while NATS is connected becomes one after ``IIB_OUTBOX_MAX_ATTEMPTS``. Neither
        blocks the rows behind it. A connection problem raises (rows stay queued)."""
        rows = await asyncio.to_thread(self.store.publishable_outbox, _BATCH)
        if not rows:
            return 0
        futures: list[tuple[int, asyncio.Future[Any]]] = []
        plain: list[int] = []
        dead: dict[int, str] = {}
        for row in rows:
            headers = json.loads(row.headers) if row.headers else {}
            conn = nc if row.kind == "work" else events_nc
            size = len(row.payload) + sum(len(k) + len(v) for k, v in headers.items())
            if size > conn.max_payload:
                dead[row.id] = (
                    f"the message is {size} bytes, over the NATS payload limit of "
                    f"{conn.max_payload}"
                )
                continue
            try:
                if row.kind == "work":
                    headers["Nats-Msg-Id"] = row.msg_id
                    futures.append(
                        (row.id, await js.publish_async(row.subject, row.payload, headers=headers))
                    )
                elif self.settings.messaging_durable:
                    headers["Nats-Msg-Id"] = row.msg_id
                    futures.append(
                        (
                            row.id,
                            await events_js.publish_async(
                                row.subject, row.payload, headers=headers
                            ),
                        )
                    )
                else:
                    await events_nc.publish(row.subject, row.payload, headers=headers)
                    plain.append(row.id)
            except MaxPayloadError as exc:
                dead[row.id] = f"NATS refused the message: {exc}"
        if plain:
            await events_nc.flush(timeout=self.settings.messaging_timeout)
        sent: list[int] = list(plain)
        failed: list[int] = []
        unavailable = 0
        error = ""
        for row_id, future in futures:
            try:
                await asyncio.wait_for(future, timeout=self.settings.messaging_timeout)
                sent.append(row_id)
            except APIError as exc:
                # the stream refused this message (size, subject...): it will never be accepted
                dead[row_id] = f"JetStream refused the message: {exc}"
            except (NoStreamResponseError, TimeoutError) as exc:
                # no stream answered (a cluster electing the stream's leader after a node was
                # lost, JetStream restarting): the message was not refused, it waits
                unavailable += 1
                error = str(exc) or type(exc).__name__
            except Exception as exc:
                failed.append(row_id)
                error = str(exc) or type(exc).__name__
        await asyncio.to_thread(self.store.mark_sent, sent)
        if dead:
            await asyncio.to_thread(self.store.mark_dead, dead)
            for row_id, reason in dead.items():
                log.error(
                    "outbox message moved to the dead letters; it will not be published",
                    extra={"outbox_id": row_id, "reason": reason},
                )
        if unavailable:
            raise JetStreamError(f"JetStream did not answer {unavailable} publishes: {error}")
        if failed:
            if not (nc.is_connected and events_nc.is_connected):
                raise JetStreamError(
                    f"{len(failed)} outbox messages were not acknowledged: {error}"
                )
            # NATS is up and still did not take them: count the attempt, and let the rows
            # behind go on; exhausted rows become dead letters
            exhausted = await asyncio.to_thread(
                self.store.mark_attempt_failed, failed, error, self.settings.outbox_max_attempts
            )
            for row_id in exhausted:
                log.error(
                    "outbox message moved to the dead letters after its attempts",
                    extra={"outbox_id": row_id, "reason": error},
                )
        return len(rows)

    async def _watch_advisories(self, js: Any, advisories: Any) -> None:
        while not self._stop.is_set():
            try:
                msgs = await advisories.fetch(50, timeout=1.0)
            except TimeoutError:
                continue
            await self._handle_advisories(js, msgs)

    async def _handle_advisories(self, js: Any, msgs: list[Any]) -> None:
        for msg in msgs:
            advisory = json.loads(msg.data)
            seq = int(advisory.get("stream_seq", 0))
            deliveries = int(advisory.get("deliveries", self.settings.work_max_deliver))
            try:
                stored = await js.get_msg(WORK_STREAM, seq)
            except JetStreamError:
                stored = None  # already removed
            item = None
            if stored is not None and stored.data:
                try:
                    item = requests_pb2.WorkItem.FromString(stored.data)
                except DecodeError:
                    log.error("a malformed work item exhausted its deliveries", extra={"seq": seq})
            if item is not None:
                reason = (
                    f"The request could not be processed: its work was delivered {deliveries} "
                    "times and no worker finished it (workers stopped or stopped responding)"
                )
                changed = await asyncio.to_thread(
                    self.store.fail_if_in_progress, item.request_id, reason
                )
                log.warning(
                    "work item exhausted its deliveries",
                    extra={
                        "request_id": item.request_id,
                        "deliveries": deliveries,
                        "failed": changed,
                    },
                )
            if stored is not None:
                try:
                    await js.delete_msg(WORK_STREAM, seq)
                except JetStreamError:
                    pass
            await msg.ack()
