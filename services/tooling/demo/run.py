"""``iib demo`` (``make demo``): the first thing to try.

Pushes the fixture bundles and a 4-architecture stand-in opm image to the local registry of
``iib dev``, submits an add request through the REST API (HTTPS, as iiblib would), waits for it,
and prints the resulting index image with a package/channel summary of its catalog. When the
system is not running, it starts ``iib dev`` for the duration of the demo.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from services.catalog import CatalogDir
from services.common.config import load_settings
from services.common.processes import ManagedProcess, http_ok
from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.images import ImageService
from services.tooling.demo.images import push_fake_binary_image, push_fixture_bundles
from services.tooling.dev import dev_defaults

__all__ = ["run_demo"]

PACKAGES = ["keda", "redis-operator", "opendatahub-operator", "cockroachdb"]
USER = "demo@EXAMPLE.COM"


def _healthy(session: requests.Session, base: str) -> bool:
    try:
        return session.get(f"{base}/api/v1/healthcheck", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def run_demo(var_dir: Path | None = None) -> int:
    var = (var_dir or Path(os.environ.get("IIB_VAR_DIR", "var"))).resolve()
    env = {**dev_defaults(var), **os.environ}
    settings = load_settings(env)
    scheme = "https" if settings.gateway_tls_cert else "http"
    base = f"{scheme}://{settings.gateway_listen}"
    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.gateway_tls_cert) if settings.gateway_tls_cert else True
    dev: ManagedProcess | None = None
    if not _healthy(session, base):
        print("demo: the system is not running; starting `iib dev` for the demo ...", flush=True)
        dev = ManagedProcess(
            "iib-dev",
            [sys.executable, "-m", "services.tooling.cli", "dev", "--var-dir", str(var)],
            var / "logs" / "demo-iib-dev.log",
            env=env,
        )
        dev.start(ready=lambda: _healthy(session, base), timeout=120)
        admin = f"http://127.0.0.1:{settings.gateway_admin_port}/ready"
        if not http_ok(admin):
            raise SystemExit("demo: the gateway did not start; see var/logs/")
    try:
        return _demo(settings.registry or "", base, session)
    finally:
        if dev is not None:
            print("demo: stopping `iib dev`", flush=True)
            dev.stop(grace=30)


def _demo(registry: str, base: str, session: requests.Session) -> int:
    images = ImageService(
        RegistryClient(RegistrySettings(insecure_registries=frozenset({registry}), retry_delay=1.0))
    )
    started = time.monotonic()
    pushed = push_fixture_bundles(images, registry, packages=PACKAGES)
    binary = push_fake_binary_image(images, f"{registry}/demo/opm:v4.14")
    count = sum(len(v) for v in pushed.values())
    print(
        f"demo: pushed {count} bundle images of {len(pushed)} packages and a 4-arch opm image "
        f"to {registry} in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    body: dict[str, Any] = {
        "bundles": [b for package in PACKAGES for b in pushed[package]],
        "binary_image": binary,
        "add_arches": ["amd64", "arm64", "ppc64le", "s390x"],
        "build_tags": ["demo-latest"],
    }
    submitted = time.monotonic()
    resp = session.post(
        f"{base}/api/v1/builds/add", json=body, headers={"X-Remote-User": USER}, timeout=60
    )
    if resp.status_code != 201:
        print(f"demo: the submission was refused: {resp.status_code} {resp.text}", file=sys.stderr)
        return 1
    request = resp.json()
    print(
        f"demo: POST /api/v1/builds/add -> 201, request {request['id']} ({request['state']})",
        flush=True,
    )
    seen = ""
    while request["state"] == "in_progress":
        if request["state_reason"] != seen:
            seen = request["state_reason"]
            print(f"      {seen}", flush=True)
        time.sleep(0.5)
        request = session.get(f"{base}/api/v1/builds/{request['id']}", timeout=30).json()
    took = time.monotonic() - submitted
    print(
        f"demo: request {request['id']} is {request['state']}: {request['state_reason']} ({took:.1f} s)"
    )
    if request["state"] != "complete":
        return 1
    print(f"\nindex image: {request['index_image']}")
    print(f"resolved:    {request['index_image_resolved']}")
    print(f"arches:      {', '.join(request['arches'])}")
    with tempfile.TemporaryDirectory() as tmp:
        images.unpack(request["index_image"], Path(tmp), include=["configs"])
        catalog = CatalogDir.open(Path(tmp) / "configs")
        print(f"\n{'package':<24} {'default channel':<16} channels (entries, head)")
        for name in catalog.package_names():
            docs = catalog.load_package(name)
            if docs is None or not docs.packages:
                continue
            channels = []
            for channel in docs.channels:
                replaced = {e.replaces for e in channel.entries if e.replaces}
                skipped = {s for e in channel.entries for s in e.skips}
                heads = [e.name for e in channel.entries if e.name not in replaced | skipped]
                channels.append(f"{channel.name} ({len(channel.entries)}, {', '.join(heads)})")
            print(f"{name:<24} {docs.packages[0].default_channel:<16} {'; '.join(channels)}")
    print(f"\nTry: skopeo inspect --tls-verify=false docker://{request['index_image']}")
    return 0
