"""Response shapes of every request type (contract §3): keys, nulls, JSON types, verbose vs list
items, 201 on create, batch arrays, and the exact Flask encoding of the body."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.gateway.conftest import SUBMITTER, Stack, StackFactory

pytestmark = pytest.mark.db

BASE = {"id", "arches", "batch", "request_type", "user", "state", "state_reason", "updated"}
VERBOSE = {"batch_annotations", "state_history", "logs"}
INDEX_COMMON = {
    "binary_image",
    "binary_image_resolved",
    "bundle_mapping",
    "bundles",
    "deprecation_list",
    "from_index",
    "from_index_resolved",
    "index_image",
    "index_image_resolved",
    "internal_index_image_copy",
    "internal_index_image_copy_resolved",
    "organization",
    "removed_operators",
    "distribution_scope",
    "build_tags",
}
TYPE_KEYS = {
    "add": INDEX_COMMON | {"omps_operator_version", "graph_update_mode", "check_related_images"},
    "rm": INDEX_COMMON,
    "regenerate-bundle": {
        "bundle_image",
        "from_bundle_image",
        "from_bundle_image_resolved",
        "organization",
        "bundle_replacements",
        "related_bundles",
    },
    "merge-index-image": {
        "binary_image",
        "binary_image_resolved",
        "build_tags",
        "deprecation_list",
        "distribution_scope",
        "graph_update_mode",
        "ignore_bundle_ocp_version",
        "index_image",
        "source_from_index",
        "source_from_index_resolved",
        "target_index",
        "target_index_resolved",
    },
    "create-empty-index": {
        "binary_image",
        "binary_image_resolved",
        "distribution_scope",
        "from_index",
        "from_index_resolved",
        "index_image",
        "index_image_resolved",
        "labels",
    },
    "recursive-related-bundles": {
        "organization",
        "parent_bundle_image",
        "parent_bundle_image_resolved",
        "nested_bundles",
    },
    "fbc-operations": (
        INDEX_COMMON
        - {"bundles", "bundle_mapping", "deprecation_list", "organization", "removed_operators"}
    )
    | {"fbc_fragment", "fbc_fragment_resolved", "fbc_fragments", "fbc_fragments_resolved"},
    "add-deprecations": (
        INDEX_COMMON
        - {
            "bundles",
            "bundle_mapping",
            "deprecation_list",
            "distribution_scope",
            "organization",
            "removed_operators",
        }
    )
    | {"operator_package", "deprecation_schema_url"},
}
BODIES: dict[str, dict[str, Any]] = {
    "add": {
        "bundles": ["q.io/ns/b1:1", "q.io/ns/b2@sha256:abc"],
        "from_index": "q.io/idx:v4.10",
        "binary_image": "q.io/bin:1",
        "deprecation_list": ["q.io/ns/b0:1"],
        "organization": "org",
        "add_arches": ["amd64"],
        "build_tags": ["extra"],
        "check_related_images": True,
        "cnr_token": "cnr-secret",
        "force_backport": True,
    },
    "rm": {
        "operators": ["op1", "op2"],
        "from_index": "q.io/idx:v4.10",
        "binary_image": "q.io/bin:1",
    },
    "regenerate-bundle": {
        "from_bundle_image": "q.io/b:1",
        "organization": "acme",
        "bundle_replacements": {"q.io/x:1": "q.io/y:1"},
    },
    "merge-index-image": {
        "source_from_index": "q.io/s:1",
        "target_index": "q.io/t:1",
        "binary_image": "q.io/bin:1",
        "ignore_bundle_ocp_version": True,
    },
    "create-empty-index": {
        "from_index": "q.io/idx:1",
        "binary_image": "q.io/bin:1",
        "labels": {"a": "b"},
    },
    "recursive-related-bundles": {"parent_bundle_image": "q.io/p:1", "organization": "acme"},
    "fbc-operations": {
        "fbc_fragments": ["q.io/frag:1", "q.io/frag:2"],
        "from_index": "q.io/idx:1",
        "binary_image": "q.io/bin:1",
    },
    "add-deprecations": {
        "operator_package": "pkg",
        "from_index": "q.io/idx:1",
        "binary_image": "q.io/bin:1",
        "deprecation_schema": '{"schema": "olm.deprecations", "package": "pkg"}',
    },
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


@pytest.mark.parametrize("request_type", sorted(BODIES))
def test_create_answers_201_with_the_verbose_json(api: Stack, request_type: str) -> None:
    resp = api.post(request_type, BODIES[request_type])
    assert resp.status_code == 201, resp.text
    data = resp.json()
    assert set(data) == BASE | VERBOSE | TYPE_KEYS[request_type]
    assert data["request_type"] == request_type
    assert isinstance(data["id"], int) and isinstance(data["batch"], int)
    assert data["state"] == "in_progress"
    assert data["state_reason"] == "The request was initiated"
    assert data["user"] == SUBMITTER
    assert data["arches"] == []
    assert TIMESTAMP.match(data["updated"])
    assert data["state_history"] == [
        {
            "state": "in_progress",
            "state_reason": "The request was initiated",
            "updated": data["updated"],
        }
    ]
    assert data["batch_annotations"] is None
    assert data["logs"]["url"] == f"{api.base_url}/api/v1/builds/{data['id']}/logs"


@pytest.mark.parametrize("request_type", sorted(BODIES))
def test_list_items_are_the_non_verbose_form(api: Stack, request_type: str) -> None:
    created = api.post(request_type, BODIES[request_type]).json()
    items = api.get("/api/v1/builds", params={"request_type": request_type}).json()["items"]
    item = next(i for i in items if i["id"] == created["id"])
    assert set(item) == BASE | TYPE_KEYS[request_type]
    verbose = api.get("/api/v1/builds", params={"request_type": request_type, "verbose": "TRUE"})
    v_item = next(i for i in verbose.json()["items"] if i["id"] == created["id"])
    assert v_item == api.get(f"/api/v1/builds/{created['id']}").json()


def test_add_values(api: Stack) -> None:
    data = api.post("add", BODIES["add"]).json()
    assert data["bundles"] == ["q.io/ns/b1:1", "q.io/ns/b2@sha256:abc"]
    assert data["deprecation_list"] == ["q.io/ns/b0:1"]
    assert data["bundle_mapping"] == {}
    assert data["omps_operator_version"] == {}
    assert data["removed_operators"] == []
    assert data["organization"] == "org"
    assert data["check_related_images"] is True
    assert data["graph_update_mode"] is None
    assert data["build_tags"] == ["extra"]
    assert data["from_index_resolved"] is None


def test_rm_values(api: Stack) -> None:
    data = api.post("rm", BODIES["rm"]).json()
    assert data["removed_operators"] == ["op1", "op2"]
    assert data["bundles"] == [] and data["bundle_mapping"] == {} and data["deprecation_list"] == []
    assert data["organization"] is None


def test_regenerate_bundle_values(api: Stack) -> None:
    data = api.post("regenerate-bundle", BODIES["regenerate-bundle"]).json()
    assert data["bundle_replacements"] == {"q.io/x:1": "q.io/y:1"}
    assert data["related_bundles"]["url"].endswith(f"/api/v1/builds/{data['id']}/related_bundles")
    plain = api.post("regenerate-bundle", {"from_bundle_image": "q.io/b:1"}).json()
    assert plain["bundle_replacements"] == {}
    assert plain["organization"] is None


def test_related_bundles_key_depends_on_configuration(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_REQUEST_RELATED_BUNDLES_DIR=None, IIB_REQUEST_LOGS_DIR=None)
    data = stack.post("regenerate-bundle", {"from_bundle_image": "q.io/b:1"}).json()
    assert "related_bundles" not in data
    assert "logs" not in data


def test_fbc_fragment_modes(api: Stack) -> None:
    new = api.post("fbc-operations", BODIES["fbc-operations"]).json()
    assert new["fbc_fragments"] == ["q.io/frag:1", "q.io/frag:2"]
    assert new["fbc_fragments_resolved"] == []
    assert new["fbc_fragment"] is None and new["fbc_fragment_resolved"] is None
    legacy = api.post(
        "fbc-operations",
        {"fbc_fragment": "q.io/frag:9", "from_index": "q.io/idx:1", "binary_image": "q.io/bin:1"},
    ).json()
    assert legacy["fbc_fragment"] == "q.io/frag:9"
    assert legacy["fbc_fragment_resolved"] is None
    assert legacy["fbc_fragments"] == [] and legacy["fbc_fragments_resolved"] == []


def test_add_deprecations_values_and_schema_endpoint(api: Stack) -> None:
    data = api.post("add-deprecations", BODIES["add-deprecations"]).json()
    assert data["operator_package"] == "pkg"
    assert (
        data["deprecation_schema_url"]
        == f"{api.base_url}/api/v1/builds/{data['id']}/deprecation-schema"
    )
    schema = api.get(f"/api/v1/builds/{data['id']}/deprecation-schema")
    assert schema.status_code == 200
    assert schema.headers["content-type"] == "application/json"
    assert schema.text == BODIES["add-deprecations"]["deprecation_schema"]


def test_batch_endpoints_answer_an_array_in_input_order(api: Stack) -> None:
    body = {
        "build_requests": [
            {"bundles": ["a:1"], "from_index": "i:1", "binary_image": "b:1"},
            {"operators": ["op"], "from_index": "i:1", "binary_image": "b:1"},
        ],
        "annotations": {"z": 1, "a": [True, None]},
    }
    resp = api.post("add-rm-batch", body)
    assert resp.status_code == 201, resp.text
    items = resp.json()
    assert [i["request_type"] for i in items] == ["add", "rm"]
    assert items[1]["id"] == items[0]["id"] + 1
    assert items[0]["batch"] == items[1]["batch"]
    assert items[0]["batch_annotations"] == {"a": [True, None], "z": 1}
    regen = api.post(
        "regenerate-bundle-batch",
        {
            "build_requests": [
                {"from_bundle_image": "b:1"},
                {"from_bundle_image": "b:2", "organization": "o"},
            ]
        },
    )
    assert regen.status_code == 201
    assert [i["from_bundle_image"] for i in regen.json()] == ["b:1", "b:2"]
    assert regen.json()[0]["batch_annotations"] is None


def test_body_bytes_match_flask_jsonify(api: Stack) -> None:
    resp = api.post(
        "add", {"bundles": ["q.io/ns/caf\u00e9:1"], "from_index": "i:1", "binary_image": "b:1"}
    )
    raw = resp.content
    data = json.loads(raw)
    assert raw == (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
    assert b"\\u00e9" in raw  # ASCII-escaped as Flask does


def test_secrets_are_never_echoed(api: Stack) -> None:
    body = {
        "bundles": ["a:1"],
        "from_index": "i:1",
        "binary_image": "b:1",
        "overwrite_from_index": True,
        "overwrite_from_index_token": "s3cr3t-token",
        "cnr_token": "cnr-s3cr3t",
    }
    resp = api.post("add", body)
    assert resp.status_code == 201
    assert "s3cr3t" not in resp.text
    assert "s3cr3t" not in api.get(f"/api/v1/builds/{resp.json()['id']}").text
    regen = api.post(
        "regenerate-bundle",
        {"from_bundle_image": "b:1", "registry_auths": {"auths": {"r.io": {"auth": "c2VjcmV0"}}}},
    )
    assert "c2VjcmV0" not in regen.text
