"""NATS subject and stream names shared by the request store (publisher) and the workers."""

from __future__ import annotations

import re

from services.common.pb.iib.v1 import requests_pb2

__all__ = [
    "BUNDLE_TYPES",
    "WORK_STREAM",
    "event_subject",
    "queue_token",
    "service_for_type",
    "work_subject",
    "work_subject_for",
]

# JetStream stream holding all work items (work-queue retention).
WORK_STREAM = "IIB_WORK"
WORK_SUBJECT_PREFIX = "iib.work"
# Request types (iib.v1.RequestType) handled by the bundle regenerator; the index builder handles
# the others.
BUNDLE_TYPES = frozenset(
    {
        requests_pb2.REQUEST_TYPE_REGENERATE_BUNDLE,
        requests_pb2.REQUEST_TYPE_RECURSIVE_RELATED_BUNDLES,
    }
)
DEFAULT_QUEUE_TOKEN = "default"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def event_subject(destination: str) -> str:
    """The NATS subject of a state event destination: IIB's AMQP address without its
    ``topic://``/``queue://`` prefix (``topic://VirtualTopic.eng.iib.build.state`` →
    ``VirtualTopic.eng.iib.build.state``); a plain subject stays as it is."""
    for prefix in ("topic://", "queue://"):
        if destination.startswith(prefix):
            return destination[len(prefix) :]
    return destination


def queue_token(queue: str | None) -> str:
    """A subject token for a queue name (None = IIB's default queue).

    Characters NATS gives meaning to (``.``, ``*``, ``>``, whitespace...) are escaped as
    ``~XX`` (hex), so distinct queue names stay distinct.
    """
    if not queue:
        return DEFAULT_QUEUE_TOKEN
    return _UNSAFE.sub(lambda m: "".join(f"~{b:02x}" for b in m.group().encode()), queue)


def service_for_type(request_type: int) -> str:
    """``bundle`` for the bundle regenerator's request types, ``index`` otherwise."""
    return "bundle" if request_type in BUNDLE_TYPES else "index"


def work_subject_for(service: str, queue: str | None) -> str:
    """``iib.work.<service>.<queue>``: what a (service, queue) consumer reads."""
    return f"{WORK_SUBJECT_PREFIX}.{service}.{queue_token(queue)}"


def work_subject(request_type: int, queue: str | None) -> str:
    """The subject a request's work item is published on."""
    return work_subject_for(service_for_type(request_type), queue)
