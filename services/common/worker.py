"""The worker runtime shared by the index builder and the bundle regenerator.

A worker process consumes its service's work items (``iib.work.<service>.<queue>``) from NATS
JetStream with one durable pull consumer per queue, and for each item:

1. reads the request from the request store (typed gRPC API); a request that is already final
   is acknowledged and skipped (a redelivery after the work was done);
2. runs the handler on a thread while sending ``in_progress`` heartbeats to JetStream every
   third of ``IIB_WORK_ACK_WAIT``, so long builds are not redelivered;
3. acknowledges the item only after the request's final state is stored. A handler error ends
   the request as failed with the error's message (IIBError) or IIB's generic text; if the
   worker dies, JetStream redelivers the item after ``IIB_WORK_ACK_WAIT`` to another worker;
   after ``IIB_WORK_MAX_DELIVER`` deliveries the request store fails the request.

A redelivered item (``delivery > 1``: an earlier delivery did not finish; its worker may have
died of the input, e.g. SIGSEGV or an OOM kill) runs in a spawned child process with an
address-space limit and a time limit (IIB_WORKER_GUARD_MEMORY, IIB_WORKER_GUARD_TIMEOUT) when
the service gives a handler factory (:func:`run_guarded`): a crash there fails the request with
a reason instead of taking the worker down again on every redelivery.

Stopping (SIGTERM/SIGINT) stops fetching, tells the handler through ``WorkContext.cancelled`` and
waits up to ``IIB_WORKER_SHUTDOWN_GRACE`` seconds; an unfinished item is then released (nak) so
another worker takes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import logging
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import Error as JetStreamError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.common import aio, messaging, metrics
from services.common.config import Settings
from services.common.errors import FinalStateError, IIBError, LeaseHeldError, LeaseLostError
from services.common.grpc_auth import InternalTLS, internal_tls
from services.common.grpc_edge import error_reason
from services.common.grpc_server import channel
from services.common.pb.iib.v1 import requests_pb2, requests_pb2_grpc
from services.common.subjects import WORK_STREAM, work_subject_for
from services.common.telemetry import context_from, trace_headers, tracer

__all__ = [
    "Cancelled",
    "FinalStateReached",
    "Handler",
    "HandlerFactory",
    "LeaseLost",
    "StoreClient",
    "WorkContext",
    "WorkerRuntime",
    "run_guarded",
]

T = TypeVar("T")

log = logging.getLogger(__name__)
_tracer = tracer(__name__)
UNKNOWN_ERROR = "An unknown error occurred. See logs for details"
FINAL = (requests_pb2.REQUEST_STATE_COMPLETE, requests_pb2.REQUEST_STATE_FAILED)


class Cancelled(Exception):
    """Raised by a handler (via WorkContext.check_cancelled) when the worker is stopping."""


class FinalStateReached(Exception):
    """The request became final elsewhere; the worker stops working on it."""


class LeaseLost(FinalStateReached):
    """The worker's build lease is no longer the request's current one (another worker claimed
    it after the lease ran out): stop, and change nothing (the other build owns the outputs)."""


def request_type_name(request_type: int) -> str:
    """IIB's API name of a request type (``add``, ``merge-index-image``...)."""
    try:
        name = requests_pb2.RequestType.Name(request_type)
    except ValueError:
        return "unknown"
    return name.removeprefix("REQUEST_TYPE_").lower().replace("_", "-")


def store_unavailable(exc: grpc.RpcError) -> bool:
    """A call that did not reach a working request store (safe to retry)."""
    return exc.code() == grpc.StatusCode.UNAVAILABLE


