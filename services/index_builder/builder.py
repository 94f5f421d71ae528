"""The index builder: one handler per request type, with IIB's steps and state reasons
(worker semantics §0, §1.1, §1.2, §1.5, §1.6, §1.7, §1.11, §5).

Each build reads its inputs from the registry, changes the catalog with the catalog engine,
validates the result, and only then pushes anything. A failure ends the request as failed with
a reason that names what is wrong (IIBError messages), and the manifests it created are deleted
again (never one that existed before, which another request or tag may share).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from services import catalog as cat
from services.catalog.documents import check_yaml_files
from services.catalog.labels import (
    BUNDLE_MANIFESTS,
    BUNDLE_METADATA,
    BUNDLE_PACKAGE,
    INDEX_CONFIGS,
    OCP_VERSIONS,
    label_path,
)
from services.common.artifacts import ArtifactKind, artifact_store
from services.common.config import Settings
from services.common.errors import IIBError, RegistryError
from services.common.grpc_auth import internal_tls
from services.common.pb.iib.v1 import requests_pb2
from services.common.reference import name_without_tag_or_digest
from services.common.registry import mediatypes as mt
from services.common.registry.client import RegistryClient
from services.common.registry.images import ImageMemo, ImageService, PushRecord
from services.common.registry.layers import RemoteLayer
from services.common.registry_access import base_client, request_images
from services.common.requestlog import (
    bound_request,
    capture_request_log,
    request_log,
    request_workspace,
)
from services.common.timing import StepTimer
from services.common.worker import (
    UNKNOWN_ERROR,
    Cancelled,
    FinalStateReached,
    WorkContext,
)
from services.index_builder.gating import GatingClient
from services.index_builder.gitlab import push_configs_to_git
from services.index_builder.index_image import (
    BuiltIndex,
    IndexContent,
    PreparedIndex,
    index_kind,
    load_index_catalog,
    prepare_index_image,
)
from services.index_builder.prepare import (
    DELIVERY_SCOPE_LABEL,
    DELIVERY_VERSION_LABEL,
    BuildPlan,
    IndexInfo,
    prepare_build,
    prepare_merge,
)
from services.index_builder.state import StateCache

__all__ = ["GROUPABLE", "IndexBuilder", "use_csv_metadata"]

#: Request kinds a serial request builds together with the ones queued behind it.
GROUPABLE = frozenset({"add", "rm", "fbc_operations", "add_deprecations"})

log = logging.getLogger(__name__)
_OPM_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
#: seals (opm's cache digest, one sequential FNV-1a pass over the whole catalog and cache, run
#: in C without the GIL) of a group's requests that may run at once: each reads only its own
#: request's files (two at once: the bench's 20-add drain 24.1 -> 22.8 s, docs/benchmarks.md)
_SEAL_LANES = 2


def use_csv_metadata(settings: Settings, ocp_version: str) -> bool:
    """Whether bundles carry ``olm.csv.metadata`` (else ``olm.bundle.object``) for an index of
    ``ocp_version``: what the opm version IIB would pick for it emits (§0.6)."""
    opm = settings.ocp_opm_mapping.get(ocp_version, settings.default_opm)
    match = _OPM_VERSION.search(opm)
    if match is None:
        return True
    version = tuple(int(part) for part in match.groups())
    if version < (1, 30, 0):
        return False
    return version != (1, 46, 0)


@dataclass
class _Finish:
    """What ``_finish`` does for a build: the outputs to record and what to overwrite."""

    plan: BuildPlan
    output: str
    index: requests_pb2.IndexImageParams | None
    reason: str
    full_results: bool
    overwrite: str | None


@dataclass
class _Build:
    """State of one request's build: its workspace, registry access and pushed images."""

    ctx: WorkContext
    images: ImageService
    workdir: Path
    pushed: PushRecord = field(default_factory=PushRecord)
    timer: StepTimer = field(default_factory=StepTimer)
    # In a coalesced group: the catalog the previous request left (instead of from_index's),
    # the from_index digest this request sees (the previous request's output), whether the
    # finish (overwrite, complete) waits for the group, and what it would have done.
    base: IndexContent | None = None
    from_index_resolved: str | None = None
    deferred: bool = False
    finish: _Finish | None = None
    # In a group: the image still to push (sealed and pushed in the group's push lane while
    # the next request builds), and whether from_index_resolved is reported only when the
    # request completes (the previous request's image was being pushed when it began).
    prepared: PreparedIndex | None = None
    late_from_index: bool = False
    # the worker's registry traffic counters when the build began
    traffic: dict[str, int] = field(default_factory=dict)
    result: IndexContent | None = None
    #: what the build's change set does to its input catalog (the request's catalog diff)
    diff: cat.CatalogDiff | None = None

    def progress(self, reason: str, results: requests_pb2.RequestResults | None = None) -> None:
        self.ctx.check_cancelled()
        log.info(reason)
        self.ctx.progress(reason, results)


@dataclass
class _Pending:
    """A group's request whose image is being pushed, and its open log file."""

    build: _Build
    push: Future[BuiltIndex]
    logs: ExitStack


@dataclass
class _Group:
    """A coalesced group as it builds: the requests done (pushed), the newest catalog pushed,
    its output as the next request's from_index, and the push under way."""

    done: list[_Build] = field(default_factory=list)
    good: IndexContent | None = None
    previous_output: str | None = None
    pending: _Pending | None = None
    #: the memories of manifests and configs its requests read, one per set of credentials
    #: (``request_images``): each request would read the same from_index and binary image
    memos: dict[str, ImageMemo] = field(default_factory=dict)


def _pushed(built: BuiltIndex) -> BuiltIndex:
    log.info("pushed %s (%s)", built.resolved, ", ".join(built.pull_specs))
    return built


def _packages_of(catalog: cat.CatalogView | None, images: Collection[str]) -> set[str]:
    """The packages of ``catalog`` holding any of the bundle ``images``."""
    if catalog is None or not images:
        return set()
    wanted = set(images)
    return {ref.package for ref in cat.present_bundle_images(catalog) if ref.image in wanted}


