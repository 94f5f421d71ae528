"""Reading catalogs out of index images and assembling new index images (worker semantics §5).

An output index image is the binary image (opm) of every requested architecture plus catalog
layers that are the same for all architectures, so they are uploaded once:

1. ``/configs`` — the File-Based Catalog (directories 0755, files 0644, root-owned): a head layer
   with an opaque whiteout of ``/configs`` (nothing of the base's ``/configs`` shows through),
   then up to ``BUCKETS`` part layers, each holding the top-level entries of ``/configs`` whose
   name falls into that bucket (a stable hash of the name);
2. ``/tmp/cache`` — opm's JSON serving cache, owned 1001:0: up to ``BUCKETS`` part layers with the
   cache files of the packages in each bucket, then a tail layer with the catalog-wide files
   (``packages.json``) and the ``digest``, which matches ``/configs`` byte for byte, so
   ``opm serve /configs --cache-dir=/tmp/cache`` starts without rebuilding it.

Splitting by package is what makes a small change cheap: layers are reproducible (same tree,
same bytes), so a part whose packages did not change has the same ``diff_id`` as the
from_index's part and its existing blob is reused (mounted, never recompressed or uploaded
again); only the parts holding changed packages, the head and the tail are built.

Labels: the base's, plus ``operators.operatorframework.io.index.configs.v1=/configs`` and the two
delivery labels (and create-empty-index's own labels, which may override them). Entrypoint
``/bin/opm``, Cmd ``serve /configs --cache-dir=/tmp/cache`` (not for ``scratch``). Per-arch
manifests are tagged ``<tag>-<arch>``, then a Docker manifest list is pushed at every tag
(IIB's ``iib-build:<id>`` and ``iib-build:<build_tag>``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from services.catalog import (
    CatalogDir,
    CatalogView,
    directory_tree,
    load_sqlite_index,
    write_catalog,
    write_serving_cache,
)
from services.catalog.labels import INDEX_CONFIGS, INDEX_DATABASE, label_path
from services.common.errors import IIBError
from services.common.reference import parse_reference
from services.common.registry import mediatypes as mt
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import ImageService, PushRecord
from services.common.registry.layers import (
    AnyLayer,
    LayerDirectory,
    LayerEntry,
    LayerFile,
    LayerWhiteout,
    RemoteLayer,
    build_or_reuse_layer,
)
from services.common.registry.manifest import Descriptor, Platform, index_manifest_bytes

__all__ = [
    "BuiltIndex",
    "build_index_image",
    "index_kind",
    "load_index_catalog",
]

CACHE_OWNER = 1001
# history created_by of the layers this module adds (also how it recognises its own images):
# the /configs head layer is exactly CONFIGS_CREATED_BY, its parts CONFIGS_CREATED_BY + " (part
# N)"; the cache parts CACHE_CREATED_BY + " (part N)", the cache tail exactly CACHE_CREATED_BY
CONFIGS_CREATED_BY = "ADD catalog /configs"
CACHE_CREATED_BY = "COPY --chown=1001:0 cache /tmp/cache"
# how many parts /configs and the cache are split into (by a stable hash of the package name).
# Changing it changes every part's content, so the first build after a change reuses nothing.
BUCKETS = 16
# gzip level of the catalog layers: JSON compresses well at 1 and this is 3-4x faster than 6
COMPRESS_LEVEL = 1
SCRATCH = "scratch"


def index_kind(labels: Mapping[str, str]) -> str:
    """``fbc`` or ``sqlite`` from an index image's labels (§0.4)."""
    if labels.get(INDEX_CONFIGS):
        return "fbc"
    if labels.get(INDEX_DATABASE):
        return "sqlite"
    return ""


