"""NATS connections and the JetStream streams the system uses.

Streams (created idempotently by whoever connects first):

* ``IIB_WORK`` — subjects ``iib.work.>``, work-queue retention, file storage, duplicate window
  ``IIB_WORK_DUPLICATE_WINDOW`` (``Nats-Msg-Id`` = ``work-<request id>``). One durable pull
  consumer per (service, queue): ``index-<queue>`` filters ``iib.work.index.<queue>``.
* ``IIB_EVENTS`` — the subjects of the two ``IIB_MESSAGING_*_DESTINATION`` (``event_subject``),
  limits retention, when ``IIB_MESSAGING_DURABLE`` (otherwise events are plain NATS publishes).
* ``IIB_ADVISORIES`` — JetStream's max-deliveries advisories for ``IIB_WORK``, so the request
  store fails requests whose work item could not be finished even if it was down at the time.

Each stream has ``IIB_NATS_STREAM_REPLICAS`` replicas (3 on a 3-node cluster); its consumers
take the stream's.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from services.common.config import Settings
from services.common.subjects import (
    WORK_STREAM,
    WORK_SUBJECT_PREFIX,
    event_subject,
    queue_token,
)

__all__ = [
    "ADVISORY_STREAM",
    "EVENTS_STREAM",
    "connect",
    "consumer_name",
    "ensure_advisory_stream",
    "ensure_events_stream",
    "ensure_work_stream",
    "work_consumer",
]

log = logging.getLogger(__name__)
EVENTS_STREAM = "IIB_EVENTS"
ADVISORY_STREAM = "IIB_ADVISORIES"
MAX_DELIVERIES_ADVISORY = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{WORK_STREAM}.>"


def _tls(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not (ca or cert):
        return None
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(cert, key)
    return context


async def connect(
    settings: Settings,
    *,
    events: bool = False,
    name: str = "iib",
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
    no_echo: bool = False,
) -> Any:
    """A NATS connection that reconnects forever (``on_reconnect`` runs after each reconnection).
    ``no_echo``: the server does not deliver this connection's own publications back to it.

    ``events=True`` uses ``IIB_MESSAGING_URLS`` and the ``IIB_MESSAGING_CA/CERT/KEY`` TLS files
    when they name NATS servers, so events can go to another NATS deployment than the work
    queue (AMQP URLs are IIB's broker: the events then stay on the system's NATS too).
    """
    urls = (
        list(settings.events_nats_urls)
        if events and settings.events_nats_urls
        else list(settings.nats_urls)
    )
    if events and settings.events_nats_urls:
        tls = _tls(settings.messaging_ca, settings.messaging_cert, settings.messaging_key)
    else:
        tls = _tls(settings.nats_tls_ca, settings.nats_tls_cert, settings.nats_tls_key)
    options: dict[str, Any] = {
        "servers": urls,
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "no_echo": no_echo,
    }
    if tls is not None:
        options["tls"] = tls
    if settings.nats_creds_file:
        options["user_credentials"] = settings.nats_creds_file
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password or ""
    if settings.nats_token:
        options["token"] = settings.nats_token

    async def _error(exc: Exception) -> None:
        log.warning("NATS connection problem", extra={"error": str(exc)})

    async def _disconnected() -> None:
        log.warning("NATS disconnected; reconnecting")

    async def _reconnected() -> None:
        log.info("NATS reconnected")
        if on_reconnect is not None:
            await on_reconnect()

    options.update(error_cb=_error, disconnected_cb=_disconnected, reconnected_cb=_reconnected)
    return await nats.connect(**options)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        try:
            await js.add_stream(config)
        except BadRequestError as exc:  # created concurrently by another process
            if "already in use" not in str(exc):
                raise
        return
    await js.update_stream(config)


async def ensure_work_stream(js: JetStreamContext, settings: Settings) -> None:
    await _ensure_stream(
        js,
        StreamConfig(
            name=WORK_STREAM,
            subjects=[f"{WORK_SUBJECT_PREFIX}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=settings.work_duplicate_window,
            num_replicas=settings.nats_stream_replicas,
        ),
    )


async def ensure_events_stream(js: JetStreamContext, settings: Settings) -> None:
    subjects = [
        event_subject(s)
        for s in (
            settings.messaging_build_state_destination,
            settings.messaging_batch_state_destination,
        )
        if s
    ]
    if not subjects or not settings.messaging_durable:
        return
    await _ensure_stream(
        js,
        StreamConfig(
            name=EVENTS_STREAM,
            subjects=subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=7 * 24 * 3600,
            discard=DiscardPolicy.OLD,
            duplicate_window=settings.work_duplicate_window,
            num_replicas=settings.nats_stream_replicas,
        ),
    )


async def ensure_advisory_stream(js: JetStreamContext, settings: Settings) -> None:
    await _ensure_stream(
        js,
        StreamConfig(
            name=ADVISORY_STREAM,
            subjects=[MAX_DELIVERIES_ADVISORY],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=settings.nats_stream_replicas,
        ),
    )


def consumer_name(service: str, queue: str | None) -> str:
    """The durable consumer of a (service, queue): ``index-default``, ``bundle-<queue>``."""
    return f"{service}-{queue_token(queue)}"


def work_consumer(settings: Settings) -> ConsumerConfig:
    """The configuration of every work consumer."""
    return ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.work_ack_wait,
        max_deliver=settings.work_max_deliver,
        max_ack_pending=1000,
    )
