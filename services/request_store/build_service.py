"""``iib.builds.v1.BuildService``: the typed API for gRPC clients, and ``Dashboard``.

A thin adapter over :class:`~services.request_store.service.RequestStoreCore`: submissions go
through :meth:`RequestStoreCore.accept` (IIB's validation, routing and idempotency), reads
through the store, identities through :func:`~services.request_store.service.call_context`
(the user only from a gateway identity). The watch streams wait on
:class:`~services.request_store.events.BuildEvents` and re-read the database on every change
they are told of; they never poll.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from services.common.artifacts import ArtifactKind
from services.common.errors import IIBError, NotFoundError
from services.common.grpc_edge import http_body
from services.common.pb.iib.builds.v1 import build_service_pb2 as pb
from services.common.pb.iib.builds.v1 import build_service_pb2_grpc as pb_grpc
from services.request_store import typed
from services.request_store.domain import FINAL_STATES, RequestType
from services.request_store.events import BuildEvents
from services.request_store.serialize import RequestView
from services.request_store.service import RequestStoreCore, call_context

__all__ = ["BuildServiceServicer", "DashboardServicer", "WatchLimit"]

log = logging.getLogger(__name__)
DASHBOARD_DIR = Path(__file__).resolve().parent / "static" / "dashboard"
#: Longest wait between checks that a watch stream's client is still there (the cancellation
#: callback wakes it at once; this only bounds a missed wake-up).
_CLIENT_CHECK = 30.0


class WatchLimit:
    """At most ``limit`` watch streams at once per process: each holds a server thread while it
    waits, and unary calls need the others."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))
        self.limit = max(1, limit)

    def acquire(self, context: grpc.ServicerContext) -> None:
        if not self._slots.acquire(blocking=False):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Too many watch streams ({self.limit}) on this server; retry later",
            )

    def release(self) -> None:
        self._slots.release()


def _list_params(request: Any) -> dict[str, list[str]]:
    """A typed list query as the REST query parameters (same validation and messages)."""
    params: dict[str, list[str]] = {}
    state = typed.state_name(request.state)
    if state:
        params["state"] = [state]
    request_type = typed.type_name(request.request_type)
    if request_type:
        params["request_type"] = [request_type]
    if request.batch:
        params["batch"] = [str(request.batch)]
    for name in ("user", "from_index", "from_index_startswith", "index_image"):
        value = getattr(request, name)
        if value:
            params[name] = [value]
    return params


