"""Hostile REST input through Envoy: answers are 400/404 with a message, never 500, and an
oversized field is refused naming it.

On main ``page``/``batch`` of ``99999999999999999999`` and a JSON body nested 100,000 deep
answered 500, and a 1 MB ``from_index`` was accepted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import SUBMITTER, USER_HEADER, Stack, stack_settings

pytestmark = [pytest.mark.db]

HUGE = "99999999999999999999"
ADD = {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", "binary_image": "q.io/bin:1"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, new_database_url: Any) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("edge")
    stack = Stack(stack_settings(tmp, new_database_url(), {}), tmp)
    yield stack
    stack.close()


def _error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    return str(resp.json()["error"])


@pytest.mark.parametrize("query", [f"page={HUGE}", f"batch={HUGE}", f"page={HUGE}&per_page=1"])
def test_huge_list_parameters_are_400(api: Stack, query: str) -> None:
    message = _error(api.get(f"/api/v1/builds?{query}"), 400)
    assert ("page" in message) or ("batch" in message)


def test_a_huge_request_id_is_not_found(api: Stack) -> None:
    assert api.get(f"/api/v1/builds/{HUGE}").status_code == 404
    assert api.get(f"/api/v1/builds/{HUGE}/logs").status_code == 404


def test_a_deeply_nested_body_is_400(api: Stack) -> None:
    body = "[" * 100_000 + "]" * 100_000
    resp = api.session.post(
        f"{api.base_url}/api/v1/builds/add",
        data=body,
        headers={"Content-Type": "application/json", USER_HEADER: SUBMITTER},
        timeout=60,
    )
    assert resp.status_code == 400, resp.text
    # and the service is still answering
    assert api.get("/api/v1/builds").status_code == 200


def test_a_megabyte_pull_spec_is_refused_naming_the_field(api: Stack) -> None:
    body = {**ADD, "from_index": "q.io/" + "a" * (1024 * 1024)}
    assert _error(api.post("add", body), 400) == '"from_index" must be at most 2048 characters'


def test_too_many_bundles_are_refused(api: Stack) -> None:
    body = {**ADD, "bundles": [f"q.io/b:{n}" for n in range(1001)]}
    assert _error(api.post("add", body), 400) == '"bundles" must have at most 1000 items'


def test_oversized_batch_annotations_are_refused(api: Stack) -> None:
    body = {
        "build_requests": [{"from_bundle_image": "q.io/b:1"}],
        "annotations": {"blob": "x" * 5000},
    }
    assert _error(api.post("regenerate-bundle-batch", body), 400) == (
        '"annotations" must be at most 2048 characters'
    )


def test_a_body_over_the_size_limit_is_refused(api: Stack) -> None:
    body = {**ADD, "bundles": [f"q.io/{'b' * 1000}:{n}" for n in range(300)]}
    message = _error(api.post("add", body), 400)
    assert message.startswith("The request body is too large: ")
