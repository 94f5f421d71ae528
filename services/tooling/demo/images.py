"""An image factory: realistic IIB input images written straight into a registry.

No container engine is involved: layers are built reproducibly with
``services.common.registry.layers`` and pushed through the registry API, so the same input
always gives the same digests (mtime 0, uid/gid 0, fixed modes, sorted entries, epoch
creation time, labels sorted as Go's ``json.Marshal`` writes a map).

- ``push_bundle_image``: an operator bundle (``FROM scratch``, ``/manifests`` + ``/metadata``,
  the bundle labels) as a single Docker v2s2 image — what IIB's bundle resolution accepts.
- ``push_fake_binary_image``: a multi-arch stand-in for ``ose-operator-registry`` (opm's
  image): one Docker v2s2 image per architecture under a Docker manifest list.
- ``push_fbc_fragment_image``: a Konflux-style FBC fragment (``/configs`` + the configs label).
- ``push_sqlite_index_image``: a legacy SQLite index image built on the binary image (every
  architecture) with ``/database/index.db`` (see ``build_index_db``).
- ``push_fixture_bundles``: every bundle of the shared community fixtures.

Every function returns the pinned pull spec ``<repository>@sha256:…`` of what it pushed.
"""

from __future__ import annotations

import logging
import re
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from services.catalog import semver as catalog_semver
from services.catalog.labels import BUNDLE_PACKAGE, INDEX_CONFIGS, INDEX_DATABASE
from services.common.errors import ValidationError
from services.common.reference import name_without_tag_or_digest, parse_reference
from services.common.registry import mediatypes as mt
from services.common.registry.digests import compute_digest
from services.common.registry.imageconfig import EPOCH, ConfigChanges, ImageConfig
from services.common.registry.images import SCRATCH, ImageService
from services.common.registry.layers import Layer, LayerFile, build_layer, tree_entries
from services.common.registry.manifest import (
    Descriptor,
    Platform,
    image_manifest_bytes,
    index_manifest_bytes,
)
from services.tooling.demo.index_db import GraphMode, IndexDbSummary, build_index_db

__all__ = [
    "ARCH_LABELS",
    "DEFAULT_ARCHES",
    "FIXTURES_ROOT",
    "GraphMode",
    "IndexDbSummary",
    "build_index_db",
    "bundle_labels",
    "fixture_bundle_dirs",
    "parse_dockerfile_labels",
    "push_bundle_image",
    "push_fake_binary_image",
    "push_fbc_fragment_image",
    "push_fixture_bundles",
    "push_sqlite_index_image",
]

log = logging.getLogger(__name__)

#: IIB's ``iib_supported_archs``: the value of the ``architecture`` label per architecture.
ARCH_LABELS: Mapping[str, str] = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}
DEFAULT_ARCHES: tuple[str, ...] = ("amd64", "arm64", "ppc64le", "s390x")
_VARIANTS = {"arm64": "v8"}


#: Real community operator bundles (Apache-2.0, see community-bundles/README.md), in the repository.
FIXTURES_ROOT = Path(__file__).resolve().parent / "community-bundles"

_DOCKERFILES = ("Dockerfile", "bundle.Dockerfile")
_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_OS_RELEASE = (
    b'NAME="IIB demo"\nID=iib-demo\nVERSION_ID="1"\n'
    b'PRETTY_NAME="IIB demo base (fake ose-operator-registry)"\n'
)
_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


# --------------------------------------------------------------------------- labels


def parse_dockerfile_labels(text: str, source: str = "Dockerfile") -> dict[str, str]:
    """The labels the ``LABEL`` instructions of a Dockerfile set, in order (later wins).

    Handles ``LABEL k=v``, ``LABEL k="v w" k2='x'`` (several per instruction), lines continued
    with a trailing backslash, comment lines (also inside a continuation) and the legacy
    ``LABEL key value`` form. Variables are not expanded. ``ValidationError`` names
    ``source`` for an instruction that cannot be parsed.
    """
    labels: dict[str, str] = {}
    for number, instruction in _instructions(text):
        parts = instruction.split(None, 1)
        if not parts or parts[0].upper() != "LABEL":
            continue
        rest = parts[1] if len(parts) > 1 else ""
        try:
            tokens = shlex.split(rest, posix=True)
        except ValueError as exc:
            raise ValidationError(f"{source}:{number}: cannot parse LABEL: {exc}") from None
        if not tokens:
            raise ValidationError(f"{source}:{number}: LABEL requires at least one argument")
        if "=" not in tokens[0]:
            labels[tokens[0]] = " ".join(tokens[1:])
            continue
        for token in tokens:
            key, eq, value = token.partition("=")
            if not eq or not key:
                raise ValidationError(
                    f"{source}:{number}: LABEL argument {token!r} is not of the form key=value"
                )
            labels[key] = value
    return labels