class StoreClient:
    """The request store's typed API (blocking calls, with a per-call deadline).

    Updates are retried while the request store is unreachable (UNAVAILABLE), with backoff,
    for up to ``outage`` seconds: a store restart or a short outage does not fail the build in
    progress (the worker runtime keeps holding the work item meanwhile).
    """

    def __init__(
        self,
        address: str,
        tls: InternalTLS | None,
        timeout: float = 30.0,
        outage: float = 600.0,
    ) -> None:
        self._stub = requests_pb2_grpc.RequestStoreStub(channel(address, tls))  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._outage = outage

    def get(self, request_id: int) -> requests_pb2.Job:
        return self._stub.GetJob(requests_pb2.GetJobRequest(id=request_id), timeout=self._timeout)

    def claim_followers(
        self, request_id: int, holder: str, ttl: float, limit: int
    ) -> list[requests_pb2.ClaimedJob]:
        """Claim the requests queued behind serial request ``request_id`` (whose lease
        ``holder`` holds), in order, with their leases."""
        response = self._stub.ClaimFollowers(
            requests_pb2.ClaimFollowersRequest(
                id=request_id, holder=holder, ttl_seconds=ttl, max_jobs=limit
            ),
            timeout=self._timeout,
        )
        return list(response.jobs)

    def claim(self, request_id: int, holder: str, ttl: float, token: int = 0) -> requests_pb2.Lease:
        """Claim (token 0) or renew the build lease; gRPC errors carry LEASE_HELD/LEASE_LOST."""
        return self._stub.ClaimJob(
            requests_pb2.ClaimJobRequest(
                id=request_id, holder=holder, ttl_seconds=ttl, token=token
            ),
            timeout=self._timeout,
        )

    def update(
        self,
        request_id: int,
        *,
        state: int | None = None,
        reason: str | None = None,
        results: requests_pb2.RequestResults | None = None,
        lease_token: int = 0,
    ) -> requests_pb2.UpdateJobResponse:
        message = requests_pb2.UpdateJobRequest(id=request_id, lease_token=lease_token)
        if state is not None:
            message.state = state  # type: ignore[assignment]
            message.state_reason = reason or ""
        if results is not None:
            message.results.CopyFrom(results)
        deadline = time.monotonic() + self._outage
        delay = 0.5
        while True:
            try:
                return self._stub.UpdateJob(message, timeout=self._timeout)
            except grpc.RpcError as exc:
                reason_code = error_reason(exc)
                if reason_code == FinalStateError.reason:
                    raise FinalStateReached(exc.details()) from None
                if reason_code == LeaseLostError.reason:
                    raise LeaseLost(exc.details()) from None
                if not store_unavailable(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "request store unreachable; retrying the update",
                    extra={"request_id": request_id, "retry_in": delay},
                )
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


