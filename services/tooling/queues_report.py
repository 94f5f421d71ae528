"""``iib queues``: pending and in-flight work per queue.

Per JetStream consumer (service and queue): items waiting to be delivered, items delivered and
not yet acknowledged (in flight), and redeliveries. Per outbox subject: rows the request store
has not published yet (NATS unreachable, or serial requests held until the previous request on
the same index is final).
"""

from __future__ import annotations

import asyncio

from services.common import messaging
from services.common.config import Settings
from services.common.subjects import WORK_STREAM

__all__ = ["collect_queues", "print_queues"]


async def _consumers(settings: Settings) -> list[dict[str, object]]:
    nc = await messaging.connect(settings, name="iib-queues")
    try:
        js = nc.jetstream()
        rows = []
        for info in await js.consumers_info(WORK_STREAM):
            rows.append(
                {
                    "consumer": info.name,
                    "subject": info.config.filter_subject,
                    "pending": info.num_pending,
                    "in_flight": info.num_ack_pending,
                    "redelivered": info.num_redelivered,
                }
            )
        return sorted(rows, key=lambda r: str(r["consumer"]))
    finally:
        await nc.close()


def collect_queues(settings: Settings) -> tuple[list[dict[str, object]], dict[str, int]]:
    """(JetStream consumers, unpublished outbox rows per subject, dead letters counted under
    ``(dead letter) <subject>``)."""
    from services.common.secrets import SecretBox
    from services.request_store.store import Store, make_engine

    consumers = asyncio.run(asyncio.wait_for(_consumers(settings), timeout=10))
    store = Store(make_engine(settings.database_uri, pool_size=1), SecretBox([_any_key()]))
    try:
        backlog = store.outbox_backlog()
        dead = store.dead_letters()
    finally:
        store.engine.dispose()
    for row in dead:
        backlog[f"(dead letter) {row.subject}"] = backlog.get(f"(dead letter) {row.subject}", 0) + 1
    return consumers, backlog


def _any_key() -> str:
    from services.common.secrets import generate_key

    return generate_key()  # the report never decrypts anything


def print_queues(settings: Settings) -> int:
    consumers, backlog = collect_queues(settings)
    print(f"{'consumer':<28} {'subject':<36} {'pending':>8} {'in flight':>10} {'redelivered':>12}")
    for row in consumers:
        print(
            f"{row['consumer']!s:<28} {row['subject']!s:<36} {row['pending']!s:>8} "
            f"{row['in_flight']!s:>10} {row['redelivered']!s:>12}"
        )
    if not consumers:
        print("(no consumers yet: no worker has connected)")
    print("\nnot yet published by the request store (outbox):")
    if not backlog:
        print("  nothing")
    for subject, count in sorted(backlog.items()):
        print(f"  {subject:<62} {count:>6}")
    return 0
