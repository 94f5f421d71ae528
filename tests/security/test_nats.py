"""NATS carries the work and the advisories that fail requests; only the services may use it.

On main an unauthenticated client published a forged ``$JS.EVENT.ADVISORY.CONSUMER.
MAX_DELIVERIES`` advisory and the request store failed the request it named. Here nats-server
runs as ``iib dev`` runs it (one account, a user per service, nobody may publish on the server's
own subjects), with the real request store and its relay; no worker runs, so the request stays
in progress unless something fails it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import Error as NatsError

from tests.common.dispatch.conftest import System, add_body

pytestmark = [pytest.mark.db]

SUBJECT = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.IIB_WORK.index-default"


@pytest.fixture
def system(tmp_path: Path, new_database_url: Any) -> Iterator[System]:
    made = System(tmp_path / "system", new_database_url(), {})
    yield made
    made.close()


def _advisory(seq: int) -> bytes:
    # the shape nats-server publishes (io.nats.jetstream.advisory.v1.max_deliver)
    return json.dumps(
        {
            "type": "io.nats.jetstream.advisory.v1.max_deliver",
            "stream": "IIB_WORK",
            "consumer": "index-default",
            "stream_seq": seq,
            "deliveries": 5,
        }
    ).encode()


async def _forge(url: str, **auth: str) -> list[str]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(url, allow_reconnect=False, error_cb=on_error, **auth)
    try:
        await nc.publish(SUBJECT, _advisory(1))
        await nc.flush()
        await asyncio.sleep(0.5)
    finally:
        await nc.close()
    return errors


def test_an_unauthenticated_client_cannot_connect(system: System) -> None:
    with pytest.raises((NatsError, OSError)) as exc:
        asyncio.run(_forge(system.nats.url))
    assert "authorization" in str(exc.value).lower()


def test_a_service_cannot_forge_a_max_deliveries_advisory(system: System) -> None:
    rid = system.submit(add_body("fake/sleep:0"))["id"]
    worker = {"user": "index-builder", "password": system.nats.users["index-builder"]}
    errors = asyncio.run(_forge(system.nats.url, **worker))
    assert any("permissions violation" in e.lower() for e in errors), errors
    time.sleep(2.0)  # the relay polls advisories every second
    assert system.get(rid)["state"] == "in_progress"
