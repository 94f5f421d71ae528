"""High-level image operations on top of ``RegistryClient`` (IIB's skopeo/buildah/podman uses).

- resolution: ``resolve`` (IIB ``get_resolved_image``: the *list* digest when there is one),
  ``get_resolved_bundle(s)`` (IIB: a Docker list resolves to its first manifest's digest; only
  Docker v2s2 and Docker lists are accepted, with IIB's messages);
- inspection: ``get_image_arches`` (IIB-strict), ``platform_images``, ``get_image_config``,
  ``get_image_labels``, ``labels_per_arch``;
- ``unpack``: an image's filesystem (optionally only some paths) into a directory, safely;
- ``build``: append layers and config changes to every architecture of a base image, push the
  per-arch manifests, then a manifest list / OCI index in the base's format at every target tag;
  base ``scratch`` gives one platform-less-list image. New layers are uploaded once per target
  repository; base layers are mounted (same registry) or copied (other registry);
- ``copy``: an image or a whole list to other repositories/registries, bytes unchanged, so the
  digest stays the same; blobs are mounted when the registry is the same.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from services.common.errors import RegistryError
from services.common.reference import (
    ImageReference,
    InvalidReferenceError,
    name_without_tag_or_digest,
    parse_reference,
)
from services.common.registry import mediatypes as mt
from services.common.registry.client import RegistryClient
from services.common.registry.digests import compute_digest
from services.common.registry.errors import UnsupportedManifestError
from services.common.registry.imageconfig import EPOCH, ConfigChanges, ImageConfig
from services.common.registry.layers import AnyLayer, Layer, RemoteLayer
from services.common.registry.manifest import (
    Descriptor,
    Manifest,
    Platform,
    image_manifest_bytes,
    index_manifest_bytes,
)
from services.common.registry.unpack import UnpackBudget, Unpacker, UnpackLimits, UnpackStats

__all__ = [
    "SCRATCH",
    "BuildResult",
    "ImageMemo",
    "ImageService",
    "PlatformImage",
    "image_arches_from_manifest",
    "resolved_bundle_from_manifest",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")
_M = TypeVar("_M", Manifest, ImageConfig)
#: digest-pinned manifests and configs one service remembers (a request's service reads a
#: few dozen images; the memo is cleared when full)
_MEMO_MAX = 1024
#: manifests and config blobs read by digest, under ``registry/repository@digest``
ImageMemo = dict[str, Manifest | ImageConfig]

SCRATCH = "scratch"
_DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class PlatformImage:
    """One architecture's image: its platform, manifest, config and pinned reference."""

    platform: Platform
    manifest: Manifest
    config: ImageConfig
    ref: ImageReference


@dataclass(frozen=True)
class BuildResult:
    """What ``build`` pushed."""

    digest: str
    media_type: str
    pull_specs: list[str]
    manifests: dict[str, str] = field(default_factory=dict)
    arch_pull_specs: dict[str, str] = field(default_factory=dict)

    @property
    def resolved(self) -> str:
        """``<first target name>@<digest>``."""
        return f"{name_without_tag_or_digest(self.pull_specs[0])}@{self.digest}"


@dataclass
class PushRecord:
    """The manifests a request created: each ``<repository>@<digest>`` that did not exist in
    its repository before the request pushed it.

    Builds are reproducible, so a request can push a manifest that another request (or the
    request's own from_index) already has; deleting such a manifest would delete every tag
    pointing at it. ``ImageService.discard`` deletes only what is recorded here."""

    created: list[str] = field(default_factory=list)


def layer_history(config: ImageConfig, count: int) -> list[str]:
    """``created_by`` of each layer (history entries without ``empty_layer``), ``""`` when the
    history does not match the layer count."""
    entries = [h for h in config.history if not h.get("empty_layer")]
    if len(entries) != count:
        return [""] * count
    return [str(h.get("created_by") or "") for h in entries]


def resolved_bundle_from_manifest(spec: str, manifest: Manifest) -> str:
    """IIB's ``get_resolved_bundles`` rule for one bundle, given its manifest.

    A Docker manifest list resolves to ``<name>@<digest of its first entry>``; a Docker v2s2
    manifest to ``<name>@<its digest>``; anything else is refused with IIB's message.
    """
    if not manifest.has_media_type_field:
        raise RegistryError("mediaType not found")
    media_type = manifest.json.get("mediaType")
    if media_type == mt.DOCKER_MANIFEST_LIST:
        entries = manifest.manifests
        if not entries:
            raise RegistryError(f"The manifest list {spec} has no manifests")
        return f"{name_without_tag_or_digest(spec)}@{entries[0].digest}"
    if media_type == mt.DOCKER_MANIFEST and manifest.schema_version == 2:
        return f"{name_without_tag_or_digest(spec)}@{manifest.digest}"
    raise UnsupportedManifestError(
        f"The pull specification of {spec} is neither a v2 manifest list nor a v2s2 manifest. "
        f"Type {media_type} and schema version {manifest.json.get('schemaVersion')} is not "
        "supported by IIB."
    )


