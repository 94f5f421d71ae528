"""Benchmark, hostile inputs: what each hostile case of issue 12 costs the index builder now.

Each case is a request through the whole system (Envoy, request store, NATS, index builder,
docker-registry; a scripted registry for registry-side hostility): the time from the POST to
the final state, the growth of the index builder's peak RSS (``VmHWM`` of its process, read
before and after), the outcome, and whether the builder is still the same process.

    python -m tests.bench hostile [--before]
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.catalog.labels import INDEX_CONFIGS, INDEX_DATABASE
from services.common.processes import ManagedProcess
from services.tooling.demo import images as fixture_images
from tests.catalog.test_hostile_index_db import zeroblob_db
from tests.common.registry.hostile import (
    MiB,
    entries,
    gzip_layer,
    long_header_stream,
    zero_members,
)
from tests.common.registry.hostile_registry import HostileRegistry, endless
from tests.e2e.conftest import ARCHES, EndToEnd
from tests.security.test_hostile_images import BUNDLE_LABELS, push_layer, vm_hwm
from tests.security.test_hostile_yaml import (
    CSV_HEAD,
    SITECUSTOMIZE,
    alias_chain_csv,
    deep_csv,
    push_bundle,
)

REPO = Path(__file__).resolve().parents[2]


def _final(e2e: EndToEnd, rid: int, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = e2e.get(rid)
        if data["state"] in ("complete", "failed"):
            return data
        if not e2e.builder.running():
            return {"state": "in_progress", "state_reason": "THE INDEX BUILDER DIED"}
        time.sleep(0.05)
    return {"state": "in_progress", "state_reason": "timed out"}


def _case(e2e: EndToEnd, name: str, body: dict[str, Any]) -> None:
    pid = e2e.builder.pid
    # reset the peak (VmHWM) to the current RSS (proc(5), clear_refs "5"; needs root or owner)
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = vm_hwm(pid)
    started = time.monotonic()
    resp = e2e.post("add", body)
    assert resp.status_code == 201, resp.text
    build = _final(e2e, int(resp.json()["id"]))
    seconds = time.monotonic() - started
    alive = e2e.builder.running() and e2e.builder.pid == pid
    peak = vm_hwm(pid) / MiB if alive else float("nan")
    reason = re.sub(
        r"127\.0\.0\.1:\d+/[\w/.-]+(@sha256:\w+|:[\w.]+)", "<image>", build["state_reason"]
    )
    reason = re.sub(r"sha256:[0-9a-f]{64}", "sha256:...", reason).replace("\n", " ")
    reason = re.sub(r"/tmp/iib-[^ ]*/(rootfs/)?", "", reason)
    shown = reason if len(reason) <= 140 else reason[:137] + "..."
    print(
        f"| {name} | {seconds:.1f} s | {peak:.0f} MiB ({before / MiB:.0f}) | "
        f"{build['state']}: {shown} | {'yes' if alive else 'NO'} |",
        flush=True,
    )


def _swap_builder(e2e: EndToEnd, base: Path, name: str, env: dict[str, str]) -> ManagedProcess:
    assert e2e.builder.env is not None
    builder = ManagedProcess(
        name,
        [sys.executable, "-m", "services.tooling.cli", "serve", "index-builder"],
        base / f"{name}.log",
        env={**e2e.builder.env, **env},
        cwd=REPO,
    )
    e2e.builder.stop()
    builder.start(ready=lambda: "worker consuming" in builder.log_tail(40), timeout=60)
    return builder


def main(argv: list[str]) -> None:
    """``--before``: leave out the cases that kill an index builder without the bounds (to
    measure an older checkout with this file copied in)."""
    before = "--before" in argv
    base = Path(tempfile.mkdtemp(prefix="iib-bench-hostile-"))
    hostile = HostileRegistry()
    size = 512 * MiB
    hostile.route(
        "GET", r"^/v2/$", lambda _: (200, {"Content-Length": str(size)}, endless(total=size))
    )
    hostile.route("GET", r"/manifests/", lambda _: (404, {}, endless(total=256 * MiB)))
    e2e = EndToEnd(
        base / "system",
        f"sqlite:///{base / 'iib.db'}",
        extra={"IIB_WORK_ACK_WAIT": "2"},
    )
    allowed = [e2e.registry.registry, e2e.secure.registry, hostile.host]
    try:
        e2e.builder = _swap_builder(
            e2e,
            base,
            "index-builder",
            {
                "IIB_ALLOWED_REGISTRIES": json.dumps(allowed),
                "IIB_INSECURE_REGISTRIES": json.dumps([e2e.registry.registry, hostile.host]),
            },
        )
        reg = e2e.registry.registry
        binary = fixture_images.push_fake_binary_image(e2e.images, f"{reg}/opm:v4.14", ARCHES)
        keda = fixture_images.push_fixture_bundles(e2e.images, reg, packages=["keda"])["keda"][0]
        add: Callable[..., dict[str, Any]] = lambda **kw: {  # noqa: E731
            "binary_image": binary,
            "add_arches": ["amd64"],
            **kw,
        }
        tmp = base / "inputs"
        tmp.mkdir()
        print(
            "hostile inputs: real processes on one 2-core host; peak RSS = the index builder's "
            "VmHWM during the request, reset before it (its RSS before it)\n"
        )
        print("| Case | Time | Builder peak RSS | Outcome | Builder survived |")
        print("|---|---|---|---|---|")
        _case(e2e, "warm-up: keda into an empty index", add(bundles=[keda]))
        if not before:  # it kills the builder of an older checkout
            deep = push_bundle(e2e, tmp, "hostile/deep:v1", deep_csv(50_000))
            _case(e2e, "CSV nested 50,000 levels (100 KB)", add(bundles=[deep]))
        flat = CSV_HEAD + "  flat: [" + ",".join(["1"] * 1_900_000) + "]\n"
        wide = push_bundle(e2e, tmp, "hostile/wide:v1", flat)
        _case(e2e, "CSV of 1.9 M nodes (3.8 MiB)", add(bundles=[wide]))
        chain = push_bundle(e2e, tmp, "hostile/chain:v1", alias_chain_csv(21))
        _case(
            e2e,
            "CSV alias chain, 2^21 nodes (870 B), check_related_images",
            add(bundles=[chain], check_related_images=True),
        )
        content = entries({"manifests/csv.yaml": b"kind: x\n", "metadata/annotations.yaml": b""})
        layer = gzip_layer(
            long_header_stream(256 * MiB, tarfile.GNUTYPE_LONGNAME, content), tmp / "long.tgz"
        )
        long_name = push_layer(e2e, "hostile/long-name:v1", layer, BUNDLE_LABELS)
        _case(
            e2e, f"256 MiB GNU long name ({layer.size // 1024} KiB layer)", add(bundles=[long_name])
        )
        bundle_dir = fixture_images.FIXTURES_ROOT / "keda" / "1.4.1"
        files = {
            f"{sub}/{p.name}": p.read_bytes()
            for sub in ("manifests", "metadata")
            for p in sorted((bundle_dir / sub).iterdir())
        }
        labels = fixture_images.bundle_labels(bundle_dir)
        trailing = gzip_layer(
            iter([entries(files), b"\0" * 1024]),
            tmp / "trailing.tgz",
            extra=zero_members(16 * 1024 * MiB),
        )
        padded = push_layer(e2e, "hostile/trailing:v1", trailing, labels)
        _case(
            e2e,
            f"16 GiB of zeros after the tar end ({trailing.size // MiB} MiB layer)",
            add(bundles=[padded]),
        )
        db = zeroblob_db(tmp / "index.db")
        db_layer = gzip_layer(
            iter([entries({"database/index.db": db.read_bytes()}), b"\0" * 1024]),
            tmp / "db.tgz",
        )
        index = push_layer(
            e2e, "hostile/zeroblob:v4.14", db_layer, {INDEX_DATABASE: "/database/index.db"}
        )
        _case(
            e2e,
            "index.db computing hex(zeroblob(1e8)) (28 KB)",
            add(bundles=[keda], from_index=index),
        )
        values = b'{"schema": "olm.package", "name": "p", "x": [' + b"{}," * (20 * MiB) + b"{}]}"
        json_layer = gzip_layer(
            iter([entries({"configs/p/catalog.json": values}), b"\0" * 1024]), tmp / "json.tgz"
        )
        fbc = push_layer(e2e, "hostile/json:v4.14", json_layer, {INDEX_CONFIGS: "/configs"})
        _case(
            e2e, "catalog.json of 21 M empty objects (60 MiB)", add(bundles=[keda], from_index=fbc)
        )
        _case(
            e2e,
            "from_index on a host not allowed",
            add(bundles=[keda], from_index="127.0.0.1:1/internal/index:v4.14"),
        )
        _case(
            e2e,
            "registry: 512 MiB /v2/ answer, 256 MiB error body",
            add(bundles=[keda], from_index=f"{hostile.host}/ns/index:v4.14"),
        )
        if before:
            return
        # a redelivery after the first delivery died (a plain, unbounded parser: SIGSEGV)
        site = base / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(repo=str(REPO)))
        assert e2e.builder.env is not None
        plain = _swap_builder(e2e, base, "index-builder-plain", {"PYTHONPATH": str(site)})
        crasher = push_bundle(e2e, tmp, "hostile/crasher:v1", deep_csv(50_000))
        started = time.monotonic()
        resp = e2e.post("add", add(bundles=[crasher]))
        rid = int(resp.json()["id"])
        starts = 1
        while e2e.get(rid)["state"] == "in_progress" and time.monotonic() - started < 120:
            if not plain.running():
                starts += 1
                plain.start()
            time.sleep(0.05)
        build = e2e.get(rid)
        print(
            f"| the same CSV, plain parser: delivery 1 in-thread, delivery 2 guarded | "
            f"{time.monotonic() - started:.1f} s | - | {build['state']}: "
            f"{build['state_reason']} | started {starts} times |",
            flush=True,
        )
        plain.stop()
    finally:
        e2e.builder.stop()
        e2e.close()
        hostile.close()
        shutil.rmtree(base, ignore_errors=True)
