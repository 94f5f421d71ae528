"""The bundle regenerator: regenerate-bundle and recursive-related-bundles requests with IIB's
steps and state reasons (worker semantics §1.3, §1.8, §1.11, §2, §5.3).

This module is the I/O around the sans-IO customizations: it reads images through the registry
client (with the request's ``registry_auths`` for the whole request), unpacks ``/manifests``
and ``/metadata`` (never a container engine), builds the regenerated bundle image by appending
the rewritten trees as layers onto every architecture of the original image, pushes it, and
stores the related-bundles artifacts where the request store serves them. A failure ends the
request as failed with a reason naming what is wrong, and whatever was pushed for it is deleted.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from services.bundle_regenerator.customizations import (
    adjust_operator_bundle,
    customizations_for,
    load_operator_manifest,
    related_bundle_images,
    yaml_truthy,
)
from services.bundle_regenerator.recursive import walk_related_bundles
from services.catalog.labels import PINNED
from services.common.artifacts import ArtifactKind, ArtifactStore, artifact_store
from services.common.config import Settings
from services.common.errors import CatalogError, ConfigError, ExternalServiceError, IIBError
from services.common.pb.iib.v1 import requests_pb2
from services.common.registry.client import RegistryClient
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import ImageService, PushRecord
from services.common.registry.layers import Layer, build_layer, tree_entries
from services.common.registry_access import base_client, request_images
from services.common.requestlog import request_workspace
from services.common.worker import WorkContext

__all__ = ["COMPLETE", "BundleRegenerator", "RegistryLookup", "unpack_bundle"]

log = logging.getLogger(__name__)
COMPLETE = "The request completed successfully"
BUNDLE_TREES = ("manifests", "metadata")


def _now() -> str:
    """The build time for image configs (RFC 3339, microseconds: two builds of the same bundle
    get different manifests, see ``created`` below)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RegistryLookup:
    """:class:`~services.bundle_regenerator.customizations.ImageLookup` over the registry,
    remembering answers for the duration of one request (a pull spec is resolved and read once
    however many customizations or bundles ask)."""

    def __init__(self, images: ImageService) -> None:
        self._images = images
        self._resolved: dict[str, str] = {}
        self._labels: dict[str, dict[str, str]] = {}

    def resolve(self, pull_spec: str) -> str:
        if pull_spec not in self._resolved:
            self._resolved[pull_spec] = self._images.resolve(pull_spec)
        return self._resolved[pull_spec]

    def labels(self, pull_spec: str) -> Mapping[str, str]:
        if pull_spec not in self._labels:
            self._labels[pull_spec] = self._images.get_image_labels(pull_spec)
        return self._labels[pull_spec]


def unpack_bundle(images: ImageService, pull_spec: str, dest: Path) -> tuple[Path, Path]:
    """Extract ``/manifests`` and ``/metadata`` of ``pull_spec`` (its amd64 image, else the
    first) into ``dest``; both must exist, as IIB copies both out of the image."""
    images.unpack(pull_spec, dest, include=list(BUNDLE_TREES))
    for name in BUNDLE_TREES:
        if not (dest / name).is_dir():
            raise CatalogError(
                f"The image {pull_spec} is not an operator bundle image: it has no /{name} "
                "directory"
            )
    return dest / "manifests", dest / "metadata"


def bundle_layers(root: Path, workdir: Path) -> list[Layer]:
    """``COPY ./manifests /manifests`` and ``COPY ./metadata /metadata`` as reproducible layers
    (root-owned, the extracted files' modes)."""
    return [
        build_layer(
            tree_entries(root / name, name),
            workdir / f"{name}.tar.gz",
            created_by=f"COPY ./{name} /{name}",
        )
        for name in BUNDLE_TREES
    ]


@dataclass
class _Job:
    """One request being processed: its registry access, workspace and pushed images."""

    ctx: WorkContext
    images: ImageService
    lookup: RegistryLookup
    workdir: Path
    pushed: PushRecord = field(default_factory=PushRecord)

    def progress(self, reason: str, results: requests_pb2.RequestResults | None = None) -> None:
        self.ctx.check_cancelled()
        log.info(reason)
        self.ctx.progress(reason, results)