class BuildServiceServicer(pb_grpc.BuildServiceServicer):
    """The typed API's methods."""

    def __init__(self, core: RequestStoreCore, events: BuildEvents, watch_limit: int) -> None:
        self.core = core
        self.events = events
        self.limit = WatchLimit(watch_limit)
        for method, (endpoint, field) in typed.CREATE_METHODS.items():
            setattr(self, method, self._creator(endpoint, field))

    # --- helpers -----------------------------------------------------------------------------

    def _render(self, context: grpc.ServicerContext) -> Any:
        return self.core.render_context(call_context(context, self.core.settings).base_url)

    def _artifact(self, kind: ArtifactKind, request_id: int) -> bytes | None:
        try:
            if not self.core.artifacts.configured(kind):
                return None
            return self.core.artifacts.fetch(kind, request_id)
        except IIBError as exc:  # S3 down: the build is still worth answering
            log.warning("could not read the %s of request %s: %s", kind.name, request_id, exc)
            return None

    def _message(self, view: RequestView, render: Any, *, artifacts: bool) -> Any:
        """The Build of ``view``; with ``artifacts``, a final build's steps and related bundles
        are read from their files."""
        related = nested = steps = None
        if artifacts and view.state in FINAL_STATES:
            steps = typed.steps_of(self._artifact(ArtifactKind.STEPS, view.id))
            if view.type is RequestType.REGENERATE_BUNDLE:
                data = self._artifact(ArtifactKind.RELATED_BUNDLES, view.id)
                related = _json_list(data)
            elif view.type is RequestType.RECURSIVE_RELATED_BUNDLES:
                data = self._artifact(ArtifactKind.NESTED_BUNDLES, view.id)
                nested = _json_value(data)
        return typed.build_message(
            view, render, related_bundles=related, nested_bundles=nested, steps=steps
        )

    def _creator(self, endpoint: str, field: str) -> Any:
        def create(request: Any, context: grpc.ServicerContext) -> Any:
            call = call_context(context, self.core.settings)
            payload = typed.submission_payload(getattr(request, field))
            views = self.core.accept(endpoint, payload, call, request.request_id)
            return self._message(views[0], self.core.render_context(call.base_url), artifacts=False)

        return create

    # --- reads ---------------------------------------------------------------------------------

    def GetBuild(self, request: Any, context: grpc.ServicerContext) -> Any:
        view = self.core.store.view(typed.parse_name(request.name), verbose=True)
        return self._message(view, self._render(context), artifacts=True)

    def ListBuilds(self, request: Any, context: grpc.ServicerContext) -> Any:
        params = _list_params(request)
        _q, filters = self.core.list_filters(params)
        before = typed.decode_page_token(request.page_token, params)
        size = request.page_size if request.page_size > 0 else 20
        size = min(size, self.core.settings.max_per_page)
        views, total = self.core.store.list_page(filters, 1, size, True, before_id=before)
        render = self._render(context)
        response = pb.ListBuildsResponse(total_size=total)
        response.builds.extend(self._message(v, render, artifacts=False) for v in views)
        if len(views) == size and views:
            more, _ = self.core.store.list_page(filters, 1, 1, False, before_id=views[-1].id)
            if more:
                response.next_page_token = typed.encode_page_token(views[-1].id, params)
        return response

    def GetCatalogDiff(self, request: Any, context: grpc.ServicerContext) -> Any:
        request_id = typed.parse_name(request.name, "catalogDiff")
        return typed.catalog_diff_message(request_id, self.core.catalog_diff(request_id))

    # --- watch streams --------------------------------------------------------------------------

    def _wait(self, cursor: int, context: grpc.ServicerContext) -> Any:
        return self.events.wait(cursor, _CLIENT_CHECK, stop=lambda: not context.is_active())

    def WatchBuild(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        request_id = typed.parse_name(request.name)
        self.limit.acquire(context)
        context.add_callback(self.events.wake)
        try:
            render = self._render(context)
            cursor = self.events.cursor  # before the read: a change after it is not missed
            view = self.core.store.view(request_id, verbose=True)
            build = self._message(view, render, artifacts=view.state in FINAL_STATES)
            sent = len(build.state_history)
            yield pb.WatchBuildResponse(state_change=build.state_history[-1], build=build)
            while view.state not in FINAL_STATES and context.is_active():
                changes = self._wait(cursor, context)
                cursor = changes.cursor
                if not changes.touches(request_id):
                    continue
                view = self.core.store.view(request_id, verbose=True)
                final = view.state in FINAL_STATES
                build = self._message(view, render, artifacts=final)
                for change in build.state_history[sent:]:
                    yield pb.WatchBuildResponse(state_change=change, build=build)
                sent = len(build.state_history)
        finally:
            self.limit.release()

    def WatchBuilds(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        params = _list_params(request)
        self.limit.acquire(context)
        context.add_callback(self.events.wake)
        try:
            _q, filters = self.core.list_filters(params)
            render = self._render(context)
            cursor = self.events.cursor
            # the stream's first message comes at once (an empty one), so a client knows it
            # is connected before anything changes
            yield pb.WatchBuildsResponse()
            while context.is_active():
                changes = self._wait(cursor, context)
                cursor = changes.cursor
                if not changes:
                    continue
                if changes.everything:
                    views, _ = self.core.store.list_page(filters, 1, 50, True)
                else:
                    views = self._matching(sorted(changes.ids), filters)
                if views:
                    yield pb.WatchBuildsResponse(
                        builds=[self._message(v, render, artifacts=False) for v in views]
                    )
        finally:
            self.limit.release()

    def _matching(self, ids: list[int], filters: Any) -> list[RequestView]:
        """The requests ``ids`` that match ``filters``, newest first."""
        views = []
        for chunk_start in range(0, len(ids), 200):
            chunk = ids[chunk_start : chunk_start + 200]
            found, _ = self.core.store.list_page(filters, 1, len(chunk), True, ids=chunk)
            views.extend(found)
        return sorted(views, key=lambda v: v.id, reverse=True)


def _json_list(data: bytes | None) -> list[str] | None:
    value = _json_value(data)
    return [str(v) for v in value] if isinstance(value, list) else None


def _json_value(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


class DashboardServicer(pb_grpc.DashboardServicer):
    """Serves the dashboard's files from ``static/dashboard`` (read once, at start)."""

    def __init__(self, root: Path = DASHBOARD_DIR) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind == "application/javascript":
                    kind += "; charset=utf-8"
                self._files[path.relative_to(root).as_posix()] = (path.read_bytes(), kind)

    def GetDashboardFile(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = request.path.strip("/") or "index.html"
        found = self._files.get(name)
        if found is None:
            # the request page is a client-side route: /dashboard/builds/<id>
            if name.startswith("builds/"):
                found = self._files.get("index.html")
            if found is None:
                raise NotFoundError()
        return http_body(*found)