def _instructions(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction text) with continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank and comment lines, also inside a continuation (as Docker does)
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1])
            continue
        current.append(stripped)
        out.append((start, " ".join(part for part in current if part)))
        current = []
    if current:
        out.append((start, " ".join(part for part in current if part)))
    return out


def _annotations(bundle_dir: Path) -> dict[str, str]:
    path = bundle_dir / "metadata" / "annotations.yaml"
    if not path.is_file():
        raise ValidationError(
            f"{bundle_dir} is not in the bundle format: metadata/annotations.yaml is missing"
        )
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"{path}: cannot read the annotations: {exc}") from None
    annotations = document.get("annotations") if isinstance(document, dict) else None
    if not isinstance(annotations, dict):
        raise ValidationError(f"{path}: no 'annotations' mapping")
    out: dict[str, str] = {}
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise ValidationError(
                f"{path}: annotation {key} must be a string, got {type(value).__name__}"
            )
        out[str(key)] = value
    return out


def bundle_labels(bundle_dir: Path) -> dict[str, str]:
    """The labels of the bundle image built from ``bundle_dir``, sorted by key.

    Every ``LABEL`` of the fixture's ``Dockerfile`` (or ``bundle.Dockerfile``) plus every key
    of ``metadata/annotations.yaml``; where both set a key the annotation wins (operator-sdk's
    ``bundle validate`` requires them to agree, and the annotations are what opm reads). The
    package label must be present and non-empty (it is what makes an image a bundle).
    """
    bundle_dir = Path(bundle_dir)
    annotations = _annotations(bundle_dir)
    labels: dict[str, str] = {}
    for name in _DOCKERFILES:
        dockerfile = bundle_dir / name
        if dockerfile.is_file():
            try:
                text = dockerfile.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValidationError(f"{dockerfile}: cannot read: {exc}") from None
            labels.update(parse_dockerfile_labels(text, str(dockerfile)))
            break
    labels.update(annotations)
    if not labels.get(BUNDLE_PACKAGE):
        raise ValidationError(
            f"{bundle_dir / 'metadata' / 'annotations.yaml'}: the bundle has no "
            f"{BUNDLE_PACKAGE} annotation"
        )
    return dict(sorted(labels.items()))


# --------------------------------------------------------------------------- helpers


def _require_tag(target: str) -> None:
    ref = parse_reference(target)
    if not ref.tag or ref.digest:
        raise ValidationError(f"The target {target} must be a tagged pull spec")


def _pinned(target: str, digest: str) -> str:
    return f"{name_without_tag_or_digest(target)}@{digest}"


def _tree_layer(source: Path, dest: str, work: Path, created_by: str) -> Layer:
    entries = tree_entries(source, dest, uid=0, gid=0, file_mode=0o644, dir_mode=0o755)
    return build_layer(
        entries, work / f"{dest.strip('/').replace('/', '_')}.tar.gz", created_by=created_by
    )


# --------------------------------------------------------------------------- images


def push_bundle_image(images: ImageService, bundle_dir: Path, target: str) -> str:
    """Push the bundle in ``bundle_dir`` as a single Docker v2s2 image at ``target`` (a tag).

    ``FROM scratch`` with two layers, ``/manifests/…`` and ``/metadata/…`` (directories 0755,
    files 0644, root-owned, mtime 0), labels from ``bundle_labels``, config linux/amd64.
    Returns ``<repository>@<manifest digest>``; the same directory always gives the same
    digest. ``ValidationError`` when the directory is not in the bundle format.
    """
    bundle_dir = Path(bundle_dir)
    _require_tag(target)
    labels = bundle_labels(bundle_dir)
    for sub in ("manifests", "metadata"):
        if not (bundle_dir / sub).is_dir():
            raise ValidationError(f"{bundle_dir} is not in the bundle format: {sub}/ is missing")
    with tempfile.TemporaryDirectory(prefix="iib-demo-bundle-") as tmp:
        work = Path(tmp)
        layers = [
            _tree_layer(bundle_dir / "manifests", "manifests", work, "COPY manifests /manifests/"),
            _tree_layer(bundle_dir / "metadata", "metadata", work, "COPY metadata /metadata/"),
        ]
        result = images.build(SCRATCH, [target], layers, ConfigChanges(labels=labels))
    log.info("Pushed bundle %s as %s", bundle_dir, result.resolved)
    return result.resolved


def _opm_script(arch: str) -> bytes:
    return (
        "#!/bin/sh\n"
        f'echo "opm (fake, {arch}): IIB demo stand-in for ose-operator-registry; args: $*"\n'
    ).encode()


def _probe_script(arch: str) -> bytes:
    return f'#!/bin/sh\necho "grpc_health_probe (fake, {arch}): status: SERVING"\n'.encode()


