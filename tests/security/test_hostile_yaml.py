"""Hostile YAML in bundle images: nothing crashes the index builder, nothing stalls it, and a
work item whose earlier delivery died with its worker runs in a guarded child process.

On main a CSV nested 50,000 levels killed the index builder (SIGSEGV in libyaml's C composer)
and, redelivered, killed it again on every restart until its deliveries were spent; a 760-byte
alias chain kept operator-manifest busy for seconds per doubling."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.catalog.labels import (
    BUNDLE_CHANNELS,
    BUNDLE_MANIFESTS,
    BUNDLE_METADATA,
    BUNDLE_PACKAGE,
)
from services.common.processes import ManagedProcess
from services.common.registry.layers import LayerFile
from tests.conftest import REPO
from tests.e2e.conftest import EndToEnd
from tests.security.conftest import push_image, submit

pytestmark = [pytest.mark.db, pytest.mark.slow]

ANNOTATIONS = (
    "annotations:\n"
    f"  {BUNDLE_PACKAGE}: hostile\n"
    f"  {BUNDLE_CHANNELS}: stable\n"
    f"  {BUNDLE_MANIFESTS}: manifests/\n"
    f"  {BUNDLE_METADATA}: metadata/\n"
)
CSV_HEAD = (
    "apiVersion: operators.coreos.com/v1alpha1\n"
    "kind: ClusterServiceVersion\n"
    "metadata:\n"
    "  name: hostile.v1.0.0\n"
    "spec:\n"
    "  version: 1.0.0\n"
    "  install:\n"
    "    strategy: deployment\n"
    "    spec:\n"
    "      deployments: []\n"
)


def push_bundle(stack: EndToEnd, tmp: Path, target: str, csv: str) -> str:
    """A bundle image whose only manifest is ``csv``."""
    return push_image(
        stack,
        tmp,
        target,
        [
            LayerFile("manifests/csv.yaml", data=csv.encode()),
            LayerFile("metadata/annotations.yaml", data=ANNOTATIONS.encode()),
        ],
        {
            BUNDLE_PACKAGE: "hostile",
            BUNDLE_CHANNELS: "stable",
            BUNDLE_MANIFESTS: "manifests/",
            BUNDLE_METADATA: "metadata/",
        },
    )


def deep_csv(levels: int) -> str:
    return CSV_HEAD + "  nested: " + "[" * levels + "]" * levels + "\n"


def alias_chain_csv(levels: int) -> str:
    lines = ["  a0: &a0 {k: v}"]
    lines += [f"  a{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, levels)]
    return CSV_HEAD + "\n".join(lines) + "\n"


def wait_final_while_alive(
    stack: EndToEnd, rid: int, builder: ManagedProcess, timeout: float = 120
) -> dict[str, Any]:
    """The request once final; fails at once when the builder dies meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert builder.running(), f"the index builder died: {builder.log_tail(5)}"
        data = stack.get(rid)
        if data["state"] in ("complete", "failed"):
            return data
        time.sleep(0.2)
    raise AssertionError(f"request {rid} never finished")


def test_a_csv_nested_50000_levels_fails_its_request_and_the_builder_lives(
    stack: EndToEnd, binary: str, tmp_path: Path
) -> None:
    bundle = push_bundle(stack, tmp_path, "hostile/deep-csv:v1", deep_csv(50_000))
    pid = stack.builder.pid
    resp = stack.post("add", {"bundles": [bundle], "binary_image": binary, "add_arches": ["amd64"]})
    assert resp.status_code == 201, resp.text
    build = wait_final_while_alive(stack, int(resp.json()["id"]), stack.builder)
    assert build["state"] == "failed"
    assert build["state_reason"] == (
        f"Failed to render the bundle {bundle}: manifests/csv.yaml: YAML document 1 is nested "
        "deeper than 512 levels"
    )
    assert stack.builder.running() and stack.builder.pid == pid