@dataclass
class WorkContext:
    """What a handler gets besides the request: progress reporting and cancellation."""

    request: requests_pb2.Job
    store: StoreClient
    delivery: int
    # When the work item was fetched from JetStream (time.time()).
    received_at: float = 0.0
    cancelled: threading.Event = field(default_factory=threading.Event)
    # The build lease's fencing token (0: no lease); every update carries it.
    lease_token: int = 0
    # Set when the lease was lost: another worker owns the request (and its outputs) now.
    lease_lost: threading.Event = field(default_factory=threading.Event)
    # The lease's holder name and length (to claim followers with the same terms).
    holder: str = ""
    lease_ttl: float = 0.0
    # Requests claimed to be built with this one (serial followers), in order.
    group: list[WorkContext] = field(default_factory=list)
    # Set once this request's final state is stored.
    finished: bool = False

    def claim_followers(self, limit: int) -> list[WorkContext]:
        """Claim up to ``limit`` requests queued behind this serial request on the same index
        (their leases are renewed with this one's); returns their contexts, in order."""
        if limit <= 0 or not self.holder:
            return []
        claimed = self.store.claim_followers(self.request_id, self.holder, self.lease_ttl, limit)
        for item in claimed:
            self.group.append(
                WorkContext(
                    request=item.job,
                    store=self.store,
                    delivery=1,
                    received_at=time.time(),
                    cancelled=self.cancelled,
                    lease_token=int(item.lease.token),
                    holder=self.holder,
                    lease_ttl=self.lease_ttl,
                )
            )
        return list(self.group)

    def release(self) -> None:
        """Hand this request's lease back (it will be picked up as a new item)."""
        self.store.claim(self.request_id, self.holder, 0.0, self.lease_token)

    @property
    def request_id(self) -> int:
        return int(self.request.id)

    def may_discard(self, error: BaseException) -> bool:
        """Whether a build that ended with ``error`` may delete what it pushed: not when the
        request became final elsewhere or another worker took it over (identical builds push
        identical manifests; those may be the outputs the other build reports)."""
        return not isinstance(error, FinalStateReached) and not self.lease_lost.is_set()

    def check_cancelled(self) -> None:
        """Call between steps: raises Cancelled when the worker is stopping."""
        if self.cancelled.is_set():
            raise Cancelled()

    def progress(self, reason: str, results: requests_pb2.RequestResults | None = None) -> None:
        """Record an in_progress state reason (and optional results)."""
        self.store.update(
            self.request_id,
            state=requests_pb2.REQUEST_STATE_IN_PROGRESS,
            reason=reason,
            results=results,
            lease_token=self.lease_token,
        )

    def complete(self, reason: str, results: requests_pb2.RequestResults | None = None) -> None:
        self.store.update(
            self.request_id,
            state=requests_pb2.REQUEST_STATE_COMPLETE,
            reason=reason,
            results=results,
            lease_token=self.lease_token,
        )
        self.finished = True

    def fail(self, reason: str) -> None:
        self.store.update(
            self.request_id,
            state=requests_pb2.REQUEST_STATE_FAILED,
            reason=reason,
            lease_token=self.lease_token,
        )
        self.finished = True


Handler = Callable[[WorkContext], None]
#: Builds a service's handler from the settings (in a guarded child process); module-level.
HandlerFactory = Callable[[Settings], Handler]


