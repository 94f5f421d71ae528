"""The request store's internal gRPC port: mutual TLS and per-method authorization.

On main, with no credentials, ``GetWorkRequest`` returned a decrypted overwrite token,
``UpdateRequest`` completed a request and ``PatchBuild`` with a forged ``x-iib-user`` changed
``index_image``. Each call below is made against the real request store of the whole system."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from google.api import httpbody_pb2

from services.common.grpc_auth import InternalTLS
from services.common.grpc_server import channel
from services.common.pb.iib.v1 import builds_pb2, builds_pb2_grpc, requests_pb2, requests_pb2_grpc
from services.common.tls import ServicePKI
from tests.e2e.conftest import EndToEnd
from tests.pki import tls

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def secret_request(stack: EndToEnd, binary: str) -> int:
    """An add with an overwrite token that no worker consumes (routed to an unserved queue is
    not needed: the token is what matters, the request may run)."""
    resp = stack.post(
        "add",
        {
            "bundles": ["127.0.0.1:1/none/bundle:1"],
            "from_index": "127.0.0.1:1/none/index:1",
            "binary_image": binary,
            "overwrite_from_index": True,
            "overwrite_from_index_token": "user:sup3r-s3cret",
        },
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _store(stack: EndToEnd) -> str:
    return stack.env["IIB_REQUEST_STORE_ADDRESS"]


def test_a_plaintext_call_is_refused(stack: EndToEnd, secret_request: int) -> None:
    stub = requests_pb2_grpc.RequestStoreStub(channel(_store(stack), None))
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetJob(requests_pb2.GetJobRequest(id=secret_request), timeout=5)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_from_another_ca_is_refused(
    stack: EndToEnd, secret_request: int, tmp_path: Path
) -> None:
    rogue = ServicePKI(tmp_path / "rogue")  # same names, different CA
    cert, key = rogue.files("index-builder")
    # trust the real CA (so the server is accepted) but present the rogue certificate
    real_ca = tls("index-builder").ca
    stub = requests_pb2_grpc.RequestStoreStub(
        channel(_store(stack), InternalTLS(real_ca, cert.read_bytes(), key.read_bytes()))
    )
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetJob(requests_pb2.GetJobRequest(id=secret_request), timeout=5)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("identity", ["gateway", "gating", "request-store"])
def test_only_worker_identities_may_fetch_or_update_jobs(
    stack: EndToEnd, secret_request: int, identity: str
) -> None:
    stub = requests_pb2_grpc.RequestStoreStub(channel(_store(stack), tls(identity)))
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetJob(requests_pb2.GetJobRequest(id=secret_request), timeout=5)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "sup3r" not in (exc.value.details() or "")
    with pytest.raises(grpc.RpcError) as update:
        stub.UpdateJob(
            requests_pb2.UpdateJobRequest(
                id=secret_request, state=requests_pb2.REQUEST_STATE_COMPLETE, state_reason="forged"
            ),
            timeout=5,
        )
    assert update.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_worker_identity_gets_its_job(stack: EndToEnd, secret_request: int) -> None:
    stub = requests_pb2_grpc.RequestStoreStub(channel(_store(stack), tls("index-builder")))
    job = stub.GetJob(requests_pb2.GetJobRequest(id=secret_request), timeout=5)
    assert job.id == secret_request


def test_a_forged_user_from_a_non_gateway_identity_is_ignored(
    stack: EndToEnd, secret_request: int
) -> None:
    builds = builds_pb2_grpc.BuildsStub(channel(_store(stack), tls("index-builder")))
    body = json.dumps({"index_image": "attacker.example/evil:1"}).encode()
    with pytest.raises(grpc.RpcError) as exc:
        builds.PatchBuild(
            builds_pb2.PatchBuildRequest(
                id=str(secret_request),
                body=httpbody_pb2.HttpBody(content_type="application/json", data=body),
            ),
            metadata=[("x-iib-user", "worker@DOMAIN.LOCAL")],
            timeout=5,
        )
    assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    current = stack.rest_get(f"/api/v1/builds/{secret_request}").json()
    assert current["index_image"] != "attacker.example/evil:1"