def _diff(base: cat.CatalogView, changes: cat.CatalogChanges) -> cat.CatalogDiff | None:
    """The catalog diff of a change set; None (logged) if it cannot be made: the diff is a
    report, it never fails a build."""
    try:
        return cat.catalog_diff(base, changes)
    except Exception:
        log.warning("could not compute the catalog diff", exc_info=True)
        return None


def _package_label(bundle: str, labels: dict[str, str]) -> str:
    """The bundle's package label; a bundle image without one is refused."""
    package = labels.get(BUNDLE_PACKAGE)
    if not package:
        raise IIBError(
            f"The image {bundle} is not an operator bundle image: it has no {BUNDLE_PACKAGE} label"
        )
    return package


class IndexBuilder:
    """Handles the index builder's request types (the worker runtime's handler)."""

    def __init__(
        self,
        settings: Settings,
        client: RegistryClient | None = None,
        gating: GatingClient | None = None,
    ) -> None:
        if not settings.registry:
            raise IIBError(
                "Missing setting IIB_REGISTRY (iib_registry): where index images are pushed"
            )
        self.settings = settings
        self.client = client or base_client(settings)
        self.gating = gating or GatingClient(settings.gating_address, internal_tls(settings))
        self.states = StateCache(
            settings.index_cache_dir
            or Path(settings.work_dir or tempfile.gettempdir()) / "iib-index-cache",
            settings.index_cache_bytes,
        )
        self._handlers: dict[str, Callable[[_Build], None]] = {
            "add": self._add,
            "rm": self._rm,
            "create_empty_index": self._create_empty_index,
            "fbc_operations": self._fbc_operations,
            "add_deprecations": self._add_deprecations,
            "merge_index_image": self._merge_index_image,
        }

    # --- entry point -----------------------------------------------------------------------

    def handle(self, ctx: WorkContext) -> None:
        """Build the request's index image (or fail it with a reason); a serial request builds
        the requests queued behind it on the same index with it (``_handle_group``)."""
        kind = ctx.request.WhichOneof("params")
        handler = self._handlers.get(kind or "")
        with request_workspace(self.settings, ctx.request_id) as workdir:
            if handler is None:
                raise IIBError(f"The index builder cannot handle {kind or 'unknown'} requests")
            if kind in GROUPABLE and ctx.request.serial and self.settings.serial_group_max > 1:
                followers = ctx.claim_followers(self.settings.serial_group_max - 1)
                if followers:
                    self._handle_group([ctx, *followers], workdir)
                    return
            build = _Build(ctx, self._images_for(ctx.request), workdir)
            build.traffic = self.client.stats.snapshot()
            log.info("building request %s (%s), delivery %s", ctx.request_id, kind, ctx.delivery)
            try:
                handler(build)
            except BaseException as exc:
                if ctx.may_discard(exc):
                    build.images.discard(build.pushed)
                self._store_artifacts(build)
                raise
            finally:
                log.info(self._summary(build))
            self._keep(build.result)

    def _handle_group(self, members: list[WorkContext], workdir: Path) -> None:
        """Build serial requests for one index together, as IIB's serial queue would one after
        the other: each starts from the catalog the previous one left, pushes its own image
        and sees the previous output as its from_index; a request that fails, fails alone (the
        next ones build without it). At the end, from_index is overwritten once (each
        request's output is copied to its repository, the last one to its tag), then each
        request completes with its own results.

        The requests overlap: while one request's image is laid out and pushed in a second
        thread (the push lane: mostly native code and network, outside the GIL), the next
        request forks that catalog, applies its operation, and has its own cache sealed (opm's
        digest, in native code) in a third thread, the seal lane. A push has ended before the
        next one starts; when it failed, the request built on its catalog is built again
        without it (its progress steps then appear twice)."""
        log.info(
            "building %d serial requests for one index together: %s",
            len(members),
            ", ".join(str(m.request_id) for m in members),
        )
        head_params = getattr(members[0].request, members[0].request.WhichOneof("params") or "")
        from_index = head_params.index.from_index
        group = _Group()
        expected = self._images_for(members[0].request).resolve(from_index) if from_index else None
        try:
            with (
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="iib-push") as lane,
                ThreadPoolExecutor(
                    max_workers=_SEAL_LANES, thread_name_prefix="iib-seal"
                ) as sealer,
            ):
                for n, member in enumerate(members):
                    self._group_member(group, (lane, sealer), member, workdir, n)
                self._settle(group)
        finally:
            if group.pending is not None:  # an error: the lane has ended (its executor waited)
                group.pending.logs.close()
        started = time.perf_counter()
        self._complete_group(group.done, expected, members[0].request_id)
        log.info(
            "completed the group's %d requests in %.3f s",
            len(group.done),
            time.perf_counter() - started,
        )
        self._keep(group.good)

    def _group_member(
        self,
        group: _Group,
        lanes: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
        member: WorkContext,
        workdir: Path,
        n: int,
    ) -> None:
        """Build the ``n``-th request of ``group`` up to its push, which goes to the push lane
        once the previous push has settled (its log file stays open until its own settles).
        Its seal (opm's cache digest) goes to the seal lane at once: it needs only its own
        files, so it runs while the previous image is laid out and pushed."""
        lane, sealer = lanes
        logs = ExitStack()
        if n:  # the head's log is captured already (request_workspace)
            logs.enter_context(capture_request_log(self.settings, member.request_id))
        try:
            with bound_request(member.request_id):
                build, error = self._build_member(group, member, workdir / f"group-{n}")
                self._start_seal(build, error, sealer)
            if not self._settle(group):
                with bound_request(member.request_id):
                    log.info("building the request again without the failed one before it")
                    build, error = self._build_member(group, member, workdir / f"group-{n}-again")
                    self._start_seal(build, error, sealer)
            with bound_request(member.request_id):
                if error is not None:
                    self._fail_member(build, error)
                    log.info(self._summary(build))
                    logs.close()
                    return
                assert build.prepared is not None
                if build.base is not None and build.base.state is not None:
                    # the parts of the catalog it was forked from are known now (pushed)
                    assert group.good is not None and group.good.state is not None
                    build.base.state.parts = list(group.good.state.parts)
                build.from_index_resolved = group.previous_output
                push = lane.submit(contextvars.copy_context().run, self._push_member, build)
            group.pending = _Pending(build, push, logs)
        except BaseException:
            logs.close()
            raise

    @staticmethod
    def _push_member(build: _Build) -> BuiltIndex:
        """Push a group member's image (in the push lane); when it overwrites from_index, also
        copy the image into from_index's repository by digest at once (its new layers from
        their files), so the overwrite at the group's end (on every later request's path) only
        has to push manifests. Until then no tag moves; a request that fails later deletes the
        manifests it created there (its push record). A copy that fails here is left to the
        overwrite, which reports it."""
        assert build.prepared is not None and build.finish is not None
        built = build.prepared.push()
        target = build.finish.overwrite
        if target:
            try:
                repository = name_without_tag_or_digest(target)
                with build.timer.step("overwrite"):
                    # the new layers mounted from the image's repository, else uploaded
                    # from their files: never downloaded again to be copied
                    build.images.upload_layers(repository, built.layers, mount_from=built.resolved)
                    build.images.copy(built.resolved, [repository], build.pushed)
                log.info("copied %s to %s by digest ahead of the overwrite", built.resolved, target)
            except RegistryError as exc:
                log.warning(
                    "could not copy %s to %s ahead of the overwrite: %s",
                    built.resolved,
                    target,
                    exc,
                )
        return built

    @staticmethod
    def _start_seal(build: _Build, error: BaseException | None, sealer: ThreadPoolExecutor) -> None:
        """Submit the seal of a built group member (its push waits for it, and fails as it
        failed). A seal that is no longer wanted (the member is built again) still runs to its
        end, on files the workspace keeps until the group is done."""
        if error is None and build.prepared is not None:
            build.prepared.sealing = sealer.submit(
                contextvars.copy_context().run, build.prepared.seal
            )

    def _build_member(
        self, group: _Group, member: WorkContext, member_dir: Path
    ) -> tuple[_Build, BaseException | None]:
        """Run the request's handler in a group up to its push, on the newest catalog of the
        group (its image may still be being pushed); returns the build and its error."""
        kind = member.request.WhichOneof("params") or ""
        member_dir.mkdir()
        build = _Build(member, self._images_for(member.request, group.memos), member_dir)
        build.traffic = self.client.stats.snapshot()
        build.deferred = True
        source = group.pending.build.result if group.pending is not None else group.good
        if source is not None:
            with build.timer.step("fork"):
                build.base = source.fork(member_dir / "base")
        # while the previous image is being pushed its digest (this from_index) is not known
        build.late_from_index = group.pending is not None
        build.from_index_resolved = None if build.late_from_index else group.previous_output
        try:
            self._handlers[kind](build)
        except Cancelled:
            raise
        except BaseException as exc:
            return build, exc
        assert build.finish is not None and build.result is not None
        return build, None

    def _settle(self, group: _Group) -> bool:
        """Wait for the group's pending push; returns whether it worked (the request is then
        done and its output is the next from_index; else it failed, with its reason)."""
        pending, group.pending = group.pending, None
        if pending is None:
            return True
        build = pending.build
        try:
            with bound_request(build.ctx.request_id):
                try:
                    built = pending.push.result()
                except BaseException as exc:
                    self._fail_member(build, exc)
                    log.info(self._summary(build))
                    return False
                # its step durations are logged once it completes (the overwrite is a step)
                _pushed(built)
                assert build.finish is not None
                group.done.append(build)
                group.good = build.result
                index = build.finish.index
                group.previous_output = (
                    f"{name_without_tag_or_digest(index.from_index)}@{built.digest}"
                    if index is not None and index.from_index
                    else None
                )
                return True
        finally:
            pending.logs.close()

    def _complete_group(self, done: list[_Build], expected: str | None, head_id: int) -> None:
        """Overwrite from_index with the group's outputs and complete every request that built,
        in order: each earlier output is copied to from_index's repository by digest, the last
        one to its tag (so every request's ``index_image_resolved`` can be pulled). When the
        last overwrite fails, that request fails and the newest earlier output takes the tag."""
        for n, build in enumerate(done):
            assert build.finish is not None
            last = n == len(done) - 1
            head = build.ctx.request_id == head_id
            with nullcontext() if head else request_log(self.settings, build.ctx.request_id):
                try:
                    self._complete(build, build.finish, expected=expected, tag=last)
                except BaseException as exc:
                    self._fail_member(build, exc)
                    if last:
                        self._retag(done[:n], expected)
                    elif isinstance(exc, Cancelled):
                        raise
                finally:
                    log.info(self._summary(build))

    def _retag(self, done: list[_Build], expected: str | None) -> None:
        """Point from_index's tag at the newest output of ``done`` whose overwrite works."""
        for build in reversed(done):
            fin = build.finish
            if fin is None or not fin.overwrite:
                return
            try:
                if build.images.resolve(fin.overwrite) != expected:
                    return
                build.images.copy(fin.output, [fin.overwrite])
                log.info("from_index %s now serves %s", fin.overwrite, fin.output)
                return
            except RegistryError as exc:
                log.error("cannot overwrite %s with %s: %s", fin.overwrite, fin.output, exc)

    def _keep(self, result: IndexContent | None) -> None:
        """Keep the newest state for the next build (after the requests completed: it is not
        on their path, but on the next request's). Its files are moved into the cache: this is
        the build's last use of them, its workspace is deleted next."""
        if result is not None and result.state is not None:
            started = time.perf_counter()
            self.states.put(result.state, move=True)
            log.info(
                "kept the index state in %.3f s (the cache holds %.1f MB)",
                time.perf_counter() - started,
                self.states.held() / 1e6,  # counted by put: not scanned again
            )

    @staticmethod
    def _apply(build: _Build, content: IndexContent, changes: cat.CatalogChanges) -> None:
        """Write ``changes`` to the build's catalog, noting what they do (its catalog diff)."""
        build.diff = _diff(content.catalog, changes)
        content.apply(changes)

    def _store_artifacts(self, build: _Build, *, with_diff: bool = False) -> None:
        """Store the build's step durations and (``with_diff``: it completes) its catalog diff
        where the logs go, before the request's final state is recorded. Never raises: a
        missing artifact must not fail a build."""
        store = artifact_store(self.settings)
        steps = {
            "steps": [
                {"name": name, "seconds": round(took, 6)}
                for name, took in build.timer.durations.items()
            ]
        }
        items: list[tuple[ArtifactKind, object]] = [(ArtifactKind.STEPS, steps)]
        if with_diff and build.diff is not None:
            items.append((ArtifactKind.CATALOG_DIFF, build.diff.to_json()))
        for kind, body in items:
            try:
                store.store(kind, build.ctx.request_id, json.dumps(body, sort_keys=True).encode())
            except Exception as exc:
                log.warning("could not store the %s artifact: %s", kind.name.lower(), exc)

    def _summary(self, build: _Build) -> str:
        """The step durations and the registry traffic of the worker since the build began
        (other requests the worker runs at the same time count too)."""
        now = self.client.stats.snapshot()
        up = now["bytes_uploaded"] - build.traffic.get("bytes_uploaded", 0)
        down = now["bytes_downloaded"] - build.traffic.get("bytes_downloaded", 0)
        calls = now["requests"] - build.traffic.get("requests", 0)
        return (
            f"{build.timer.summary()}; registry traffic: {up / 1e6:.1f} MB uploaded, "
            f"{down / 1e6:.1f} MB downloaded, {calls} requests"
        )

    def _fail_member(self, build: _Build, error: BaseException) -> None:
        """Fail one request of a group with its reason (as the worker runtime would)."""
        if isinstance(error, FinalStateReached) or build.ctx.finished:
            return
        reason = str(error) if isinstance(error, IIBError) else UNKNOWN_ERROR
        if not isinstance(error, IIBError):
            log.error("request failed with an unexpected error", exc_info=error)
        if build.ctx.may_discard(error):
            build.images.discard(build.pushed)
        self._store_artifacts(build)
        try:
            build.ctx.fail(reason)
        except FinalStateReached:
            pass

    def _images_for(
        self, request: requests_pb2.Job, memos: dict[str, ImageMemo] | None = None
    ) -> ImageService:
        kind = request.WhichOneof("params")
        params = getattr(request, kind or "", None)
        index = getattr(params, "index", None)
        from_index = (
            index.from_index if index is not None and index.HasField("from_index") else None
        )
        token = request.secrets.overwrite_from_index_token or None
        if kind == "merge_index_image":
            merge = request.merge_index_image
            from_index = merge.target_index if merge.HasField("target_index") else None
            token = request.secrets.overwrite_target_index_token or None
        return request_images(
            self.client,
            token_for=from_index,
            token=token,
            registry_auths_json=request.secrets.registry_auths_json or None,
            memos=memos,
        )

    # --- shared steps ------------------------------------------------------------------------

    def _targets(self, request_id: int, build_tags: Sequence[str]) -> list[str]:
        template = self.settings.image_push_template
        return [
            template.format(registry=self.settings.registry, request_id=tag)
            for tag in [str(request_id), *dict.fromkeys(build_tags)]
        ]

    def _prepare(
        self, build: _Build, index: requests_pb2.IndexImageParams, *, add_arches: bool = True
    ) -> BuildPlan:
        build.progress("Resolving the container images")
        with build.timer.step("resolve"):
            plan = prepare_build(
                build.images,
                from_index=index.from_index if index.HasField("from_index") else None,
                binary_image=index.binary_image if index.HasField("binary_image") else None,
                add_arches=list(index.add_arches) if add_arches else [],
                distribution_scope=index.distribution_scope
                if index.HasField("distribution_scope")
                else None,
                binary_image_config_json=build.ctx.request.binary_image_config_json,
            )
        if build.from_index_resolved is not None:
            # in a group, from_index is what the previous request of the group made of it
            plan.index.resolved = build.from_index_resolved
        return plan

    def _report_plan(
        self,
        build: _Build,
        plan: BuildPlan,
        bundle_mapping: dict[str, list[str]] | None = None,
        fragments_resolved: list[str] | None = None,
        legacy_fragment: bool = False,
        merge_source: IndexInfo | None = None,
    ) -> None:
        results = requests_pb2.RequestResults(
            binary_image=plan.binary_image,
            binary_image_resolved=plan.binary_image_resolved,
            distribution_scope=plan.distribution_scope,
        )
        if merge_source is not None:
            if merge_source.resolved:
                results.source_from_index_resolved = merge_source.resolved
            if plan.index.resolved:
                results.target_index_resolved = plan.index.resolved
        elif plan.index.resolved and not build.late_from_index:
            results.from_index_resolved = plan.index.resolved
        for operator, bundles in (bundle_mapping or {}).items():
            results.bundle_mapping[operator].values.extend(bundles)
        if fragments_resolved:
            results.fbc_fragments_resolved.values.extend(fragments_resolved)
            if legacy_fragment:
                results.fbc_fragment_resolved = fragments_resolved[0]
        build.progress(
            f"Building the index image for the following arches: {plan.arches_text}", results
        )

    def _check_binary_arch_labels(self, build: _Build, plan: BuildPlan) -> None:
        """The binary image's per-arch ``architecture`` label must match (IIB's wrong-arch check)."""
        if plan.binaryless:
            return
        for arch, labels in build.images.labels_per_arch(plan.binary_image_resolved).items():
            name = arch.split("/")[0]
            expected = self.settings.supported_archs.get(name)
            found = labels.get("architecture")
            if name in plan.arches and expected and found and found != expected:
                raise IIBError(
                    f"Wrong arch created, for image {plan.binary_image_resolved} expected arch "
                    f"{expected}, found {found}"
                )

    def _load_catalog(self, build: _Build, plan: BuildPlan) -> tuple[IndexContent, str]:
        """The from_index's catalog and provenance (or an empty one), and the from_index kind."""
        if build.base is not None:
            return build.base, "fbc"
        csv_metadata = use_csv_metadata(self.settings, plan.index.ocp_version)
        if plan.index.resolved:
            kind = index_kind(build.images.get_image_labels(plan.index.resolved))
            with build.timer.step("load catalog"):
                loaded = load_index_catalog(
                    build.images,
                    plan.index.resolved,
                    build.workdir / "index",
                    csv_metadata=csv_metadata,
                    states=self.states,
                )
            return loaded, kind
        empty = build.workdir / "index" / "configs"
        empty.mkdir(parents=True)
        return IndexContent(cat.CatalogDir.open(empty)), ""

    def _labels(self, plan: BuildPlan, extra: dict[str, str] | None = None) -> dict[str, str]:
        labels = {
            DELIVERY_VERSION_LABEL: plan.index.ocp_version,
            DELIVERY_SCOPE_LABEL: plan.distribution_scope,
        }
        labels.update(extra or {})
        return labels

    def _push(
        self,
        build: _Build,
        plan: BuildPlan,
        loaded: IndexContent,
        build_tags: Sequence[str],
        labels: dict[str, str],
        *,
        fbc_packages: Collection[str] = (),
        reuse_from: str | None = None,
        announce: bool = True,
    ) -> str:
        """Validate the catalog and push the index image; returns the output pull spec.

        ``reuse_from``: the index whose layers may be reused (default: the request's index);
        ``announce``: report "Creating the manifest list" (IIB does, except for merge)."""
        catalog = loaded.catalog
        base = loaded.state
        targets = self._targets(build.ctx.request_id, build_tags)
        # the catalog is validated as its serving cache is written (the first step of the
        # preparation, before anything is pushed): the whole catalog in one pass with the
        # cache's (the same checks and problem tree as ``cat.validate``), or, from a base
        # state (which was valid), its changed packages
        prepared = prepare_index_image(
            build.images,
            view=catalog,
            configs_root=catalog.root,
            workdir=build.workdir / "output",
            binary_image_resolved=plan.binary_image_resolved,
            arches=sorted(plan.arches),
            targets=targets,
            labels=labels,
            record=build.pushed,
            fbc_packages=fbc_packages,
            base=base,
            timer=build.timer,
            output_format=mt.ImageFormat(self.settings.output_manifest_format),
            seal=False,  # sealed by the push, beside its layers (or in a group's seal lane)
        )
        if base is None:  # read once the catalog is known to be valid
            prepared.reuse = self._reusable_layers(build, reuse_from or plan.index.resolved)
        self._check_binary_arch_labels(build, plan)
        if announce:
            build.progress("Creating the manifest list")
        state = prepared.state
        build.result = IndexContent(catalog, state.fbc_packages, state)
        if build.deferred:
            # in a group: sealed and pushed in the group's push lane (``_handle_group``)
            build.prepared = prepared
        else:
            _pushed(prepared.push())
        return targets[0]

    def _push_and_finish(
        self,
        build: _Build,
        plan: BuildPlan,
        loaded: IndexContent,
        index: requests_pb2.IndexImageParams,
        reason: str,
        fbc_packages: Collection[str] = (),
    ) -> None:
        """The usual end of a build: push with the request's build tags and IIB's labels, then
        overwrite from_index if asked and complete with ``reason``."""
        output = self._push(
            build,
            plan,
            loaded,
            list(index.build_tags),
            self._labels(plan),
            fbc_packages=fbc_packages,
        )
        self._finish(build, plan, output, index, reason)

    @staticmethod
    def _reusable_layers(build: _Build, index: str | None) -> dict[str, RemoteLayer]:
        """The input index's layers, so unchanged catalog parts are mounted, not rebuilt.

        Only an optimisation: if they cannot be read, everything is built."""
        if not index:
            return {}
        try:
            return build.images.reusable_layers(index)
        except RegistryError as exc:
            log.warning("not reusing layers of %s: %s", index, exc)
            return {}

    def _finish(
        self,
        build: _Build,
        plan: BuildPlan,
        output: str,
        index: requests_pb2.IndexImageParams | None,
        reason: str,
        *,
        full_results: bool = True,
        overwrite: str | None = None,
    ) -> None:
        """Overwrite from_index (``overwrite``: merge's target_index) if asked, then record the
        outputs and complete (§0.8). In a group the finish waits for the group's end."""
        if overwrite is None and index is not None and index.overwrite_from_index:
            overwrite = index.from_index or None
        fin = _Finish(plan, output, index, reason, full_results, overwrite)
        if build.deferred:
            build.finish = fin
            return
        self._complete(build, fin, expected=plan.index.resolved)

    def _complete(
        self, build: _Build, fin: _Finish, *, expected: str | None, tag: bool = True
    ) -> None:
        """Overwrite (when asked: ``from_index`` must still be ``expected``; without ``tag``
        only by digest, for a group's earlier requests), record the outputs and complete."""
        images = build.images
        plan, output, reason = fin.plan, fin.output, fin.reason
        output_digest = images.get_image_digest(output)
        # copied by digest: what was resolved is what is copied (a group member's list and
        # entries, read by digest when it was copied ahead, are not read again)
        output_pinned = f"{name_without_tag_or_digest(output)}@{output_digest}"
        index_image = output
        build.ctx.check_cancelled()
        if fin.overwrite:
            from_index = fin.overwrite
            current = images.resolve(from_index)
            if current != expected:
                raise IIBError(
                    "The supplied from_index image changed during the IIB request. Please "
                    "resubmit the request."
                )
            build.progress(f"Overwriting the index image {from_index} with {output}")
            pushed = push_configs_to_git(self.settings, build, expected)
            try:
                with build.timer.step("overwrite"):
                    images.copy(
                        output_pinned,
                        [from_index if tag else name_without_tag_or_digest(from_index)],
                    )
            except RegistryError as exc:
                if pushed is not None:
                    pushed.revert()
                raise IIBError(
                    f"Failed to overwrite the input from_index container image of {from_index}: {exc}"
                ) from None
            # the point of no return: from_index now serves the output, which must stay
            build.pushed.created.clear()
            index_image = from_index
        elif self.settings.index_image_output_registry and self.settings.registry:
            index_image = output.replace(
                self.settings.registry, self.settings.index_image_output_registry, 1
            )
        results = requests_pb2.RequestResults(arches=sorted(plan.arches), index_image=index_image)
        if build.late_from_index and build.from_index_resolved:
            results.from_index_resolved = build.from_index_resolved
        if fin.full_results:
            results.index_image_resolved = (
                f"{name_without_tag_or_digest(index_image)}@{output_digest}"
            )
            results.internal_index_image_copy = output
            results.internal_index_image_copy_resolved = output_pinned
        self._store_artifacts(build, with_diff=True)
        build.ctx.complete(reason, results)
        build.pushed.created.clear()
        log.info("request %s complete: %s", build.ctx.request_id, index_image)

    def _bundle_label(self, images: ImageService, bundle: str) -> str:
        return _package_label(bundle, images.get_image_labels(bundle))

    def _render(
        self, build: _Build, bundles: Sequence[str], csv_metadata: bool
    ) -> list[cat.RenderedBundle]:
        rendered = []
        (build.workdir / "bundles").mkdir(exist_ok=True)
        for n, bundle in enumerate(bundles):
            build.ctx.check_cancelled()
            labels = build.images.get_image_labels(bundle)
            _package_label(bundle, labels)
            manifests = label_path(BUNDLE_MANIFESTS, labels.get(BUNDLE_MANIFESTS), "manifests")
            metadata = label_path(BUNDLE_METADATA, labels.get(BUNDLE_METADATA), "metadata")
            root = Path(tempfile.mkdtemp(prefix=f"{n}-", dir=build.workdir / "bundles"))
            build.images.unpack(bundle, root, include=[manifests, metadata])
            if manifests != "manifests" and (root / manifests).is_dir():
                (root / manifests).rename(root / "manifests")
            if metadata != "metadata" and (root / metadata).is_dir():
                (root / metadata).rename(root / "metadata")
            try:
                rendered.append(cat.render_bundle(root, bundle, csv_metadata=csv_metadata))
            except IIBError as exc:
                raise IIBError(f"Failed to render the bundle {bundle}: {exc}") from None
        return rendered

    # --- add ---------------------------------------------------------------------------------

    def _add(self, build: _Build) -> None:
        request = build.ctx.request
        params = request.add
        index = params.index
        images = build.images
        build.progress("Resolving the bundles")
        with build.timer.step("resolve bundles"):
            resolved = [images.get_resolved_bundle(b) for b in params.bundles]
        for bundle in resolved:
            for label, value in self.settings.required_labels.items():
                if images.get_image_label(bundle, label) != value:
                    raise IIBError(f"The bundle {bundle} does not have the label {label}={value}")
        if params.check_related_images:
            self._check_related_images(build, resolved)
        self.gating.gate(request.id, request.queue, resolved, images.get_image_labels)
        plan = self._prepare(build, index)
        bundle_mapping: dict[str, list[str]] = {}
        for bundle in params.bundles:
            bundle_mapping.setdefault(self._bundle_label(images, bundle), []).append(bundle)
        self._report_plan(build, plan, bundle_mapping)
        loaded, _kind = self._load_catalog(build, plan)
        catalog = loaded.catalog
        present: list[str] = []
        to_add = list(dict.fromkeys(resolved))
        if plan.index.resolved:
            build.progress("Checking if bundles are already present in index image")
            present = [ref.image for ref in cat.present_bundle_images(catalog)]
            to_add = cat.missing_bundles(present, to_add)
            skipped = [b for b in resolved if b not in to_add]
            if skipped:
                log.info("Following bundles are already present in the index image: %s", skipped)
        csv_metadata = use_csv_metadata(self.settings, plan.index.ocp_version)
        with build.timer.step("render bundles"):
            rendered = self._render(build, to_add, csv_metadata)
        view: cat.CatalogView = catalog
        changes = cat.CatalogChanges()
        if rendered:
            mode = params.graph_update_mode if params.HasField("graph_update_mode") else "replaces"
            try:
                with build.timer.step("operation"):
                    added = cat.add_bundles(
                        view,
                        rendered,
                        mode=mode,  # type: ignore[arg-type]
                        overwrite_latest=plan.distribution_scope in ("dev", "stage"),
                    )
            except IIBError as exc:
                raise IIBError(f"Failed to add the bundles to the index image: {exc}") from None
            view, changes = added.catalog, changes.merged(added.changes)
            maxocp = cat.add_max_ocp_version_property(view, rendered)
            view, changes = maxocp.catalog, changes.merged(maxocp.changes)
        if params.deprecation_list:
            deprecation_resolved = images.get_resolved_bundles(params.deprecation_list)
            to_deprecate = cat.bundles_in_deprecation_list(
                list(dict.fromkeys([*present, *resolved])), deprecation_resolved
            )
            if not to_deprecate:
                log.warning("None of the bundles in the deprecation list are in the index image")
            else:
                try:
                    deprecated = cat.deprecate_truncate(view, to_deprecate)
                except IIBError as exc:
                    raise IIBError(f"Failed to deprecate the bundles: {exc}") from None
                view, changes = deprecated.catalog, changes.merged(deprecated.changes)
        self._apply(build, loaded, changes)
        # bundles added to a package make it bundle-added (IIB adds them to its hidden database)
        self._push_and_finish(
            build,
            plan,
            loaded,
            index,
            "The operator bundle(s) were successfully added to the index image",
            loaded.fbc_packages - {r.package for r in rendered},
        )

    def _check_related_images(self, build: _Build, bundles: Sequence[str]) -> None:
        from operator_manifest.operator import OperatorManifest

        user = build.ctx.request.user
        replacements = self.settings.related_image_registry_replacement.get(user) or {}
        failed: list[str] = []
        for n, bundle in enumerate(bundles):
            labels = build.images.get_image_labels(bundle)
            manifests = label_path(BUNDLE_MANIFESTS, labels.get(BUNDLE_MANIFESTS), "manifests")
            root = build.workdir / "related" / str(n)
            build.images.unpack(bundle, root, include=[manifests])
            try:
                # bounded before ruamel.yaml parses it (depth, nodes after alias expansion)
                check_yaml_files(root / manifests, syntax_errors=False)
                manifest = OperatorManifest.from_directory(str(root / manifests))
            except Exception as exc:
                raise IIBError(
                    f"The Operator Manifest is not in a valid YAML format: {exc}"
                ) from None
            for csv in manifest.files:
                for pullspec in sorted(str(p) for p in csv.get_pullspecs()):
                    registry, _, rest = pullspec.partition("/")
                    spec = (
                        f"{replacements[registry]}/{rest}" if registry in replacements else pullspec
                    )
                    try:
                        build.images.get_manifest(spec)
                    except IIBError:
                        failed.append(spec)
        if failed:
            raise IIBError(f"IIB cannot access the following related images {failed!r}")

    # --- rm ------------------------------------------------------------------------------------

    def _rm(self, build: _Build) -> None:
        params = build.ctx.request.rm
        index = params.index
        plan = self._prepare(build, index)
        self._report_plan(build, plan)
        loaded, kind = self._load_catalog(build, plan)
        catalog = loaded.catalog
        try:
            removed = cat.remove_packages(
                catalog, list(params.operators), permissive=kind != "sqlite"
            )
        except IIBError as exc:
            raise IIBError(f"Failed to remove operators from the index image: {exc}") from None
        self._apply(build, loaded, removed.changes)
        self._push_and_finish(
            build,
            plan,
            loaded,
            index,
            "The operator(s) were successfully removed from the index image",
            loaded.fbc_packages - set(params.operators),
        )

    # --- create-empty-index ---------------------------------------------------------------------

    def _create_empty_index(self, build: _Build) -> None:
        params = build.ctx.request.create_empty_index
        index = params.index
        plan = self._prepare(build, index, add_arches=False)
        if not params.output_fbc and plan.index.resolved:
            labels = build.images.get_image_labels(plan.index.resolved)
            if labels.get(INDEX_CONFIGS):
                raise IIBError(
                    "Cannot create SQLite index image from File-Based Catalog index image"
                )
        self._report_plan(build, plan)
        build.progress("Checking operators present in index image")
        catalog = self._load_catalog(build, plan)[0].catalog  # rebuilt whole below
        operators = catalog.package_names()
        build.progress("Removing operators from index image")
        removed = cat.remove_packages(catalog, operators, permissive=True)
        build.diff = _diff(catalog, removed.changes)
        catalog.apply(removed.changes)
        for leftover in sorted(p for p in catalog.root.iterdir()):
            # package-less documents and deprecation files go too: the index is empty
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        catalog = cat.CatalogDir.open(catalog.root)
        build.progress("Getting and updating labels for new index image")
        labels = self._labels(plan, dict(params.labels))
        output = self._push(build, plan, IndexContent(catalog), [], labels)
        self._finish(
            build,
            plan,
            output,
            None,
            "The empty index image was successfully created",
            full_results=False,
        )

    # --- fbc-operations -------------------------------------------------------------------------

    def _fbc_operations(self, build: _Build) -> None:
        params = build.ctx.request.fbc_operations
        index = params.index
        fragments = list(params.fbc_fragments)
        build.progress("Resolving the fbc fragments")
        resolved = [build.images.resolve(f) for f in fragments]
        plan = self._prepare(build, index)
        self._report_plan(
            build, plan, fragments_resolved=resolved, legacy_fragment=params.used_fbc_fragment
        )
        loaded, _kind = self._load_catalog(build, plan)
        catalog = loaded.catalog
        build.progress(f"Extracting operator packages from {len(fragments)} fbc fragment(s)")
        view: cat.CatalogView = catalog
        changes = cat.CatalogChanges()
        roots: list[Path] = []
        for n, (fragment, fragment_resolved) in enumerate(zip(fragments, resolved, strict=True)):
            labels = build.images.get_image_labels(fragment_resolved)
            configs = label_path(INDEX_CONFIGS, labels.get(INDEX_CONFIGS), "configs")
            rootfs = build.workdir / f"fbc-fragment-{n}"
            build.images.unpack(fragment_resolved, rootfs, include=[configs])
            root = rootfs / configs
            packages = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
            if not packages:
                raise IIBError(f"No operator packages in fbc_fragment {fragment}")
            roots.append(root)
        from_fragments: set[str] = set()
        for n, (fragment, root) in enumerate(zip(fragments, roots, strict=True)):
            packages = sorted(p.name for p in root.iterdir())
            from_fragments.update(packages)
            build.progress(
                f"Adding package(s) {packages!r} from fbc fragment {n + 1}/{len(fragments)} to from_index"
            )
            replaced = cat.replace_packages_from_fragment(view, root, label=fragment)
            view, changes = replaced.catalog, changes.merged(replaced.changes)
        self._apply(build, loaded, changes)
        self._push_and_finish(
            build,
            plan,
            loaded,
            index,
            f"The {len(fragments)} FBC fragment(s) were successfully added in the index image",
            loaded.fbc_packages | from_fragments,
        )

    # --- add-deprecations -----------------------------------------------------------------------

    def _add_deprecations(self, build: _Build) -> None:
        params = build.ctx.request.add_deprecations
        index = params.index
        build.progress("Resolving the index images")
        plan = self._prepare(build, index)
        self._report_plan(build, plan)
        loaded, _kind = self._load_catalog(build, plan)
        catalog = loaded.catalog
        package = params.operator_package
        if package not in catalog.package_names() or package in loaded.fbc_packages:
            # IIB looks for the package in its hidden database of bundle-added packages
            raise IIBError(
                f"Cannot add deprecations for {package}, It is either not present in index or "
                "opted in fbc"
            )
        build.progress("Getting all deprecations present in index image")
        build.progress("Adding deprecations to from_index")
        upserted = cat.upsert_deprecations(
            catalog, params.operator_package, params.deprecation_schema
        )
        self._apply(build, loaded, upserted.changes)
        self._push_and_finish(
            build,
            plan,
            loaded,
            index,
            "The deprecation schema was successfully added to the index image",
            loaded.fbc_packages,
        )

    # --- merge-index-image ----------------------------------------------------------------------

    def _merge_index_image(self, build: _Build) -> None:
        """Bring source_from_index up to date with target_index (§1.4)."""
        params = build.ctx.request.merge_index_image
        images = build.images
        target_index = params.target_index if params.HasField("target_index") else None
        build.progress("Resolving the container images")
        plan, source = prepare_merge(
            images,
            source_from_index=params.source_from_index,
            target_index=target_index,
            binary_image=params.binary_image if params.HasField("binary_image") else None,
            distribution_scope=params.distribution_scope
            if params.HasField("distribution_scope")
            else None,
            binary_image_config_json=build.ctx.request.binary_image_config_json,
        )
        assert source.resolved is not None
        self._report_plan(build, plan, merge_source=source)
        source_kind = index_kind(images.get_image_labels(source.resolved))
        target_kind = (
            index_kind(images.get_image_labels(plan.index.resolved)) if plan.index.resolved else ""
        )
        if source_kind == "fbc" and target_kind == "sqlite":
            raise IIBError(
                "Cannot merge source File-Based Catalog index image into target SQLite index image."
            )
        build.progress("Getting bundles present in the index images")
        csv_metadata = use_csv_metadata(self.settings, plan.index.ocp_version)
        source_content = load_index_catalog(
            images, source.resolved, build.workdir / "source", csv_metadata=csv_metadata
        )
        catalog = source_content.catalog
        target_content = (
            load_index_catalog(
                images, plan.index.resolved, build.workdir / "target", csv_metadata=csv_metadata
            )
            if plan.index.resolved
            else None
        )
        target = target_content.catalog if target_content is not None else None
        deprecation_list = (
            images.get_resolved_bundles(params.deprecation_list) if params.deprecation_list else []
        )
        labels = self._ocp_labels(build, catalog, target)
        user = build.ctx.request.user
        allow_no_ocp_version = params.ignore_bundle_ocp_version and any(
            (target_index or "").startswith(entry)
            or params.source_from_index.startswith(entry)
            or entry == user
            for entry in self.settings.no_ocp_label_allow_list
        )
        build.progress("Adding bundles missing in source index image")
        merged = cat.merge_index(
            catalog,
            target,
            deprecation_list,
            target_ocp_version=plan.index.ocp_version,
            render=lambda image: self._render(build, [image], csv_metadata)[0],
            ocp_label=lambda image: (
                labels[image] if image in labels else self._ocp_label(build, image)
            ),
            allow_no_ocp_version=allow_no_ocp_version,
            graph_update_mode=params.graph_update_mode  # type: ignore[arg-type]
            if params.HasField("graph_update_mode")
            else None,
        )
        report = merged.report
        log.info(
            "merge: %d bundle(s) added from the target index %s, %d with an OCP version label "
            "that does not admit %s, %d deprecated",
            len(report.missing_bundles),
            report.missing_bundles,
            len(report.invalid_version_bundles),
            plan.index.ocp_version,
            len(report.deprecated_bundles),
        )
        build.progress("Deprecating bundles in the deprecation list")
        self._apply(build, source_content, merged.changes)
        output = self._push(
            build,
            plan,
            source_content,
            list(params.build_tags),
            self._labels(plan),
            # the source's fragment packages stay so, unless target bundles were added to them
            fbc_packages=source_content.fbc_packages - _packages_of(target, report.missing_bundles),
            reuse_from=source.resolved,
            announce=False,
        )
        self._finish(
            build,
            plan,
            output,
            None,
            "The index image was successfully cleaned and updated.",
            full_results=False,
            overwrite=target_index if params.overwrite_target_index else None,
        )

    def _ocp_label(self, build: _Build, image: str) -> str | None:
        build.ctx.check_cancelled()
        return build.images.get_image_labels(image).get(OCP_VERSIONS)

    def _ocp_labels(
        self, build: _Build, source: cat.CatalogView, target: cat.CatalogView | None
    ) -> dict[str, str | None]:
        """``com.redhat.openshift.versions`` of every source bundle and every target bundle the
        source lacks (the bundles merge checks), read 8 at a time (IIB reads them one by one)."""
        source_refs = cat.present_bundle_images(source)
        digests = {ref.image.split("@")[-1] for ref in source_refs}
        images = [ref.image for ref in source_refs]
        if target is not None:
            images += [
                ref.image
                for ref in cat.present_bundle_images(target)
                if ref.image.split("@")[-1] not in digests
            ]
        # a reference without a digest is refused by the merge itself, with IIB's message
        images = [i for i in dict.fromkeys(images) if "@sha256:" in i]

        def read(image: str) -> str | None:
            return self._ocp_label(build, image)

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(contextvars.copy_context().run, read, i) for i in images]
            return {image: future.result() for image, future in zip(images, futures, strict=True)}