class WorkerRuntime:
    """Consumes one service's work items and runs ``handler`` on each."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        handler: Handler,
        guarded: HandlerFactory | None = None,
    ) -> None:
        """``guarded`` builds the handler in a child process (a module-level function of
        Settings): redeliveries run there, under IIB_WORKER_GUARD_MEMORY and
        IIB_WORKER_GUARD_TIMEOUT (see :func:`run_guarded`). Without it they run like the first
        delivery."""
        self.settings = settings
        self.service = service
        self.handler = handler
        self.guarded = guarded
        self.store = StoreClient(
            settings.request_store_address,
            internal_tls(settings),
            outage=settings.worker_store_outage_tolerance,
        )
        self._stopping = asyncio.Event()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{service}"
        metrics.set_state("nats", False)  # /readyz: not until it consumes
        # A lease outlives a few missed renewals; JetStream's ack wait decides redeliveries.
        self.lease_ttl = 3 * settings.work_ack_wait

    # --- entry points ----------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then stop gracefully."""
        aio.run(self._serve_with_signals())

    async def _serve_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self.run()

    async def run(self) -> None:
        """Connect (retrying until NATS is reachable) and process items until stopped."""
        backoff = 0.2
        while not self._stopping.is_set():
            nc = None
            try:
                nc = await messaging.connect(self.settings, name=f"iib-{self.service}-worker")
                js = nc.jetstream()
                await messaging.ensure_work_stream(js, self.settings)
                subs = []
                for queue in self.settings.worker_queues:
                    name = messaging.consumer_name(self.service, queue)
                    subject = work_subject_for(self.service, queue)
                    config = messaging.work_consumer(self.settings)
                    # create, or update an existing consumer to the current settings
                    # (pull_subscribe alone keeps an existing consumer's ack wait/max deliver)
                    await js.add_consumer(
                        WORK_STREAM, config, durable_name=name, filter_subject=subject
                    )
                    subs.append(
                        await js.pull_subscribe(
                            subject, durable=name, stream=WORK_STREAM, config=config
                        )
                    )
                log.info(
                    "worker consuming",
                    extra={"service": self.service, "queues": list(self.settings.worker_queues)},
                )
                metrics.set_state("nats", True)
                backoff = 0.2
                loops = [
                    asyncio.create_task(self._loop(nc, subs))
                    for _ in range(self.settings.worker_concurrency)
                ]
                try:
                    await asyncio.gather(*loops)
                finally:
                    # one loop's error ends them all before the connection is closed: a loop
                    # that is cancelled mid-item tells its handler to stop (ctx.cancelled)
                    for task in loops:
                        task.cancel()
                    await asyncio.gather(*loops, return_exceptions=True)
            except (NatsError, JetStreamError, OSError) as exc:
                metrics.set_state("nats", False)
                log.warning(
                    "worker cannot reach NATS", extra={"error": str(exc) or type(exc).__name__}
                )
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 5.0)
            finally:
                if nc is not None:
                    # Not drain(): nats-py waits forever for a pull subscription's inbox to empty
                    # (fetch() leaves status messages in it). Every item was acked or nak'd
                    # above; flush sends those, close ends the connection.
                    try:
                        await nc.flush(timeout=2)
                    except Exception:
                        pass
                    try:
                        await nc.close()
                    except Exception:
                        pass

    async def _loop(self, nc: Any, subs: list[Any]) -> None:
        while not self._stopping.is_set():
            got = False
            for sub in subs:
                if self._stopping.is_set():
                    return
                try:
                    msgs = await sub.fetch(1, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except (NatsError, JetStreamError) as exc:
                    if nc.is_closed:
                        raise
                    # reconnecting (nats-py does that by itself): try again shortly
                    log.warning(
                        "cannot fetch work", extra={"error": str(exc) or type(exc).__name__}
                    )
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    got = True
                    await self._process(msg)
            if not got:
                await asyncio.sleep(0)

    # --- one item ------------------------------------------------------------------------------

    @staticmethod
    async def _reply(msg: Any, action: str, extra: dict[str, Any], **kwargs: Any) -> None:
        """ack_sync / nak / in_progress / term, never raising: a reply that is lost only means
        the item comes back (and a request already final is then skipped)."""
        try:
            await getattr(msg, action)(**kwargs)
        except (NatsError, JetStreamError, TimeoutError) as exc:
            log.warning(
                "cannot %s the work item",
                action,
                extra={**extra, "error": str(exc) or type(exc).__name__},
            )

    async def _process(self, msg: Any) -> None:
        received_at = time.time()
        try:
            item = requests_pb2.WorkItem.FromString(msg.data)
        except DecodeError:
            log.error("dropping a malformed work item", extra={"subject": msg.subject})
            await self._reply(msg, "term", {"service": self.service})
            return
        # the build span continues the trace of the call that created the request (the W3C
        # context the request store wrote into the work item's headers)
        type_name = request_type_name(item.request_type)
        span = _tracer.start_span(
            f"build {type_name}",
            context=context_from(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation": "process",
                "messaging.destination.name": msg.subject,
                "iib.service": self.service,
                "iib.request_id": item.request_id,
                "iib.request_type": type_name,
                "iib.delivery": int(msg.metadata.num_delivered),
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        labels = metrics.build_labels(type_name)
        try:
            await self._process_item(msg, item, received_at, span)
        finally:
            metrics.clear_build_labels(labels)
            otel_context.detach(token)
            span.end()

    async def _process_item(
        self, msg: Any, item: requests_pb2.WorkItem, received_at: float, span: trace.Span
    ) -> None:
        type_name = request_type_name(item.request_type)
        delivery = int(msg.metadata.num_delivered)
        extra = {"request_id": item.request_id, "delivery": delivery, "service": self.service}
        try:
            request = await self._holding(msg, extra, self.store.get, item.request_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                log.warning("work item for an unknown request; dropping it", extra=extra)
                await self._reply(msg, "ack_sync", extra)
                return
            log.warning("cannot read the request; retrying the item later", extra=extra)
            await self._reply(msg, "nak", extra, delay=2)
            return
        except Cancelled:
            await self._reply(msg, "nak", extra)
            return
        if request.state in FINAL:
            log.info("request already final; skipping redelivered work", extra=extra)
            metrics.WORK_ITEMS.labels(self.service, "skipped").inc()
            await self._reply(msg, "ack_sync", extra)
            return
        try:
            lease = await self._claim(msg, extra, item.request_id)
        except grpc.RpcError as exc:
            if error_reason(exc) == FinalStateError.reason:
                log.info("request became final elsewhere; skipping it", extra=extra)
                await self._reply(msg, "ack_sync", extra)
                return
            log.warning("cannot claim the request; retrying the item later", extra=extra)
            await self._reply(msg, "nak", extra, delay=2)
            return
        except Cancelled:
            await self._reply(msg, "nak", extra)
            return
        ctx = WorkContext(
            request=request,
            store=self.store,
            delivery=delivery,
            received_at=received_at,
            lease_token=int(lease.token),
            holder=self.holder,
            lease_ttl=self.lease_ttl,
        )
        outcome: dict[str, BaseException | None] = {}
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()

        def run() -> None:
            try:
                if delivery > 1 and self.guarded is not None:
                    # an earlier delivery did not finish: its worker may have died of this
                    # input (SIGSEGV, OOM), so it must not take this process down too
                    run_guarded(self.settings, self.service, self.guarded, ctx)
                else:
                    self.handler(ctx)
                outcome["error"] = None
            except BaseException as exc:  # reported below, after the thread ends
                outcome["error"] = exc
            finally:
                loop.call_soon_threadsafe(finished.set)

        # A daemon thread, not the default executor: a stopping process must not wait for it.
        # It runs in a copy of this context: the handler's spans are children of the build span.
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(run,),
            name=f"request-{item.request_id}",
            daemon=True,
        ).start()
        started = time.monotonic()
        log.info("processing request", extra=extra)
        heartbeat = max(self.settings.work_ack_wait / 3, 0.2)
        last_beat = time.monotonic()
        deadline: float | None = None
        while not finished.is_set():
            try:
                await asyncio.wait_for(finished.wait(), timeout=min(heartbeat, 0.5))
            except TimeoutError:
                pass
            except asyncio.CancelledError:
                # the runtime is restarting its loops: the handler stops at its next step and
                # the item (neither acked nor nak'd) comes back after the ack wait
                ctx.cancelled.set()
                raise
            if finished.is_set():
                break
            if self._stopping.is_set() and deadline is None:
                ctx.cancelled.set()
                deadline = time.monotonic() + self.settings.worker_shutdown_grace
            if deadline is not None and time.monotonic() > deadline:
                log.warning("stopping: releasing unfinished request", extra=extra)
                await self._release(ctx, extra)
                await self._reply(msg, "nak", extra)
                return
            if time.monotonic() - last_beat >= heartbeat:
                last_beat = time.monotonic()
                await self._reply(msg, "in_progress", extra)
                if await self._renew(ctx, extra) is False:
                    ctx.lease_lost.set()
                    ctx.cancelled.set()  # the handler stops at its next step
        error = outcome.get("error")
        result = _outcome_name(error, ctx)
        metrics.WORK_ITEMS.labels(self.service, result).inc()
        metrics.BUILD_DURATION.labels(self.service, type_name, result).observe(
            time.monotonic() - started
        )
        span.set_attribute("iib.outcome", result)
        if result == "failed":
            span.set_status(Status(StatusCode.ERROR, str(error) if error else None))
        if isinstance(error, LeaseLost) or ctx.lease_lost.is_set():
            # another worker owns the request now: change nothing, reply nothing (its own
            # delivery of the item is the one that counts)
            log.warning("build lease lost; leaving the request to its new holder", extra=extra)
            return
        if isinstance(error, Cancelled):
            log.info("request released on shutdown", extra=extra)
            await self._release(ctx, extra)
            await self._reply(msg, "nak", extra)
            return
        if error is not None and not isinstance(error, FinalStateReached):
            reason = str(error) if isinstance(error, IIBError) else UNKNOWN_ERROR
            if not isinstance(error, IIBError):
                log.error("request failed with an unexpected error", extra=extra, exc_info=error)
            else:
                log.info("request failed", extra={**extra, "reason": reason})
            try:
                await self._holding(msg, extra, ctx.fail, reason)
            except LeaseLost:
                log.warning("build lease lost; leaving the request to its new holder", extra=extra)
                return
            except FinalStateReached:
                pass
            except (grpc.RpcError, Cancelled):
                log.warning("cannot record the failure; the item will be redelivered", extra=extra)
                await self._reply(msg, "nak", extra, delay=2)
                return
        await self._reply(msg, "ack_sync", extra)
        log.info("request done", extra=extra)

    async def _holding(
        self, msg: Any, extra: dict[str, Any], call: Callable[..., T], *args: Any
    ) -> T:
        """Run a blocking request-store call while holding the work item: ``in_progress``
        heartbeats go to JetStream meanwhile, and an unreachable store is waited for with
        backoff (an outage must not spend the item's deliveries). Raises Cancelled when the
        worker stops while waiting."""
        heartbeat = max(self.settings.work_ack_wait / 3, 0.2)
        delay = 0.5
        while True:
            task = asyncio.ensure_future(asyncio.to_thread(call, *args))
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=heartbeat)
                if not done:
                    await self._reply(msg, "in_progress", extra)
            try:
                return task.result()
            except grpc.RpcError as exc:
                if not store_unavailable(exc):
                    raise
            if self._stopping.is_set():
                raise Cancelled()
            log.warning(
                "request store unreachable; holding the work item",
                extra={**extra, "retry_in": delay},
            )
            await self._reply(msg, "in_progress", extra)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 10.0)

    async def _claim(self, msg: Any, extra: dict[str, Any], request_id: int) -> Any:
        """The request's build lease. While another worker holds it (a redelivery while that
        worker still builds), wait holding the item, without spending a delivery, until the
        lease is released or runs out (the other worker stalled or died) or the request is
        final (raises the REQUEST_FINAL error)."""
        while True:
            try:
                return await self._holding(
                    msg, extra, self.store.claim, request_id, self.holder, self.lease_ttl
                )
            except grpc.RpcError as exc:
                if error_reason(exc) != LeaseHeldError.reason:
                    raise
                log.info("request is being built elsewhere; waiting for its lease", extra=extra)
            if self._stopping.is_set():
                raise Cancelled()
            await self._reply(msg, "in_progress", extra)
            try:
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=max(self.settings.work_ack_wait / 3, 0.2)
                )
            except TimeoutError:
                pass

    async def _release(self, ctx: WorkContext, extra: dict[str, Any]) -> None:
        """Hand the leases back (the group's too), so the released items' next worker starts
        at once."""
        for member in [ctx, *ctx.group]:
            if member.finished:
                continue
            try:
                await asyncio.to_thread(member.release)
            except grpc.RpcError as exc:
                log.warning(
                    "cannot release the build lease",
                    extra={**extra, "member": member.request_id, "error": exc.code().name},
                )

    async def _renew(self, ctx: WorkContext, extra: dict[str, Any]) -> bool | None:
        """Renew the build lease (and the group's): False when the request's own lease was
        lost, None when the store did not answer (the build goes on; the lease outlives a few
        missed renewals). A follower whose lease is lost is marked so."""
        own: bool | None = True
        for member in [ctx, *ctx.group]:
            if member.lease_lost.is_set() or member.finished:
                continue
            try:
                await asyncio.to_thread(
                    self.store.claim,
                    member.request_id,
                    self.holder,
                    self.lease_ttl,
                    member.lease_token,
                )
            except grpc.RpcError as exc:
                if error_reason(exc) == LeaseLostError.reason:
                    if member is ctx:
                        own = False
                    else:
                        member.lease_lost.set()
                    continue
                log.warning(
                    "cannot renew the build lease",
                    extra={**extra, "member": member.request_id, "error": exc.code().name},
                )
                if member is ctx:
                    own = None
        return own


