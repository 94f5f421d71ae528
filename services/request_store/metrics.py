"""The request store's view of the work, as Prometheus metrics (read at each scrape).

* ``iib_queue_depth{service,queue}`` — requests in progress that no worker holds (waiting for a
  worker, or a serial request held behind the previous one on its index);
* ``iib_queue_in_flight{service,queue}`` — requests a worker holds (a live build lease);
* ``iib_queue_oldest_age_seconds{service,queue}`` — age of the oldest waiting request;
* ``iib_outbox_backlog{kind}`` — outbox rows not yet published (NATS unreachable, serial
  requests held, UMB broker down), ``iib_outbox_oldest_age_seconds`` the age of the oldest;
* ``iib_outbox_dead_letters`` — rows that will never be published (``iib queues`` lists them).

``service`` is ``index`` or ``bundle`` (the worker kind), ``queue`` IIB's queue name
(``default`` for IIB's default queue), as in the work subjects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from services.common.subjects import service_for_type
from services.request_store import models as m
from services.request_store.domain import RequestState

__all__ = ["StoreCollector"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class StoreCollector(Collector):
    """Queue depth and age per queue and the outbox backlog, from the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "iib_queue_depth",
            "Requests in progress that no worker holds (waiting, or serial and held).",
            labels=["service", "queue"],
        )
        in_flight = GaugeMetricFamily(
            "iib_queue_in_flight",
            "Requests in progress that a worker holds (a live build lease).",
            labels=["service", "queue"],
        )
        age = GaugeMetricFamily(
            "iib_queue_oldest_age_seconds",
            "Seconds since the oldest waiting request of the queue was submitted.",
            labels=["service", "queue"],
        )
        backlog = GaugeMetricFamily(
            "iib_outbox_backlog",
            "Outbox rows not yet published, per kind (work, build_state, umb_build_state...).",
            labels=["kind"],
        )
        backlog_age = GaugeMetricFamily(
            "iib_outbox_oldest_age_seconds",
            "Seconds since the oldest unpublished outbox row was written (0: none).",
        )
        dead = GaugeMetricFamily(
            "iib_outbox_dead_letters", "Outbox rows that will never be published."
        )
        up = GaugeMetricFamily(
            "iib_store_view_up", "1 when the queue and outbox figures could be read."
        )
        try:
            yield from self._read(depth, in_flight, age, backlog, backlog_age, dead)
        except SQLAlchemyError as exc:
            log.warning("cannot read the queue metrics", extra={"error": str(exc)})
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
        yield up

    def _read(
        self,
        depth: GaugeMetricFamily,
        in_flight: GaugeMetricFamily,
        age: GaugeMetricFamily,
        backlog: GaugeMetricFamily,
        backlog_age: GaugeMetricFamily,
        dead: GaugeMetricFamily,
    ) -> Iterator[GaugeMetricFamily]:
        now = _now()
        r, o = m.REQUEST, m.OUTBOX
        leased = r.c.lease_expires.is_not(None) & (r.c.lease_expires > now)
        waiting: dict[tuple[str, str], list[float]] = {}
        holding: dict[tuple[str, str], float] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    r.c.queue, r.c.type, leased.label("leased"), func.count(), func.min(r.c.created)
                )
                .where(r.c.state == int(RequestState.IN_PROGRESS))
                .group_by(r.c.queue, r.c.type, leased)
            ).all()
            outbox = conn.execute(
                select(o.c.kind, func.count(), func.min(o.c.created))
                .where(o.c.sent_at.is_(None), o.c.dead_at.is_(None))
                .group_by(o.c.kind)
            ).all()
            dead_count = conn.execute(
                select(func.count()).select_from(o).where(o.c.dead_at.is_not(None))
            ).scalar_one()
        for queue, request_type, is_leased, count, oldest in rows:
            key = (service_for_type(int(request_type)), queue or "default")
            if is_leased:
                holding[key] = holding.get(key, 0.0) + count
                continue
            seen = waiting.setdefault(key, [0.0, 0.0])
            seen[0] += count
            seen[1] = max(seen[1], (now - oldest).total_seconds() if oldest else 0.0)
        for key in sorted(set(waiting) | set(holding)):
            count, oldest_age = waiting.get(key, [0.0, 0.0])
            depth.add_metric(list(key), count)
            age.add_metric(list(key), max(oldest_age, 0.0))
            in_flight.add_metric(list(key), holding.get(key, 0.0))
        oldest_row = 0.0
        for kind, count, created in outbox:
            backlog.add_metric([kind], count)
            if created is not None:
                oldest_row = max(oldest_row, (now - created).total_seconds())
        backlog_age.add_metric([], oldest_row)
        dead.add_metric([], dead_count)
        yield from (depth, in_flight, age, backlog, backlog_age, dead)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
