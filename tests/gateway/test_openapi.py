"""The OpenAPI document served at /static/api_v1.yaml matches the real API: it is valid, it has
exactly the routes the protos declare, and real answers validate against its schemas."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from google.api import annotations_pb2
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from services.common.pb.iib.v1 import builds_pb2
from tests.gateway.conftest import Stack
from tests.gateway.test_responses import BODIES

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def spec(api: Stack) -> dict[str, Any]:
    resp = api.get("/static/api_v1.yaml")
    assert resp.status_code == 200
    document = yaml.safe_load(resp.text)
    validate(document)
    return dict(document)


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    return OAS30Validator({**schema, "components": spec["components"]})


def test_spec_routes_are_exactly_the_proto_routes(spec: dict[str, Any]) -> None:
    declared = set()
    for method in builds_pb2.DESCRIPTOR.services_by_name["Builds"].methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        verb = rule.WhichOneof("pattern")
        path = getattr(rule, verb).removeprefix("/api/v1")
        declared.add((verb, path))
    documented = {
        (verb, path)
        for path, item in spec["paths"].items()
        for verb in item
        if verb in ("get", "post", "patch", "put", "delete")
    }
    assert documented == declared


def test_real_answers_validate_against_the_spec(api: Stack, spec: dict[str, Any]) -> None:
    request_schema = _validator(spec, {"$ref": "#/components/schemas/Request"})
    for endpoint, body in BODIES.items():
        created = api.post(endpoint, body)
        assert created.status_code == 201
        request_schema.validate(created.json())
        request_schema.validate(api.get(f"/api/v1/builds/{created.json()['id']}").json())
    listing = _validator(spec, {"$ref": "#/components/schemas/BuildList"})
    listing.validate(api.get("/api/v1/builds").json())
    listing.validate(api.get("/api/v1/builds", params={"verbose": "true"}).json())
    batch = api.post("regenerate-bundle-batch", {"build_requests": [{"from_bundle_image": "b:1"}]})
    _validator(spec, {"type": "array", "items": {"$ref": "#/components/schemas/Request"}}).validate(
        batch.json()
    )


def test_error_answers_validate_against_the_spec(api: Stack, spec: dict[str, Any]) -> None:
    error = _validator(spec, {"$ref": "#/components/schemas/Error"})
    for resp in (
        api.post("add", {"junk": 1}),
        api.get("/api/v1/builds/424242"),
        api.get("/api/v1/nope"),
        api.request("DELETE", "/api/v1/builds/1"),
        api.post("add", {}, user=None),
    ):
        error.validate(resp.json())


def test_submission_bodies_of_the_tests_validate_against_the_spec(spec: dict[str, Any]) -> None:
    for endpoint, body in BODIES.items():
        media = spec["paths"][f"/builds/{endpoint}"]["post"]["requestBody"]
        if "$ref" in media:
            media = spec["components"]["requestBodies"][media["$ref"].rsplit("/", 1)[1]]
        _validator(spec, media["content"]["application/json"]["schema"]).validate(body)
