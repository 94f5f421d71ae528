"""Queue routing, idempotent submission, concurrency, the typed worker API, and HTTPS with the
real IIB client (iiblib)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from iiblib.iib_client import IIBClient

from services.common.grpc_edge import error_reason
from services.common.grpc_server import channel
from services.common.pb.iib.v1 import requests_pb2, requests_pb2_grpc
from tests.gateway.conftest import SUBMITTER, Stack, StackFactory
from tests.pki import tls

pytestmark = pytest.mark.db

BIN = {"binary_image": "q.io/bin:1"}
USER_TO_QUEUE = {
    f"SERIAL:{SUBMITTER}": {"q.io/special:v4": "serial-special", "all": "serial-all"},
    f"PARALLEL:{SUBMITTER}": "parallel-q",
    "bob": "bob-q",
}


def _queue(stack: Stack, request_id: int) -> tuple[str | None, bool, str | None]:
    stored = stack.core.store.stored_request(request_id)
    return stored.queue, stored.serial, stored.serial_key


@pytest.fixture(scope="module")
def routed(stack_factory: StackFactory) -> Stack:
    return stack_factory(IIB_USER_TO_QUEUE=USER_TO_QUEUE)


def test_user_to_queue_routing(routed: Stack) -> None:
    overwrite = {"overwrite_from_index": True, "overwrite_from_index_token": "t"}
    serial = routed.post(
        "add", {"bundles": ["a:1"], "from_index": "q.io/special:v4", **overwrite, **BIN}
    ).json()
    assert _queue(routed, serial["id"]) == ("serial-special", True, "q.io/special:v4")
    serial_other = routed.post(
        "rm", {"operators": ["o"], "from_index": "q.io/x:1", **overwrite, **BIN}
    ).json()
    assert _queue(routed, serial_other["id"]) == ("serial-all", True, "q.io/x:1")
    parallel = routed.post(
        "add", {"bundles": ["a:1"], "from_index": "q.io/special:v4", **BIN}
    ).json()
    assert _queue(routed, parallel["id"]) == ("parallel-q", False, None)
    regen = routed.post("regenerate-bundle", {"from_bundle_image": "b:1"}).json()
    assert _queue(routed, regen["id"])[0] == "parallel-q"
    merge = routed.post(
        "merge-index-image",
        {
            "source_from_index": "s:1",
            "target_index": "q.io/special:v4",
            "overwrite_target_index": True,
            "overwrite_target_index_token": "t",
            **BIN,
        },
    ).json()
    # merge passes no pull spec, so a dict mapping falls back to "all"
    assert _queue(routed, merge["id"]) == ("serial-all", True, "q.io/special:v4")
    bob = routed.post("add", {"bundles": ["a:1"], "from_index": "i:1", **BIN}, user="bob").json()
    assert _queue(routed, bob["id"])[0] == "bob-q"
    other = routed.post(
        "add", {"bundles": ["a:1"], "from_index": "i:1", **BIN}, user="carol"
    ).json()
    assert _queue(routed, other["id"])[0] is None


def test_retried_submission_with_request_id_returns_the_original(api: Stack) -> None:
    body = {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", **BIN}
    first = api.request("POST", "/api/v1/builds/add?request_id=retry-1", user=SUBMITTER, json=body)
    second = api.request("POST", "/api/v1/builds/add?request_id=retry-1", user=SUBMITTER, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    header = api.request(
        "POST",
        "/api/v1/builds/add",
        user=SUBMITTER,
        json=body,
        headers={"Idempotency-Key": "retry-1"},
    )
    assert header.json()["id"] == first.json()["id"]
    other_user = api.request(
        "POST", "/api/v1/builds/add?request_id=retry-1", user="someone", json=body
    )
    assert other_user.json()["id"] != first.json()["id"]


def test_request_id_reused_for_other_content_is_409(api: Stack) -> None:
    body = {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", **BIN}
    api.request("POST", "/api/v1/builds/add?request_id=k-2", user=SUBMITTER, json=body)
    resp = api.request(
        "POST",
        "/api/v1/builds/add?request_id=k-2",
        user=SUBMITTER,
        json={**body, "bundles": ["q.io/c:1"]},
    )
    assert resp.status_code == 409
    assert resp.json() == {"error": "The request_id k-2 was already used for a different request"}


def test_batch_replay_returns_the_whole_batch(api: Stack) -> None:
    body = {"build_requests": [{"from_bundle_image": "b:1"}, {"from_bundle_image": "b:2"}]}
    first = api.request(
        "POST",
        "/api/v1/builds/regenerate-bundle-batch?request_id=batch-1",
        user=SUBMITTER,
        json=body,
    )
    again = api.request(
        "POST",
        "/api/v1/builds/regenerate-bundle-batch?request_id=batch-1",
        user=SUBMITTER,
        json=body,
    )
    assert [r["id"] for r in first.json()] == [r["id"] for r in again.json()]


def test_fifty_concurrent_identical_submissions_never_fail(api: Stack) -> None:
    body = {
        "bundles": ["q.io/new/bundle:7", "q.io/new/other:7"],
        "from_index": "q.io/fresh-index:v1",
        "deprecation_list": ["q.io/new/dep:1"],
        "build_tags": ["t"],
        **BIN,
    }

    def plain(_: int) -> tuple[int, int]:
        resp = api.post("add", body, user="concurrent-user")
        return resp.status_code, resp.json().get("id", -1)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(plain, range(50)))
    assert {status for status, _ in results} == {201}
    assert len({rid for _, rid in results}) == 50

    def keyed(_: int) -> tuple[int, int]:
        resp = api.request(
            "POST", "/api/v1/builds/add?request_id=same-key", user="concurrent-user", json=body
        )
        return resp.status_code, resp.json().get("id", -1)

    with ThreadPoolExecutor(50) as pool:
        keyed_results = list(pool.map(keyed, range(50)))
    assert {status for status, _ in keyed_results} == {201}
    assert len({rid for _, rid in keyed_results}) == 1


def test_typed_worker_api(api: Stack) -> None:
    created = api.post(
        "add",
        {
            "bundles": ["q.io/b:1"],
            "from_index": "q.io/i:1",
            "add_arches": ["arm64"],
            "overwrite_from_index": True,
            "overwrite_from_index_token": "tok",
            "deprecation_list": ["q.io/d:1"],
            **BIN,
        },
    ).json()
    stub = requests_pb2_grpc.RequestStoreStub(
        channel(api.settings.request_store_address, tls("index-builder"))
    )
    work = stub.GetJob(requests_pb2.GetJobRequest(id=created["id"]))
    assert work.request_type == requests_pb2.REQUEST_TYPE_ADD
    assert list(work.add.bundles) == ["q.io/b:1"]
    assert list(work.add.index.add_arches) == ["arm64"]
    assert work.add.index.overwrite_from_index is True
    assert work.add.index.binary_image == "q.io/bin:1"
    assert work.secrets.overwrite_from_index_token == "tok"
    assert work.serial and work.serial_key == "q.io/i:1"
    assert json.loads(work.binary_image_config_json) == {}

    # a progress update answers with the request but never with its secrets
    progress = stub.UpdateJob(
        requests_pb2.UpdateJobRequest(
            id=created["id"],
            state=requests_pb2.REQUEST_STATE_IN_PROGRESS,
            state_reason="Resolving the bundles",
        )
    )
    assert progress.state_changed
    assert progress.job.state_reason == "Resolving the bundles"
    assert not progress.job.HasField("secrets")

    update = requests_pb2.UpdateJobRequest(
        id=created["id"],
        state=requests_pb2.REQUEST_STATE_COMPLETE,
        state_reason="The operator bundle(s) were successfully added to the index image",
        results=requests_pb2.RequestResults(
            arches=["amd64", "arm64"], index_image="reg/iib-build:1"
        ),
    )
    done = stub.UpdateJob(update)
    assert done.state_changed
    assert done.job.state == requests_pb2.REQUEST_STATE_COMPLETE
    assert not done.job.secrets.HasField("overwrite_from_index_token")
    rest = api.get(f"/api/v1/builds/{created['id']}").json()
    assert rest["arches"] == ["amd64", "arm64"] and rest["index_image"] == "reg/iib-build:1"

    with pytest.raises(grpc.RpcError) as exc:
        stub.UpdateJob(
            requests_pb2.UpdateJobRequest(
                id=created["id"], state=requests_pb2.REQUEST_STATE_FAILED, state_reason="late"
            )
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert exc.value.details() == "A complete request cannot change states"
    assert error_reason(exc.value) == "REQUEST_FINAL"  # google.rpc.ErrorInfo, domain iib.v1
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetJob(requests_pb2.GetJobRequest(id=987654))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(missing.value) == "NOT_FOUND"


def test_iiblib_talks_to_the_https_gateway(stack_factory: StackFactory) -> None:
    stack = stack_factory(tls=True)
    client = IIBClient(
        stack.settings.gateway_listen, ssl_verify=str(stack.settings.gateway_tls_cert)
    )
    client.iib_session.session.trust_env = False
    client.iib_session.session.headers["X-Remote-User"] = SUBMITTER
    build = client.add_bundles(
        "q.io/idx:v4.10", ["q.io/b@sha256:1"], ["amd64"], binary_image="q.io/bin:1"
    )
    assert build.request_type == "add"
    assert build.state == "in_progress"
    fetched = client.get_build(build.id)
    assert fetched.id == build.id
    assert fetched.from_index == "q.io/idx:v4.10"
    removed = client.remove_operators(
        "q.io/idx:v4.10", ["op"], ["amd64"], binary_image="q.io/bin:1"
    )
    assert removed.removed_operators == ["op"]
