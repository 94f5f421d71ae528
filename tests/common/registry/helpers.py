"""Helpers for the registry tests: fast settings, base images pushed by hand, skopeo calls."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.digests import compute_digest
from services.common.registry.layers import LayerFile, build_layer
from services.common.registry.manifest import (
    Descriptor,
    Platform,
    encode_json,
    image_manifest_bytes,
    index_manifest_bytes,
)
from services.common.registry.mediatypes import ImageFormat
from services.tooling.servers.registry import RegistryServer

# IIB's iib_supported_archs: the value of the `architecture` label per arch.
ARCH_LABELS = {"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}
FOUR_ARCHES = ("amd64", "arm64", "ppc64le", "s390x")


def fast_settings(**overrides: Any) -> RegistrySettings:
    """Settings with millisecond retry waits so fault tests stay fast."""
    values: dict[str, Any] = {
        "total_attempts": 4,
        "retry_delay": 0.01,
        "retry_jitter": 0.01,
        "retry_multiplier": 0.01,
        "timeout": 20,
        "connect_timeout": 5,
    }
    values.update(overrides)
    return RegistrySettings(**values)


@dataclass(frozen=True)
class PushedImage:
    spec: str
    digest: str
    media_type: str
    children: dict[str, str]
    layer_digests: dict[str, list[str]]


def push_base_image(
    client: RegistryClient,
    spec: str,
    work: Path,
    *,
    arches: Sequence[str] = FOUR_ARCHES,
    fmt: ImageFormat = ImageFormat.DOCKER,
    as_list: bool = True,
    labels: Mapping[str, str] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> PushedImage:
    """Push an opm-like binary image by hand: per arch one shared and one arch-specific layer."""
    repo = spec.rsplit(":", 1)[0]
    shared = build_layer(
        [LayerFile("usr/share/licenses/LICENSE", data=b"Apache-2.0\n" * 50)],
        work / "shared.tar.gz",
    )
    client.upload_blob(repo, shared.path, shared.digest)
    entries: list[Descriptor] = []
    children: dict[str, str] = {}
    layer_digests: dict[str, list[str]] = {}
    last_raw = b""
    for arch in arches:
        files = {"bin/opm": f"#!/bin/sh\necho opm {arch}\n".encode()}
        files.update(extra_files or {})
        own = build_layer(
            [LayerFile(path, data=data, mode=0o755) for path, data in files.items()],
            work / f"{arch}.tar.gz",
        )
        client.upload_blob(repo, own.path, own.digest)
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {
                "User": "1001",
                "Entrypoint": ["/bin/opm"],
                "Cmd": ["--help"],
                "Labels": {
                    "architecture": ARCH_LABELS.get(arch, arch),
                    "base.label": "from-base",
                    **(labels or {}),
                },
            },
            "rootfs": {"type": "layers", "diff_ids": [shared.diff_id, own.diff_id]},
            "history": [{"created_by": "shared"}, {"created_by": f"opm {arch}"}],
        }
        config_raw = encode_json(config)
        config_digest = client.upload_blob(repo, config_raw)
        raw = image_manifest_bytes(
            fmt,
            Descriptor(fmt.config_type, config_digest, len(config_raw)),
            [shared.descriptor(fmt), own.descriptor(fmt)],
        )
        target = f"{repo}@{compute_digest(raw)}" if as_list else f"{repo}:{arch}-only"
        digest = client.put_manifest(target, raw)
        children[arch] = digest
        layer_digests[arch] = [shared.digest, own.digest]
        platform = Platform("linux", arch, "v8" if arch == "arm64" else None)
        entries.append(Descriptor(fmt.manifest_type, digest, len(raw), platform))
        last_raw = raw
    if as_list:
        top = index_manifest_bytes(fmt, entries)
        digest = client.put_manifest(spec, top)
        return PushedImage(spec, digest, fmt.index_type, children, layer_digests)
    digest = client.put_manifest(spec, last_raw)
    return PushedImage(spec, digest, fmt.manifest_type, children, layer_digests)


def skopeo_args(server: RegistryServer, creds: str | None = None, prefix: str = "") -> list[str]:
    """TLS/credential flags for skopeo against ``server`` (``prefix`` = "src-"/"dest-")."""
    args = []
    if server.cert_dir is None:
        args.append(f"--{prefix}tls-verify=false")
    else:
        args.append(f"--{prefix}cert-dir={server.cert_dir}")
    if creds:
        args.append(f"--{prefix}creds={creds}")
    return args


def skopeo(*args: str, timeout: float = 60) -> str:
    """Run skopeo, return stdout; fail the test with stderr when it fails."""
    result = subprocess.run(
        ["skopeo", "--command-timeout", f"{int(timeout)}s", *args],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def skopeo_inspect(spec: str, server: RegistryServer, *extra: str, creds: str | None = None) -> Any:
    """``skopeo inspect [extra] docker://spec`` parsed as JSON (raw bytes with ``--raw``)."""
    out = skopeo("inspect", *skopeo_args(server, creds), *extra, f"docker://{spec}")
    return json.loads(out)
