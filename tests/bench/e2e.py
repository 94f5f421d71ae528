"""Benchmark, end-to-end part: POST → complete through the whole system.

1. Adding one real bundle to an index of 3,000 bundles (opm's benchmark shape: 300 packages,
   450 channels) and of 30,000 bundles, 4 architectures: time from the POST to the request being
   `complete` (polling GET /builds/<id> every 0.1 s), twice: from an index laid out the way IIB
   and opm build it (the catalog in one layer, the cache in another: the whole image is read and
   every catalog part is built), and from an index built here (catalog split into parts by
   package: only the catalog layers are read, unchanged parts are reused). For reference,
   `skopeo copy --all` of the resulting image to another repository of the same registry is
   timed as the physical floor of moving that image once.
2. 20 add requests with `overwrite_from_index` to the same index, submitted at once: time until
   all are complete (SERIAL ordering runs them one after the other, in submission order).

Everything runs as real processes on this host (docker-registry, nats-server, request store,
Envoy, index builder); the input index images are built with the registry code of this project.

    python -m tests.bench e2e [--sizes=1,10] [--runs=3]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from services.catalog import (
    CatalogDir,
    directory_tree,
    present_bundle_images,
    write_serving_cache,
)
from services.catalog.labels import INDEX_CONFIGS
from services.common.registry import name_without_tag_or_digest
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.layers import build_layer, tree_entries
from services.index_builder.index_image import prepare_index_image
from services.tooling.demo.images import fixture_bundle_dirs, push_bundle_image
from tests.bench.api import CpuMeter, _option
from tests.e2e.conftest import ARCHES, EndToEnd

REPO = Path(__file__).resolve().parents[2]


def _generate(root: Path, multiplier: int) -> dict[str, Any]:
    # the catalog bench's generator, in a child process (it is a script module)
    code = (
        "import json, sys; from pathlib import Path; from tests.bench.catalog import generate; "
        "print(json.dumps(generate(Path(sys.argv[1]), int(sys.argv[2]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root), str(multiplier)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _push_index(e2e: EndToEnd, binary: str, root: Path, target: str, work: Path) -> str:
    catalog = CatalogDir.open(root)
    built = prepare_index_image(
        e2e.images,
        view=catalog,
        configs_root=root,
        workdir=work,
        binary_image_resolved=binary,
        arches=ARCHES,
        targets=[target],
        labels={
            "com.redhat.index.delivery.version": "v4.14",
            "com.redhat.index.delivery.distribution_scope": "prod",
        },
    ).push()
    return built.resolved


def _push_iib_style_index(e2e: EndToEnd, binary: str, root: Path, target: str, work: Path) -> str:
    """The same catalog the way IIB's buildah + opm build it: /configs in one layer, the cache
    (``RUN opm serve --cache-only``) in the next, with buildah's history texts."""
    cache_dir = work / "cache"
    write_serving_cache(
        CatalogDir.open(root), cache_dir, directory_tree(root, dir_mode=0o755, file_mode=0o644)
    )
    configs = build_layer(
        tree_entries(root, "configs", file_mode=0o644, dir_mode=0o755),
        work / "configs.tar.gz",
        compresslevel=1,
        created_by="/bin/sh -c #(nop) ADD dir:0123abcd in /configs",
    )
    cache = build_layer(
        tree_entries(cache_dir, "tmp/cache", uid=1001),
        work / "cache.tar.gz",
        compresslevel=1,
        created_by="/bin/sh -c /bin/opm serve /configs --cache-dir=/tmp/cache --cache-only",
    )
    result = e2e.images.build(
        binary,
        [target],
        [configs, cache],
        ConfigChanges(
            labels={
                INDEX_CONFIGS: "/configs",
                "com.redhat.index.delivery.version": "v4.14",
                "com.redhat.index.delivery.distribution_scope": "prod",
            },
            entrypoint=["/bin/opm"],
            cmd=["serve", "/configs", "--cache-dir=/tmp/cache"],
        ),
        arches=set(ARCHES),
    )
    return result.resolved