def test_check_related_images_refuses_an_alias_chain_at_once(
    stack: EndToEnd, binary: str, tmp_path: Path
) -> None:
    # ~870 bytes, 2**21 nodes once aliases are followed: operator-manifest walked it for ~19 s
    bundle = push_bundle(stack, tmp_path, "hostile/alias-chain:v1", alias_chain_csv(21))
    started = time.monotonic()
    build = submit(
        stack,
        "add",
        {
            "bundles": [bundle],
            "binary_image": binary,
            "add_arches": ["amd64"],
            "check_related_images": True,
        },
    )
    assert build["state"] == "failed"
    assert build["state_reason"].startswith(
        "The Operator Manifest is not in a valid YAML format: manifests/csv.yaml: YAML "
        "document 1 expands to more than 200000 nodes"
    )
    assert time.monotonic() - started < 10


SITECUSTOMIZE = """\
# An index builder whose YAML parser is "plain" (the depth bound out of the way, so a deep
# document reaches libyaml's recursive C composer as it did on main), and that dies at the
# first delivery of a bundle from a "crash-first" repository (an OOM kill, say).
import os, signal, sys
sys.path.append({repo!r})
import services.catalog.limits
import services.index_builder.builder as builder

services.catalog.limits.MAX_NESTING_DEPTH = 10**9
_handle = builder.IndexBuilder.handle


def handle(self, ctx):
    if ctx.delivery == 1 and any("/crash-first/" in b for b in ctx.request.add.bundles):
        os.kill(os.getpid(), signal.SIGKILL)
    return _handle(self, ctx)


builder.IndexBuilder.handle = handle
"""


@pytest.fixture(scope="module")
def plain_builder(
    stack: EndToEnd, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedProcess]:
    """Instead of the stack's index builder: one with the plain parser above and a short ack
    wait (a dead delivery comes back in seconds; its lease runs out after three times that)."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(repo=str(REPO)))
    assert stack.builder.env is not None
    env = {**stack.builder.env, "PYTHONPATH": str(site), "IIB_WORK_ACK_WAIT": "1"}
    plain = ManagedProcess(
        "index-builder-plain-parser",
        [sys.executable, "-m", "services.tooling.cli", "serve", "index-builder"],
        site / "builder.log",
        env=env,
        cwd=REPO,
    )
    stack.builder.stop()
    try:
        plain.start(ready=lambda: "worker consuming" in plain.log_tail(40), timeout=60)
        yield plain
    finally:
        plain.stop()
        stack.builder.start()


def run_supervised(
    stack: EndToEnd, builder: ManagedProcess, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Submit, restarting the builder whenever it dies (as a supervisor would) until the
    request is final; returns the request and how many times the builder was started."""
    resp = stack.post("add", body)
    assert resp.status_code == 201, resp.text
    rid = int(resp.json()["id"])
    starts = 1
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and stack.get(rid)["state"] == "in_progress":
        if not builder.running():
            assert builder.proc is not None
            assert builder.proc.returncode in (-9, -11), builder.log_tail(5)
            starts += 1
            builder.start()
        time.sleep(0.2)
    time.sleep(1)
    assert builder.running(), builder.log_tail(5)
    return stack.get(rid), starts


def test_a_redelivery_after_a_crash_runs_guarded_and_a_crash_there_fails_the_request(
    stack: EndToEnd, binary: str, plain_builder: ManagedProcess, tmp_path: Path
) -> None:
    bundle = push_bundle(stack, tmp_path, "hostile/crasher:v1", deep_csv(50_000))
    build, starts = run_supervised(
        stack,
        plain_builder,
        {"bundles": [bundle], "binary_image": binary, "add_arches": ["amd64"]},
    )
    assert build["state"] == "failed", build
    assert build["state_reason"] == (
        "The request could not be processed: an earlier attempt stopped unexpectedly, and "
        "the isolated retry was killed by SIGSEGV, probably because of a hostile input"
    )
    assert starts == 2  # only the first, unguarded delivery took the worker down
    assert "running the request in a guarded process" in plain_builder.log_path.read_text()


def test_a_good_request_whose_worker_died_completes_in_the_guarded_process(
    stack: EndToEnd, binary: str, keda: str, plain_builder: ManagedProcess
) -> None:
    bundle = f"{stack.registry.registry}/crash-first/keda:v1"
    stack.images.copy(keda, [bundle])
    build, starts = run_supervised(
        stack,
        plain_builder,
        {"bundles": [bundle], "binary_image": binary, "add_arches": ["amd64"]},
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["index_image"] and build["bundle_mapping"] == {"keda": [bundle]}
    assert starts == 2
