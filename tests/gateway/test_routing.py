"""Every endpoint of contract §1 is routed through Envoy; unknown routes 404, wrong methods 405."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import SUBMITTER, WORKER, Stack

pytestmark = pytest.mark.db

NOT_FOUND = {"error": "The requested resource was not found"}
NOT_ALLOWED = {"error": "The method is not allowed for the requested URL."}
POST_ENDPOINTS = [
    "add",
    "rm",
    "regenerate-bundle",
    "regenerate-bundle-batch",
    "add-rm-batch",
    "merge-index-image",
    "create-empty-index",
    "recursive-related-bundles",
    "fbc-operations",
    "add-deprecations",
]


@pytest.fixture(scope="module")
def add_id(api: Stack) -> int:
    resp = api.post(
        "add", {"bundles": ["q.io/ns/b:1"], "binary_image": "q.io/bin:1", "add_arches": ["amd64"]}
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_healthcheck_answers_ok(api: Stack) -> None:
    resp = api.get("/api/v1/healthcheck")
    assert resp.status_code == 200
    assert resp.json() == {"status": "Health check OK"}
    assert resp.headers["content-type"] == "application/json"


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_every_post_endpoint_reaches_the_service(api: Stack, endpoint: str) -> None:
    # An empty JSON array is "not a JSON object" for every endpoint: proof the service answered.
    resp = api.post(endpoint, [])
    assert resp.status_code == 400
    assert "must be a JSON object" in resp.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/builds/{id}",
        "/api/v1/builds/{id}/logs",
        "/api/v1/builds/{id}/related_bundles",
        "/api/v1/builds/{id}/nested-bundles",
        "/api/v1/builds/{id}/deprecation-schema",
    ],
)
def test_every_get_endpoint_is_routed(api: Stack, add_id: int, path: str) -> None:
    resp = api.get(path.format(id=add_id))
    # each answers with the service's own status, never the router's 404/405
    assert resp.json() != NOT_ALLOWED
    assert resp.status_code in (200, 400)


def test_list_and_patch_are_routed(api: Stack, add_id: int) -> None:
    assert api.get("/api/v1/builds").status_code == 200
    resp = api.patch(add_id, {"arches": ["amd64"]})
    assert resp.status_code == 200
    assert resp.json()["arches"] == ["amd64"]


@pytest.mark.parametrize(
    "path", ["/nope", "/api/v1/nope", "/api/v1/builds/1/nope", "/api/v1/builds/"]
)
def test_unknown_route_is_404(api: Stack, path: str) -> None:
    resp = api.get(path)
    assert resp.status_code == 404
    assert resp.json() == NOT_FOUND


@pytest.mark.parametrize("raw_id", ["abc", "-1", "1.5", "%C3%A9"])
def test_non_integer_id_is_404(api: Stack, raw_id: str) -> None:
    resp = api.get(f"/api/v1/builds/{raw_id}")
    assert resp.status_code == 404
    assert resp.json() == NOT_FOUND


def test_unknown_id_is_404(api: Stack) -> None:
    resp = api.get("/api/v1/builds/999999")
    assert resp.status_code == 404
    assert resp.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/builds/1"),
        ("POST", "/api/v1/builds"),
        ("GET", "/api/v1/builds/add"),
        ("PATCH", "/api/v1/builds/add"),
        ("PUT", "/api/v1/builds/1/logs"),
        ("POST", "/api/v1/healthcheck"),
        ("DELETE", "/api/v1/builds/add-rm-batch"),
    ],
)
def test_wrong_method_is_405(api: Stack, method: str, path: str) -> None:
    resp = api.request(method, path, user=SUBMITTER)
    assert resp.status_code == 405
    assert resp.json() == NOT_ALLOWED


def test_post_to_unknown_route_is_404_even_without_identity(api: Stack) -> None:
    resp = api.request("POST", "/nope", json={})
    assert resp.status_code == 404


def test_head_is_served_like_get_without_body(api: Stack, add_id: int) -> None:
    get = api.get(f"/api/v1/builds/{add_id}")
    head = api.request("HEAD", f"/api/v1/builds/{add_id}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


def test_no_grpc_headers_leak_to_rest_clients(api: Stack, add_id: int) -> None:
    resp = api.get(f"/api/v1/builds/{add_id}")
    lowered = {k.lower() for k in resp.headers}
    assert (
        not {"grpc-status", "grpc-message", "x-http-status", "x-envoy-upstream-service-time"}
        & lowered
    )


def test_docs_page_and_openapi_document_are_served(api: Stack) -> None:
    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/api_v1.yaml" in page.text
    spec = api.get("/static/api_v1.yaml")
    assert spec.status_code == 200
    assert spec.text.startswith("openapi:")


def test_worker_patch_identity_reaches_store(api: Stack, add_id: int) -> None:
    resp = api.patch(
        add_id, {"state": "in_progress", "state_reason": "Resolving the bundles"}, user=WORKER
    )
    assert resp.status_code == 200
    assert resp.json()["state_reason"] == "Resolving the bundles"