def _outcome_name(error: BaseException | None, ctx: WorkContext) -> str:
    """How a handler run ended, for the metrics: complete, failed, released, lost, skipped."""
    if isinstance(error, LeaseLost) or ctx.lease_lost.is_set():
        return "lost"
    if isinstance(error, Cancelled):
        return "released"
    if isinstance(error, FinalStateReached):
        return "skipped"
    return "complete" if error is None else "failed"


# --- guarded runs: a redelivery in a child process with memory and time limits ---------------

_GUARD_BROKE = (
    "The request could not be processed: an earlier attempt stopped unexpectedly, and the "
    "isolated retry"
)


def run_guarded(
    settings: Settings, service: str, factory: HandlerFactory, ctx: WorkContext
) -> None:
    """Run ``factory(settings)(ctx)`` in a child process (spawned: no state shared with this
    one) with an address-space limit (RLIMIT_AS = IIB_WORKER_GUARD_MEMORY) and a wall-clock
    limit (IIB_WORKER_GUARD_TIMEOUT), and re-raise its outcome here.

    The child records progress and the final state itself (its own request-store channel,
    with ``ctx``'s lease token); this process keeps holding the work item (heartbeats, lease
    renewals) and relays cancellation. A child that dies (a signal, no outcome), runs out of
    memory or time becomes an ``IIBError`` naming that, which fails the request: the input
    can no longer take the worker down.
    """
    mp = multiprocessing.get_context("spawn")
    commands, to_child = mp.Pipe(duplex=False)
    from_child, results = mp.Pipe(duplex=False)
    process = mp.Process(
        target=_guarded_child,
        args=(settings, service, factory, ctx.request.SerializeToString(), ctx.delivery),
        kwargs={
            "received_at": ctx.received_at,
            "lease_token": ctx.lease_token,
            "commands": commands,
            "results": results,
            "trace_context": trace_headers(),
        },
        name=f"guarded-request-{ctx.request_id}",
        daemon=True,
    )
    extra = {"request_id": ctx.request_id, "delivery": ctx.delivery}
    limit = settings.worker_guard_timeout
    _remove_workspaces(settings, ctx.request_id)  # what a dead earlier attempt left
    process.start()
    commands.close()
    results.close()
    log.warning(
        "an earlier delivery did not finish; running the request in a guarded process",
        extra={**extra, "pid": process.pid, "memory_limit": settings.worker_guard_memory},
    )
    deadline = time.monotonic() + limit
    outcome: tuple[str, str, int] | None = None
    relayed: set[str] = set()
    try:
        while True:
            if from_child.poll(0.2):
                try:
                    outcome = from_child.recv()
                except (EOFError, OSError):
                    outcome = None  # it died before answering
                break
            if not process.is_alive():
                break
            for signal_name, event in (("cancel", ctx.cancelled), ("lease_lost", ctx.lease_lost)):
                if event.is_set() and signal_name not in relayed:
                    relayed.add(signal_name)
                    with contextlib.suppress(OSError):
                        to_child.send(signal_name)
            if time.monotonic() > deadline:
                process.kill()
                process.join(10)
                _remove_workspaces(settings, ctx.request_id)
                raise IIBError(
                    f"{_GUARD_BROKE} did not finish within {limit:g} seconds "
                    "(IIB_WORKER_GUARD_TIMEOUT)"
                )
        process.join(10)
    finally:
        if process.is_alive():
            process.kill()
            process.join(10)
        for end in (to_child, from_child):
            end.close()
    if outcome is None:
        _remove_workspaces(settings, ctx.request_id)
        code = process.exitcode
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        log.error("the guarded process ended without an outcome: %s", how, extra=extra)
        raise IIBError(f"{_GUARD_BROKE} {how}, probably because of a hostile input")
    kind, detail, peak = outcome
    log.info("the guarded process ended: %s", kind, extra={**extra, "peak_rss_kib": peak})
    if kind == "ok":
        return
    if kind == "iib":
        raise IIBError(detail)
    if kind == "memory":
        raise IIBError(
            f"{_GUARD_BROKE} needed more than its {settings.worker_guard_memory} bytes of memory "
            "(IIB_WORKER_GUARD_MEMORY)"
        )
    if kind == "cancelled":
        raise Cancelled()
    if kind == "lease_lost":
        raise LeaseLost(detail)
    if kind == "final":
        raise FinalStateReached(detail)
    raise RuntimeError(f"the guarded process failed unexpectedly: {detail}")


