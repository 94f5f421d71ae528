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

    python -m tests.bench e2e [--sizes=1,10]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from services.catalog import CatalogDir, directory_tree, write_serving_cache
from services.catalog.labels import INDEX_CONFIGS
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.layers import build_layer, tree_entries
from services.index_builder.index_image import build_index_image
from services.tooling.demo.images import fixture_bundle_dirs, push_bundle_image
from tests.bench.api import _option
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
    built, _state = build_index_image(
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
    )
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
        time.sleep(0.1)


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


def main(argv: list[str]) -> None:
    sizes = [int(s) for s in _option(argv, "sizes", "1,10").split(",")]
    base = Path(tempfile.mkdtemp(prefix="iib-bench-e2e-"))
    e2e = EndToEnd(base / "system", f"sqlite:///{base / 'iib.db'}")
    try:
        from services.tooling.demo.images import push_fake_binary_image

        binary = push_fake_binary_image(
            e2e.images, f"{e2e.registry.registry}/bench/opm:v4.14", ARCHES
        )
        found, _ = fixture_bundle_dirs(["keda", "egressip-ipam-operator", "keepalived-operator"])
        keda = push_bundle_image(
            e2e.images, found["keda"][0], f"{e2e.registry.registry}/bench/keda-bundle:1.4.1"
        )
        print(
            "end-to-end benchmark: real processes on one 2-core host; index builder with 1 worker; "
            "4 architectures; times from POST to `complete`",
            flush=True,
        )
        for multiplier in sizes:
            root = base / f"catalog-{multiplier}"
            info = _generate(root, multiplier)
            shape = (
                f"[{info['bundles']} bundles, {info['packages']} packages, "
                f"{info['channels']} channels, 4 arches]"
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
            took, data = _time_build(
                e2e, {"bundles": [keda], "binary_image": binary, "from_index": foreign}
            )
            assert data["state"] == "complete", data["state_reason"]
            print(
                f"{shape} add one bundle to an index laid out like IIB's (catalog {layer_mb:.1f} MB "
                f"gzipped, read whole, nothing to reuse): {took:.1f} s POST->complete",
                flush=True,
            )
            index = _push_index(
                e2e,
                binary,
                root,
                f"{e2e.registry.registry}/bench/index:{multiplier}x",
                base / f"work-{multiplier}",
            )
            shutil.rmtree(base / f"work-{multiplier}")
            took, data = _time_build(
                e2e, {"bundles": [keda], "binary_image": binary, "from_index": index}
            )
            assert data["state"] == "complete", data["state_reason"]
            floor = _skopeo_copy(
                e2e, data["index_image"], f"{e2e.registry.registry}/bench/copy:{multiplier}x"
            )
            print(
                f"{shape} add one bundle to an index built here (parts reused): {took:.1f} s "
                f"POST->complete; skopeo copy --all of the result: {floor:.1f} s",
                flush=True,
            )
            shutil.rmtree(root)
        # 20 concurrent overwrite adds to the same index
        target = f"{e2e.registry.registry}/bench/serial-index:v4.14"
        e2e.images.copy(f"{e2e.registry.registry}/bench/index:{sizes[0]}x", [target])
        specs: list[str] = []
        for package in ("egressip-ipam-operator", "keepalived-operator"):
            for path in found[package]:
                if len(specs) < 20:
                    specs.append(
                        push_bundle_image(
                            e2e.images,
                            path,
                            f"{e2e.registry.registry}/bench/{package}-bundle:{path.name}",
                        )
                    )
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
        submitted = time.perf_counter() - start
        final = e2e.wait_final(ids, timeout=3600)
        drained = time.perf_counter() - start
        states = sorted({d["state"] for d in final.values()})
        print(
            f"[20 overwrite adds to one {sizes[0] * 3000}-bundle index, 4 arches] submitted in "
            f"{submitted:.1f} s, all final in {drained:.1f} s ({drained / 20:.1f} s per request, "
            f"serialized); states {states}",
            flush=True,
        )
        failed = [d["state_reason"] for d in final.values() if d["state"] != "complete"]
        if failed:
            print(f"  failures: {failed[:3]}", flush=True)
    finally:
        e2e.close()
        shutil.rmtree(base, ignore_errors=True)
