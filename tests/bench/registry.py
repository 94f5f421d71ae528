"""`make bench` registry part: append a ~100 MB catalog layer to a 4-architecture base and push.

Set-up (not timed): a docker-registry on loopback, a counting proxy in front of it, and a
4-arch Docker manifest-list base (per arch: one shared and one arch-specific random layer)
pushed straight to the registry. Measured:

1. building the reproducible catalog layer (``tree_entries`` + ``build_layer``, gzip);
2. ``ImageService.build`` through the proxy: per-arch configs/manifests, one catalog-layer
   upload for all four architectures, base layers mounted; bytes uploaded as counted by the
   client and by the proxy;
3. the physical reference: ``skopeo copy --all`` of the same result to an OCI layout, and from
   that layout to a fresh repository through the proxy (bytes counted by the proxy);
4. ``skopeo copy --all`` registry → registry of the result into another repository.

Options: ``--size-mb=N`` (catalog size, default 100), ``--compresslevel=N`` (default 6),
``--base-mb=N`` (arch-specific base layer size, default 8).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import statistics
import subprocess
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import ImageService
from services.common.registry.layers import build_layer, tree_entries
from services.tooling.servers.registry import start_registry
from tests.bench.common import python_running
from tests.common.registry.faultproxy import FaultProxy
from tests.common.registry.helpers import FOUR_ARCHES, push_base_image

MB = 1_000_000
_CSV_TEMPLATE = (
    '{{"apiVersion":"operators.coreos.com/v1alpha1","kind":"ClusterServiceVersion",'
    '"metadata":{{"name":"{name}","annotations":{{"containerImage":"{image}",'
    '"description":"Operator {package} manages the lifecycle of {package} instances on OpenShift '
    'clusters, including upgrades, backups, monitoring and automated failover."}}}},'
    '"spec":{{"version":"{version}","replaces":"{replaces}","relatedImages":[{related}],'
    '"install":{{"strategy":"deployment","spec":{{"deployments":[{{"name":"{package}-controller",'
    '"spec":{{"replicas":1,"template":{{"spec":{{"containers":[{{"name":"manager",'
    '"image":"{image}","args":["--leader-elect","--metrics-bind-address=:8443"],'
    '"resources":{{"limits":{{"cpu":"500m","memory":"512Mi"}}}}}}]}}}}}}}}]}}}}}}}}'
)


def _options(argv: list[str]) -> dict[str, int]:
    options = {"size-mb": 100, "compresslevel": 6, "base-mb": 8}
    for arg in argv:
        key, _, value = arg.lstrip("-").partition("=")
        if key in options and value:
            options[key] = int(value)
    return options


def _write_catalog(root: Path, size: int) -> int:
    """Write an FBC-like tree (package dirs with catalog.json of olm.bundle blobs) of ~size bytes."""
    rng = random.Random(20261121)
    written = 0
    package = 0
    while written < size:
        name = f"operator-{package:04d}"
        lines = [json.dumps({"schema": "olm.package", "name": name, "defaultChannel": "stable"})]
        for version in range(40):
            digest = hashlib.sha256(f"{name}{version}{rng.random()}".encode()).hexdigest()
            image = f"registry.example.com/{name}/bundle@sha256:{digest}"
            related = ",".join(
                json.dumps(
                    {
                        "name": f"img{i}",
                        "image": f"registry.example.com/{name}/img{i}@sha256:"
                        + hashlib.sha256(f"{digest}{i}".encode()).hexdigest(),
                    }
                )
                for i in range(6)
            )
            csv = _CSV_TEMPLATE.format(
                name=f"{name}.v1.{version}.0",
                package=name,
                image=image,
                version=f"1.{version}.0",
                replaces=f"{name}.v1.{version - 1}.0",
                related=related,
            )
            blob = {
                "schema": "olm.bundle",
                "name": f"{name}.v1.{version}.0",
                "package": name,
                "image": image,
                "properties": [
                    {
                        "type": "olm.package",
                        "value": {"packageName": name, "version": f"1.{version}.0"},
                    },
                    {
                        "type": "olm.bundle.object",
                        "value": {
                            "data": base64.b64encode(
                                csv.encode() + rng.randbytes(3 * len(csv))
                            ).decode()
                        },
                    },
                ],
            }
            lines.append(json.dumps(blob))
        text = ("\n".join(lines) + "\n").encode()
        (root / name).mkdir(parents=True)
        (root / name / "catalog.json").write_bytes(text)
        written += len(text)
        package += 1
    return written


def _skopeo(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args)} failed: {result.stderr.strip()}")
    return time.monotonic() - started


def _fmt(size: int) -> str:
    return f"{size / MB:8.1f} MB"


def main(argv: list[str]) -> None:
    """Run the registry benchmark and print its figures."""
    options = _options(argv)
    with tempfile.TemporaryDirectory(prefix="iib-bench-registry-") as tmp_name:
        tmp = Path(tmp_name)
        servers = [start_registry(tmp / f"registry-{name}") for name in ("a", "b", "c")]
        proxies = [FaultProxy(server.registry).start() for server in servers]
        try:
            _run(tmp, servers[0].registry, proxies, options)
            _beside_python(tmp, servers[0].registry)
            _second_repository(tmp, servers[0].registry)
        finally:
            for proxy in proxies:
                proxy.stop()
            for server in servers:
                server.stop()


def _run(tmp: Path, registry: str, proxies: list[FaultProxy], options: dict[str, int]) -> None:
    proxy, proxy_b, proxy_c = proxies
    direct = RegistryClient(RegistrySettings(insecure_registries=frozenset({registry})))
    base = push_base_image(
        direct,
        f"{registry}/bench/opm-binary:v4.15",
        tmp,
        arches=FOUR_ARCHES,
        extra_files={"usr/bin/payload": random.Random(1).randbytes(options["base-mb"] * MB)},
    )
    base_bytes = sum(
        direct.blob_exists(base.spec, d) or 0
        for d in {d for ds in base.layer_digests.values() for d in ds}
    )

    catalog = tmp / "catalog"
    catalog_bytes = _write_catalog(catalog, options["size-mb"] * MB)
    started = time.monotonic()
    layer = build_layer(
        tree_entries(catalog, "/configs", file_mode=0o644, dir_mode=0o755),
        tmp / "catalog.tar.gz",
        compresslevel=options["compresslevel"],
        created_by="ADD catalog /configs",
    )
    layer_seconds = time.monotonic() - started

    via_proxy = proxy.registry
    client = RegistryClient(
        RegistrySettings(insecure_registries=frozenset({p.registry for p in proxies}))
    )
    images = ImageService(client)
    proxy.reset_counters()
    started = time.monotonic()
    result = images.build(
        f"{via_proxy}/bench/opm-binary:v4.15",
        [f"{via_proxy}/bench/index:1"],
        [layer],
        ConfigChanges(
            labels={"operators.operatorframework.io.index.configs.v1": "/configs"},
            entrypoint=["/bin/opm"],
            cmd=["serve", "/configs", "--cache-dir=/tmp/cache"],
            exposed_ports=["50051"],
        ),
    )
    push_seconds = time.monotonic() - started
    stats = client.stats.snapshot()
    proxy_in = proxy.bytes_in
    requests = len(proxy.log)

    layout = tmp / "layout"
    pull_seconds = _skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        f"docker://{via_proxy}/bench/index:1",
        f"oci:{layout}:1",
    )
    push_ref_seconds = _skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{layout}:1",
        f"docker://{proxy_b.registry}/bench/index:1",
    )
    started = time.monotonic()
    images.copy(f"{via_proxy}/bench/index:1", [f"{proxy_c.registry}/bench/index:1"])
    our_copy_seconds = time.monotonic() - started

    gzip_size = layer.size
    ratio = stats["bytes_uploaded"] / gzip_size
    packages = len(list(catalog.iterdir()))
    print(f"catalog files (uncompressed)        {_fmt(catalog_bytes)}  ({packages} packages)")
    print(
        f"catalog layer tar / gzip            {_fmt(layer.uncompressed_size)} / {_fmt(gzip_size)}"
        f"  (gzip level {options['compresslevel']})"
    )
    print(f"base image                          4 arches, {_fmt(base_bytes)} of distinct layers")
    print(f"build catalog layer (tar+gzip)      {layer_seconds:8.2f} s")
    print(f"append + push, 4 arches + list      {push_seconds:8.2f} s  ({requests} HTTP requests)")
    print(
        f"  uploaded, client count            {_fmt(stats['bytes_uploaded'])}  = {ratio:.3f} x the gzip layer"
    )
    print(f"  uploaded, proxy count             {_fmt(proxy_in)}")
    print(
        f"  blobs uploaded / mounted          {stats['blobs_uploaded']} / {stats['blobs_mounted']}"
        f"  (manifests pushed: {stats['manifests_pushed']})"
    )
    print(
        f"  one push per arch would upload    {_fmt(4 * gzip_size)}  (4 x the layer, not measured)"
    )
    print("reference, the same result (skopeo 1.9.3 and ImageService.copy):")
    print(f"  skopeo copy --all -> oci layout   {pull_seconds:8.2f} s")
    print(
        f"  skopeo copy --all oci -> registry {push_ref_seconds:8.2f} s"
        f"  {_fmt(proxy_b.bytes_in)} uploaded to a fresh registry"
    )
    print(
        f"  ImageService.copy -> registry     {our_copy_seconds:8.2f} s"
        f"  {_fmt(proxy_c.bytes_in)} uploaded to a fresh registry"
    )
    print(f"result                              {result.resolved}")
    client.close()
    direct.close()


def _beside_python(tmp: Path, registry: str, runs: int = 5) -> None:
    """A 12 MiB blob (a warm add's new layers) uploaded and downloaded straight to the
    registry, alone and while another thread runs Python, as in a builder whose push lane
    uploads while the next request is computed: each send or receive that gives up the GIL
    waits for it to come back."""
    blob = random.Random(2).randbytes(12 * 1024 * 1024)
    with RegistryClient(RegistrySettings(insecure_registries=frozenset({registry}))) as client:
        for beside in (False, True):
            up, down = [], []
            with python_running() if beside else nullcontext():
                for n in range(runs):
                    path = tmp / f"blob-{beside}-{n}"
                    path.write_bytes(f"{beside}-{n}".encode() + blob)  # a new blob every time
                    started = time.perf_counter()
                    digest = client.upload_blob(f"{registry}/bench/blobs", path, check_exists=False)
                    up.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    client.download_blob(f"{registry}/bench/blobs", digest, tmp / "downloaded")
                    down.append(time.perf_counter() - started)
            where = "beside a thread running Python" if beside else "alone"
            print(f"12 MiB blob, {where} ({runs} runs): upload {_ms(up)}, download {_ms(down)}")


def _second_repository(tmp: Path, registry: str, runs: int = 5) -> None:
    """A 12 MiB blob just pushed, made present in another repository of the same registry
    (a group's copy ahead of the overwrite): uploaded again from its file, or mounted."""
    blob = random.Random(3).randbytes(12 * 1024 * 1024)
    again, mounted = [], []
    with RegistryClient(RegistrySettings(insecure_registries=frozenset({registry}))) as client:
        for n in range(runs):
            path = tmp / f"pushed-{n}"
            path.write_bytes(f"pushed-{n}".encode() + blob)
            digest = client.upload_blob(f"{registry}/bench/pushed", path, check_exists=False)
            started = time.perf_counter()
            client.upload_blob(f"{registry}/bench/again-{n}", path, digest, check_exists=False)
            again.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert client.mount_blob(f"{registry}/bench/mounted-{n}", digest, "bench/pushed")
            mounted.append(time.perf_counter() - started)
    print(
        f"12 MiB blob just pushed, into another repository ({runs} runs): uploaded again "
        f"{_ms(again)}, mounted {_ms(mounted)}"
    )


def _ms(seconds: list[float]) -> str:
    return (
        f"median {statistics.median(seconds) * 1000:.0f} ms "
        f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f})"
    )