def image_arches_from_manifest(
    spec: str, manifest: Manifest, config: ImageConfig | None = None
) -> set[str]:
    """IIB's ``get_image_arches``: list → platform architectures; v2s2 → the config's."""
    if manifest.media_type == mt.DOCKER_MANIFEST_LIST:
        return {entry.platform.architecture for entry in manifest.manifests if entry.platform}
    if manifest.media_type == mt.DOCKER_MANIFEST and config is not None:
        return {config.architecture}
    raise UnsupportedManifestError(
        f"The pull specification of {spec} is neither a v2 manifest list nor a v2 manifest"
    )


def _is_attestation(entry: Descriptor) -> bool:
    annotations = entry.annotations or {}
    if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    return entry.platform is not None and entry.platform.architecture == "unknown"


def _arch_keys(platforms: Sequence[Platform]) -> list[str]:
    """``architecture``, or ``architecture/variant`` when an architecture appears twice."""
    counts: dict[str, int] = {}
    for platform in platforms:
        counts[platform.architecture] = counts.get(platform.architecture, 0) + 1
    return [
        f"{p.architecture}/{p.variant}"
        if counts[p.architecture] > 1 and p.variant
        else p.architecture
        for p in platforms
    ]


def _memo_key(ref: ImageReference, digest: str) -> str:
    """What a service remembers a manifest or config blob of ``ref``'s repository under."""
    return f"{ref.registry}/{ref.repository}@{digest}"


@dataclass(frozen=True)
class _Pending:
    """One architecture's image of a build, not pushed yet."""

    jobs: list[Callable[[], object]]
    raw: bytes
    digest: str
    #: where its manifest goes (the per-arch tag, else its digest)
    at: ImageReference
    media_type: str


class _Present:
    """Blobs already handled for one target repository during a build/copy."""

    def __init__(self) -> None:
        self.digests: set[str] = set()

    def claim(self, digest: str) -> bool:
        """True the first time ``digest`` is seen (the caller then transfers it)."""
        if digest in self.digests:
            return False
        self.digests.add(digest)
        return True


def _in_format(descriptor: Descriptor, fmt: mt.ImageFormat, image: ImageReference) -> Descriptor:
    """A base layer's descriptor for a manifest of ``fmt`` (same blob, that format's type)."""
    media_type = mt.layer_type_in(descriptor.media_type, fmt)
    if media_type is None:
        raise UnsupportedManifestError(
            f"Cannot write {image} as {fmt.value}: its base has a {descriptor.media_type} layer"
        )
    if media_type == descriptor.media_type:
        return descriptor
    return Descriptor(media_type, descriptor.digest, descriptor.size, urls=descriptor.urls)


