"""IIB's state messages reach its AMQP 1.0 broker (UMB) with IIB's bodies and application
properties, from the outbox, and wait there while the broker is down.

The broker is real: RabbitMQ's AMQP 1.0 plugin (Debian's ActiveMQ has no AMQP transport), so
the destinations are RabbitMQ's ``/queue/<name>`` addresses instead of UMB's ``topic://``
ones. What each message must carry comes from IIB's ``iib/web/messaging.py`` and its README's
"Messaging" section: the body is the JSON of the request in its non-verbose form (a batch:
``annotations``, ``batch``, ``requests``, ``state``, ``user``), the application properties are
``batch``, ``id``, ``state``, ``user`` (a batch: ``batch``, ``state``, ``user``), the content
type is ``application/json`` and the message is durable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proton.utils import BlockingConnection
from sqlalchemy import create_engine, text

from services.tooling.servers.amqp_broker import AmqpBroker, start_amqp_broker
from tests.common.dispatch.conftest import USER, System, add_body
from tests.pki import pki

pytestmark = [pytest.mark.db, pytest.mark.slow]

# each test has its own queues (a message left by one test can never satisfy another)
BUILD = "/queue/iib.build.state.{test}"
BATCH = "/queue/iib.batch.state.{test}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmqpBroker]:
    cert, key = pki().files("amqp-broker")
    broker = start_amqp_broker(
        tmp_path_factory.mktemp("amqp-broker"), tls=(pki().ca_cert, cert, key)
    )
    try:
        yield broker
    finally:
        broker.close()


def _umb_system(system_factory: Any, broker: AmqpBroker, test: str, **extra: str) -> System:
    settings = {
        "IIB_MESSAGING_URLS": json.dumps([broker.url]),
        "IIB_MESSAGING_BUILD_STATE_DESTINATION": BUILD.format(test=test),
        "IIB_MESSAGING_BATCH_STATE_DESTINATION": BATCH.format(test=test),
        **extra,
    }
    system: System = system_factory(**settings)
    return system


def _drain(broker: AmqpBroker, address: str, until: Any, timeout: float = 30.0) -> list[Any]:
    """Receive (and accept) messages of ``address`` until ``until(messages)`` holds."""
    messages: list[Any] = []
    connection = BlockingConnection(broker.url, timeout=10)
    try:
        receiver = connection.create_receiver(address)
        deadline = time.monotonic() + timeout
        while not until(messages):
            assert time.monotonic() < deadline, f"{address}: only {len(messages)} messages"
            try:
                message = receiver.receive(timeout=1)
            except Exception:  # proton's Timeout: nothing yet
                continue
            receiver.accept()
            messages.append(message)
    finally:
        connection.close()
    return messages


def test_every_state_change_reaches_the_broker_as_iib_sends_it(
    system_factory: Any, broker: AmqpBroker
) -> None:
    system = _umb_system(system_factory, broker, "every")
    system.start_worker()
    rid = system.submit(add_body("fake/sleep:0.2"))["id"]
    final = system.wait_final([rid])[rid]

    builds = _drain(
        broker,
        BUILD.format(test="every"),
        lambda ms: any(
            m.properties["id"] == rid and m.properties["state"] == "complete" for m in ms
        ),
    )
    mine = [m for m in builds if m.properties["id"] == rid]
    bodies = [json.loads(m.body) for m in mine]
    assert [b["state_reason"] for b in bodies] == [
        "The request was initiated",
        "Resolving the bundles",
        "The operator bundle(s) were successfully added to the index image",
    ]
    last = mine[-1]
    # the body is a JSON string (an AMQP string value) as IIB's json.dumps writes it
    assert isinstance(last.body, str) and last.body == json.dumps(json.loads(last.body))
    assert bodies[-1] == {k: v for k, v in final.items() if k in bodies[-1]}
    assert "state_history" not in bodies[-1]  # the non-verbose form
    # IIB's application properties, with IIB's types (ids are integers)
    assert last.properties == {
        "batch": final["batch"],
        "id": rid,
        "state": "complete",
        "user": USER,
    }
    assert last.content_type == "application/json"
    assert last.durable is True
    assert last.correlation_id and last.correlation_id != mine[0].correlation_id

    batches = _drain(
        broker,
        BATCH.format(test="every"),
        lambda ms: any(
            m.properties["batch"] == final["batch"] and m.properties["state"] == "complete"
            for m in ms
        ),
    )
    batch = [m for m in batches if m.properties["batch"] == final["batch"]]
    assert [m.properties["state"] for m in batch] == ["in_progress", "complete"]
    assert json.loads(batch[0].body) == {
        "annotations": None,
        "batch": final["batch"],
        "requests": [{"id": rid, "organization": None, "request_type": "add"}],
        "state": "in_progress",
        "user": USER,
    }
    assert batch[0].properties == {"batch": final["batch"], "state": "in_progress", "user": USER}


def test_with_the_broker_down_messages_wait_and_none_is_lost(
    system_factory: Any, broker: AmqpBroker, tmp_path: Path
) -> None:
    system = _umb_system(system_factory, broker, "down")
    system.start_worker()
    broker.stop()
    ids = [system.submit(add_body("fake/sleep:0"))["id"] for _ in range(15)]
    system.wait_final(ids)
    time.sleep(2)  # the publisher tries (and fails) meanwhile
    broker.start()
    expected = {(rid, n) for rid in ids for n in range(3)}

    def complete(messages: list[Any]) -> bool:
        seen: dict[int, int] = {}
        for m in messages:
            if m.properties["id"] in ids:
                seen[m.properties["id"]] = seen.get(m.properties["id"], 0) + 1
        return {(rid, n) for rid, count in seen.items() for n in range(count)} >= expected

    messages = _drain(broker, BUILD.format(test="down"), complete, timeout=60)
    reasons: dict[int, list[str]] = {}
    for m in messages:
        if m.properties["id"] in ids:
            reasons.setdefault(m.properties["id"], []).append(json.loads(m.body)["state_reason"])
    # every state change of every request arrived, in order, none twice
    assert all(
        r
        == [
            "The request was initiated",
            "Resolving the bundles",
            "The operator bundle(s) were successfully added to the index image",
        ]
        for r in reasons.values()
    ), reasons
    assert sorted(reasons) == sorted(ids)


def test_amqps_with_iibs_ca_certificate_and_key_settings(
    system_factory: Any, broker: AmqpBroker
) -> None:
    """TLS as IIB configures it: the broker's CA (its certificate must name the host) and a
    client certificate the broker requires."""
    cert, key = pki().files("iib-messaging")
    system = _umb_system(
        system_factory,
        broker,
        "tls",
        IIB_MESSAGING_URLS=json.dumps([broker.tls_url]),
        IIB_MESSAGING_CA=str(pki().ca_cert),
        IIB_MESSAGING_CERT=str(cert),
        IIB_MESSAGING_KEY=str(key),
    )
    system.start_worker()
    rid = system.submit(add_body("fake/sleep:0"))["id"]
    system.wait_final([rid])
    messages = _drain(
        broker,
        BUILD.format(test="tls"),
        lambda ms: any(
            m.properties["id"] == rid and m.properties["state"] == "complete" for m in ms
        ),
    )
    assert [m.properties["state"] for m in messages if m.properties["id"] == rid][-1] == "complete"


def test_a_destination_the_broker_refuses_ends_in_dead_letters_and_blocks_nothing_else(
    system_factory: Any, broker: AmqpBroker
) -> None:
    """RabbitMQ refuses a ``topic://`` address (an ActiveMQ form it does not know): those
    messages count attempts and become dead letters (IIB_OUTBOX_MAX_ATTEMPTS); the batch
    messages behind them still arrive, and so do the work items."""
    system = _umb_system(
        system_factory,
        broker,
        "refused",
        IIB_MESSAGING_BUILD_STATE_DESTINATION="topic://VirtualTopic.eng.iib.build.state",
        IIB_MESSAGING_TIMEOUT="1",
        IIB_OUTBOX_MAX_ATTEMPTS="2",
    )
    system.start_worker()
    final = system.wait_final([system.submit(add_body("fake/sleep:0"))["id"]])
    batch = next(iter(final.values()))["batch"]
    _drain(
        broker,
        BATCH.format(test="refused"),
        lambda ms: any(
            m.properties["batch"] == batch and m.properties["state"] == "complete" for m in ms
        ),
        timeout=25,
    )
    engine = create_engine(system.env["SQLALCHEMY_DATABASE_URI"])
    with engine.connect() as conn:
        dead = conn.execute(
            text(
                "SELECT kind, attempts, last_error FROM outbox WHERE dead_at IS NOT NULL "
                "ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [(row.kind, row.attempts) for row in dead] == [("umb_build_state", 2)] * 3
    assert all("AMQP broker" in row.last_error for row in dead)
