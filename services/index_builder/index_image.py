"""Reading catalogs out of index images and assembling new index images (worker semantics §5).

An output index image is the binary image (opm) of every requested architecture plus two layers
that are the same for all architectures, so they are uploaded once:

1. ``/configs`` — the File-Based Catalog (directories 0755, files 0644, root-owned), preceded by an
   opaque whiteout so nothing of the base's ``/configs`` shows through;
2. ``/tmp/cache`` — opm's JSON serving cache, owned 1001:0, whose ``digest`` matches the
   ``/configs`` layer byte for byte, so ``opm serve /configs --cache-dir=/tmp/cache`` starts without
   rebuilding it.

Labels: the base's, plus ``operators.operatorframework.io.index.configs.v1=/configs`` and the two
delivery labels (and create-empty-index's own labels, which may override them). Entrypoint
``/bin/opm``, Cmd ``serve /configs --cache-dir=/tmp/cache`` (not for ``scratch``). Per-arch
manifests are tagged ``<tag>-<arch>``, then a Docker manifest list is pushed at every tag
(IIB's ``iib-build:<id>`` and ``iib-build:<build_tag>``).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import IIBError
from services.common.registry import mediatypes as mt
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import ImageService
from services.common.registry.layers import (
    Layer,
    LayerDirectory,
    LayerEntry,
    LayerFile,
    LayerWhiteout,
    build_layer,
)
from services.common.registry.manifest import Descriptor, Platform, index_manifest_bytes
from services.common.registry.reference import parse_reference
from services.index_builder.catalog import (
    CatalogDir,
    CatalogView,
    directory_tree,
    load_sqlite_index,
    write_catalog,
    write_serving_cache,
)

__all__ = [
    "CONFIGS_LABEL",
    "DATABASE_LABEL",
    "BuiltIndex",
    "build_index_image",
    "index_kind",
    "load_index_catalog",
]

CONFIGS_LABEL = "operators.operatorframework.io.index.configs.v1"
DATABASE_LABEL = "operators.operatorframework.io.index.database.v1"
CACHE_OWNER = 1001
# history created_by of the two layers this module adds (also how it recognises its own images)
CONFIGS_CREATED_BY = "ADD catalog /configs"
CACHE_CREATED_BY = "COPY --chown=1001:0 cache /tmp/cache"
# gzip level of the catalog layers: JSON compresses well at 1 and this is 3-4x faster than 6
COMPRESS_LEVEL = 1
SCRATCH = "scratch"


def index_kind(labels: Mapping[str, str]) -> str:
    """``fbc`` or ``sqlite`` from an index image's labels (§0.4)."""
    if labels.get(CONFIGS_LABEL):
        return "fbc"
    if labels.get(DATABASE_LABEL):
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
        configs = labels[CONFIGS_LABEL].strip("/") or "configs"
        images.unpack(pull_spec, rootfs, include=[configs], select_layers=_own_configs_layer)
        root = rootfs / configs
        root.mkdir(parents=True, exist_ok=True)
        return CatalogDir.open(root)
    if kind == "sqlite":
        db_path = labels[DATABASE_LABEL].strip("/")
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
        f"(it has neither the {CONFIGS_LABEL} nor the {DATABASE_LABEL} label)"
    )


def _own_configs_layer(layers: list[Descriptor], created_by: list[str]) -> list[Descriptor]:
    """For index images built here, only the catalog layer: it opens with an opaque whiteout of
    ``/configs`` and nothing after it touches ``/configs``, so it alone defines the catalog (the
    base and cache layers are not downloaded). Other images are read whole."""
    marked = [n for n, text in enumerate(created_by) if text == CONFIGS_CREATED_BY]
    if len(marked) == 1 and all(text == CACHE_CREATED_BY for text in created_by[marked[0] + 1 :]):
        return [layers[marked[0]]]
    return layers


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


def _catalog_layers(
    view: CatalogView, configs_root: Path, workdir: Path
) -> tuple[list[Layer], str]:
    configs_tree = directory_tree(configs_root, dir_mode=0o755, file_mode=0o644)
    cache_root = workdir / "cache"
    if cache_root.exists():
        shutil.rmtree(cache_root)
    cache = write_serving_cache(view, cache_root, configs_tree)
    configs_entries: list[LayerEntry] = [
        LayerWhiteout("configs", opaque=True),
        LayerDirectory("configs", 0o755),
    ]
    for entry in configs_tree[1:]:
        path = f"configs/{entry.path}"
        if entry.is_dir:
            configs_entries.append(LayerDirectory(path, entry.mode))
        else:
            configs_entries.append(
                LayerFile(path, source=Path(str(entry.content)), mode=entry.mode)
            )
    cache_entries: list[LayerEntry] = [
        LayerDirectory("tmp", 0o1777),
        LayerDirectory("tmp/cache", 0o770, CACHE_OWNER, 0),
        LayerFile("tmp/cache/digest", data=cache.digest.encode(), mode=0o640, uid=CACHE_OWNER),
    ]
    for entry in cache.cache_tree:
        path = "tmp/cache/cache" + ("" if entry.path == "." else f"/{entry.path}")
        if entry.is_dir:
            cache_entries.append(LayerDirectory(path, entry.mode, CACHE_OWNER, 0))
        else:
            cache_entries.append(
                LayerFile(path, source=Path(str(entry.content)), mode=entry.mode, uid=CACHE_OWNER)
            )
    layers = [
        build_layer(
            configs_entries,
            workdir / "configs.tar.gz",
            created_by=CONFIGS_CREATED_BY,
            compresslevel=COMPRESS_LEVEL,
        ),
        build_layer(
            cache_entries,
            workdir / "cache.tar.gz",
            created_by=CACHE_CREATED_BY,
            compresslevel=COMPRESS_LEVEL,
        ),
    ]
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
) -> BuiltIndex:
    """Assemble and push the index image for ``arches`` at every tag in ``targets``."""
    layers, _digest = _catalog_layers(view, configs_root, workdir)
    all_labels = {CONFIGS_LABEL: "/configs", **labels}
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
            digest = images.client.put_manifest(
                parse_reference(target), raw, mt.DOCKER_MANIFEST_LIST
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
    )
    return BuiltIndex(result.digest, list(targets), sorted(arches))