def _remove_workspaces(settings: Settings, request_id: int) -> None:
    """Delete the request's scratch directories (``iib-<id>-*``) a dead attempt left behind."""
    root = Path(settings.work_dir or tempfile.gettempdir())
    for leftover in root.glob(f"iib-{request_id}-*"):
        if leftover.is_dir() and not leftover.is_symlink():
            for current, dirs, _files in os.walk(leftover):
                for name in dirs:  # unreadable directories (mode 0o000) would stay
                    with contextlib.suppress(OSError):
                        os.chmod(os.path.join(current, name), 0o700, follow_symlinks=False)
            shutil.rmtree(leftover, ignore_errors=True)


def _guarded_child(
    settings: Settings,
    service: str,
    factory: HandlerFactory,
    request: bytes,
    delivery: int,
    *,
    received_at: float,
    lease_token: int,
    commands: Any,
    results: Any,
    trace_context: dict[str, str] | None = None,
) -> None:
    """The child process of :func:`run_guarded` (its entry point after spawn)."""
    _die_with_parent()
    try:
        # one malloc arena per thread would reserve 64 MiB of address space each
        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass
    limit = settings.worker_guard_memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from services.common.logs import configure_logging

    configure_logging(settings, f"{service}-guarded", capture_level=settings.request_logs_level)
    from services.common.telemetry import setup_telemetry

    setup_telemetry(settings, service)
    otel_context.attach(context_from(trace_context))  # its spans join the worker's build span
    store = StoreClient(
        settings.request_store_address,
        internal_tls(settings),
        outage=settings.worker_store_outage_tolerance,
    )
    ctx = WorkContext(
        request=requests_pb2.Job.FromString(request),
        store=store,
        delivery=delivery,
        received_at=received_at,
        lease_token=lease_token,
    )

    def listen() -> None:
        try:
            while True:
                command = commands.recv()
                if command == "lease_lost":
                    ctx.lease_lost.set()
                ctx.cancelled.set()
        except (EOFError, OSError):
            os._exit(70)  # the worker is gone: nobody holds the item any more

    threading.Thread(target=listen, name="guard-commands", daemon=True).start()
    outcome: tuple[str, str]
    try:
        factory(settings)(ctx)
        outcome = ("ok", "")
    except MemoryError:
        outcome = ("memory", "")
    except Cancelled:
        outcome = ("cancelled", "")
    except LeaseLost as exc:
        outcome = ("lease_lost", str(exc))
    except FinalStateReached as exc:
        outcome = ("final", str(exc))
    except IIBError as exc:
        outcome = ("iib", str(exc))
    except BaseException as exc:
        log.error("request failed with an unexpected error", exc_info=exc)
        outcome = ("unexpected", type(exc).__name__)
    try:
        results.send((*outcome, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    finally:
        from services.common.telemetry import flush

        flush()
        logging.shutdown()
        os._exit(0)  # not waiting for the handler's leftover threads


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the worker that started it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
