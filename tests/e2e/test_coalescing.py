"""Serial requests for one index queued behind each other are built together by one index
builder, with IIB's semantics kept exactly, and give the same images as one by one.

IIB's serial queue runs overwrite requests for an index one after the other: each resolves
from_index after the previous one overwrote it (its ``from_index_resolved`` is the previous
output), pushes its own ``iib-build:<id>`` and overwrites from_index. A coalesced group must
report the same, request by request, and push the same image digests (builds are reproducible,
so the oracle is the same requests built one at a time); a failing request fails alone."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from services.common.processes import ManagedProcess
from tests.conftest import REPO
from tests.e2e.conftest import AUTH_PASSWORD, AUTH_USER, EndToEnd, wait_until
from tests.pki import tls_env

pytestmark = [pytest.mark.db, pytest.mark.slow]

TOKEN = f"{AUTH_USER}:{AUTH_PASSWORD}"


@pytest.fixture(scope="module")
def keda_index(e2e: EndToEnd, bundles: dict[str, list[str]], binary: str) -> str:
    build = e2e.build(
        "add", {"bundles": [bundles["keda"][0]], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert build["state"] == "complete", build["state_reason"]
    return str(build["index_image"])


def _restart_builder(e2e: EndToEnd, **env: str) -> None:
    e2e.builder.stop()
    e2e.builder = ManagedProcess(
        "index-builder",
        [sys.executable, "-m", "services.tooling.cli", "serve", "index-builder"],
        e2e.builder.log_path,
        env={**e2e.env, **tls_env("index-builder"), **e2e.nats.env("index-builder"), **env},
        cwd=REPO,
    )
    e2e.builder.start()


def _submit_queued(e2e: EndToEnd, target: str, bodies: list[dict[str, Any]]) -> list[int]:
    """Submit while no index builder runs, so the requests queue behind each other."""
    e2e.builder.stop()
    ids = []
    for body in bodies:
        resp = e2e.post("add" if "bundles" in body else "rm", {**body, "from_index": target})
        assert resp.status_code == 201, resp.text
        ids.append(int(resp.json()["id"]))
    return ids


def _bodies(bundles: dict[str, list[str]], binary: str, broken: str | None) -> list[dict[str, Any]]:
    common = {
        "binary_image": binary,
        "overwrite_from_index": True,
        "overwrite_from_index_token": TOKEN,
    }
    # add a new package (opendatahub-operator 0.6.0, which opm accepts on its own: channel beta,
    # default channel beta), upgrade keda (1.5.0 replaces the index's 1.4.1), remove the package
    # the group added, add another new package
    bodies: list[dict[str, Any]] = [
        {"bundles": [bundles["opendatahub-operator"][0]], **common},
        {"bundles": [bundles["keda"][1]], **common},
        {"operators": ["opendatahub-operator"], **common},
        {"bundles": [bundles["cert-utils-operator"][0]], **common},
    ]
    if broken:
        bodies.insert(2, {"bundles": [broken], **common})
        # builds, then fails to push: a space is not allowed in a tag (the distribution spec's
        # tag grammar, [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}); in a group the next request was built
        # on its catalog meanwhile, and must be built again without it
        bodies.insert(
            1,
            {"bundles": [bundles["cert-utils-operator"][0]], "build_tags": ["not a tag"], **common},
        )
    return bodies


def _run(
    e2e: EndToEnd, keda_index: str, tag: str, bodies: list[dict[str, Any]], group_max: int
) -> dict[int, dict[str, Any]]:
    target = f"{e2e.secure.registry}/product/{tag}"
    e2e.secure_images.copy(keda_index, [target])
    ids = _submit_queued(e2e, target, bodies)
    _restart_builder(e2e, IIB_SERIAL_GROUP_MAX=str(group_max))
    return e2e.wait_final(ids, timeout=300)


def test_a_coalesced_group_gives_the_images_one_by_one_builds_give(
    e2e: EndToEnd, keda_index: str, bundles: dict[str, list[str]], binary: str
) -> None:
    broken = binary  # not an operator bundle image: that add fails
    bodies = _bodies(bundles, binary, broken)
    grouped = _run(e2e, keda_index, "grouped:v1", bodies, group_max=10)
    log = e2e.builder.log_tail(2000)
    assert f"building {len(bodies)} serial requests for one index together" in log
    # the failed push was that of a request the next one had been built on (the push lane)
    assert "building the request again without the failed one before it" in log
    # each image pushed was copied into from_index's repository in the push lane (the 4 that
    # complete; of the other two, one failed before its push and one in it)
    assert log.count("by digest ahead of the overwrite") == 4
    assert "ahead of the overwrite:" not in log  # no copy failed
    seen = e2e.builder.log_path.stat().st_size
    single = _run(e2e, keda_index, "single:v1", bodies, group_max=1)
    with e2e.builder.log_path.open() as handle:
        handle.seek(seen)
        assert "serial requests for one index together" not in handle.read()

    g_ids, s_ids = sorted(grouped), sorted(single)
    states = [grouped[i]["state"] for i in g_ids]
    assert states == ["complete", "failed", "complete", "failed", "complete", "complete"]
    assert [single[i]["state"] for i in s_ids] == states
    for n in (1, 3):
        assert grouped[g_ids[n]]["state_reason"] == single[s_ids[n]]["state_reason"]
    assert "not a tag" in grouped[g_ids[1]]["state_reason"]
    assert "is not an operator bundle image" in grouped[g_ids[3]]["state_reason"]

    def digest(build: dict[str, Any]) -> str:
        return str(build["index_image_resolved"]).rsplit("@", 1)[1]

    for g, s in zip(g_ids, s_ids, strict=True):
        if grouped[g]["state"] != "complete":
            continue
        # the same image, request by request
        assert digest(grouped[g]) == digest(single[s])
        assert grouped[g]["index_image"].endswith("grouped:v1")
        # each request's image is pullable where its results say
        assert e2e.secure_images.get_image_digest(grouped[g]["index_image_resolved"]) == digest(
            grouped[g]
        )
        # the same state history (IIB's steps), request by request; the request after the one
        # whose push failed was built twice, and its steps were reported twice
        reasons = [h["state_reason"] for h in grouped[g]["state_history"]]
        if g == g_ids[2]:
            reasons = list(dict.fromkeys(reasons))
        assert reasons == [
            h["state_reason"]
            .replace(
                single[s]["internal_index_image_copy"], grouped[g]["internal_index_image_copy"]
            )
            .replace("single:v1", "grouped:v1")
            for h in single[s]["state_history"]
        ]
    # each request saw the previous successful request's output as its from_index
    built = [g for g in g_ids if grouped[g]["state"] == "complete"]
    for before, after in zip(built, built[1:], strict=False):
        assert grouped[after]["from_index_resolved"].rsplit("@", 1)[1] == digest(grouped[before])
    # from_index ends at the last output
    target = f"{e2e.secure.registry}/product/grouped:v1"
    assert e2e.secure_images.get_image_digest(target) == digest(grouped[built[-1]])

    # each request's log gives its step durations once, the overwrite at the group's end
    # included (the worker logs them right after the request completes)
    def durations(request_id: int) -> list[str]:
        text = e2e.rest_get(f"/api/v1/builds/{request_id}/logs").text
        return [line for line in text.splitlines() if "Step durations:" in line]

    for g in built:
        wait_until(lambda g=g: bool(durations(g)))
        lines = durations(g)
        assert len(lines) == 1 and ", overwrite " in lines[0], lines
