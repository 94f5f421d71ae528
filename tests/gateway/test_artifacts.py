"""The artifact endpoints (contract §1.1): logs, related_bundles, nested-bundles,
deprecation-schema; local directories and S3 (moto's server mode), expiry → 410."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from services.common.processes import ManagedProcess, free_port, tcp_open
from tests.gateway.conftest import Stack, StackFactory

pytestmark = pytest.mark.db

BIN = {"binary_image": "q.io/bin:1"}
ADD = {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", **BIN}


def _new(stack: Stack, endpoint: str, body: dict, final: str | None = "complete") -> int:
    rid = int(stack.post(endpoint, body).json()["id"])
    if final:
        stack.patch(rid, {"state": final, "state_reason": "done"})
    return rid


def _dir(stack: Stack, setting: str) -> Path:
    path = getattr(stack.settings, setting)
    path.mkdir(parents=True, exist_ok=True)
    return Path(path)


def _error(resp: object, status: int) -> str:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    return str(resp.json()["error"])  # type: ignore[attr-defined]


# --- logs ---------------------------------------------------------------------------------------


def test_logs_are_served_as_text_once_final(api: Stack) -> None:
    rid = _new(api, "add", ADD, final=None)
    assert _error(api.get(f"/api/v1/builds/{rid}/logs"), 400) == (
        f"The request {rid} is not complete yet. logs will be available once the request is complete."
    )
    api.patch(rid, {"state": "failed", "state_reason": "boom"})
    (_dir(api, "request_logs_dir") / f"{rid}.log").write_text("line 1\nline 2\n")
    resp = api.get(f"/api/v1/builds/{rid}/logs")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == "line 1\nline 2\n"


def test_missing_log_of_a_fresh_request_is_500(api: Stack) -> None:
    rid = _new(api, "add", ADD)
    assert _error(api.get(f"/api/v1/builds/{rid}/logs"), 500) == (
        "IIB is done processing the request and could not find logs."
    )


def test_missing_log_of_an_expired_request_is_410(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_REQUEST_DATA_DAYS_TO_LIVE=0)
    rid = _new(stack, "add", ADD)
    assert _error(stack.get(f"/api/v1/builds/{rid}/logs"), 410) == (
        f"The logs for the build request {rid} no longer exist"
    )
    # a log that is still there is served even when expired, even when empty
    (_dir(stack, "request_logs_dir") / f"{rid}.log").write_text("")
    resp = stack.get(f"/api/v1/builds/{rid}/logs")
    assert resp.status_code == 200 and resp.text == ""


def test_logs_are_404_when_no_location_is_configured(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_REQUEST_LOGS_DIR=None)
    rid = _new(stack, "add", ADD)
    assert (
        _error(stack.get(f"/api/v1/builds/{rid}/logs"), 404)
        == "The requested resource was not found"
    )
    assert "logs" not in stack.get(f"/api/v1/builds/{rid}").json()


def test_logs_of_unknown_request_are_404(api: Stack) -> None:
    assert api.get("/api/v1/builds/987654/logs").status_code == 404


# --- related_bundles ------------------------------------------------------------------------------


def test_related_bundles_flow(api: Stack) -> None:
    add_id = _new(api, "add", ADD)
    assert _error(api.get(f"/api/v1/builds/{add_id}/related_bundles"), 400) == (
        f"The request {add_id} is of type add. This endpoint is only valid for requests of type "
        "regenerate-bundle."
    )
    rid = _new(api, "regenerate-bundle", {"from_bundle_image": "q.io/b:1"}, final=None)
    assert _error(api.get(f"/api/v1/builds/{rid}/related_bundles"), 400) == (
        f"The request {rid} is not complete yet. related_bundles will be available once the request "
        "is complete."
    )
    api.patch(rid, {"state": "complete", "state_reason": "done"})
    assert _error(api.get(f"/api/v1/builds/{rid}/related_bundles"), 500) == (
        "IIB is done processing the request and could not find related_bundles."
    )
    (_dir(api, "request_related_bundles_dir") / f"{rid}_related_bundles.json").write_text('["b:1"]')
    resp = api.get(f"/api/v1/builds/{rid}/related_bundles")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.text == '["b:1"]'


def test_missing_related_bundles_with_organization_names_the_customization(api: Stack) -> None:
    rid = _new(api, "regenerate-bundle", {"from_bundle_image": "q.io/b:1", "organization": "acme"})
    assert _error(api.get(f"/api/v1/builds/{rid}/related_bundles"), 500) == (
        "IIB is done processing the request and cannot find related_bundles. Please make sure the "
        "iib_organization_customizations for organization acme has related_bundles customization "
        "type set"
    )


def test_expired_related_bundles_are_410(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_REQUEST_DATA_DAYS_TO_LIVE=0)
    rid = _new(stack, "regenerate-bundle", {"from_bundle_image": "q.io/b:1"})
    assert _error(stack.get(f"/api/v1/builds/{rid}/related_bundles"), 410) == (
        f"The related_bundles for the build request {rid} no longer exist"
    )


# --- nested-bundles and deprecation-schema -------------------------------------------------------


def test_nested_bundles_flow(api: Stack) -> None:
    add_id = _new(api, "add", ADD)
    assert _error(api.get(f"/api/v1/builds/{add_id}/nested-bundles"), 400).endswith(
        "This endpoint is only valid for requests of type recursive-related-bundles."
    )
    rid = _new(api, "recursive-related-bundles", {"parent_bundle_image": "q.io/p:1"}, final=None)
    assert _error(api.get(f"/api/v1/builds/{rid}/nested-bundles"), 400) == (
        f"The request {rid} is not complete yet. nested_bundles will be available once the request "
        "is complete."
    )
    api.patch(rid, {"state": "complete", "state_reason": "done"})
    assert _error(api.get(f"/api/v1/builds/{rid}/nested-bundles"), 500) == (
        "IIB is done processing the request and could not find nested_bundles."
    )
    path = (
        _dir(api, "request_recursive_related_bundles_dir") / f"{rid}_recursive_related_bundles.json"
    )
    path.write_text('["c:1", "p@sha256:1"]')
    assert api.get(f"/api/v1/builds/{rid}/nested-bundles").json() == ["c:1", "p@sha256:1"]


def test_deprecation_schema_of_another_type_is_400(api: Stack) -> None:
    add_id = _new(api, "add", ADD, final=None)
    assert _error(api.get(f"/api/v1/builds/{add_id}/deprecation-schema"), 400) == (
        f"The request {add_id} is of type add. This endpoint is only valid for requests of type "
        "add-deprecations."
    )


# --- S3 ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto in server mode, with the environment boto3 reads."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = ManagedProcess(
        "moto",
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        tmp_path_factory.mktemp("moto") / "moto.log",
    )
    proc.start(ready=lambda: tcp_open("127.0.0.1", port), timeout=60)
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="iib-artifacts")
    yield "iib-artifacts"
    mp.undo()
    proc.stop()


@pytest.fixture(scope="module")
def s3_stack(s3: str, stack_factory: StackFactory) -> Stack:
    return stack_factory(
        IIB_AWS_S3_BUCKET_NAME=s3,
        IIB_REQUEST_LOGS_DIR=None,
        IIB_REQUEST_RELATED_BUNDLES_DIR=None,
        IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR=None,
    )


def test_s3_artifacts_are_served(s3: str, s3_stack: Stack) -> None:
    rid = _new(s3_stack, "regenerate-bundle", {"from_bundle_image": "q.io/b:1"})
    client = boto3.client("s3")
    client.put_object(Bucket=s3, Key=f"request_logs/{rid}.log", Body=b"from s3\n")
    client.put_object(Bucket=s3, Key=f"related_bundles/{rid}_related_bundles.json", Body=b'["x:1"]')
    logs = s3_stack.get(f"/api/v1/builds/{rid}/logs")
    assert logs.status_code == 200 and logs.text == "from s3\n"
    assert s3_stack.get(f"/api/v1/builds/{rid}/related_bundles").json() == ["x:1"]
    data = s3_stack.get(f"/api/v1/builds/{rid}").json()
    assert "logs" in data and "related_bundles" in data


def test_s3_missing_artifact_is_404_then_410_when_expired(
    s3: str, s3_stack: Stack, stack_factory: StackFactory
) -> None:
    rid = _new(s3_stack, "add", ADD)
    assert (
        _error(s3_stack.get(f"/api/v1/builds/{rid}/logs"), 404)
        == "The requested resource was not found"
    )
    boto3.client("s3").create_bucket(Bucket="iib-artifacts-expired")  # ids restart in a new stack
    expired = stack_factory(
        IIB_AWS_S3_BUCKET_NAME="iib-artifacts-expired",
        IIB_REQUEST_LOGS_DIR=None,
        IIB_REQUEST_RELATED_BUNDLES_DIR=None,
        IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR=None,
        IIB_REQUEST_DATA_DAYS_TO_LIVE=0,
    )
    rid = _new(expired, "add", ADD)
    assert _error(expired.get(f"/api/v1/builds/{rid}/logs"), 410) == (
        f"The data for the build request {rid} no longer exist"
    )
