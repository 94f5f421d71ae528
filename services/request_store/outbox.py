"""What the request store announces, written to the outbox in the same transaction as the change.

* ``work``: one ``iib.v1.WorkItem`` per accepted request, on ``iib.work.<service>.<queue>``,
  with ``Nats-Msg-Id`` = ``work-<request id>`` so a re-publish never makes a second work item,
  and the submitting call's W3C trace context (``traceparent``) in its headers.
* ``build_state``: IIB's build state message on every state change of a request (body = the
  non-verbose request JSON; headers batch, id, state, user), when
  ``IIB_MESSAGING_BUILD_STATE_DESTINATION`` is set.
* ``batch_state``: IIB's batch state message when a batch is created and when it reaches a final
  state, when ``IIB_MESSAGING_BATCH_STATE_DESTINATION`` is set.
* ``umb_build_state`` / ``umb_batch_state``: the same two messages for IIB's AMQP 1.0 broker
  (UMB) when ``IIB_MESSAGING_URLS`` are ``amqp(s)://`` URLs: subject = the AMQP destination,
  payload = the body as IIB's ``json.dumps`` writes it, headers = IIB's application properties
  with their types (``id`` and ``batch`` integers, ``user`` possibly null). The UMB publisher
  (``umb.py``) sends them; they have their own sent mark, attempts and dead letters, so a broker
  outage never holds back work items or the NATS events.

The NATS subject of an event is its destination without ``topic://`` (``event_subject``).

Secrets never appear in any of them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from services.common.pb.iib.v1 import requests_pb2
from services.common.subjects import event_subject, work_subject
from services.common.telemetry import trace_headers
from services.request_store import models as m
from services.request_store.domain import FINAL_STATES, RequestState, RequestType
from services.request_store.serialize import (
    RenderContext,
    RequestView,
    dumps,
    request_json,
)
from services.request_store.store import OutboxMessage, Store

__all__ = ["OutboxPlanner", "batch_state"]


def _umb_copy(
    message: OutboxMessage, destination: str, properties: dict[str, Any]
) -> OutboxMessage:
    """The AMQP twin of a NATS event: IIB's destination, body text and typed properties."""
    return OutboxMessage(
        kind=f"umb_{message.kind}",
        subject=destination,
        msg_id=message.msg_id,
        # IIB sends json.dumps(content): default separators, keys in the JSON's order
        payload=json.dumps(json.loads(message.payload)).encode(),
        headers=properties,
        request_id=message.request_id,
    )


def batch_state(states: list[int]) -> str:
    """IIB's derived batch state: any in progress → in_progress; else any failed → failed."""
    if any(s == RequestState.IN_PROGRESS for s in states):
        return "in_progress"
    if any(s == RequestState.FAILED for s in states):
        return "failed"
    return "complete"