def push_fake_binary_image(
    images: ImageService,
    target: str,
    arches: Sequence[str] = DEFAULT_ARCHES,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Push a small multi-arch stand-in for ``ose-operator-registry`` at ``target`` (a tag).

    Per architecture one Docker v2s2 image: a shared layer (``/etc/os-release``) and a layer
    of its own with ``/bin/opm`` and ``/bin/grpc_health_probe`` (shell scripts that print a
    message naming the architecture); config architecture = the arch (arm64: variant v8),
    os linux, ``User`` 1001, ``Entrypoint ["/bin/opm"]``, labels ``labels`` plus
    ``architecture`` mapped as IIB does (amd64→x86_64, arm64→aarch64, others unchanged).
    Then a Docker manifest list (entries in ``arches`` order, platform os/architecture[/variant])
    at ``target`` — also for a single architecture. Returns the pinned list spec.
    """
    _require_tag(target)
    arch_list = list(arches)
    if not arch_list:
        raise ValidationError("push_fake_binary_image needs at least one architecture")
    if len(set(arch_list)) != len(arch_list):
        raise ValidationError(f"Duplicate architectures in {arch_list}")
    ref = parse_reference(target)
    client = images.client
    fmt = mt.ImageFormat.DOCKER
    entries: list[Descriptor] = []
    with tempfile.TemporaryDirectory(prefix="iib-demo-binary-") as tmp:
        work = Path(tmp)
        shared = build_layer(
            [LayerFile("etc/os-release", data=_OS_RELEASE)],
            work / "shared.tar.gz",
            created_by="ADD os-release /etc/os-release",
        )
        client.upload_blob(ref, shared.path, shared.digest, size=shared.size)
        for arch in arch_list:
            own = build_layer(
                [
                    LayerFile("bin/opm", data=_opm_script(arch), mode=0o755),
                    LayerFile("bin/grpc_health_probe", data=_probe_script(arch), mode=0o755),
                ],
                work / f"{arch}.tar.gz",
                created_by="COPY opm grpc_health_probe /bin/",
            )
            client.upload_blob(ref, own.path, own.digest, size=own.size)
            platform = Platform("linux", arch, _VARIANTS.get(arch))
            arch_labels = {**(labels or {}), "architecture": ARCH_LABELS.get(arch, arch)}
            document: dict[str, Any] = {"architecture": arch, "os": "linux"}
            if platform.variant:
                document["variant"] = platform.variant
            document.update(
                {
                    "config": {
                        "User": "1001",
                        "Env": [_PATH_ENV],
                        "Entrypoint": ["/bin/opm"],
                        "Labels": dict(sorted(arch_labels.items())),
                    },
                    "created": EPOCH,
                    "rootfs": {"type": "layers", "diff_ids": [shared.diff_id, own.diff_id]},
                    "history": [
                        {"created": EPOCH, "created_by": shared.created_by},
                        {"created": EPOCH, "created_by": own.created_by},
                    ],
                }
            )
            config = ImageConfig(document)
            config_digest = client.upload_blob(ref, config.raw)
            raw = image_manifest_bytes(
                fmt,
                Descriptor(fmt.config_type, config_digest, len(config.raw)),
                [shared.descriptor(fmt), own.descriptor(fmt)],
            )
            digest = client.put_manifest(
                ref.with_digest(compute_digest(raw)), raw, fmt.manifest_type
            )
            entries.append(Descriptor(fmt.manifest_type, digest, len(raw), platform))
    list_raw = index_manifest_bytes(fmt, entries)
    digest = client.put_manifest(ref, list_raw, fmt.index_type)
    pinned = _pinned(target, digest)
    log.info("Pushed fake binary image %s (%s)", pinned, ", ".join(arch_list))
    return pinned


def push_fbc_fragment_image(images: ImageService, target: str, catalog_dir: Path) -> str:
    """Push an FBC fragment like Konflux builds one: ``FROM scratch``, ``catalog_dir`` copied
    to ``/configs/`` (e.g. ``/configs/<package>/catalog.json``; directories 0755, files 0644,
    root-owned), label ``operators.operatorframework.io.index.configs.v1=/configs``.

    A single Docker v2s2 image (linux/amd64) at ``target``; returns the pinned spec.
    """
    catalog_dir = Path(catalog_dir)
    _require_tag(target)
    if not catalog_dir.is_dir() or not any(catalog_dir.iterdir()):
        raise ValidationError(f"The catalog directory {catalog_dir} does not exist or is empty")
    with tempfile.TemporaryDirectory(prefix="iib-demo-fragment-") as tmp:
        layer = _tree_layer(catalog_dir, "configs", Path(tmp), "ADD catalog /configs")
        result = images.build(
            SCRATCH, [target], [layer], ConfigChanges(labels={INDEX_CONFIGS: "/configs"})
        )
    log.info("Pushed FBC fragment %s as %s", catalog_dir, result.resolved)
    return result.resolved


def push_sqlite_index_image(
    images: ImageService,
    target: str,
    index_db: Path,
    binary: str,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Push a legacy SQLite index image: ``binary`` (every architecture) plus one layer with
    ``/database/index.db`` (root-owned, 0644), as ``opm index add --generate`` builds it.

    Config changes (§5.1): label ``operators.operatorframework.io.index.database.v1=
    /database/index.db`` plus ``labels`` (e.g. the ``com.redhat.index.delivery.*`` ones),
    ``EXPOSE 50051``, ``ENTRYPOINT ["/bin/opm"]``, ``CMD ["registry", "serve", "--database",
    "/database/index.db"]``. The result is a manifest list in the binary's format at
    ``target``; returns the pinned list spec.
    """
    index_db = Path(index_db)
    _require_tag(target)
    if not index_db.is_file():
        raise ValidationError(f"The index database {index_db} does not exist")
    changes = ConfigChanges(
        labels={INDEX_DATABASE: "/database/index.db", **(labels or {})},
        entrypoint=["/bin/opm"],
        cmd=["registry", "serve", "--database", "/database/index.db"],
        exposed_ports=["50051"],
    )
    with tempfile.TemporaryDirectory(prefix="iib-demo-sqlite-") as tmp:
        layer = build_layer(
            [LayerFile("database/index.db", source=index_db, mode=0o644)],
            Path(tmp) / "database.tar.gz",
            created_by="ADD database/index.db /database/index.db",
        )
        result = images.build(binary, [target], [layer], changes)
    log.info("Pushed SQLite index image %s on %s", result.resolved, binary)
    return result.resolved


# --------------------------------------------------------------------------- fixtures


def _semver_sort(paths: list[Path]) -> list[Path]:
    def parsed(path: Path) -> catalog_semver.Version | None:
        try:
            return catalog_semver.parse(path.name)
        except catalog_semver.SemverError:
            return None

    good = [p for p in paths if parsed(p) is not None]
    bad = sorted((p for p in paths if parsed(p) is None), key=lambda p: p.name)
    good.sort(key=lambda p: (parsed(p), p.name))
    return good + bad


def fixture_bundle_dirs(
    packages: Sequence[str] | None = None, *, fixtures_root: Path | None = None
) -> tuple[dict[str, list[Path]], list[Path]]:
    """The fixture bundle directories per package (version order) and the skipped ones.

    A version directory without ``metadata/annotations.yaml`` (not in the bundle format) is
    skipped. ``packages`` restricts (and requires) packages; default: every package
    directory under ``fixtures_root`` (default ``FIXTURES_ROOT``), sorted.
    """
    root = Path(fixtures_root) if fixtures_root is not None else FIXTURES_ROOT
    if not root.is_dir():
        raise ValidationError(f"The bundle fixtures directory {root} does not exist")
    available = sorted(p.name for p in root.iterdir() if p.is_dir())
    wanted = list(packages) if packages is not None else available
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ValidationError(f"No fixture package {', '.join(missing)} under {root}")
    found: dict[str, list[Path]] = {}
    skipped: list[Path] = []
    for package in wanted:
        versions = _semver_sort([p for p in (root / package).iterdir() if p.is_dir()])
        found[package] = []
        for version_dir in versions:
            if (version_dir / "metadata" / "annotations.yaml").is_file():
                found[package].append(version_dir)
            else:
                skipped.append(version_dir)
    return found, skipped


def push_fixture_bundles(
    images: ImageService,
    registry: str,
    packages: Sequence[str] | None = None,
    namespace: str = "community",
    *,
    fixtures_root: Path | None = None,
) -> dict[str, list[str]]:
    """Push fixture bundles as ``<registry>/<namespace>/<package>-bundle:<version>``.

    Every package of the fixtures (or ``packages``), every version in semver order. Version
    directories not in the bundle format are skipped and reported (logged as a warning;
    ``fixture_bundle_dirs`` lists them). Returns package → pinned pull specs, version order.
    """
    found, skipped = fixture_bundle_dirs(packages, fixtures_root=fixtures_root)
    for path in skipped:
        log.warning("Skipped %s: not in the bundle format (no metadata/annotations.yaml)", path)
    pushed: dict[str, list[str]] = {}
    for package, dirs in found.items():
        pushed[package] = []
        for bundle_dir in dirs:
            tag = _TAG_INVALID.sub("_", bundle_dir.name)[:128]
            target = f"{registry}/{namespace}/{package}-bundle:{tag}"
            pushed[package].append(push_bundle_image(images, bundle_dir, target))
    return pushed
