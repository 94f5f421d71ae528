"""GET /builds (contract §4): envelope, pagination, filters, their order and errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.conftest import Stack, StackFactory

pytestmark = pytest.mark.db

BIN = {"binary_image": "q.io/bin:1"}


@pytest.fixture(scope="module")
def listing(stack_factory: StackFactory) -> Stack:
    """A stack with a known population: 5 add, 2 rm, 1 merge, 1 regenerate (ids 1..9)."""
    stack = stack_factory(IIB_MAX_PER_PAGE=5)
    for n in range(5):
        stack.post("add", {"bundles": [f"q.io/b{n}:1"], "from_index": f"q.io/idx{n % 2}:v4", **BIN})
    stack.post("rm", {"operators": ["op"], "from_index": "q.io/idx0:v4", **BIN}, user="other@X")
    stack.post("rm", {"operators": ["op"], "from_index": "registry.io/other:v4", **BIN})
    stack.post(
        "merge-index-image",
        {"source_from_index": "q.io/s:1", "target_index": "q.io/idx0:v4", **BIN},
    )
    stack.post("regenerate-bundle", {"from_bundle_image": "q.io/bundle:1"})
    stack.patch(1, {"index_image": "reg/iib-build:1", "state": "complete", "state_reason": "done"})
    stack.patch(8, {"index_image": "reg/iib-build:1"})
    stack.patch(2, {"state": "failed", "state_reason": "boom"})
    return stack


def _list(stack: Stack, status: int = 200, **params: Any) -> dict:
    resp = stack.get("/api/v1/builds", params=params)
    assert resp.status_code == status, resp.text
    return dict(resp.json())


def _ids(data: dict) -> list[int]:
    return [item["id"] for item in data["items"]]


def test_envelope_and_pagination_links(listing: Stack) -> None:
    data = _list(listing)
    base = listing.base_url
    assert _ids(data) == [9, 8, 7, 6, 5]
    assert data["meta"] == {
        "first": f"{base}/api/v1/builds?page=1&per_page=5",
        "last": f"{base}/api/v1/builds?page=2&per_page=5",
        "next": f"{base}/api/v1/builds?page=2&per_page=5",
        "page": 1,
        "pages": 2,
        "per_page": 5,
        "previous": None,
        "total": 9,
    }
    second = _list(listing, page=2)
    assert _ids(second) == [4, 3, 2, 1]
    assert second["meta"]["next"] is None
    assert second["meta"]["previous"] == f"{base}/api/v1/builds?page=1&per_page=5"


def test_per_page_is_capped_at_the_maximum(listing: Stack) -> None:
    data = _list(listing, per_page=100)
    assert data["meta"]["per_page"] == 5
    assert len(data["items"]) == 5
    assert _list(listing, per_page=2, page=5)["meta"]["pages"] == 5


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "0"},
        {"page": "-1"},
        {"per_page": "x"},
        {"per_page": "0"},
        {"page": ""},
        {"page": "3"},
    ],
)
def test_bad_or_out_of_range_pages_are_404(listing: Stack, params: dict) -> None:
    assert _list(listing, 404, **params) == {"error": "The requested resource was not found"}


def test_empty_result_on_page_one_is_200(listing: Stack) -> None:
    data = _list(listing, user="nobody")
    assert data["items"] == []
    assert data["meta"]["pages"] == 0 and data["meta"]["total"] == 0
    assert data["meta"]["last"].endswith("page=0&per_page=5&user=nobody")


def test_filters_are_carried_into_links_in_iib_order(listing: Stack) -> None:
    data = _list(
        listing,
        index_image="reg/iib-build:1",
        user="tbrady@DOMAIN.LOCAL",
        state="complete",
        verbose="true",
        request_type="add",
        batch="1",
    )
    assert data["meta"]["first"] == (
        f"{listing.base_url}/api/v1/builds?page=1&per_page=5&state=complete&batch=1&request_type=add"
        "&user=tbrady@DOMAIN.LOCAL&index_image=reg/iib-build:1"
    )
    assert _ids(data) == [1]
    assert "state_history" in data["items"][0]


def test_state_filter(listing: Stack) -> None:
    assert _ids(_list(listing, state="failed")) == [2]
    assert _list(listing, state="")["meta"]["total"] == 9
    assert _list(listing, 400, state="done")["error"] == (
        "done is not a valid build request state. Valid states are: complete, failed, in_progress"
    )


@pytest.mark.parametrize("batch", ["0", "-2", "x", ""])
def test_batch_must_be_a_positive_integer(listing: Stack, batch: str) -> None:
    assert _list(listing, 400, batch=batch)["error"] == "The batch must be a positive integer"


def test_batch_filter(listing: Stack) -> None:
    assert _ids(_list(listing, batch="3")) == [3]
    assert _list(listing, batch="999")["items"] == []


def test_request_type_filter(listing: Stack) -> None:
    assert _ids(_list(listing, request_type="rm")) == [7, 6]
    assert _ids(_list(listing, request_type="merge-index-image")) == [8]
    assert _list(listing, request_type="generic")["items"] == []
    message = _list(listing, 400, request_type="add_deprecations")["error"]
    assert message == (
        "add_deprecations is not a valid build request type. Valid request_types are: generic, add, rm, "
        "regenerate-bundle, merge-index-image, create-empty-index, recursive-related-bundles, "
        "fbc-operations, add-deprecations"
    )


def test_user_filter(listing: Stack) -> None:
    assert _ids(_list(listing, user="other@X")) == [6]


def test_from_index_filter(listing: Stack) -> None:
    # merge requests never match from_index, even though their target is this image
    assert _ids(_list(listing, from_index="q.io/idx0:v4")) == [6, 5, 3, 1]
    assert _list(listing, 400, from_index="q.io/unknown:1")["error"] == (
        "from_index q.io/unknown:1 is not a valid index image"
    )
    # any stored image passes the existence check; the result is then empty
    assert _list(listing, from_index="q.io/bin:1")["items"] == []


def test_from_index_startswith_filter(listing: Stack) -> None:
    assert _ids(_list(listing, from_index_startswith="registry.io/")) == [7]
    assert _ids(_list(listing, from_index_startswith="q.io/idx1")) == [4, 2]
    assert _list(listing, 400, from_index_startswith="nope.io")["error"] == (
        "Can't find any from_index starting with nope.io"
    )


def test_from_index_startswith_treats_like_wildcards_literally(listing: Stack) -> None:
    assert _list(listing, 400, from_index_startswith="q.io/idx_")["error"].startswith("Can't find")


def test_index_image_filter_includes_merge_requests(listing: Stack) -> None:
    assert _ids(_list(listing, index_image="reg/iib-build:1")) == [8, 1]
    assert _list(listing, 400, index_image="x:1")["error"] == "x:1 is not a valid index image"


def test_filter_errors_follow_iib_order(listing: Stack) -> None:
    both = _list(listing, 400, state="bad", batch="x", request_type="bad")
    assert both["error"].startswith("bad is not a valid build request state")
    later = _list(listing, 400, batch="x", request_type="bad", index_image="x:1")
    assert later["error"] == "The batch must be a positive integer"
    # a filter error wins over a bad page
    assert _list(listing, 400, page="x", from_index="nope:1")["error"].startswith(
        "from_index nope:1"
    )


def test_first_of_repeated_parameters_wins(listing: Stack) -> None:
    resp = listing.session.get(f"{listing.base_url}/api/v1/builds?state=failed&state=complete")
    assert [i["id"] for i in resp.json()["items"]] == [2]


def test_non_verbose_values(listing: Stack) -> None:
    assert _list(listing, verbose="1")["items"][0]["state_history"]
    assert "state_history" not in _list(listing, verbose="yes")["items"][0]
