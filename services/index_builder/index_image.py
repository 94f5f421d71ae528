"""Reading catalogs out of index images and assembling new index images (worker semantics §5).

An output index image is the binary image (opm) of every requested architecture plus catalog
layers that are the same for all architectures, so they are uploaded once:

1. ``/configs`` — the File-Based Catalog (directories 0755, files 0644, root-owned): a head layer
   with an opaque whiteout of ``/configs`` (nothing of the base's ``/configs`` shows through),
   then up to ``BUCKETS`` part layers, each holding the top-level entries of ``/configs`` whose
   name falls into that bucket (a stable hash of the name);
2. ``/tmp/cache`` — opm's JSON serving cache, owned 1001:0: up to ``CACHE_BUCKETS`` part layers
   (finer than the catalog's: the cache is some ten times larger) with the
   cache files of the packages in each bucket, then an index layer with the catalog-wide files
   (``packages.json``) and a tail layer with only the ``digest``, which matches ``/configs``
   byte for byte, so ``opm serve /configs --cache-dir=/tmp/cache`` starts without rebuilding
   it. Every layer but the tail is built (and uploaded) while the digest is computed.

Splitting by package is what makes a small change cheap: layers are reproducible (same tree,
same bytes), so a part whose packages did not change has the same ``diff_id`` as the
from_index's part and its existing blob is reused (mounted, never recompressed or uploaded
again); only the parts holding changed packages, the head, the index and the tail are built.

3. ``/var/lib/iib/provenance.json`` — which packages came from File-Based Catalog fragments
   (IIB's "opted in fbc": IIB keeps bundle-added packages in a hidden SQLite database inside the
   image, fragment packages only in ``/configs``); a small layer between the two above.

Labels: the base's, plus ``operators.operatorframework.io.index.configs.v1=/configs`` and the two
delivery labels (and create-empty-index's own labels, which may override them). Entrypoint
``/bin/opm``, Cmd ``serve /configs --cache-dir=/tmp/cache`` (not for ``scratch``). Per-arch
manifests are tagged ``<tag>-<arch>``, then a Docker manifest list is pushed at every tag
(IIB's ``iib-build:<id>`` and ``iib-build:<build_tag>``).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from services.catalog import (
    CacheResult,
    CatalogChanges,
    CatalogDir,
    CatalogView,
    SqliteCatalog,
    TreeEntry,
    directory_tree,
    load_sqlite_index,
    seal_serving_cache,
    update_serving_cache,
    write_catalog,
    write_serving_cache,
)
from services.catalog.labels import INDEX_CONFIGS, INDEX_DATABASE, label_path
from services.common.errors import IIBError
from services.common.reference import parse_reference
from services.common.registry import mediatypes as mt
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import ImageService, PushRecord, layer_history
from services.common.registry.layers import (
    AnyLayer,
    Layer,
    LayerDirectory,
    LayerEntry,
    LayerFile,
    LayerWhiteout,
    RemoteLayer,
    build_or_reuse_layer,
)
from services.common.registry.manifest import Descriptor, Platform, index_manifest_bytes
from services.common.timing import StepTimer
from services.index_builder.state import (
    IndexState,
    PartLayer,
    StateCache,
    catalog_key,
    fingerprint,
)

__all__ = [
    "BuiltIndex",
    "IndexContent",
    "PreparedIndex",
    "index_kind",
    "load_index_catalog",
    "prepare_index_image",
]

log = logging.getLogger(__name__)
CACHE_OWNER = 1001
# history created_by of the layers this module adds (also how it recognises its own images):
# the /configs head layer is exactly CONFIGS_CREATED_BY, its parts CONFIGS_CREATED_BY + " (part
# N)"; the cache parts CACHE_CREATED_BY + " (part N)", the cache index (packages.json)
# CACHE_CREATED_BY + " (index)", the cache tail (the digest) exactly CACHE_CREATED_BY
CONFIGS_CREATED_BY = "ADD catalog /configs"
CACHE_CREATED_BY = "COPY --chown=1001:0 cache /tmp/cache"
CACHE_INDEX_CREATED_BY = f"{CACHE_CREATED_BY} (index)"
PROVENANCE_CREATED_BY = "ADD provenance /var/lib/iib/provenance.json"
PROVENANCE_DIR = "var/lib/iib"
PROVENANCE_FILE = f"{PROVENANCE_DIR}/provenance.json"
#: IIB's hidden database of bundle-added packages in the FBC images it builds.
IIB_HIDDEN_DATABASE = "/var/lib/iib/_hidden/do.not.edit.db"
_MAX_PROVENANCE = 8 * 1024 * 1024
# how many parts /configs and the cache are split into (by a stable hash of the package name).
# Changing it changes every part's content, so the first build after a change reuses nothing.
BUCKETS = 16
# the serving cache is split finer: it is much larger than /configs (one file per bundle and
# channel, each with its CSV), so a changed package costs a smaller part; parts + the binary
# image's layers stay well under the 127 layers container runtimes accept
CACHE_BUCKETS = 64
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


@dataclass
class IndexContent:
    """An input index: its catalog and the packages that came from FBC fragments."""

    catalog: CatalogDir
    #: IIB's "opted in fbc" packages (not in its hidden database): replaced by fbc-operations,
    #: refused by add-deprecations.
    fbc_packages: frozenset[str] = frozenset()
    #: what the builder knows of the index when it built it (a warm start), else None
    state: IndexState | None = None

    def fork(self, dest: Path) -> IndexContent:
        """A private copy in ``dest`` (hard links) to change without touching this one."""
        if self.state is None:
            raise IIBError("only a catalog with a known state can be forked")
        state = self.state.fork(dest)
        return IndexContent(CatalogDir.open(state.configs, remember=True), self.fbc_packages, state)

    def apply(self, changes: CatalogChanges) -> None:
        """Write ``changes`` to the catalog, noting the changed packages for the next build."""
        self.catalog.apply(changes)
        if self.state is not None:
            self.state.changed.update(changes.updates)


def catalog_layer_digests(images: ImageService, pull_spec: str) -> list[str] | None:
    """The digests of the catalog layers of an index image built here (from the ``/configs``
    head on, amd64 image), or None for any other image."""
    image = images.platform_image(pull_spec)
    layers = image.manifest.layers
    history = layer_history(image.config, len(layers))
    heads = [n for n, text in enumerate(history) if text == CONFIGS_CREATED_BY]
    if len(heads) != 1:
        return None
    return [layer.digest for layer in layers[heads[0] :]]


def load_index_catalog(
    images: ImageService,
    pull_spec: str,
    workdir: Path,
    *,
    csv_metadata: bool,
    states: StateCache | None = None,
) -> IndexContent:
    """The catalog of an index image as a directory under ``workdir`` (read per package), and
    which of its packages came from FBC fragments.

    FBC images: ``/configs`` (the label's path) is extracted. Images built here say which
    packages came from fragments (``/var/lib/iib/provenance.json``); images IIB built list the
    bundle-added packages in their hidden database (the database label), every other package
    came from a fragment; other FBC images are taken as all bundle-added. SQLite images: the
    labelled ``index.db`` is extracted and migrated to FBC like ``opm migrate`` (every package
    is bundle-added).
    """
    labels = images.get_image_labels(pull_spec)
    kind = index_kind(labels)
    rootfs = workdir / "rootfs"
    if kind == "fbc" and states is not None:
        digests = catalog_layer_digests(images, pull_spec)
        state = states.get(catalog_key(digests), workdir / "state") if digests else None
        if state is not None:
            log.info("index %s: catalog from the local cache (%s)", pull_spec, state.key[:12])
            return IndexContent(
                CatalogDir.open(state.configs, remember=True), state.fbc_packages, state
            )
    if kind == "fbc":
        configs = label_path(INDEX_CONFIGS, labels[INDEX_CONFIGS], "configs")
        include = [configs, PROVENANCE_DIR]
        database = None
        if labels.get(INDEX_DATABASE):
            database = label_path(INDEX_DATABASE, labels[INDEX_DATABASE], "database/index.db")
            include.append(database)
        images.unpack(pull_spec, rootfs, include=include, select_layers=_own_configs_layer)
        root = rootfs / configs
        root.mkdir(parents=True, exist_ok=True)
        catalog = CatalogDir.open(root)
        provenance = rootfs / PROVENANCE_FILE
        if provenance.is_file():
            return IndexContent(catalog, _read_provenance(provenance, pull_spec))
        if database is not None and (rootfs / database).is_file():
            in_db = _database_packages(rootfs / database, pull_spec)
            return IndexContent(catalog, frozenset(set(catalog.package_names()) - in_db))
        return IndexContent(catalog)
    if kind == "sqlite":
        db_path = label_path(INDEX_DATABASE, labels[INDEX_DATABASE], "database/index.db")
        images.unpack(pull_spec, rootfs, include=[db_path])
        db = rootfs / db_path
        if not db.is_file():
            raise IIBError(f"The index image {pull_spec} has no database at /{db_path}")
        view = load_sqlite_index(db, csv_metadata=csv_metadata)
        target = workdir / "migrated"
        write_catalog(view, target)
        return IndexContent(CatalogDir.open(target))
    raise IIBError(
        f"The index image {pull_spec} is neither a File-Based Catalog nor a SQLite index image "
        f"(it has neither the {INDEX_CONFIGS} nor the {INDEX_DATABASE} label)"
    )


def _read_provenance(path: Path, pull_spec: str) -> frozenset[str]:
    try:
        if path.stat().st_size > _MAX_PROVENANCE:
            raise ValueError("too large")
        document = json.loads(path.read_bytes())
        packages = document["fbc_packages"]
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise ValueError("fbc_packages is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IIBError(
            f"The index image {pull_spec} has an unreadable /{PROVENANCE_FILE}: {exc}"
        ) from None
    return frozenset(packages)


def _database_packages(db: Path, pull_spec: str) -> set[str]:
    """The packages of IIB's hidden database (bundle-added, not opted in FBC)."""
    try:
        view = SqliteCatalog(db, validate=False)
    except IIBError as exc:
        raise IIBError(
            f"The hidden database of the index image {pull_spec} is unreadable: {exc}"
        ) from None
    try:
        return set(view.package_names())
    finally:
        view.close()


def _provenance_layer(fbc_packages: Collection[str]) -> list[LayerEntry]:
    document = {"schema": "iib.provenance.v1", "fbc_packages": sorted(fbc_packages)}
    return [
        LayerDirectory("var", 0o755),
        LayerDirectory("var/lib", 0o755),
        LayerDirectory(PROVENANCE_DIR, 0o755),
        LayerFile(PROVENANCE_FILE, data=json.dumps(document, indent=1).encode() + b"\n"),
    ]


def _own_configs_layer(layers: list[Descriptor], created_by: list[str]) -> list[Descriptor]:
    """For index images built here, only the ``/configs`` layers (and the provenance layer):
    the head opens with an opaque whiteout of ``/configs`` and only catalog, provenance and
    cache layers follow it, so those alone define the catalog (the base and the cache are not
    downloaded). Other images are read whole."""
    heads = [n for n, text in enumerate(created_by) if text == CONFIGS_CREATED_BY]
    if len(heads) != 1:
        return layers
    head = heads[0]
    picked = [layers[head]]
    for layer, text in zip(layers[head + 1 :], created_by[head + 1 :], strict=True):
        if text.startswith(f"{CONFIGS_CREATED_BY} (part ") or text == PROVENANCE_CREATED_BY:
            picked.append(layer)
        elif not text.startswith(CACHE_CREATED_BY):
            return layers
    return picked


def bucket_of(name: str) -> int:
    """The part (0 .. BUCKETS-1) a package or top-level ``/configs`` entry belongs to."""
    return _hash32(name) % BUCKETS


def cache_bucket_of(package: str) -> int:
    """The cache part (0 .. CACHE_BUCKETS-1) a package's serving cache files belong to."""
    return _hash32(package) % CACHE_BUCKETS


def _hash32(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


@dataclass
class BuiltIndex:
    """What was pushed: the list digest, the pull specs, the per-arch manifests, and the
    catalog layers (local files where they were built, not reused)."""

    digest: str
    pull_specs: list[str]
    arches: list[str]
    layers: list[AnyLayer] = field(default_factory=list)

    @property
    def resolved(self) -> str:
        ref = parse_reference(self.pull_specs[0])
        return str(ref.with_digest(self.digest))


_CACHE_DIRS: list[LayerEntry] = [
    LayerDirectory("tmp", 0o1777),
    LayerDirectory("tmp/cache", 0o770, CACHE_OWNER, 0),
]


def _entry_fingerprint(entries: Sequence[LayerEntry]) -> str:
    items: list[tuple[str, int, Path | bytes | None]] = []
    for entry in entries:
        key = f"{entry.path}:{getattr(entry, 'uid', 0)}:{getattr(entry, 'gid', 0)}"
        if isinstance(entry, LayerFile):
            items.append((key, entry.mode, entry.source if entry.source else entry.data))
        elif isinstance(entry, LayerWhiteout):
            items.append((f"{key}:whiteout:{entry.opaque}", 0, None))
        else:
            items.append((key, getattr(entry, "mode", 0), None))
    return fingerprint(items)


def _write_cache_files(
    view: CatalogView,
    configs_root: Path,
    workdir: Path,
    base: IndexState | None,
    timer: StepTimer,
    *,
    seal: bool,
) -> tuple[list[TreeEntry], Path, CacheResult]:
    """The ``/configs`` tree as the image holds it, and the serving cache of ``view`` written
    (with ``base``: updated for its changed packages only), sealed with its digest if asked."""
    configs_tree = directory_tree(configs_root, dir_mode=0o755, file_mode=0o644)
    with timer.step("serving cache"):
        if base is not None:
            cache_root = base.cache_dir
            cache = update_serving_cache(
                view, cache_root, configs_tree, base.cache, base.changed, seal=seal
            )
        else:
            cache_root = workdir / "cache"
            if cache_root.exists():
                shutil.rmtree(cache_root)
            cache = write_serving_cache(view, cache_root, configs_tree, seal=seal)
    return configs_tree, cache_root, cache


def _catalog_layers(
    view: CatalogView,
    configs_tree: Sequence[TreeEntry],
    cache: CacheResult,
    workdir: Path,
    reuse: Mapping[str, RemoteLayer],
    fbc_packages: Collection[str],
    base: IndexState | None,
    timer: StepTimer,
    sealed: Callable[[], None] = lambda: None,
    ready: Callable[[AnyLayer], None] = lambda layer: None,
) -> tuple[list[AnyLayer], list[PartLayer]]:
    """The catalog layers of ``view`` (see the module docstring), and what each one holds.

    With ``base`` (the state the catalog was changed from), every part whose files did not
    change is the base's layer, mounted as it is (no tar, no compression, no upload). Only the
    last layer holds the cache's digest: it is built once ``sealed`` returns (the seal may be
    under way in another thread while the other layers are built). ``ready`` is given each
    other layer as soon as it is ready (to upload it while the seal goes on)."""
    configs_parts: list[list[LayerEntry]] = [[] for _ in range(BUCKETS)]
    for entry in configs_tree[1:]:
        path = f"configs/{entry.path}"
        part = configs_parts[bucket_of(entry.path.split("/", 1)[0])]
        if entry.is_dir:
            part.append(LayerDirectory(path, entry.mode))
        else:
            part.append(LayerFile(path, source=Path(str(entry.content)), mode=entry.mode))

    cache_parts: list[list[LayerEntry]] = [[] for _ in range(CACHE_BUCKETS)]
    # the catalog-wide files (packages.json); the tail holds only the digest file, added once
    # sealed (``build``), so nothing else waits for the seal
    index: list[LayerEntry] = [*_CACHE_DIRS]
    tail: list[LayerEntry] = [*_CACHE_DIRS]
    directories = {e.path: e.mode for e in cache.cache_tree if e.is_dir}
    for entry in cache.cache_tree:
        if entry.is_dir:
            continue
        owner = cache.owners.get(entry.path, "")
        part = cache_parts[cache_bucket_of(owner)] if owner else index
        part.append(
            LayerFile(
                f"tmp/cache/cache/{entry.path}",
                source=Path(str(entry.content)),
                mode=entry.mode,
                uid=CACHE_OWNER,
            )
        )
    # every layer holding cache files carries their directories with opm's modes and owner
    cache_layers = [index] + [p for p in cache_parts if p]
    for part in cache_layers:
        if part is not index:
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
    present = set(view.package_names())
    jobs.append(
        (
            _provenance_layer([p for p in fbc_packages if p in present]),
            "provenance",
            PROVENANCE_CREATED_BY,
        )
    )
    for n, part in enumerate(cache_parts):
        if part:
            jobs.append((part, f"cache-{n:02d}", f"{CACHE_CREATED_BY} (part {n})"))
    jobs.append((index, "cache-index", CACHE_INDEX_CREATED_BY))
    jobs.append((tail, "cache-tail", CACHE_CREATED_BY))

    def build(job: tuple[list[LayerEntry], str, str]) -> tuple[AnyLayer, PartLayer]:
        entries, name, created_by = job
        if entries is tail:
            sealed()
            digest = LayerFile(
                "tmp/cache/digest", data=cache.digest.encode(), mode=0o640, uid=CACHE_OWNER
            )
            entries.append(digest)
        print_ = _entry_fingerprint(entries)
        known = base.part(name) if base is not None else None
        if known is not None and known.fingerprint == print_ and known.created_by == created_by:
            assert base is not None
            return known.remote(base.source), known
        layer = build_or_reuse_layer(
            entries,
            workdir / f"{name}.tar.gz",
            reuse,
            created_by=created_by,
            compresslevel=COMPRESS_LEVEL,
        )
        if entries is not tail:
            ready(layer)
        return layer, PartLayer(name, layer.digest, layer.diff_id, layer.size, created_by, print_)

    # compression and hashing release the GIL: parts are built in parallel, in a fixed order
    with (
        timer.step("write layers"),
        ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool,
    ):
        built = list(pool.map(build, jobs))
    return [layer for layer, _ in built], [part for _, part in built]


@dataclass
class PreparedIndex:
    """An index image whose catalog and serving cache files are written (and the changed
    packages validated), to be sealed (opm's cache digest), laid out in layers and pushed by
    :meth:`push`, which may run in another thread as long as nothing changes the files of
    ``state`` (a later build works on a fork of them: files are replaced, never edited).

    ``state`` is the new state; its ``parts`` are known once pushed. ``base`` is the state the
    catalog was changed from: its ``parts`` are read when pushing, so they may be set late
    (when ``base`` was forked from a state whose push had not ended yet)."""

    images: ImageService
    view: CatalogView
    workdir: Path
    configs_tree: list[TreeEntry]
    state: IndexState
    base: IndexState | None
    reuse: Mapping[str, RemoteLayer]
    binary_image_resolved: str
    arches: Sequence[str]
    targets: Sequence[str]
    labels: Mapping[str, str]
    record: PushRecord | None
    timer: StepTimer
    output_format: mt.ImageFormat
    #: the seal under way in another thread (:meth:`seal` submitted to an executor), if any
    sealing: Future[None] | None = None

    def seal(self) -> None:
        """Compute opm's cache digest and write it, if not yet done. It reads only the files
        of ``state``, so it may run in its own thread while the image before is pushed."""
        state = self.state
        if not state.cache.digest:
            with self.timer.step("serving cache"):
                seal_serving_cache(state.cache, state.cache_dir, self.configs_tree)

    def push(self) -> BuiltIndex:
        """Build the changed layers while the cache is sealed (in its own thread, unless a seal
        is under way already), uploading each one as it is built, then push the image; a failed
        seal or upload fails the push."""
        state = self.state
        own = None
        if self.sealing is None and not state.cache.digest:
            own = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iib-seal")
            self.sealing = own.submit(contextvars.copy_context().run, self.seal)
        # only the tail (the digest) waits for the seal: the other new layers are uploaded to
        # the output's repository meanwhile, so the push that follows finds them there
        uploads: list[Future[None]] = []
        uploader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="iib-upload")

        def upload(layer: AnyLayer) -> None:
            if isinstance(layer, Layer):
                run = contextvars.copy_context().run
                uploads.append(
                    uploader.submit(run, self.images.upload_layers, self.targets[0], [layer])
                )

        try:
            layers, state.parts = _catalog_layers(
                self.view,
                self.configs_tree,
                state.cache,
                self.workdir,
                self.reuse,
                state.fbc_packages,
                self.base,
                self.timer,
                self.sealing.result if self.sealing is not None else lambda: None,
                upload,
            )
            with self.timer.step("upload and manifests"):  # what the seal did not hide
                for future in uploads:
                    future.result()
        finally:
            uploader.shutdown(wait=True, cancel_futures=True)
            if own is not None:
                own.shutdown(wait=True)
        return _push_layers(self, layers)


def prepare_index_image(
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
    fbc_packages: Collection[str] = (),
    base: IndexState | None = None,
    timer: StepTimer | None = None,
    output_format: mt.ImageFormat = mt.ImageFormat.DOCKER,
    seal: bool = True,
) -> PreparedIndex:
    """Write the catalog's serving cache for the index image that :meth:`PreparedIndex.push`
    assembles for ``arches`` and pushes at every tag in ``targets``.

    ``reuse``: layers of the from_index by ``diff_id`` (``ImageService.reusable_layers``);
    catalog parts identical to one of them are mounted instead of rebuilt. ``record``
    collects the manifests created (``ImageService.discard``). ``fbc_packages``: the packages
    that came from FBC fragments (kept in the image, see the module docstring). ``base``: the
    state the catalog was changed from (only what changed is rebuilt). The result's ``state``
    is the new state (its files are the catalog and cache written here; its ``parts`` are
    known once pushed). ``seal=False`` leaves opm's cache digest, the bulk of a warm build's
    CPU, to the push, which computes it while it builds the layers (or to :meth:`seal`)."""
    timer = timer or StepTimer()
    configs_tree, cache_root, cache = _write_cache_files(
        view, configs_root, workdir, base, timer, seal=seal
    )
    present = set(view.package_names())
    state = IndexState(
        configs=configs_root,
        cache_dir=cache_root,
        cache=cache,
        parts=[],
        fbc_packages=frozenset(p for p in fbc_packages if p in present),
        source=targets[0],
    )
    return PreparedIndex(
        images,
        view,
        workdir,
        configs_tree,
        state,
        base,
        reuse or {},
        binary_image_resolved,
        arches,
        targets,
        labels,
        record,
        timer,
        output_format,
    )


def _push_layers(prepared: PreparedIndex, layers: list[AnyLayer]) -> BuiltIndex:
    """Push the image of ``prepared`` with its catalog ``layers`` at every target."""
    images, targets, record = prepared.images, prepared.targets, prepared.record
    all_labels = {INDEX_CONFIGS: "/configs", **prepared.labels}
    if prepared.binary_image_resolved == SCRATCH:
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
        return BuiltIndex(digest, list(targets), ["amd64"], layers)
    push_started = time.perf_counter()
    result = images.build(
        prepared.binary_image_resolved,
        list(targets),
        layers,
        ConfigChanges(
            labels=all_labels,
            entrypoint=["/bin/opm"],
            cmd=["serve", "/configs", "--cache-dir=/tmp/cache"],
        ),
        arches=set(prepared.arches),
        arch_tags=True,
        record=record,
        output_format=prepared.output_format,
    )
    prepared.timer.add("upload and manifests", time.perf_counter() - push_started)
    return BuiltIndex(result.digest, list(targets), sorted(prepared.arches), layers)
