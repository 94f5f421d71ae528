"""The typed API (iib.builds.v1.BuildService) on the gateway's public port: native gRPC over TLS
through Envoy with the REST identity modes, server reflection and health there, WatchBuild
streaming every stored state change, the catalog diff (typed and REST), and the dashboard and
API documentation pages in a real browser (Debian's chromium driven by Playwright).

Oracles: the keda fixture bundles' own metadata (annotations.yaml: package keda, channel
alpha; the CSVs: keda.v1.5.0 replaces keda.v1.4.1), IIB's state reasons for an add
(docs/index-builder.md, IIB's worker), and the REST API's stored state history, which the
typed API must repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from services.common.pb.iib.builds.v1 import build_service_pb2 as pb
from services.common.pb.iib.builds.v1 import build_service_pb2_grpc as pb_grpc
from services.common.pb.iib.v1 import requests_pb2
from tests.e2e.conftest import SUBMITTER, EndToEnd, wait_until

pytestmark = [pytest.mark.db, pytest.mark.slow]

COMPLETE = requests_pb2.REQUEST_STATE_COMPLETE
# IIB's state reasons of an add onto an existing index, in order (IIB's worker, as
# test_index_builds.py checks them through REST)
ADD_REASONS = [
    "The request was initiated",
    "Resolving the bundles",
    "Resolving the container images",
    "Building the index image for the following arches: amd64",
    "Checking if bundles are already present in index image",
    "Creating the manifest list",
    "The operator bundle(s) were successfully added to the index image",
]


@pytest.fixture(scope="module")
def public(e2e: EndToEnd) -> Iterator[grpc.Channel]:
    """A gRPC channel to the gateway's public HTTPS port (Envoy), as an outside client has."""
    root = (e2e.base / "tls" / "gw.crt").read_bytes()
    with grpc.secure_channel(e2e.gateway_listen, grpc.ssl_channel_credentials(root)) as chan:
        yield chan


@pytest.fixture(scope="module")
def stub(public: grpc.Channel) -> pb_grpc.BuildServiceStub:
    return pb_grpc.BuildServiceStub(public)


AS_SUBMITTER = (("x-remote-user", SUBMITTER),)


@pytest.fixture(scope="module")
def first(
    e2e: EndToEnd, stub: pb_grpc.BuildServiceStub, bundles: dict[str, list[str]], binary: str
) -> Any:
    """keda 1.4.1 added to an empty index through CreateAddBuild, watched to the end."""
    build = stub.CreateAddBuild(
        pb.CreateAddBuildRequest(
            add=pb.AddParameters(
                bundles=[bundles["keda"][0]], binary_image=binary, add_arches=["amd64"]
            ),
            request_id="typed-first",
        ),
        metadata=AS_SUBMITTER,
        timeout=60,
    )
    changes = list(stub.WatchBuild(pb.WatchBuildRequest(name=build.name), timeout=180))
    assert changes[-1].build.state == COMPLETE, changes[-1].build.state_reason
    return changes[-1].build


def test_create_answers_the_build_and_a_retry_returns_it(
    e2e: EndToEnd, stub: pb_grpc.BuildServiceStub, first: Any, bundles: Any, binary: str
) -> None:
    assert first.name == f"builds/{first.id}"
    assert first.user == SUBMITTER
    assert list(first.add.bundles) == [bundles["keda"][0]]
    assert list(first.results.arches) == ["amd64"]
    # AIP-155: the same request_id and parameters give the same build, not a second one
    again = stub.CreateAddBuild(
        pb.CreateAddBuildRequest(
            add=pb.AddParameters(
                bundles=[bundles["keda"][0]], binary_image=binary, add_arches=["amd64"]
            ),
            request_id="typed-first",
        ),
        metadata=AS_SUBMITTER,
        timeout=60,
    )
    assert again.id == first.id
    # the REST API shows the same request (the typed API shares its storage)
    rest = e2e.rest_get(f"/api/v1/builds/{first.id}").json()
    assert rest["index_image"] == first.results.index_image
    assert rest["bundle_mapping"] == {"keda": [bundles["keda"][0]]}
    assert dict(first.results.bundle_mapping)["keda"].bundles == [bundles["keda"][0]]


