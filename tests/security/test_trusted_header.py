"""The trusted front-proxy header through the real Envoy and auth service.

On main any client reaching Envoy could be any user (a worker included) by sending the header,
and two headers joined into ``alice,iib-worker``. The header now counts only from the networks of
``IIB_AUTH_TRUSTED_PROXIES``, and a repeated header is refused."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import SUBMITTER, USER_HEADER, WORKER, Stack, stack_settings

pytestmark = [pytest.mark.db]

ADD = {"bundles": ["q.io/b:1"], "from_index": "q.io/i:1", "binary_image": "q.io/bin:1"}


def _stack(tmp: Path, url: str, **overrides: Any) -> Stack:
    return Stack(stack_settings(tmp, url, overrides), tmp)


@pytest.fixture
def elsewhere(tmp_path: Path, new_database_url: Any) -> Iterator[Stack]:
    """Envoy whose trusted proxies are on another network: the test client (on loopback) is
    not one of them."""
    stack = _stack(tmp_path, new_database_url(), IIB_AUTH_TRUSTED_PROXIES=["10.20.0.0/16"])
    yield stack
    stack.close()


@pytest.fixture
def loopback(tmp_path: Path, new_database_url: Any) -> Iterator[Stack]:
    stack = _stack(tmp_path, new_database_url())
    yield stack
    stack.close()


def test_the_header_from_an_untrusted_peer_identifies_nobody(elsewhere: Stack) -> None:
    resp = elsewhere.post("add", ADD, user=SUBMITTER)
    assert resp.status_code == 401
    # nor a worker: the identity check runs in Envoy before the request is looked up
    patch = elsewhere.patch(1, {"state": "complete", "state_reason": "x"}, user=WORKER)
    assert patch.status_code == 401


def test_a_repeated_header_is_refused(loopback: Stack) -> None:
    host, _, port = loopback.settings.gateway_listen.rpartition(":")
    body = json.dumps(ADD).encode()
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/builds/add")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader(USER_HEADER, SUBMITTER)
        conn.putheader(USER_HEADER, WORKER)
        conn.endheaders(body)
        resp = conn.getresponse()
        status, answer = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    assert status == 401
    assert "more than once" in answer["error"]


def test_the_header_from_a_trusted_proxy_identifies_the_user(loopback: Stack) -> None:
    resp = loopback.post("add", ADD, user=SUBMITTER)
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"] == SUBMITTER