def load_index_catalog(
    images: ImageService, pull_spec: str, workdir: Path, *, csv_metadata: bool
) -> CatalogDir:
    """The catalog of an index image as a directory under ``workdir`` (read per package).

    FBC images: ``/configs`` (the label's path) is extracted. SQLite images: the labelled
    ``index.db`` is extracted and migrated to FBC like ``opm migrate``.
    """
    labels = images.get_image_labels(pull_spec)
    kind = index_kind(labels)
    rootfs = workdir / "rootfs"
    if kind == "fbc":
        configs = label_path(INDEX_CONFIGS, labels[INDEX_CONFIGS], "configs")
        images.unpack(pull_spec, rootfs, include=[configs], select_layers=_own_configs_layer)
        root = rootfs / configs
        root.mkdir(parents=True, exist_ok=True)
        return CatalogDir.open(root)
    if kind == "sqlite":
        db_path = label_path(INDEX_DATABASE, labels[INDEX_DATABASE], "database/index.db")
        images.unpack(pull_spec, rootfs, include=[db_path])
        db = rootfs / db_path
        if not db.is_file():
            raise IIBError(f"The index image {pull_spec} has no database at /{db_path}")
        view = load_sqlite_index(db, csv_metadata=csv_metadata)
        target = workdir / "migrated"
        write_catalog(view, target)
        return CatalogDir.open(target)
    raise IIBError(
        f"The index image {pull_spec} is neither a File-Based Catalog nor a SQLite index image "
        f"(it has neither the {INDEX_CONFIGS} nor the {INDEX_DATABASE} label)"
    )


def _own_configs_layer(layers: list[Descriptor], created_by: list[str]) -> list[Descriptor]:
    """For index images built here, only the ``/configs`` layers: the head opens with an opaque
    whiteout of ``/configs`` and only catalog and cache layers follow it, so the head and the
    configs parts alone define the catalog (the base and the cache are not downloaded). Other
    images are read whole."""
    heads = [n for n, text in enumerate(created_by) if text == CONFIGS_CREATED_BY]
    if len(heads) != 1:
        return layers
    head = heads[0]
    picked = [layers[head]]
    for layer, text in zip(layers[head + 1 :], created_by[head + 1 :], strict=True):
        if text.startswith(f"{CONFIGS_CREATED_BY} (part "):
            picked.append(layer)
        elif not text.startswith(CACHE_CREATED_BY):
            return layers
    return picked