class BundleRegenerator:
    """Handles the bundle regenerator's request types (the worker runtime's handler)."""

    def __init__(
        self,
        settings: Settings,
        client: RegistryClient | None = None,
        *,
        artifacts: ArtifactStore | None = None,
        clock: Callable[[], str] = _now,
    ) -> None:
        if not settings.registry:
            raise ConfigError(
                "Missing setting IIB_REGISTRY (iib_registry): where regenerated bundle images "
                "are pushed"
            )
        self.settings = settings
        self.client = client or base_client(settings)
        self.artifacts = artifacts if artifacts is not None else artifact_store(settings)
        self.clock = clock
        self._handlers: dict[str, Callable[[_Job], None]] = {
            "regenerate_bundle": self._regenerate_bundle,
            "recursive_related_bundles": self._recursive_related_bundles,
        }

    # --- entry point -----------------------------------------------------------------------

    def handle(self, ctx: WorkContext) -> None:
        """Process the request (or fail it with a reason)."""
        kind = ctx.request.WhichOneof("params")
        handler = self._handlers.get(kind or "")
        with request_workspace(self.settings, ctx.request_id) as workdir:
            if handler is None:
                raise IIBError(f"The bundle regenerator cannot handle {kind or 'unknown'} requests")
            images = request_images(
                self.client, registry_auths_json=ctx.request.secrets.registry_auths_json or None
            )
            job = _Job(ctx, images, RegistryLookup(images), workdir)
            log.info("processing request %s (%s), delivery %s", ctx.request_id, kind, ctx.delivery)
            try:
                handler(job)
            except BaseException as exc:
                if ctx.may_discard(exc):
                    job.images.discard(job.pushed)
                raise

    def _store(self, kind: ArtifactKind, request_id: int, bundles: list[str]) -> None:
        """Write a related-bundles artifact as IIB does (``json.dump`` of the list)."""
        if not self.artifacts.configured(kind):
            log.warning(
                "No directory or S3 bucket is configured for %s: the file of request %s is not "
                "kept",
                kind.s3_prefix,
                request_id,
            )
            return
        log.debug("Writing related bundle images %s to %s", bundles, kind.file_name(request_id))
        try:
            self.artifacts.store(kind, request_id, json.dumps(bundles).encode())
        except OSError as exc:
            raise IIBError(
                f"Failed to write {kind.file_name(request_id)}: {exc.strerror or exc}"
            ) from None
        except Exception as exc:  # the S3 client's errors
            raise ExternalServiceError(
                f"Failed to upload {kind.s3_prefix}/{kind.file_name(request_id)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None

    # --- regenerate-bundle ---------------------------------------------------------------------

    def _regenerate_bundle(self, job: _Job) -> None:
        request = job.ctx.request
        params = request.regenerate_bundle
        organization = params.organization if params.HasField("organization") else None
        images = job.images
        job.progress("Resolving from_bundle_image")
        resolved = images.resolve(params.from_bundle_image)
        arches = sorted(images.get_image_arches(resolved))
        if not arches:
            raise IIBError(f"No arches were found in the resolved from_bundle_image {resolved}")
        pinned_label = images.get_image_label(resolved, PINNED)
        try:
            pinned_by_iib = yaml_truthy(pinned_label)
        except CatalogError:
            raise CatalogError(
                f"The {PINNED} label of {resolved} is not valid YAML: {pinned_label!r}"
            ) from None
        job.progress(
            f"Regenerating the bundle image for the following arches: {', '.join(arches)}",
            requests_pb2.RequestResults(from_bundle_image_resolved=resolved),
        )
        root = job.workdir / "bundle"
        manifests, metadata = unpack_bundle(images, resolved, root)
        job.ctx.check_cancelled()
        adjusted = adjust_operator_bundle(
            manifests,
            metadata,
            job.lookup,
            customizations_for(self.settings.organization_customizations, organization),
            organization=organization,
            pinned_by_iib=pinned_by_iib,
            bundle_replacements=dict(params.bundle_replacements),
        )
        if adjusted.related_bundles is not None:
            self._store(ArtifactKind.RELATED_BUNDLES, job.ctx.request_id, adjusted.related_bundles)
        layers = bundle_layers(root, job.workdir / "layers")
        job.progress("Creating the manifest list")
        target = self.settings.image_push_template.format(
            registry=self.settings.registry, request_id=job.ctx.request_id
        )
        built = images.build(
            resolved,
            [target],
            layers,
            ConfigChanges(labels=adjusted.labels),
            arches=set(arches),
            arch_tags=True,
            # the build time, as buildah sets it
            created=self.clock(),
            record=job.pushed,
        )
        log.info("pushed %s (%s)", built.resolved, target)
        bundle_image = target
        output_registry = self.settings.index_image_output_registry
        if output_registry and self.settings.registry:
            bundle_image = target.replace(self.settings.registry, output_registry, 1)
            log.info(
                "Changed the bundle_image pull specification from %s to %s", target, bundle_image
            )
        job.ctx.check_cancelled()
        job.ctx.complete(
            COMPLETE, requests_pb2.RequestResults(arches=arches, bundle_image=bundle_image)
        )
        job.pushed.created.clear()
        log.info("request %s complete: %s", job.ctx.request_id, bundle_image)

    # --- recursive-related-bundles ------------------------------------------------------------

    def _recursive_related_bundles(self, job: _Job) -> None:
        request = job.ctx.request
        params = request.recursive_related_bundles
        organization = params.organization if params.HasField("organization") else None
        parent = params.parent_bundle_image
        job.progress("Resolving parent_bundle_image")
        resolved = job.images.resolve(parent)
        job.progress(
            f"Finding recursive related bundles for the bundle: {parent}",
            requests_pb2.RequestResults(parent_bundle_image_resolved=resolved),
        )
        customizations = customizations_for(self.settings.organization_customizations, organization)
        counter = itertools.count()

        def children_of(bundle: str) -> list[str]:
            root = job.workdir / f"bundle-{next(counter)}"
            manifests, metadata = unpack_bundle(job.images, bundle, root)
            if organization:
                adjust_operator_bundle(
                    manifests,
                    metadata,
                    job.lookup,
                    customizations,
                    organization=organization,
                    stop_before_related_bundles=True,
                )
            children = related_bundle_images(load_operator_manifest(manifests), job.lookup, root)
            log.info("related bundles of %s: %s", bundle, children)
            shutil.rmtree(root, ignore_errors=True)
            return children

        found = walk_related_bundles(
            resolved,
            children_of,
            self.settings.max_recursive_related_bundles,
            check=job.ctx.check_cancelled,
        )
        job.progress("Writing recursive related bundles to a file")
        # deepest level first, the parent last (IIB reverses its top-down walk)
        self._store(ArtifactKind.NESTED_BUNDLES, job.ctx.request_id, found[::-1])
        job.ctx.check_cancelled()
        job.ctx.complete(COMPLETE)
        log.info("request %s complete: %d bundles", job.ctx.request_id, len(found))
