"""The Gating service (``iib.v1.Gating``) served by a real gRPC server, asked by the index
builder's client, deciding with a fake Greenwave HTTP server.

Expected messages come from IIB's own tests (release-engineering/iib
``tests/test_workers/test_greenwave.py``): ``Gating check failed for <bundle>: <message>``,
``Key "policies_satisfied" missing in Greenwave response for <bundle>``, ``Unsatisfied Greenwave
policy for <bundles> with decision_context: ..., product_version: ..., subject_type: ... and
test cases: ...`` and ``IIB is not configured to handle gating of bundles``; the koji NVR is
``<com.redhat.component>-<version>-<release>`` (``test_get_koji_build_nvr``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from services.common.config import load_settings
from services.common.errors import IIBError
from services.common.processes import free_port
from services.gating.main import build_server
from services.index_builder.gating import GatingClient
from tests.gating.fake_greenwave import FakeGreenwave, failed
from tests.pki import tls, tls_env

QUERY = {
    "decision_context": "iib_cvp_redhat_operator",
    "product_version": "cvp",
    "subject_type": "koji_build",
}
BUNDLE = "registry.example/ns/some-bundle@sha256:" + "a" * 64
OTHER = "registry.example/ns/other-bundle@sha256:" + "b" * 64
LABELS = {
    BUNDLE: {"com.redhat.component": "some-bundle-container", "version": "1.5.0", "release": "4"},
    OTHER: {"com.redhat.component": "other-bundle-container", "version": "2.0", "release": "1"},
}


@pytest.fixture
def greenwave() -> Iterator[FakeGreenwave]:
    fake = FakeGreenwave()
    yield fake
    fake.stop()


def _gating(greenwave_url: str | None, **extra: str) -> tuple[GatingClient, Any]:
    address = f"127.0.0.1:{free_port()}"
    env = {
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/tmp/nested",
        "IIB_USER_TO_QUEUE": json.dumps({"gated-user": "gated", "other-user": "ungated"}),
        "IIB_GREENWAVE_CONFIG": json.dumps({"gated": QUERY}),
        "IIB_GREENWAVE_RETRY_DELAY": "0.05",
        **({"IIB_GREENWAVE_URL": greenwave_url} if greenwave_url else {}),
        **tls_env("gating"),
        **extra,
    }
    server = build_server(load_settings(environ=env), address)
    server.start()
    return GatingClient(address, tls("index-builder"), timeout=20), server


@pytest.fixture
def client(greenwave: FakeGreenwave) -> Iterator[GatingClient]:
    gating, server = _gating(greenwave.url)
    yield gating
    server.stop(0)


def test_bundles_that_satisfy_the_policies_pass(
    client: GatingClient, greenwave: FakeGreenwave
) -> None:
    client.gate(1, "gated", [BUNDLE, OTHER], LABELS.__getitem__)
    subjects = [r["body"]["subject_identifier"] for r in greenwave.requests]
    assert subjects == ["some-bundle-container-1.5.0-4", "other-bundle-container-2.0-1"]
    # the queue's query is sent as it is configured, plus the subject
    assert greenwave.requests[0]["body"] == {**QUERY, "subject_identifier": subjects[0]}
    assert greenwave.requests[0]["path"] == "/api/v1.0/decision"


def test_unsatisfied_policies_fail_with_greenwaves_test_cases(
    client: GatingClient, greenwave: FakeGreenwave
) -> None:
    greenwave.answers["some-bundle-container-1.5.0-4"] = failed(
        "test-case-operator-metadata-fetch", "test-case-operator-metadata-preparation"
    )
    with pytest.raises(IIBError) as exc:
        client.gate(2, "gated", [BUNDLE, OTHER], LABELS.__getitem__)
    assert str(exc.value) == (
        f"Unsatisfied Greenwave policy for {BUNDLE} with decision_context: "
        "iib_cvp_redhat_operator, product_version: cvp, subject_type: koji_build and test "
        "cases: test-case-operator-metadata-fetch, test-case-operator-metadata-preparation"
    )
    assert len(greenwave.requests) == 2  # every bundle is decided, as IIB does


def test_a_queue_without_gating_configuration_asks_nobody(
    client: GatingClient, greenwave: FakeGreenwave
) -> None:
    client.gate(3, "ungated", [BUNDLE], LABELS.__getitem__)
    client.gate(4, "", [BUNDLE], LABELS.__getitem__)  # the default queue has no entry either
    assert greenwave.requests == []


def test_a_greenwave_error_answer_fails_with_its_message(
    client: GatingClient, greenwave: FakeGreenwave
) -> None:
    greenwave.errors.append((404, {"message": "Koji build unavailable"}))
    with pytest.raises(IIBError) as exc:
        client.gate(5, "gated", [BUNDLE], LABELS.__getitem__)
    assert str(exc.value) == f"Gating check failed for {BUNDLE}: Koji build unavailable"
    assert len(greenwave.requests) == 1  # a 4xx is an answer, not an outage: no retry


def test_an_answer_without_a_decision_fails(client: GatingClient, greenwave: FakeGreenwave) -> None:
    greenwave.answers["some-bundle-container-1.5.0-4"] = {"Random Greenwave error": "changed"}
    with pytest.raises(IIBError) as exc:
        client.gate(6, "gated", [BUNDLE], LABELS.__getitem__)
    assert str(exc.value) == (
        f'Key "policies_satisfied" missing in Greenwave response for {BUNDLE}'
    )


def test_a_greenwave_outage_is_retried_then_passes(
    client: GatingClient, greenwave: FakeGreenwave
) -> None:
    greenwave.errors.extend([(503, {"message": "busy"}), (502, {"message": "bad gateway"})])
    client.gate(7, "gated", [BUNDLE], LABELS.__getitem__)
    assert len(greenwave.requests) == 3


def test_a_greenwave_that_stays_down_fails_with_a_clear_reason(greenwave: FakeGreenwave) -> None:
    url = greenwave.url
    greenwave.stop()  # nothing listens any more
    client, server = _gating(url)
    try:
        with pytest.raises(IIBError) as exc:
            client.gate(8, "gated", [BUNDLE], LABELS.__getitem__)
    finally:
        server.stop(0)
    message = str(exc.value)
    assert message.startswith(f"Gating check failed for {BUNDLE}: Greenwave is unreachable: ")
    assert "Connection refused" in message or "Max retries" in message


def test_gating_without_a_greenwave_url_is_refused_as_iib_does() -> None:
    client, server = _gating(None)
    try:
        with pytest.raises(IIBError) as exc:
            client.gate(9, "gated", [BUNDLE], LABELS.__getitem__)
    finally:
        server.stop(0)
    assert str(exc.value) == "IIB is not configured to handle gating of bundles"


def test_a_bundle_without_nvr_labels_is_refused_naming_the_label(client: GatingClient) -> None:
    labels = {"com.redhat.component": "c", "version": "1"}
    with pytest.raises(IIBError) as exc:
        client.gate(10, "gated", [BUNDLE], lambda _spec: labels)
    assert str(exc.value) == (
        f"The bundle {BUNDLE} cannot be gated: it has no release label (needed for its koji NVR)"
    )


def test_an_unreachable_gating_service_fails_the_request() -> None:
    client = GatingClient(f"127.0.0.1:{free_port()}", tls("index-builder"), timeout=1)
    with pytest.raises(IIBError) as exc:
        client.gate(11, "gated", [BUNDLE], LABELS.__getitem__)
    assert str(exc.value) == "The gating service did not answer within 1 seconds"