def bucket_of(name: str) -> int:
    """The part (0 .. BUCKETS-1) a package or top-level ``/configs`` entry belongs to."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big") % BUCKETS


@dataclass
class BuiltIndex:
    """What was pushed: the list digest, the pull specs, and the per-arch manifests."""

    digest: str
    pull_specs: list[str]
    arches: list[str]

    @property
    def resolved(self) -> str:
        ref = parse_reference(self.pull_specs[0])
        return str(ref.with_digest(self.digest))


_CACHE_DIRS: list[LayerEntry] = [
    LayerDirectory("tmp", 0o1777),
    LayerDirectory("tmp/cache", 0o770, CACHE_OWNER, 0),
]


def _catalog_layers(
    view: CatalogView,
    configs_root: Path,
    workdir: Path,
    reuse: Mapping[str, RemoteLayer],
) -> tuple[list[AnyLayer], str]:
    configs_tree = directory_tree(configs_root, dir_mode=0o755, file_mode=0o644)
    cache_root = workdir / "cache"
    if cache_root.exists():
        shutil.rmtree(cache_root)
    cache = write_serving_cache(view, cache_root, configs_tree)

    configs_parts: list[list[LayerEntry]] = [[] for _ in range(BUCKETS)]
    for entry in configs_tree[1:]:
        path = f"configs/{entry.path}"
        part = configs_parts[bucket_of(entry.path.split("/", 1)[0])]
        if entry.is_dir:
            part.append(LayerDirectory(path, entry.mode))
        else:
            part.append(LayerFile(path, source=Path(str(entry.content)), mode=entry.mode))

    cache_parts: list[list[LayerEntry]] = [[] for _ in range(BUCKETS)]
    tail: list[LayerEntry] = [
        *_CACHE_DIRS,
        LayerFile("tmp/cache/digest", data=cache.digest.encode(), mode=0o640, uid=CACHE_OWNER),
    ]
    directories = {e.path: e.mode for e in cache.cache_tree if e.is_dir}
    for entry in cache.cache_tree:
        if entry.is_dir:
            continue
        owner = cache.owners.get(entry.path, "")
        part = cache_parts[bucket_of(owner)] if owner else tail
        part.append(
            LayerFile(
                f"tmp/cache/cache/{entry.path}",
                source=Path(str(entry.content)),
                mode=entry.mode,
                uid=CACHE_OWNER,
            )
        )
    # every layer holding cache files carries their directories with opm's modes and owner
    cache_layers = [tail] + [p for p in cache_parts if p]
    for part in cache_layers:
        if part is not tail:
            part[:0] = _CACHE_DIRS
        needed = {"."}
        for item in part:
            if isinstance(item, LayerFile) and item.path.startswith("tmp/cache/cache/"):
                rel = item.path[len("tmp/cache/cache/") :]
                while "/" in rel:
                    rel = rel.rsplit("/", 1)[0]
                    needed.add(rel)
        for rel in sorted(needed):
            path = "tmp/cache/cache" + ("" if rel == "." else f"/{rel}")
            part.append(LayerDirectory(path, directories[rel], CACHE_OWNER, 0))

    jobs: list[tuple[list[LayerEntry], str, str]] = [
        (
            [LayerWhiteout("configs", opaque=True), LayerDirectory("configs", 0o755)],
            "configs-head",
            CONFIGS_CREATED_BY,
        )
    ]
    for n, part in enumerate(configs_parts):
        if part:
            jobs.append((part, f"configs-{n:02d}", f"{CONFIGS_CREATED_BY} (part {n})"))
    for n, part in enumerate(cache_parts):
        if part:
            jobs.append((part, f"cache-{n:02d}", f"{CACHE_CREATED_BY} (part {n})"))
    jobs.append((tail, "cache-tail", CACHE_CREATED_BY))

    def build(job: tuple[list[LayerEntry], str, str]) -> AnyLayer:
        entries, name, created_by = job
        return build_or_reuse_layer(
            entries,
            workdir / f"{name}.tar.gz",
            reuse,
            created_by=created_by,
            compresslevel=COMPRESS_LEVEL,
        )

    # gzip and sha256 release the GIL: parts are built in parallel, in a fixed order
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        layers = list(pool.map(build, jobs))
    return layers, cache.digest


def build_index_image(
    images: ImageService,
    *,
    view: CatalogView,
    configs_root: Path,
    workdir: Path,
    binary_image_resolved: str,
    arches: Sequence[str],
    targets: Sequence[str],
    labels: Mapping[str, str],
    reuse: Mapping[str, RemoteLayer] | None = None,
    record: PushRecord | None = None,
) -> BuiltIndex:
    """Assemble and push the index image for ``arches`` at every tag in ``targets``.

    ``reuse``: layers of the from_index by ``diff_id`` (``ImageService.reusable_layers``);
    catalog parts identical to one of them are mounted instead of rebuilt. ``record``
    collects the manifests created (``ImageService.discard``).
    """
    layers, _digest = _catalog_layers(view, configs_root, workdir, reuse or {})
    all_labels = {INDEX_CONFIGS: "/configs", **labels}
    if binary_image_resolved == SCRATCH:
        # binaryless: one amd64 image, listed in a one-entry Docker manifest list (IIB 9.2.2)
        arch_target = f"{targets[0]}-amd64"
        result = images.build(
            SCRATCH,
            [arch_target],
            layers,
            ConfigChanges(labels=all_labels),
            scratch_format=mt.ImageFormat.DOCKER,
            scratch_platform=Platform("linux", "amd64"),
            record=record,
        )
        manifest = images.client.get_manifest(parse_reference(arch_target))
        raw = index_manifest_bytes(
            mt.ImageFormat.DOCKER,
            [
                Descriptor(
                    mt.DOCKER_MANIFEST, result.digest, len(manifest.raw), Platform("linux", "amd64")
                )
            ],
        )
        digest = ""
        for target in targets:
            digest = images.put_manifest(
                parse_reference(target), raw, mt.DOCKER_MANIFEST_LIST, record
            )
        return BuiltIndex(digest, list(targets), ["amd64"])
    result = images.build(
        binary_image_resolved,
        list(targets),
        layers,
        ConfigChanges(
            labels=all_labels,
            entrypoint=["/bin/opm"],
            cmd=["serve", "/configs", "--cache-dir=/tmp/cache"],
        ),
        arches=set(arches),
        arch_tags=True,
        record=record,
    )
    return BuiltIndex(result.digest, list(targets), sorted(arches))