def test_create_shares_rest_validation_and_identity(stub: pb_grpc.BuildServiceStub) -> None:
    # no identity: IIB's 401 rule, as UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as anonymous:
        stub.CreateRmBuild(
            pb.CreateRmBuildRequest(rm=pb.RmParameters(operators=["keda"], from_index="x/y:1")),
            timeout=30,
        )
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # IIB's message for an add without bundles and from_index (reference contract §2.1)
    with pytest.raises(grpc.RpcError) as invalid:
        stub.CreateAddBuild(
            pb.CreateAddBuildRequest(add=pb.AddParameters(binary_image="x/y:1")),
            metadata=AS_SUBMITTER,
            timeout=30,
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert invalid.value.details() == '"from_index" must be specified if no bundles are specified'


@pytest.fixture(scope="module")
def second(
    stub: pb_grpc.BuildServiceStub, first: Any, bundles: Any, binary: str
) -> tuple[list[str], Any]:
    """keda 1.5.0 added onto ``first``'s output, watched from its submission: the reasons the
    stream reported, and the final build."""
    created = stub.CreateAddBuild(
        pb.CreateAddBuildRequest(
            add=pb.AddParameters(
                bundles=[bundles["keda"][1]],
                from_index=first.results.index_image,
                binary_image=binary,
            )
        ),
        metadata=AS_SUBMITTER,
        timeout=60,
    )
    stream = stub.WatchBuild(pb.WatchBuildRequest(name=created.name), timeout=180)
    reasons = [m.state_change.state_reason for m in stream]
    return reasons, stub.GetBuild(pb.GetBuildRequest(name=created.name), timeout=30)


def test_watch_streams_every_stored_state_change_to_the_final_one(
    e2e: EndToEnd, second: tuple[list[str], Any]
) -> None:
    reasons, final = second
    # the first message is the state when the watch began; every later one a stored change,
    # in order, ending with the final one
    assert reasons == ADD_REASONS[ADD_REASONS.index(reasons[0]) :]
    rest = e2e.rest_get(f"/api/v1/builds/{final.id}").json()
    assert [h["state_reason"] for h in reversed(rest["state_history"])] == ADD_REASONS
    assert [c.state_reason for c in final.state_history] == ADD_REASONS
    # each state but the newest lasted until the next one
    times = [c.time.ToDatetime() for c in final.state_history]
    for n, change in enumerate(final.state_history[:-1]):
        assert change.duration.ToTimedelta() == times[n + 1] - times[n]
    assert not final.state_history[-1].HasField("duration")
    # the worker's step durations (services/common/timing.py), recorded when the build ended
    names = [s.name for s in final.steps]
    assert {"resolve", "load catalog", "render bundles"} <= set(names)


def test_catalog_diff_of_an_add(
    e2e: EndToEnd,
    stub: pb_grpc.BuildServiceStub,
    first: Any,
    second: tuple[list[str], Any],
    bundles: Any,
) -> None:
    empty = stub.GetCatalogDiff(pb.GetCatalogDiffRequest(name=f"{first.name}/catalogDiff"))
    # keda 1.4.1 into an empty index: its package, its channel alpha headed by it, itself
    # (metadata/annotations.yaml of the fixture)
    assert list(empty.packages_added) == ["keda"]
    assert [(c.package, c.channel, c.head) for c in empty.channels_added] == [
        ("keda", "alpha", "keda.v1.4.1")
    ]
    assert [(b.package, b.name, b.image) for b in empty.bundles_added] == [
        ("keda", "keda.v1.4.1", bundles["keda"][0])
    ]
    assert not empty.channel_heads_moved and not empty.bundles_removed
    second_build = second[1]
    diff = stub.GetCatalogDiff(pb.GetCatalogDiffRequest(name=f"{second_build.name}/catalogDiff"))
    # keda.v1.5.0 replaces keda.v1.4.1 (its CSV): the channel's head moves to it
    assert not diff.packages_added
    assert [(b.name, b.version) for b in diff.bundles_added] == [("keda.v1.5.0", "1.5.0")]
    assert [(m.channel, m.from_head, m.to_head) for m in diff.channel_heads_moved] == [
        ("alpha", "keda.v1.4.1", "keda.v1.5.0")
    ]
    # REST: the same diff as JSON, an addition to IIB's API
    rest = e2e.rest_get(f"/api/v1/builds/{second_build.id}/catalog-diff")
    assert rest.status_code == 200
    typed = json_format.MessageToDict(diff, preserving_proto_field_name=True)
    assert rest.json()["channel_heads_moved"] == typed["channel_heads_moved"]
    assert rest.json()["bundles_added"] == typed["bundles_added"]
    missing = e2e.rest_get("/api/v1/builds/999999/catalog-diff")
    assert missing.status_code == 404


def test_list_pages_with_iib_filters(
    stub: pb_grpc.BuildServiceStub, first: Any, second: tuple[list[str], Any]
) -> None:
    newest = second[1]
    page = stub.ListBuilds(
        pb.ListBuildsRequest(
            page_size=1, user=SUBMITTER, request_type=requests_pb2.REQUEST_TYPE_ADD
        ),
        timeout=30,
    )
    assert [b.id for b in page.builds] == [newest.id]
    assert page.total_size >= 2 and page.next_page_token
    page2 = stub.ListBuilds(
        pb.ListBuildsRequest(
            page_size=1,
            user=SUBMITTER,
            request_type=requests_pb2.REQUEST_TYPE_ADD,
            page_token=page.next_page_token,
        ),
        timeout=30,
    )
    assert [b.id for b in page2.builds] == [first.id]
    with pytest.raises(grpc.RpcError) as other_filters:
        stub.ListBuilds(
            pb.ListBuildsRequest(page_size=1, page_token=page.next_page_token), timeout=30
        )
    assert other_filters.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # IIB's message for an unknown from_index (GET /api/v1/builds?from_index=...)
    with pytest.raises(grpc.RpcError) as unknown:
        stub.ListBuilds(pb.ListBuildsRequest(from_index="nowhere/x:1"), timeout=30)
    assert unknown.value.details() == "from_index nowhere/x:1 is not a valid index image"


def test_reflection_and_health_answer_on_the_public_port(public: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflection = reflection_pb2_grpc.ServerReflectionStub(public)
    answers = list(
        reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=30
        )
    )
    names = {s.name for s in answers[0].list_services_response.service}
    assert "iib.builds.v1.BuildService" in names
    health = health_pb2_grpc.HealthStub(public).Check(
        health_pb2.HealthCheckRequest(service="iib.builds.v1.BuildService"), timeout=30
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


# --- in a browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(e2e: EndToEnd) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's chromium: Playwright's own browser builds are never downloaded
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def _page(e2e: EndToEnd, browser: Any, outside: list[str]) -> Any:
    """A page that trusts the gateway's certificate and refuses (and records) any request to
    another host: the pages must work without internet access."""
    context = browser.new_context(ignore_https_errors=True)
    base = f"https://{e2e.gateway_listen}/"

    def guard(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context.new_page()


def test_dashboard_shows_a_submitted_add_reach_complete_without_reload(
    e2e: EndToEnd, browser: Any, second: tuple[list[str], Any], bundles: Any, binary: str
) -> None:
    outside: list[str] = []
    page = _page(e2e, browser, outside)
    page.goto(f"https://{e2e.gateway_listen}/dashboard/?request_type=REQUEST_TYPE_ADD")
    page.wait_for_selector("#live.on", timeout=30_000)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    response = e2e.post(
        "add",
        {
            "bundles": [bundles["keda"][2]],
            "from_index": second[1].results.index_image,
            "binary_image": binary,
        },
    )
    assert response.status_code == 201, response.text
    rid = response.json()["id"]
    row = page.locator(f"#build-{rid}")
    row.wait_for(timeout=30_000)
    page.locator(f"#build-{rid} .state.complete").wait_for(timeout=180_000)
    assert navigations == []  # updated in place, never reloaded
    # the request page: timeline, step durations, parameters, results and the diff
    row.locator("a").click()
    page.locator("#build-state.complete").wait_for(timeout=30_000)
    page.locator("#diff [data-section=channel_heads_moved]").wait_for(timeout=30_000)
    # keda.v2.0.0 replaces keda.v1.5.0 (its CSV)
    assert "alpha: keda.v1.5.0 → keda.v2.0.0" in page.inner_text(
        "#diff [data-section=channel_heads_moved]"
    )
    timeline = page.inner_text("#timeline")
    assert "The operator bundle(s) were successfully added to the index image" in timeline
    assert "render bundles" in page.inner_text("#steps")
    assert bundles["keda"][2] in page.inner_text("#parameters")
    wait_until(lambda: "Step durations" in page.inner_text("#logs"), timeout=30)
    assert outside == []
    page.context.close()


def test_api_documentation_renders_its_operations_offline(e2e: EndToEnd, browser: Any) -> None:
    outside: list[str] = []
    page = _page(e2e, browser, outside)
    page.goto(f"https://{e2e.gateway_listen}/")
    # Redoc renders a section per operation of the OpenAPI document (api_v1.yaml), headed by
    # its summary
    page.locator("h2", has_text="List build requests (newest first)").wait_for(timeout=60_000)
    page.locator("h2", has_text="Get one build request (verbose)").wait_for(timeout=10_000)
    assert page.locator("[data-section-id^='operation/']").count() >= 10
    assert outside == []
    page.context.close()


def test_cli_get_and_watch_print_the_build_with_its_step_durations(
    e2e: EndToEnd,
    second: tuple[list[str], Any],
    bundles: Any,
    binary: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from services.common.config import load_settings
    from services.tooling.builds_cli import run_builds

    build = second[1]
    settings = load_settings(e2e.env)
    cert = e2e.base / "tls" / "gw.crt"
    assert run_builds(settings, "get", build.id, address=e2e.gateway_listen, cacert=cert) == 0
    shown = capsys.readouterr().out
    assert f"Build {build.id} (add) by {SUBMITTER}" in shown
    for reason in ADD_REASONS:  # the whole state history, as the REST API stores it
        assert reason in shown
    assert "render bundles" in shown  # the worker's step durations
    # a running build: watch prints each change as it is stored, each after the time the
    # previous step took, and ends with the outcome
    response = e2e.post(
        "add",
        {
            "bundles": [bundles["keda"][2]],  # keda.v2.0.0 replaces keda.v1.5.0
            "from_index": build.results.index_image,
            "binary_image": binary,
        },
    )
    assert response.status_code == 201, response.text
    rid = response.json()["id"]
    assert run_builds(settings, "watch", rid, address=e2e.gateway_listen, cacert=cert) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = [r for line in lines for r in ADD_REASONS if line.endswith(r)]
    assert printed == ADD_REASONS[ADD_REASONS.index(printed[0]) :]
    assert sum("↳" in line for line in lines) == len(printed) - 1
    assert any(line.startswith("index image: ") for line in lines)


def test_the_public_port_exposes_no_internal_service_and_no_forged_user(
    public: grpc.Channel, stub: pb_grpc.BuildServiceStub
) -> None:
    from services.common.pb.iib.v1 import requests_pb2_grpc

    # the workers' API (jobs with secrets) has no route on the public port
    with pytest.raises(grpc.RpcError) as internal:
        requests_pb2_grpc.RequestStoreStub(public).GetJob(
            requests_pb2.GetJobRequest(id=1), timeout=30
        )
    assert internal.value.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND)
    # a client's own x-iib-user is stripped: only the gateway's identity modes name the user
    with pytest.raises(grpc.RpcError) as forged:
        stub.CreateRmBuild(
            pb.CreateRmBuildRequest(rm=pb.RmParameters(operators=["keda"], from_index="x/y:1")),
            metadata=(("x-iib-user", "worker@DOMAIN.LOCAL"),),
            timeout=30,
        )
    assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
