"""Identity: GET is open, POST/PATCH need a user (401), PATCH needs a worker (403), the identity
header cannot be forged past Envoy, and LOGIN_DISABLED behaves as in IIB."""

from __future__ import annotations

import pytest

from services.common.errors import UNAUTHORIZED_TEXT
from tests.gateway.conftest import NON_WORKER, SUBMITTER, WORKER, Stack, StackFactory

pytestmark = pytest.mark.db

ADD = {"bundles": ["q.io/ns/b:1"], "binary_image": "q.io/bin:1", "add_arches": ["amd64"]}


def _create(api: Stack, user: str | None = SUBMITTER) -> dict:
    resp = api.post("add", ADD, user=user)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_post_without_identity_is_401_with_werkzeug_text(api: Stack) -> None:
    resp = api.post("add", ADD, user=None)
    assert resp.status_code == 401
    assert resp.json() == {"error": UNAUTHORIZED_TEXT}


def test_401_comes_before_the_body_is_looked_at(api: Stack) -> None:
    resp = api.request(
        "POST", "/api/v1/builds/add", data=b"{not json", headers={"Content-Type": "text/plain"}
    )
    assert resp.status_code == 401


def test_get_needs_no_identity(api: Stack) -> None:
    created = _create(api)
    assert api.get(f"/api/v1/builds/{created['id']}").status_code == 200
    assert api.get("/api/v1/builds").status_code == 200


def test_submitter_is_recorded_as_user(api: Stack) -> None:
    assert _create(api)["user"] == SUBMITTER


def test_patch_without_identity_is_401(api: Stack) -> None:
    created = _create(api)
    resp = api.patch(created["id"], {"arches": ["amd64"]}, user=None)
    assert resp.status_code == 401
    assert resp.json() == {"error": UNAUTHORIZED_TEXT}


def test_patch_by_non_worker_is_403(api: Stack) -> None:
    created = _create(api)
    resp = api.patch(created["id"], {"arches": ["amd64"]}, user=NON_WORKER)
    assert resp.status_code == 403
    assert resp.json() == {"error": "This API endpoint is restricted to IIB workers"}


def test_403_comes_before_the_body_is_parsed(api: Stack) -> None:
    resp = api.request(
        "PATCH",
        "/api/v1/builds/1",
        user=NON_WORKER,
        data=b"{",
        headers={"Content-Type": "text/plain"},
    )
    assert resp.status_code == 403


def test_client_cannot_forge_the_internal_identity_header(api: Stack) -> None:
    resp = api.post("add", ADD, user=None, headers={"x-iib-user": "mallory"})
    assert resp.status_code == 401
    forged = api.post("add", ADD, user=SUBMITTER, headers={"x-iib-user": "mallory"})
    assert forged.status_code == 201
    assert forged.json()["user"] == SUBMITTER
    patch = api.patch(
        forged.json()["id"], {"arches": ["x"]}, user=None, headers={"x-iib-user": WORKER}
    )
    assert patch.status_code == 401


def test_trusted_header_is_ignored_unless_configured(stack_factory: StackFactory) -> None:
    stack = stack_factory(IIB_AUTH_TRUSTED_HEADER=None)
    resp = stack.post("add", ADD, user=SUBMITTER)  # sends X-Remote-User, which nobody trusts now
    assert resp.status_code == 401


def test_login_disabled_accepts_anonymous_requests(stack_factory: StackFactory) -> None:
    stack = stack_factory(LOGIN_DISABLED=True)
    resp = stack.post("add", ADD, user=None)
    assert resp.status_code == 201
    assert resp.json()["user"] is None
    # anyone may PATCH when login is disabled and nobody is identified
    patched = stack.patch(resp.json()["id"], {"arches": ["amd64"]}, user=None)
    assert patched.status_code == 200


def test_login_disabled_still_loads_a_sent_identity(stack_factory: StackFactory) -> None:
    stack = stack_factory(LOGIN_DISABLED=True)
    resp = stack.post("add", ADD, user=SUBMITTER)
    assert resp.json()["user"] == SUBMITTER
    patched = stack.patch(resp.json()["id"], {"arches": ["amd64"]}, user=NON_WORKER)
    assert patched.status_code == 403


def test_login_disabled_skips_the_overwrite_token_403(stack_factory: StackFactory) -> None:
    stack = stack_factory(LOGIN_DISABLED=True)
    resp = stack.post(
        "add", {**ADD, "from_index": "q.io/idx:1", "overwrite_from_index": True}, user=None
    )
    assert resp.status_code == 201
