"""Secrets stay secret (DB, logs, responses, outbox) and every accepted request writes its work
item to the outbox in the same transaction."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from services.common.pb.iib.v1 import requests_pb2
from services.request_store import models as m
from tests.gateway.conftest import Stack, StackFactory

pytestmark = pytest.mark.db

TOKEN = "tok-7f3c9a1e-secret"
AUTH = "dXNlcjpwYXNzLXNlY3JldA=="


def _all_database_text(stack: Stack) -> str:
    meta = MetaData()
    meta.reflect(stack.core.store.engine)
    chunks = []
    with stack.core.store.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def _submit_with_secrets(stack: Stack) -> tuple[int, int]:
    add = stack.post(
        "add",
        {
            "bundles": ["q.io/b:1"],
            "from_index": "q.io/i:1",
            "binary_image": "q.io/x:1",
            "overwrite_from_index": True,
            "overwrite_from_index_token": TOKEN,
        },
    )
    regen = stack.post(
        "regenerate-bundle",
        {"from_bundle_image": "q.io/b:1", "registry_auths": {"auths": {"r.io": {"auth": AUTH}}}},
    )
    assert add.status_code == 201 and regen.status_code == 201
    return int(add.json()["id"]), int(regen.json()["id"])


def test_secrets_are_stored_only_encrypted(api: Stack) -> None:
    _submit_with_secrets(api)
    dump = _all_database_text(api)
    assert TOKEN not in dump
    assert AUTH not in dump
    assert "user:pass-secret" not in dump


def test_workers_get_secrets_until_the_request_is_final(api: Stack) -> None:
    add_id, regen_id = _submit_with_secrets(api)
    stored = api.core.store.stored_request(add_id)
    assert stored.secrets["overwrite_from_index_token"] == TOKEN
    assert json.loads(api.core.store.stored_request(regen_id).secrets["registry_auths"]) == {
        "auths": {"r.io": {"auth": AUTH}}
    }
    api.patch(add_id, {"state": "failed", "state_reason": "boom"})
    assert api.core.store.stored_request(add_id).secrets == {}


def test_secrets_never_reach_the_logs(api: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    add_id, _ = _submit_with_secrets(api)
    api.get(f"/api/v1/builds/{add_id}")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "accepted request" in text  # the logs were captured
    assert TOKEN not in text and AUTH not in text


def test_each_accepted_request_writes_one_work_item(api: Stack) -> None:
    batch = api.post(
        "add-rm-batch",
        {
            "build_requests": [
                {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", "binary_image": "q.io/x:1"},
                {"operators": ["op"], "from_index": "q.io/i:1", "binary_image": "q.io/x:1"},
            ]
        },
    ).json()
    regen = api.post("regenerate-bundle", {"from_bundle_image": "q.io/b:1"}).json()
    ids = [batch[0]["id"], batch[1]["id"], regen["id"]]
    with api.core.store.engine.connect() as conn:
        rows = conn.execute(
            select(m.OUTBOX).where(m.OUTBOX.c.kind == "work", m.OUTBOX.c.request_id.in_(ids))
        ).all()
    by_request = {row.request_id: row for row in rows}
    assert sorted(by_request) == sorted(ids)
    for rid, row in by_request.items():
        item = requests_pb2.WorkItem.FromString(row.payload)
        assert item.request_id == rid
        assert row.msg_id == f"work-{rid}"
        assert row.sent_at is None
        assert TOKEN.encode() not in row.payload
    assert by_request[ids[0]].subject == "iib.work.index.default"
    assert by_request[ids[2]].subject == "iib.work.bundle.default"


def test_a_rejected_submission_writes_nothing(api: Stack) -> None:
    with api.core.store.engine.connect() as conn:
        before = conn.execute(select(m.OUTBOX.c.id)).all()
    assert (
        api.post(
            "add", {"bundles": ["q.io/b:1"], "junk": 1, "binary_image": "q.io/x:1"}
        ).status_code
        == 400
    )
    with api.core.store.engine.connect() as conn:
        assert conn.execute(select(m.OUTBOX.c.id)).all() == before


def _outbox(stack: Stack, kind: str) -> list[Any]:
    with stack.core.store.engine.connect() as conn:
        return list(
            conn.execute(select(m.OUTBOX).where(m.OUTBOX.c.kind == kind).order_by(m.OUTBOX.c.id))
        )


def test_state_messages_of_a_new_batch_and_of_its_end(stack_factory: StackFactory) -> None:
    """The messages of a creation are planned from the views read in the creating transaction,
    those of a later change from the database: both give IIB's bodies (contract §7: a batch
    message is ``{batch, annotations, requests: [{id, organization, request_type}], state,
    user}``, sent on creation and once the batch is final; a build message is the request's
    non-verbose JSON, de-duplicated by the id of its newest state history entry)."""
    api = stack_factory(
        IIB_MESSAGING_BUILD_STATE_DESTINATION="topic://VirtualTopic.eng.iib.build.state",
        IIB_MESSAGING_BATCH_STATE_DESTINATION="topic://VirtualTopic.eng.iib.batch.state",
    )
    resp = api.post(
        "regenerate-bundle-batch",
        {
            "build_requests": [
                {"from_bundle_image": "q.io/b:1", "organization": "acme"},
                {"from_bundle_image": "q.io/b:2"},
            ],
            "annotations": {"ticket": "RHBA-1"},
        },
    )
    assert resp.status_code == 201, resp.text
    ids = [r["id"] for r in resp.json()]
    batch = resp.json()[0]["batch"]
    requests = [
        {"id": ids[0], "organization": "acme", "request_type": "regenerate-bundle"},
        {"id": ids[1], "organization": None, "request_type": "regenerate-bundle"},
    ]
    user = resp.json()[0]["user"]
    batches = [
        r for r in _outbox(api, "batch_state") if r.msg_id.startswith(f"batch-state-{batch}-")
    ]
    assert [json.loads(r.payload) for r in batches] == [
        {
            "annotations": {"ticket": "RHBA-1"},
            "batch": batch,
            "requests": requests,
            "state": "in_progress",
            "user": user,
        }
    ]
    with api.core.store.engine.connect() as conn:
        first_states = dict(
            conn.execute(
                select(m.REQUEST_STATE.c.request_id, m.REQUEST_STATE.c.id).where(
                    m.REQUEST_STATE.c.request_id.in_(ids)
                )
            ).all()
        )
    builds = {r.msg_id: r for r in _outbox(api, "build_state") if r.request_id in ids}
    assert sorted(builds) == sorted(f"build-state-{rid}-{first_states[rid]}" for rid in ids)
    for rid in ids:
        body = json.loads(builds[f"build-state-{rid}-{first_states[rid]}"].payload)
        assert body == {
            k: v for k, v in api.get(f"/api/v1/builds/{rid}").json().items() if k in body
        }
        assert "state_history" not in body

    for rid in ids:
        assert api.patch(rid, {"state": "complete", "state_reason": "done"}).status_code == 200
    batches = [
        r for r in _outbox(api, "batch_state") if r.msg_id.startswith(f"batch-state-{batch}-")
    ]
    assert json.loads(batches[-1].payload) == {
        "annotations": {"ticket": "RHBA-1"},
        "batch": batch,
        "requests": requests,
        "state": "complete",
        "user": user,
    }
    assert [r.msg_id for r in batches] == [
        f"batch-state-{batch}-in_progress",
        f"batch-state-{batch}-complete",
    ]