def _time_build(e2e: EndToEnd, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    resp = e2e.post("add", body)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    while True:
        data = e2e.rest_get(f"/api/v1/builds/{rid}").json()
        if data["state"] != "in_progress":
            return time.perf_counter() - start, data
        time.sleep(0.05)


def _run_copy(e2e: EndToEnd, spec: str, run: int) -> str:
    """``spec`` (``repository@digest``) copied into a repository of drain run ``run``."""
    repository = name_without_tag_or_digest(spec).replace("/bench/", f"/bench/drain-{run}/", 1)
    return f"{repository}@{e2e.images.copy(spec, [repository])}"


def _skopeo_copy(e2e: EndToEnd, source: str, target: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{source}",
            f"docker://{target}",
        ],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return time.perf_counter() - start


def _log_steps(e2e: EndToEnd, rid: int) -> tuple[str, str]:
    """The request's log and its last step durations line ('' when there is none)."""
    # the worker logs the step line right after it records the final state: wait for it
    deadline = time.monotonic() + 10
    while True:
        text = e2e.rest_get(f"/api/v1/builds/{rid}/logs").text
        lines = [line for line in text.splitlines() if "Step durations:" in line]
        if lines or time.monotonic() > deadline:
            return text, lines[-1].split("Step durations:", 1)[1].strip() if lines else ""
        time.sleep(0.1)


def _steps(e2e: EndToEnd, rid: int) -> tuple[str, float]:
    """The request log's step durations line, and the MB it says were uploaded."""
    _, line = _log_steps(e2e, rid)
    if not line:
        return "(no step durations in the log)", 0.0
    match = re.search(r"([\d.]+) MB uploaded", line)
    return line, float(match.group(1)) if match else 0.0


def _group_profile(e2e: EndToEnd, ids: list[int]) -> str:
    """How the worker spent its time on a batch of requests: the group sizes it built them in
    and each step's total over the batch (from the requests' logs)."""
    totals: dict[str, float] = {}
    groups: list[int] = []
    ends: list[float] = []
    for rid in ids:
        text, line = _log_steps(e2e, rid)
        for match in re.finditer(r"building (\d+) serial requests for one index together", text):
            groups.append(int(match.group(1)))
        ends += [
            float(t) for t in re.findall(r"completed the group's \d+ requests in ([\d.]+) s", text)
        ]
        for name, took in re.findall(r"([a-z][a-z ]*?) ([\d.]+) s", line.split("(total", 1)[0]):
            totals[name.strip()] = totals.get(name.strip(), 0.0) + float(took)
    singles = len(ids) - sum(groups)
    steps = ", ".join(f"{name} {took:.1f} s" for name, took in totals.items())
    return (
        f"groups of {'+'.join(str(g) for g in groups) or 'none'}"
        f"{f' and {singles} alone' if singles else ''}; step totals over the "
        f"{len(ids)} requests: {steps} (sum {sum(totals.values()):.1f} s); the groups' ends "
        f"(overwrites and completions): {' + '.join(f'{t:.2f}' for t in ends) or 'none'} s"
    )


def _serial_chain(e2e: EndToEnd, target: str, start: str, done: list[dict[str, Any]]) -> int:
    """How many requests (in submission order) were built on the output of the one before
    (the first on ``start``, from_index's digest as submitted), as IIB's serial queue builds
    overwrite requests; 0 unless from_index now serves the last output."""
    outputs = [str(d.get("index_image_resolved") or "@").rsplit("@", 1)[1] for d in done]
    if not done or e2e.images.get_image_digest(target) != outputs[-1]:
        return 0
    chained = 0
    for before, after in zip([start, *outputs[:-1]], done, strict=True):
        resolved = str(after.get("from_index_resolved") or "@").rsplit("@", 1)[1]
        chained += after["state"] == "complete" and resolved == before
    return chained


def _changed_mb(e2e: EndToEnd, before: str, after: str) -> float:
    """MB of the (amd64) layers of ``after`` that ``before`` does not have."""
    old = {d.digest for d in e2e.images.platform_image(before).manifest.layers}
    new = e2e.images.platform_image(after).manifest.layers
    return sum(d.size for d in new if d.digest not in old) / 1e6


def _stats(values: list[float], digits: int = 2, counted: str = "runs") -> str:
    median = statistics.median(values)
    return (
        f"median {median:.{digits}f} s (min {min(values):.{digits}f}, "
        f"max {max(values):.{digits}f}, {len(values)} {counted})"
    )


def _vm_hwm_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _adds(
    e2e: EndToEnd,
    label: str,
    shape: str,
    from_index: str,
    bundles: list[str],
    binary: str,
    *,
    chain: bool,
) -> tuple[list[float], str]:
    """Add one bundle per run; ``chain``: each run onto the previous output (a warm start)."""
    times: list[float] = []
    ids: list[int] = []
    current = from_index
    last = ""
    for n, bundle in enumerate(bundles):
        took, data = _time_build(
            e2e, {"bundles": [bundle], "binary_image": binary, "from_index": current}
        )
        assert data["state"] == "complete", data["state_reason"]
        steps, uploaded = _steps(e2e, data["id"])
        changed = _changed_mb(e2e, current, data["index_image"])
        print(
            f"  {label} run {n + 1}: {took:.2f} s; uploaded {uploaded:.1f} MB, changed layers "
            f"{changed:.1f} MB ({uploaded / changed if changed else 0:.2f}x); {steps}",
            flush=True,
        )
        times.append(took)
        ids.append(data["id"])
        last = data["index_image"]
        if chain:
            current = last
    if chain and len(times) > 1:
        # the first chained add starts from the bench's index, which the worker has not built
        # (not in its cache): it primes the cache and is left out
        print(
            f"{shape} {label}: {_stats(times[1:])} POST->complete (runs 2-{len(times)}; run 1 "
            f"primed the worker's cache: {times[0]:.2f} s)",
            flush=True,
        )
        print(f"{shape} {label}, between the warm adds: {_handoffs(e2e, ids[1:])}", flush=True)
    else:
        print(f"{shape} {label}: {_stats(times)} POST->complete", flush=True)
    return times, last


def _handoffs(e2e: EndToEnd, ids: list[int]) -> str:
    """From the index builder's log: how long it kept each state after a build of ``ids``, and
    how long from each request's completion to the start of the next one's build."""
    started: dict[int, float] = {}
    completed: dict[int, float] = {}
    kept: list[float] = []
    current = 0
    for line in (e2e.base / "index-builder.log").read_text().splitlines():
        record = json.loads(line)
        msg, at = str(record.get("msg", "")), datetime.fromisoformat(record["ts"]).timestamp()
        if match := re.match(r"building request (\d+) ", msg):
            current = int(match.group(1))
            started[current] = at
        elif match := re.match(r"request (\d+) complete", msg):
            completed[int(match.group(1))] = at
        elif match := re.match(r"kept the index state in ([\d.]+) s", msg):
            if current in ids[:-1]:
                kept.append(float(match.group(1)))
    gaps = [started[b] - completed[a] for a, b in pairwise(ids) if a in completed and b in started]
    if not kept or not gaps:
        return "(no handoffs in the index builder's log)"
    return (
        f"keeping the state {_stats(kept, 3, 'samples')}; a request's completion to the next "
        f"one's build start {_stats(gaps, 3, 'samples')}"
    )


def _host_busy() -> float:
    """Seconds of CPU the whole host has spent busy (not idle or waiting for I/O) since boot,
    from the first line of /proc/stat (proc(5))."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> None:
    sizes = [int(s) for s in _option(argv, "sizes", "1,10").split(",")]
    runs = int(_option(argv, "runs", "3"))
    base = Path(tempfile.mkdtemp(prefix="iib-bench-e2e-"))
    e2e = EndToEnd(base / "system", f"sqlite:///{base / 'iib.db'}")
    try:
        from services.tooling.demo.images import push_fake_binary_image

        binary = push_fake_binary_image(
            e2e.images, f"{e2e.registry.registry}/bench/opm:v4.14", ARCHES
        )
        found, _ = fixture_bundle_dirs(
            ["keda", "egressip-ipam-operator", "keepalived-operator", "cert-utils-operator"]
        )
        # bundles of packages absent from the synthetic catalog; each add adds one of them
        pool: list[str] = []
        for package in ("egressip-ipam-operator", "keepalived-operator", "cert-utils-operator"):
            for path in found[package]:
                pool.append(
                    push_bundle_image(
                        e2e.images,
                        path,
                        f"{e2e.registry.registry}/bench/{package}-bundle:{path.name}",
                    )
                )
        print(
            "end-to-end benchmark: real processes on one 2-core host; index builder with 1 worker; "
            "4 architectures; times from POST to `complete` (polling every 50 ms); uploaded MB "
            "from the request log",
            flush=True,
        )
        for multiplier in sizes:
            root = base / f"catalog-{multiplier}"
            info = _generate(root, multiplier)
            shape = (
                f"[{info['bundles']} bundles, {info['packages']} packages, "
                f"{info['channels']} channels, {info['bytes'] / 1e6:.1f} MB of FBC, 4 arches]"
            )
            foreign = _push_iib_style_index(
                e2e,
                binary,
                root,
                f"{e2e.registry.registry}/bench/iib-style-index:{multiplier}x",
                base / f"iib-style-{multiplier}",
            )
            layer_mb = (
                sum(p.stat().st_size for p in (base / f"iib-style-{multiplier}").glob("*.tar.gz"))
                / 1e6
            )
            shutil.rmtree(base / f"iib-style-{multiplier}")
            print(
                f"{shape} IIB-layout from_index: catalog and cache layers {layer_mb:.1f} MB gzipped"
            )
            _adds(
                e2e,
                "add one bundle, from an index laid out like IIB's (cold)",
                shape,
                foreign,
                pool[:runs],
                binary,
                chain=False,
            )
            index = _push_index(
                e2e,
                binary,
                root,
                f"{e2e.registry.registry}/bench/index:{multiplier}x",
                base / f"work-{multiplier}",
            )
            shutil.rmtree(base / f"work-{multiplier}")
            _adds(
                e2e,
                "add one bundle, from an index built here, not in the worker's cache (cold)",
                shape,
                index,
                pool[runs : 2 * runs],
                binary,
                chain=False,
            )
            times, last = _adds(
                e2e,
                "add one bundle onto the previous add's output (warm)",
                shape,
                index,
                pool[2 * runs : 3 * runs + 1],
                binary,
                chain=True,
            )
            floors = [
                _skopeo_copy(e2e, last, f"{e2e.registry.registry}/bench/copy:{multiplier}x-{n}")
                for n in range(runs)
            ]
            print(
                f"{shape} skopeo copy --all of the result: {_stats(floors)}; warm add / copy: "
                f"{statistics.median(times[1:]) / statistics.median(floors):.2f}x",
                flush=True,
            )
            print(
                f"{shape} index builder peak RSS so far: {_vm_hwm_mb(e2e.builder.pid):.0f} MB",
                flush=True,
            )
            shutil.rmtree(root)
        # 20 concurrent overwrite adds to the same index, repeated
        drains: list[float] = []
        for run in range(runs):
            target = f"{e2e.registry.registry}/bench/serial-index:run{run}"
            e2e.images.copy(f"{e2e.registry.registry}/bench/index:{sizes[0]}x", [target])
            # each run adds the bundles from repositories of its own: the catalog records a
            # bundle's pull spec, so no run's layers equal an earlier run's, and every run
            # pushes its layers to a registry that does not hold them yet (reusing run 1's
            # blobs made later runs ~3 s shorter)
            specs = [_run_copy(e2e, spec, run) for spec in pool[:20]]
            start_digest = e2e.images.get_image_digest(target)
            assert e2e.builder.pid is not None
            meter = CpuMeter({"index builder": e2e.builder.pid})
            meter.start()
            host_before = _host_busy()
            start = time.perf_counter()
            ids = []
            for spec in specs:
                resp = e2e.post(
                    "add",
                    {
                        "bundles": [spec],
                        "binary_image": binary,
                        "from_index": target,
                        "overwrite_from_index": True,
                        "overwrite_from_index_token": "bench:token",
                    },
                )
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["id"])
            loader_before = os.times()
            final = e2e.wait_final(ids, timeout=3600)
            drained = time.perf_counter() - start
            loader_after = os.times()
            loader_cores = (
                loader_after.user + loader_after.system - loader_before.user - loader_before.system
            ) / drained
            host = (_host_busy() - host_before) / drained
            builder_cores = meter.stop()["index builder"]
            complete = sum(1 for d in final.values() if d["state"] == "complete")
            chained = _serial_chain(e2e, target, start_digest, [final[i] for i in ids])
            # the catalog alone: with its serving cache a 30,000-bundle index unpacks to more
            # than the unpacker's 2 GiB bound
            catalog = e2e.catalog_of(target, base / f"serial-{run}", cache=False)
            images = {ref.image for ref in present_bundle_images(catalog)}
            shutil.rmtree(base / f"serial-{run}")
            # the pool's CSVs carry no `replaces`: in opm's replaces mode each add makes its
            # bundle the package's only channel entry, so the last one of each package stays
            last_of_package = {spec.split("@", 1)[0]: spec for spec in specs}
            print(
                f"  20 overwrite adds run {run + 1}: all final in {drained:.1f} s, "
                f"{complete}/20 complete, {chained}/20 built on the previous request's output "
                f"and from_index is the last output; the last added bundle of each package in "
                f"from_index: {sum(1 for s in last_of_package.values() if s in images)}/"
                f"{len(last_of_package)}",
                flush=True,
            )
            print(
                f"    cores busy while draining: {host:.2f} of {os.cpu_count()} on the host, "
                f"{builder_cores:.2f} in the index builder, {loader_cores:.2f} in the bench "
                "(polling)",
                flush=True,
            )
            print(f"    {_group_profile(e2e, ids)}", flush=True)
            drains.append(drained)
        print(
            f"[20 overwrite adds to one {sizes[0] * 3000}-bundle index, 4 arches, submitted at "
            f"once] drained in {_stats(drains)}",
            flush=True,
        )
    finally:
        e2e.close()
        shutil.rmtree(base, ignore_errors=True)