class ImageService:
    """Image-level operations through one ``RegistryClient`` (see the module docstring).

    Blob transfers (mounts, copies, uploads), the reads of a list's entries and the pushes of
    its entries' manifests run on up to ``max_workers`` threads; every blob is pushed before any
    manifest, and the entries before the list. Manifests read by digest and config blobs are
    read once per service (immutable: a digest names exact bytes).
    """

    def __init__(
        self,
        client: RegistryClient,
        *,
        max_workers: int = 4,
        unpack_budget: UnpackBudget | None = None,
        memo: ImageMemo | None = None,
    ) -> None:
        """``unpack_budget``: bytes every ``unpack`` of this service may write in all (one
        request's service: ``services.common.registry_access.request_images``). ``memo``: the
        memory of manifests and configs read by digest, shared with services that read with
        the same credentials (a coalesced group's requests); else the service's own."""
        self.client = client
        self.max_workers = max_workers
        self.unpack_budget = unpack_budget
        # Manifests read by digest and config blobs never change: a request reads the same
        # binary image and from_index several times (arches, labels, reusable layers, the
        # build's base), and each read costs the registry round trips of a list and every entry.
        # A manifest it remembers is also one its repository has (read or pushed there by
        # digest): pushing the same bytes there by digest again would change nothing.
        self._memo: ImageMemo = {} if memo is None else memo

    # ------------------------------------------------------------------ resolution

    def get_manifest(self, spec: str) -> Manifest:
        """The manifest ``spec`` points at, exact bytes."""
        return self._manifest(parse_reference(spec))

    def _manifest(self, ref: ImageReference) -> Manifest:
        """``client.get_manifest``, read once per service when ``ref`` is pinned by digest
        (the bytes were checked against the digest: they cannot differ on a second read)."""
        if not ref.digest:
            return self.client.get_manifest(ref)
        return self._memoized(
            _memo_key(ref, ref.digest), Manifest, lambda: self.client.get_manifest(ref)
        )

    def _memoized(self, key: str, kind: type[_M], read: Callable[[], _M]) -> _M:
        """What the service remembers under ``key``, else ``read()``, then remembered (the
        memory starts over once it holds ``_MEMO_MAX`` entries)."""
        found = self._memo.get(key)
        if isinstance(found, kind):
            return found
        value = read()
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[key] = value
        return value

    def _remembers(self, ref: ImageReference, digest: str) -> bool:
        return _memo_key(ref, digest) in self._memo

    def _knows_image(self, ref: ImageReference, digest: str) -> bool:
        """The manifest ``digest`` of ``ref``'s repository and its config are remembered."""
        found = self._memo.get(_memo_key(ref, digest))
        return (
            isinstance(found, Manifest)
            and found.is_image
            and self._remembers(ref, found.config.digest)
        )

    def get_image_digest(self, spec: str) -> str:
        """The digest ``spec`` points at (for a list, the list's digest)."""
        ref = parse_reference(spec)
        if ref.digest and self._remembers(ref, ref.digest):
            return ref.digest  # read by that digest already: it exists
        found = self.client.head_manifest(ref)
        if found is None:
            return self.client.get_manifest(ref).digest
        return found.digest

    def resolve(self, spec: str) -> str:
        """IIB's ``get_resolved_image``: ``<name>@<digest>`` (the manifest-list digest)."""
        return f"{name_without_tag_or_digest(spec)}@{self.get_image_digest(spec)}"

    def get_resolved_bundle(self, spec: str) -> str:
        """IIB's bundle resolution (first manifest of a Docker list; v2s2 only)."""
        return resolved_bundle_from_manifest(spec, self.get_manifest(spec))

    def get_resolved_bundles(self, specs: Iterable[str]) -> list[str]:
        """``get_resolved_bundle`` for each spec, duplicates removed, first-seen order kept."""
        resolved: dict[str, None] = {}
        for spec in specs:
            resolved.setdefault(self.get_resolved_bundle(spec), None)
        return list(resolved)

    # ------------------------------------------------------------------ inspection

    def get_image_arches(self, spec: str) -> set[str]:
        """IIB's ``get_image_arches`` (Docker list or Docker v2s2 only, IIB's message else)."""
        ref = parse_reference(spec)
        manifest = self._manifest(ref)
        config = None
        if manifest.media_type == mt.DOCKER_MANIFEST:
            config = self._config(ref, manifest)
        return image_arches_from_manifest(spec, manifest, config)

    def platform_images(
        self, spec: str, arches: Collection[str] | None = None
    ) -> list[PlatformImage]:
        """Every architecture's image of ``spec`` (any format), optionally only ``arches``.

        Attestation entries (``unknown/unknown``) are left out.
        """
        ref = parse_reference(spec)
        manifest = self._manifest(ref)
        return self._platform_images(ref, manifest, arches)

    def _platform_images(
        self, ref: ImageReference, manifest: Manifest, arches: Collection[str] | None
    ) -> list[PlatformImage]:
        if manifest.is_image:
            config = self._config(ref, manifest)
            images = [
                PlatformImage(config.platform, manifest, config, ref.with_digest(manifest.digest))
            ]
        elif manifest.is_index:
            entries = [
                entry
                for entry in manifest.manifests
                if not _is_attestation(entry)
                and not (
                    arches is not None
                    and entry.platform
                    and entry.platform.architecture not in arches
                )
            ]

            def read(entry: Descriptor) -> PlatformImage:
                child_ref = ref.with_digest(entry.digest)
                child = self._manifest(child_ref)
                if not child.is_image:
                    raise UnsupportedManifestError(
                        f"The entry {entry.digest} of {ref} is a {child.media_type}, not an image"
                    )
                config = self._config(ref, child)
                return PlatformImage(entry.platform or config.platform, child, config, child_ref)

            # the entries' manifests and configs are read side by side (unless all are known)
            known = all(self._knows_image(ref, entry.digest) for entry in entries)
            images = [read(entry) for entry in entries] if known else self._map(read, entries)
        else:
            raise UnsupportedManifestError(
                f"The image {ref} has a {manifest.media_type} manifest, which is not supported"
            )
        if arches is not None:
            found = {image.platform.architecture for image in images}
            missing = set(arches) - found
            if missing:
                raise RegistryError(
                    f"The image {ref} is not available for the following arches: "
                    f"{', '.join(sorted(missing))}"
                )
        return images

    def _config(self, ref: ImageReference, manifest: Manifest) -> ImageConfig:
        digest = manifest.config.digest
        return self._memoized(
            _memo_key(ref, digest),
            ImageConfig,
            lambda: ImageConfig.parse(self.client.read_blob(ref, digest)),
        )

    def platform_image(self, spec: str, arch: str | None = None) -> PlatformImage:
        """The ``arch`` image of ``spec`` (default: amd64 when present, else the first)."""
        return self._pick(spec, arch)

    def _pick(self, spec: str, arch: str | None) -> PlatformImage:
        images = self.platform_images(spec)
        if not images:
            raise RegistryError(f"The image {spec} has no image for any platform")
        if arch is None:
            for image in images:
                if image.platform.architecture == _DEFAULT_PLATFORM.architecture:
                    return image
            return images[0]
        for image in images:
            if image.platform.architecture == arch:
                return image
        available = ", ".join(sorted({i.platform.architecture for i in images}))
        raise RegistryError(f"The image {spec} has no {arch} image (available: {available})")

    def reusable_layers(self, spec: str, arch: str | None = None) -> dict[str, RemoteLayer]:
        """The gzip layers of ``spec`` (the ``arch`` image, amd64 by default) by ``diff_id``,
        for :func:`~services.common.registry.layers.build_or_reuse_layer`. Empty when the
        config's ``diff_ids`` do not match the manifest's layers."""
        image = self._pick(spec, arch)
        layers = image.manifest.layers
        diff_ids = image.config.diff_ids
        if len(diff_ids) != len(layers):
            return {}
        gzip_types = {mt.DOCKER_LAYER_GZIP, mt.OCI_LAYER_GZIP}
        source = str(image.ref)
        return {
            diff_id: RemoteLayer(source, layer.digest, diff_id, layer.size)
            for diff_id, layer in zip(diff_ids, layers, strict=True)
            if layer.media_type in gzip_types
        }

    def get_image_config(self, spec: str, arch: str | None = None) -> ImageConfig:
        """The config of ``spec`` for ``arch`` (default: amd64 when present, else the first)."""
        return self._pick(spec, arch).config

    def get_image_labels(self, spec: str, arch: str | None = None) -> dict[str, str]:
        """``config.Labels`` of ``spec`` (for a list: the ``arch`` image, amd64 by default)."""
        return self.get_image_config(spec, arch).labels

    def get_image_label(self, spec: str, label: str, arch: str | None = None) -> str:
        """One label's value, ``''`` when absent (IIB's ``get_image_label``)."""
        return self.get_image_labels(spec, arch).get(label, "")

    def labels_per_arch(self, spec: str) -> dict[str, dict[str, str]]:
        """Labels of every architecture's image, keyed by architecture."""
        images = self.platform_images(spec)
        keys = _arch_keys([image.platform for image in images])
        return {key: image.config.labels for key, image in zip(keys, images, strict=True)}

    # ------------------------------------------------------------------ unpack

    def unpack(
        self,
        spec: str,
        dest: Path,
        *,
        arch: str | None = None,
        include: Sequence[str] | None = None,
        limits: UnpackLimits | None = None,
        select_layers: Callable[[list[Descriptor], list[str]], Sequence[Descriptor]] | None = None,
    ) -> UnpackStats:
        """Extract the filesystem of ``spec`` (the ``arch`` image) into ``dest``.

        ``select_layers(layers, created_by)`` may pick the layers to apply (in order), given
        each layer's history ``created_by`` (``""`` when unknown), e.g. to read only the layer
        known to hold a whole directory.

        Layers are streamed (resuming on drops, digest-verified) and applied with the safety
        rules of ``services.common.registry.unpack``; ``include`` limits it to some paths.
        """
        image = self._pick(spec, arch)
        unpacker = Unpacker(
            dest, limits=limits, include=include, source=spec, budget=self.unpack_budget
        )
        layers = list(image.manifest.layers)
        if select_layers is not None:
            layers = list(select_layers(layers, layer_history(image.config, len(layers))))
        for layer in layers:
            if mt.is_foreign_layer(layer.media_type):
                raise UnsupportedManifestError(
                    f"The image {spec} has a foreign layer {layer.digest}, which cannot be unpacked"
                )
            with self.client.open_blob(image.ref, layer.digest, layer.size) as reader:
                unpacker.apply_layer(reader, layer.digest)
        return unpacker.finish()

    # ------------------------------------------------------------------ build

    def build(
        self,
        base: str,
        targets: Sequence[str],
        layers: Sequence[AnyLayer] = (),
        changes: ConfigChanges | None = None,
        *,
        arches: Collection[str] | None = None,
        created: str = EPOCH,
        author: str | None = None,
        arch_tags: bool = False,
        scratch_format: mt.ImageFormat = mt.ImageFormat.DOCKER,
        scratch_platform: Platform | None = _DEFAULT_PLATFORM,
        record: PushRecord | None = None,
        output_format: mt.ImageFormat | None = None,
    ) -> BuildResult:
        """Build ``base`` + ``layers`` + ``changes`` for each architecture and push it.

        ``targets`` are tagged pull specs; the first one's repository receives the blobs and
        per-arch manifests, the others get the result by ``copy`` (blob mounts on the same
        registry). A list/index base gives per-arch manifests plus a list/index of the same
        format (entries sorted by architecture, like IIB); a single-image base gives a
        one-entry list of its format; ``scratch`` gives a single image manifest (no list) of
        ``scratch_format`` whose config carries ``scratch_platform`` (none when None).
        ``arches`` restricts (and requires) architectures. ``arch_tags`` also tags each
        per-arch manifest ``<first tag>-<arch>`` as IIB does. ``record`` collects the
        manifests the build created (``discard`` deletes them). ``output_format``: write the
        per-arch manifests and the list in that format whatever the base's (IIB always writes
        Docker v2s2); by default the base's format is kept.
        """
        try:
            return self._build(
                base,
                targets,
                layers,
                changes,
                arches=arches,
                created=created,
                author=author,
                arch_tags=arch_tags,
                scratch_format=scratch_format,
                scratch_platform=scratch_platform,
                record=record,
                output_format=output_format,
            )
        except RegistryError as exc:
            if "BLOB_UNKNOWN" not in str(exc):
                raise
            # a blob remembered as present was gone (garbage collection): the client forgot
            # the repository's blobs; pushing again checks and uploads them
            log.warning("a blob was missing from the registry; pushing %s again", targets[0])
            return self._build(
                base,
                targets,
                layers,
                changes,
                arches=arches,
                created=created,
                author=author,
                arch_tags=arch_tags,
                scratch_format=scratch_format,
                scratch_platform=scratch_platform,
                record=record,
                output_format=output_format,
            )

    def _build(
        self,
        base: str,
        targets: Sequence[str],
        layers: Sequence[AnyLayer],
        changes: ConfigChanges | None,
        *,
        arches: Collection[str] | None,
        created: str,
        author: str | None,
        arch_tags: bool,
        scratch_format: mt.ImageFormat,
        scratch_platform: Platform | None,
        record: PushRecord | None,
        output_format: mt.ImageFormat | None = None,
    ) -> BuildResult:
        if not targets:
            raise ValueError("build needs at least one target")
        refs = [parse_reference(t) for t in targets]
        for ref, text in zip(refs, targets, strict=True):
            if not ref.tag or ref.digest:
                raise InvalidReferenceError(f"The build target {text} must be a tag, not a digest")
        primary = refs[0]
        changes = changes or ConfigChanges()
        added = [(layer.diff_id, layer.created_by or "iib: add layer") for layer in layers]
        present = _Present()

        if base == SCRATCH:
            config = ImageConfig.scratch(scratch_platform).derive(
                changes, added, created=created, author=author
            )
            single = self._image(primary, scratch_format, config, [], None, layers, present, None)
            digest = self._push_images([single], record)[0]
            final_raw, media_type = single.raw, scratch_format.manifest_type
            arch_key = scratch_platform.architecture if scratch_platform else ""
            per_arch = {arch_key: digest}
            arch_specs: dict[str, str] = {}
        else:
            base_ref = parse_reference(base)
            base_manifest = self._manifest(base_ref)
            images = self._platform_images(base_ref, base_manifest, arches)
            entries_raw: dict[str, dict[str, Any]] = {}
            list_format = output_format or base_manifest.format
            if base_manifest.is_index and list_format is base_manifest.format:
                for entry in base_manifest.manifests:
                    if entry.raw is not None:
                        entries_raw[entry.digest] = dict(entry.raw)
            ordered = sorted(
                images, key=lambda i: (i.platform.architecture, i.platform.variant or "")
            )
            keys = _arch_keys([image.platform for image in ordered])
            new_entries: list[Descriptor] = []
            per_arch, arch_specs = {}, {}
            pending: list[_Pending] = []
            for key, image in zip(keys, ordered, strict=True):
                if (
                    image.config.architecture
                    and image.config.architecture != image.platform.architecture
                ):
                    raise RegistryError(
                        f"Wrong arch in the base image {base}: the {image.platform.key} entry's "
                        f"config says {image.config.architecture}"
                    )
                config = image.config.derive(changes, added, created=created, author=author)
                tag = f"{primary.tag}-{key.replace('/', '-')}" if arch_tags else None
                pending.append(
                    self._image(
                        primary,
                        output_format or image.manifest.format,
                        config,
                        image.manifest.layers,
                        base_ref,
                        layers,
                        present,
                        tag,
                    )
                )
                digest, raw = pending[-1].digest, pending[-1].raw
                per_arch[key] = digest
                if tag:
                    arch_specs[key] = str(primary.with_tag(tag))
                entry_json = entries_raw.get(image.manifest.digest) or {
                    "platform": image.platform.to_json()
                }
                entry_json.update(
                    {
                        "mediaType": (output_format or image.manifest.format).manifest_type,
                        "size": len(raw),
                        "digest": digest,
                    }
                )
                ordered_json = {
                    "mediaType": entry_json.pop("mediaType"),
                    "size": entry_json.pop("size"),
                    "digest": entry_json.pop("digest"),
                    **entry_json,
                }
                new_entries.append(
                    Descriptor(
                        ordered_json["mediaType"],
                        digest,
                        len(raw),
                        image.platform,
                        raw=ordered_json,
                    )
                )
            self._push_images(pending, record)
            final_raw = index_manifest_bytes(list_format, new_entries)
            media_type = list_format.index_type

        same_repo = [
            r for r in refs if (r.registry, r.repository) == (primary.registry, primary.repository)
        ]
        digest = ""
        for ref in same_repo:
            digest = self.put_manifest(ref, final_raw, media_type, record)
        others = [r for r in refs if r not in same_repo]
        if others:
            self.copy(str(primary.with_digest(digest)), [str(r) for r in others], record)
        log.info("Pushed %s (%s) to %s", digest, media_type, ", ".join(targets))
        return BuildResult(
            digest=digest,
            media_type=media_type,
            pull_specs=list(targets),
            manifests=per_arch,
            arch_pull_specs=arch_specs,
        )

    def _push_images(self, images: Sequence[_Pending], record: PushRecord | None) -> list[str]:
        """Push the architectures' images: every blob of all of them first (a manifest may
        only name blobs its repository has), then their manifests side by side; returns the
        manifests' digests."""
        self._run_all([job for image in images for job in image.jobs])
        return self.put_manifests(
            [(image.at, image.raw, image.media_type) for image in images], record
        )

    def _image(
        self,
        target: ImageReference,
        fmt: mt.ImageFormat,
        config: ImageConfig,
        base_layers: Sequence[Descriptor],
        base_ref: ImageReference | None,
        layers: Sequence[AnyLayer],
        present: _Present,
        tag: str | None,
    ) -> _Pending:
        """One architecture's image to push: the transfers of its base blobs (mount/copy),
        config and new layers that no other architecture of the build makes, and its
        manifest."""
        jobs: list[Callable[[], object]] = []
        for descriptor in base_layers:
            if mt.is_foreign_layer(descriptor.media_type) or not present.claim(descriptor.digest):
                continue
            assert base_ref is not None
            jobs.append(
                functools.partial(
                    self.client.copy_blob, base_ref, target, descriptor.digest, descriptor.size
                )
            )
        config_digest = compute_digest(config.raw)
        if present.claim(config_digest):
            jobs.append(functools.partial(self._push_config, target, config, config_digest))
        for layer in layers:
            if not present.claim(layer.digest):
                continue
            if isinstance(layer, Layer):
                jobs.append(
                    functools.partial(
                        self.client.upload_blob, target, layer.path, layer.digest, size=layer.size
                    )
                )
            else:
                jobs.append(
                    functools.partial(
                        self.client.copy_blob,
                        parse_reference(layer.source),
                        target,
                        layer.digest,
                        layer.size,
                    )
                )
        config_descriptor = Descriptor(fmt.config_type, config_digest, len(config.raw))
        raw = image_manifest_bytes(
            fmt,
            config_descriptor,
            [
                *(_in_format(d, fmt, target) for d in base_layers),
                *(layer.descriptor(fmt) for layer in layers),
            ],
        )
        digest = compute_digest(raw)
        at = target.with_tag(tag) if tag else target.with_digest(digest)
        return _Pending(jobs, raw, digest, at, fmt.manifest_type)

    def upload_layers(
        self, target: str, layers: Sequence[AnyLayer], *, mount_from: str | None = None
    ) -> None:
        """Make the local ``layers`` (files, not remote layers) present in ``target``'s
        repository, side by side, skipping the blobs it has: a later ``copy`` of an image
        holding them then finds them there instead of moving them through this worker.
        ``mount_from``: an image whose repository has them (they were just pushed there); when
        the registry can mount them from it (:meth:`RegistryClient.can_mount`) nothing is
        uploaded: the copy mounts them, one request each. When ``target`` is written with
        other credentials (an overwrite token) in the same registry, the mounts are tried with
        those: the registry decides whether they may read the image's repository (skopeo, which
        IIB overwrites with, tries the same); once one is refused, the layers are uploaded."""
        ref = parse_reference(target)
        files = [layer for layer in layers if isinstance(layer, Layer)]
        source = parse_reference(mount_from) if mount_from else None
        if source is not None and self.client.can_mount(source, ref):
            return
        if (
            source is not None
            and files
            and self.client.mountable(source, ref)
            and self.client.mount_blob(ref, files[0].digest, source.repository, files[0].size)
        ):
            self._run_all(
                [
                    functools.partial(self._mount_or_upload, ref, layer, source.repository)
                    for layer in files[1:]
                ]
            )
            return
        self._run_all(
            [
                functools.partial(
                    self.client.upload_blob, ref, layer.path, layer.digest, size=layer.size
                )
                for layer in files
            ]
        )

    def _mount_or_upload(self, ref: ImageReference, layer: Layer, repository: str) -> None:
        if not self.client.mount_blob(ref, layer.digest, repository, layer.size):
            self.client.upload_blob(ref, layer.path, layer.digest, size=layer.size)

    # ------------------------------------------------------------------ copy / tags / delete

    def copy(self, source: str, targets: Sequence[str], record: PushRecord | None = None) -> str:
        """Copy ``source`` (an image or a whole list, all architectures) to each target.

        Manifest bytes are pushed unchanged, so every target has the source's digest. Blobs are
        mounted within a registry and streamed between registries. Targets without a tag get
        the manifest by digest only. Returns the digest. ``record``: as for ``build``.
        """
        src = parse_reference(source)
        manifest = self._manifest(src)
        for text in targets:
            target = parse_reference(text)
            present = _Present()
            self._copy_manifest(src, manifest, target, present, record)
            at = target.with_tag(target.tag) if target.tag else target.with_digest(manifest.digest)
            self.put_manifest(at, manifest.raw, manifest.media_type, record)
        return manifest.digest

    def _copy_manifest(
        self,
        src: ImageReference,
        manifest: Manifest,
        target: ImageReference,
        present: _Present,
        record: PushRecord | None,
    ) -> None:
        if not manifest.is_index:
            self._run_all(self._blob_copies(src, manifest, target, present))
            return
        # the entries are read side by side, their blobs copied, then their manifests pushed
        # side by side (a manifest may only name blobs its repository has)
        children = self._map(
            lambda entry: self._manifest(src.with_digest(entry.digest)), manifest.manifests
        )
        jobs: list[Callable[[], object]] = []
        for child in children:
            if child.is_index:  # a nested list: its own entries first
                self._copy_manifest(src, child, target, present, record)
            else:
                jobs.extend(self._blob_copies(src, child, target, present))
        self._run_all(jobs)
        self.put_manifests(
            [(target.with_digest(child.digest), child.raw, child.media_type) for child in children],
            record,
        )

    def _blob_copies(
        self, src: ImageReference, manifest: Manifest, target: ImageReference, present: _Present
    ) -> list[Callable[[], object]]:
        """The transfers of an image's blobs that ``target`` does not have yet (in this copy)."""
        if not manifest.is_image:
            raise UnsupportedManifestError(
                f"Cannot copy {src}: {manifest.media_type} manifests are not supported"
            )
        jobs: list[Callable[[], object]] = []
        for descriptor in [manifest.config, *manifest.layers]:
            if mt.is_foreign_layer(descriptor.media_type) or not present.claim(descriptor.digest):
                continue
            known = self._memo.get(_memo_key(src, descriptor.digest))
            if isinstance(known, ImageConfig) and not self.client.can_mount(src, target):
                # a config this service pushed or read: sent from memory, not read again
                jobs.append(functools.partial(self._push_config, target, known, descriptor.digest))
            else:
                jobs.append(
                    functools.partial(
                        self.client.copy_blob, src, target, descriptor.digest, descriptor.size
                    )
                )
        return jobs

    def _push_config(self, target: ImageReference, config: ImageConfig, digest: str) -> None:
        """Upload a config blob (unless ``target``'s repository has it) and remember it there."""
        self.client.upload_blob(target, config.raw, digest)
        self._memo.setdefault(_memo_key(target, digest), config)

    def _run_all(self, jobs: Sequence[Callable[[], object]]) -> None:
        """Run blob transfers, up to ``max_workers`` at a time; the first error is raised."""
        self._map(lambda job: job(), jobs)

    def _map(self, fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """``fn`` of each item on up to ``max_workers`` threads, results in order; once all
        have ended, the first error (in order) is raised."""
        if len(items) <= 1 or self.max_workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            # Each call runs in a copy of the caller's context, so context-bound logging (the
            # request a builder works on) follows the threads.
            futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
            return [future.result() for future in futures]

    def put_manifest(
        self,
        ref: ImageReference,
        raw: bytes,
        media_type: str,
        record: PushRecord | None = None,
    ) -> str:
        """Push manifest bytes at ``ref``; with ``record``, note the manifest when it is new to
        the repository (when that cannot be checked it counts as not new: never deleted)."""
        return self.put_manifests([(ref, raw, media_type)], record)[0]

    def put_manifests(
        self,
        manifests: Sequence[tuple[ImageReference, bytes, str]],
        record: PushRecord | None = None,
    ) -> list[str]:
        """``put_manifest`` of each ``(ref, raw, media_type)``, side by side; returns the
        digests. The new ones are noted in ``record`` in the order given, those pushed before
        an error too (then the first error is raised)."""

        def put(item: tuple[ImageReference, bytes, str]) -> tuple[str, str | None]:
            ref, raw, media_type = item
            digest = compute_digest(raw)
            key = _memo_key(ref, digest)
            if not ref.tag and ref.digest == digest and isinstance(self._memo.get(key), Manifest):
                return digest, None  # the repository has it: not new, nothing to move
            new = False
            if record is not None:
                at_digest = ref.with_digest(digest)
                try:
                    new = self.client.head_manifest(at_digest) is None
                except RegistryError as exc:
                    log.warning(
                        "cannot tell whether %s exists, it will not be deleted: %s", at_digest, exc
                    )
            pushed = self.client.put_manifest(ref, raw, media_type)
            # what was pushed need not be read back (a copy of it reads it by digest)
            self._memo.setdefault(key, Manifest.parse(raw, media_type, digest))
            return pushed, str(ref.with_digest(digest)) if new else None

        def attempt(
            item: tuple[ImageReference, bytes, str],
        ) -> tuple[str, str | None] | BaseException:
            try:
                return put(item)
            except Exception as exc:
                return exc

        outcomes = self._map(attempt, manifests)
        pushed = [o for o in outcomes if not isinstance(o, BaseException)]
        if record is not None:
            record.created.extend(created for _, created in pushed if created)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [digest for digest, _ in pushed]

    def discard(self, record: PushRecord) -> None:
        """Delete the manifests ``record`` holds, newest first (a list before its entries);
        failures are logged, not raised: this runs while a request is failing."""
        while record.created:
            spec = record.created.pop()
            try:
                self.delete(spec)
                log.info("deleted %s, pushed by the failed request", spec)
            except Exception as exc:
                log.warning("could not delete %s: %s", spec, exc)

    def list_tags(self, repository: str) -> list[str]:
        """Tags of the repository of ``repository`` (a pull spec; its tag is ignored)."""
        return self.client.list_tags(parse_reference(repository))

    def delete(self, spec: str) -> None:
        """Delete the manifest ``spec`` points at (so every tag pointing at it)."""
        ref = parse_reference(spec)
        if ref.digest:  # read or pushed by digest before, it is gone now
            self._memo.pop(_memo_key(ref, ref.digest), None)
        else:  # whichever manifest the tag named is gone: forget that repository's
            prefix = _memo_key(ref, "")
            for key in [k for k in list(self._memo) if k.startswith(prefix)]:
                self._memo.pop(key, None)
        self.client.delete_manifest(ref)