class OutboxPlanner:
    """Builds the outbox messages of a change; installed as ``Store.outbox_builder``."""

    def __init__(
        self,
        store: Store,
        render: RenderContext,
        build_state_destination: str | None,
        batch_state_destination: str | None,
        *,
        amqp: bool = False,
    ) -> None:
        """``*_destination``: IIB_MESSAGING_*_DESTINATION (NATS subject: ``event_subject``);
        ``amqp``: also write the UMB twins of the events."""
        self._store = store
        self._render = render
        self._build_destination = build_state_destination
        self._batch_destination = batch_state_destination
        self._build_subject = event_subject(build_state_destination or "") or None
        self._batch_subject = event_subject(batch_state_destination or "") or None
        self._amqp = amqp

    def __call__(
        self, conn: Connection, change: str, views: list[RequestView]
    ) -> list[OutboxMessage]:
        """The messages announcing ``change`` of the requests ``views`` show (read in the
        changing transaction)."""
        out: list[OutboxMessage] = []
        if change == "created":
            for view in views:
                route = view.route
                assert route is not None, "the store's views carry their route"
                item = requests_pb2.WorkItem(
                    request_id=view.id,
                    request_type=int(view.type),  # type: ignore[arg-type]
                    queue=route.queue or "",
                    serial=bool(route.serial),
                    serial_key=route.serial_key or "",
                )
                out.append(
                    OutboxMessage(
                        kind="work",
                        subject=work_subject(int(view.type), route.queue),
                        msg_id=f"work-{view.id}",
                        payload=item.SerializeToString(),
                        # the worker's build span continues the submitting call's trace
                        headers=trace_headers() or None,
                        request_id=view.id,
                    )
                )
        if self._build_subject:
            for view in views:
                body = request_json(view, False, self._render)
                message = OutboxMessage(
                    kind="build_state",
                    subject=self._build_subject,
                    msg_id=f"build-state-{view.id}-{view.last_state_id or 0}",
                    payload=dumps(body),
                    headers={
                        "batch": str(view.batch_id),
                        "id": str(view.id),
                        "state": view.state.api_name,
                        "user": view.user or "",
                    },
                    request_id=view.id,
                )
                out.append(message)
                if self._amqp and self._build_destination:
                    properties = {
                        "batch": view.batch_id,
                        "id": view.id,
                        "state": view.state.api_name,
                        "user": view.user,
                    }
                    out.append(_umb_copy(message, self._build_destination, properties))
        if self._batch_subject:
            out.extend(self._batch_messages(conn, change, views))
        return out

    def _batch_messages(
        self, conn: Connection, change: str, views: list[Any]
    ) -> list[OutboxMessage]:
        batch_ids = sorted({v.batch_id for v in views})
        # A batch announces its creation (it is created with all its requests: the views are
        # the whole batch) and its end once every request is final.
        states = {} if change == "created" else self._store.batch_states(conn, batch_ids)
        out = []
        for batch_id in batch_ids:
            members = sorted((v for v in views if v.batch_id == batch_id), key=lambda v: v.id)
            if change == "created":
                state = batch_state([int(v.state) for v in members])
                annotations = members[0].batch_annotations
                rows = [(v.id, v.type, v.scalars.get("organization"), v.user) for v in members]
            else:
                state = batch_state(states.get(batch_id, []))
                if state == "in_progress" or not any(v.state in FINAL_STATES for v in members):
                    continue
                annotations, rows = self._batch_rows(conn, batch_id)
            message, user = self._batch_message(batch_id, state, annotations, rows)
            out.append(message)
            if self._amqp and self._batch_destination:
                properties = {"batch": batch_id, "state": state, "user": user}
                out.append(_umb_copy(message, self._batch_destination, properties))
        return out

    @staticmethod
    def _batch_rows(
        conn: Connection, batch_id: int
    ) -> tuple[dict[str, Any] | None, list[tuple[int, int, str | None, str | None]]]:
        """The batch's annotations and its requests' (id, type, organization, user)."""
        r, b, u = m.REQUEST, m.BATCH, m.USER
        annotations = conn.execute(select(b.c.annotations).where(b.c.id == batch_id)).scalar()
        rows = conn.execute(
            select(r.c.id, r.c.type, r.c.organization, u.c.username)
            .outerjoin(u, r.c.user_id == u.c.id)
            .where(r.c.batch_id == batch_id)
            .order_by(r.c.id)
        ).all()
        return json.loads(annotations) if annotations else None, [tuple(row) for row in rows]

    def _batch_message(
        self,
        batch_id: int,
        state: str,
        annotations: dict[str, Any] | None,
        rows: list[tuple[int, int, str | None, str | None]],
    ) -> tuple[OutboxMessage, str | None]:
        user = rows[0][3] if rows else None
        body = {
            "annotations": annotations,
            "batch": batch_id,
            "requests": [
                {
                    "id": request_id,
                    "organization": organization,
                    "request_type": RequestType(request_type).api_name,
                }
                for request_id, request_type, organization, _user in rows
            ],
            "state": state,
            "user": user,
        }
        message = OutboxMessage(
            kind="batch_state",
            subject=self._batch_subject or "",
            msg_id=f"batch-state-{batch_id}-{state}",
            payload=dumps(body),
            headers={"batch": str(batch_id), "state": state, "user": user or ""},
        )
        return message, user
