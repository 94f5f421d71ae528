"""Hostile image content through the real stack: layers that are small on the wire and huge
inside, an index.db that computes instead of storing, requests that would fill the disk. Each
request fails with a reason naming what was refused, and the index builder's memory stays flat.

On main a 398 KiB layer with a huge long-name header took the worker to 1.2 GiB, and a 20 KB
index.db with ``hex(zeroblob(1e8))`` to 1.4 GiB."""

from __future__ import annotations

import shutil
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.catalog.labels import (
    BUNDLE_CHANNELS,
    BUNDLE_MANIFESTS,
    BUNDLE_METADATA,
    BUNDLE_PACKAGE,
    INDEX_DATABASE,
)
from services.common.processes import ManagedProcess
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import SCRATCH
from services.common.registry.layers import Layer
from services.tooling.demo.images import FIXTURES_ROOT, push_bundle_image
from tests.catalog.test_hostile_index_db import zeroblob_db
from tests.common.registry.hostile import MiB, entries, gzip_layer, long_header_stream
from tests.conftest import REPO
from tests.e2e.conftest import EndToEnd
from tests.security.conftest import submit

pytestmark = [pytest.mark.db, pytest.mark.slow]

BUNDLE_LABELS = {
    BUNDLE_PACKAGE: "hostile",
    BUNDLE_CHANNELS: "stable",
    BUNDLE_MANIFESTS: "manifests/",
    BUNDLE_METADATA: "metadata/",
}


def vm_hwm(pid: int | None) -> int:
    """Peak resident memory of a process so far, in bytes (/proc/<pid>/status VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


def push_layer(stack: EndToEnd, target: str, layer: Layer, labels: dict[str, str]) -> str:
    spec = f"{stack.registry.registry}/{target}"
    return stack.images.build(SCRATCH, [spec], [layer], ConfigChanges(labels=labels)).resolved


def test_a_layer_with_a_256_mib_long_name_fails_without_inflating_it(
    stack: EndToEnd, binary: str, tmp_path: Path
) -> None:
    content = entries(
        {"manifests/csv.yaml": b"kind: ClusterServiceVersion\n", "metadata/annotations.yaml": b""}
    )
    layer = gzip_layer(
        long_header_stream(256 * MiB, tarfile.GNUTYPE_LONGNAME, content),
        tmp_path / "layer.tar.gz",
    )
    assert layer.size < 400 * 1024
    bundle = push_layer(stack, "hostile/long-name:v1", layer, BUNDLE_LABELS)
    before = vm_hwm(stack.builder.pid)
    build = submit(
        stack, "add", {"bundles": [bundle], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert build["state"] == "failed"
    assert build["state_reason"] == (
        f"Layer {layer.digest} of {bundle} has a {256 * MiB}-byte extended header "
        "(more than 1048576)"
    )
    assert vm_hwm(stack.builder.pid) - before < 64 * MiB


def test_an_index_db_with_a_computed_column_fails_without_computing_it(
    stack: EndToEnd, binary: str, keda: str, tmp_path: Path
) -> None:
    db = zeroblob_db(tmp_path / "index.db")
    layer = gzip_layer(
        iter([entries({"database/index.db": db.read_bytes()}), b"\0" * 1024]),
        tmp_path / "layer.tar.gz",
    )
    index = push_layer(
        stack, "hostile/zeroblob-index:v4.14", layer, {INDEX_DATABASE: "/database/index.db"}
    )
    before = vm_hwm(stack.builder.pid)
    build = submit(stack, "add", {"bundles": [keda], "from_index": index, "binary_image": binary})
    assert build["state"] == "failed"
    assert build["state_reason"].endswith(
        "/database/index.db: table operatorbundle has generated columns (refused): csv"
    )
    assert vm_hwm(stack.builder.pid) - before < 64 * MiB


@pytest.fixture
def limited_builder(stack: EndToEnd, tmp_path: Path) -> Iterator[ManagedProcess]:
    """Instead of the stack's index builder: one with a 2 MiB per-request disk limit."""
    assert stack.builder.env is not None
    limited = ManagedProcess(
        "index-builder-2mib",
        [sys.executable, "-m", "services.tooling.cli", "serve", "index-builder"],
        tmp_path / "builder.log",
        env={**stack.builder.env, "IIB_REQUEST_DISK_LIMIT": str(2 * MiB)},
        cwd=REPO,
    )
    stack.builder.stop()
    try:
        limited.start(ready=lambda: "worker consuming" in limited.log_tail(40), timeout=60)
        yield limited
    finally:
        limited.stop()
        stack.builder.start()


def test_the_images_of_one_request_share_its_disk_limit(
    stack: EndToEnd, binary: str, limited_builder: ManagedProcess, tmp_path: Path
) -> None:
    bundles = []
    for n, pad in enumerate((MiB + MiB // 2, MiB + MiB // 2 + 1)):  # each within the limit
        copy = shutil.copytree(FIXTURES_ROOT / "keda" / "1.4.1", tmp_path / str(n))
        (copy / "manifests" / ".pad").write_bytes(b"\0" * pad)
        bundles.append(
            push_bundle_image(stack.images, copy, f"{stack.registry.registry}/padded/b{n}:v1")
        )
    build = submit(
        stack, "add", {"bundles": bundles, "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert build["state"] == "failed"
    assert build["state_reason"].startswith(
        f"The images of this request unpack to more than {2 * MiB} bytes "
        "(IIB_REQUEST_DISK_LIMIT), at "
    )
    assert build["state_reason"].endswith(f" of {bundles[1]}")
    assert limited_builder.running()
