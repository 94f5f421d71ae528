"""The request store's gRPC services: the public ``Builds`` (REST through Envoy) and the typed
internal ``RequestStore`` for workers. Thin adapters over :class:`RequestStoreCore`."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import grpc

from services.common.artifacts import ArtifactKind, ArtifactStore
from services.common.config import Settings
from services.common.errors import (
    GoneError,
    IIBError,
    NotFoundError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from services.common.grpc_auth import asserted_user
from services.common.grpc_edge import http_body, mark_created, metadata_value
from services.common.identity import IDENTITY_METADATA, authorize
from services.common.pb.iib.v1 import builds_pb2_grpc, requests_pb2, requests_pb2_grpc
from services.common.secrets import SecretBox
from services.request_store import validation
from services.request_store.domain import FINAL_STATES, ImageList, RequestState, RequestType
from services.request_store.events import BuildEvents
from services.request_store.limits import (
    BodyLimits,
    parse_bounded_json,
    path_id,
)
from services.request_store.listing import ListQuery, parse_list_query, parse_pagination
from services.request_store.patch import check_patch_body, plan_patch
from services.request_store.queues import user_queue
from services.request_store.serialize import (
    RenderContext,
    RequestView,
    dumps,
    list_envelope,
    request_json,
)
from services.request_store.store import ListFilters, Store

__all__ = ["CATALOG_TYPES", "BuildsServicer", "RequestStoreCore", "RequestStoreServicer"]

log = logging.getLogger(__name__)
_SECRET_FIELDS = {
    "overwrite_from_index_token",
    "overwrite_target_index_token",
    "registry_auths",
    "cnr_token",
}


#: Request types that build an index image from a catalog (they have a catalog diff).
CATALOG_TYPES = frozenset(
    {
        RequestType.ADD,
        RequestType.RM,
        RequestType.MERGE_INDEX_IMAGE,
        RequestType.CREATE_EMPTY_INDEX,
        RequestType.FBC_OPERATIONS,
        RequestType.ADD_DEPRECATIONS,
    }
)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _is_json_type(content_type: str) -> bool:
    """Werkzeug's ``is_json``: application/json or application/*+json (parameters ignored)."""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def parse_json_body(data: bytes, content_type: str, limits: BodyLimits) -> Any:
    """Flask's ``request.get_json()``: 415 for a non-JSON type, 400 for malformed JSON; then
    the size limits (400 naming the field)."""
    if not _is_json_type(content_type):
        raise UnsupportedMediaTypeError()
    return parse_bounded_json(data, limits)


def body_limits(settings: Settings) -> BodyLimits:
    return BodyLimits(
        max_body_bytes=settings.max_request_bytes,
        max_string=settings.max_field_length,
        max_items=settings.max_list_items,
    )


def _parse_id(raw: str) -> int:
    """Flask's ``<int:id>`` converter: only plain digits match, anything else is 404."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise NotFoundError()
    return path_id(int(raw))


def _without_secrets(value: Any) -> Any:
    """``value`` with every secret field removed, at any depth (batch items carry tokens)."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in _SECRET_FIELDS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _fingerprint(endpoint: str, payload: Any, secrets: SecretBox) -> str:
    """What an idempotency key is bound to: the submission without its secrets, as a keyed
    HMAC (a retried submission matches; nothing about its content can be guessed from it)."""
    canonical = json.dumps(
        [endpoint, _without_secrets(payload)], sort_keys=True, separators=(",", ":")
    )
    return secrets.fingerprint(canonical.encode())


@dataclass
class CallContext:
    """What a REST call carries besides its body."""

    user: str | None
    base_url: str


class RequestStoreCore:
    """The request store's behaviour, independent of the transport."""

    def __init__(self, settings: Settings, store: Store, artifacts: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        # stored changes, for the watch streams (fed by the store after each commit)
        self.events = BuildEvents()
        store.on_change = self.events.changed

    # --- helpers -------------------------------------------------------------------------

    def render_context(self, base_url: str) -> RenderContext:
        s = self.settings
        return RenderContext(
            base_url=base_url,
            logs_configured=bool(s.request_logs_dir or s.aws_s3_bucket_name),
            related_bundles_configured=bool(s.request_related_bundles_dir or s.aws_s3_bucket_name),
            days_to_live=s.request_data_days_to_live,
        )

    def _require_identity(self, method: str, user: str | None) -> None:
        decision = authorize(
            method,
            user,
            login_disabled=self.settings.login_disabled,
            worker_usernames=self.settings.worker_usernames,
        )
        if decision.error is not None:
            raise decision.error

    def _validation_context(self, user: str | None) -> validation.ValidationContext:
        s = self.settings
        return validation.ValidationContext(
            authenticated=user is not None,
            binary_image_config_set=bool(s.binary_image_config),
            graph_mode_options=s.graph_mode_options,
            graph_mode_index_allow_list=s.graph_mode_index_allow_list,
        )

    # --- submissions ---------------------------------------------------------------------

    def submit(
        self, endpoint: str, data: bytes, content_type: str, call: CallContext, request_id: str
    ) -> bytes:
        """Validate and store a submission; returns the 201 body (object, or array for batches)."""
        self._require_identity("POST", call.user)
        payload = parse_json_body(data, content_type, body_limits(self.settings))
        views = self.accept(endpoint, payload, call, request_id)
        render = self.render_context(call.base_url)
        bodies = [request_json(v, True, render) for v in views]
        return dumps(bodies if endpoint in validation.BATCH_VALIDATORS else bodies[0])

    def accept(
        self, endpoint: str, payload: Any, call: CallContext, request_id: str
    ) -> list[RequestView]:
        """Validate and store a submission given as parsed JSON (the REST body, or the body a
        typed submission stands for): identity, IIB's validation, queue routing, idempotency.
        Returns the verbose views of the stored (for a retry: the original) requests."""
        self._require_identity("POST", call.user)
        ctx = self._validation_context(call.user)
        annotations: dict[str, Any] | None = None
        if endpoint in validation.BATCH_VALIDATORS:
            news, annotations = validation.BATCH_VALIDATORS[endpoint](payload, ctx)
        else:
            news = [validation.SINGLE_VALIDATORS[endpoint](payload, ctx)]
        queues = [
            user_queue(
                self.settings.user_to_queue,
                call.user,
                serial=new.serial,
                pull_spec=new.queue_index,
            )
            for new in news
        ]
        idempotency = None
        if request_id:
            idempotency = (
                request_id,
                endpoint,
                _fingerprint(endpoint, payload, self.store.secrets),
            )
        created = self.store.create(
            news, user=call.user, queues=queues, annotations=annotations, idempotency=idempotency
        )
        # a new submission's views come with it (built from what it wrote); a replay reads them
        views = created.views or self.store.views(created.request_ids, verbose=True)
        if not created.replayed:
            for view in views:
                log.info(
                    "accepted request",
                    extra={
                        "request_id": view.id,
                        "request_type": view.type.api_name,
                        "user": call.user,
                        "batch": view.batch_id,
                    },
                )
        return views

    # --- reads ---------------------------------------------------------------------------

    def get_build(self, raw_id: str, call: CallContext) -> bytes:
        view = self.store.view(_parse_id(raw_id), verbose=True)
        return dumps(request_json(view, True, self.render_context(call.base_url)))

    def list_filters(self, params: dict[str, list[str]]) -> tuple[ListQuery, ListFilters]:
        """The validated filters of a list query, images resolved (IIB's order and messages)."""
        q = parse_list_query(params)
        filters = ListFilters(
            state=q.state, batch=q.batch, request_type=q.request_type, user=q.user
        )
        if q.from_index:
            image_id = self.store.image_id(q.from_index)
            if image_id is None:
                raise ValidationError(f"from_index {q.from_index} is not a valid index image")
            filters.from_index_ids = [image_id]
        if q.from_index_startswith:
            ids = self.store.image_ids_with_prefix(q.from_index_startswith)
            if not ids:
                raise ValidationError(
                    f"Can't find any from_index starting with {q.from_index_startswith}"
                )
            filters.from_index_ids = (
                [i for i in filters.from_index_ids if i in set(ids)]
                if filters.from_index_ids is not None
                else ids
            )
        if q.index_image:
            image_id = self.store.image_id(q.index_image)
            if image_id is None:
                raise ValidationError(f"{q.index_image} is not a valid index image")
            filters.index_image_id = image_id
        return q, filters

    def list_builds(self, params: dict[str, list[str]], call: CallContext) -> bytes:
        q, filters = self.list_filters(params)
        page, per_page = parse_pagination(params, self.settings.max_per_page)
        views, total = self.store.list_page(filters, page, per_page, q.verbose)
        if not views and page != 1:
            raise NotFoundError()
        render = self.render_context(call.base_url)
        body = list_envelope(
            [request_json(v, q.verbose, render) for v in views],
            page=page,
            per_page=per_page,
            total=total,
            filters=q.link_filters,
            base_url=call.base_url,
        )
        return dumps(body)

    def patch_build(self, raw_id: str, data: bytes, content_type: str, call: CallContext) -> bytes:
        self._require_identity("PATCH", call.user)
        payload = check_patch_body(parse_json_body(data, content_type, body_limits(self.settings)))
        request_id = _parse_id(raw_id)
        view, _ = self.store.update(
            request_id, lambda t, state, reason: plan_patch(payload, t, state, reason)
        )
        if call.user:
            log.info("request patched", extra={"request_id": request_id, "user": call.user})
        return dumps(request_json(view, True, self.render_context(call.base_url)))

    def artifact(self, kind: ArtifactKind, raw_id: str) -> bytes:
        """The artifact endpoints' flow (contract §1.1)."""
        s = self.settings
        if kind is not ArtifactKind.NESTED_BUNDLES and not self.artifacts.configured(kind):
            raise NotFoundError()
        request_id = _parse_id(raw_id)
        request_type, state, updated, organization = self.store.request_meta(request_id)
        name = {
            ArtifactKind.LOGS: "logs",
            ArtifactKind.RELATED_BUNDLES: "related_bundles",
            ArtifactKind.NESTED_BUNDLES: "nested_bundles",
        }[kind]
        wanted_type = {
            ArtifactKind.RELATED_BUNDLES: RequestType.REGENERATE_BUNDLE,
            ArtifactKind.NESTED_BUNDLES: RequestType.RECURSIVE_RELATED_BUNDLES,
        }.get(kind)
        if wanted_type is not None and request_type is not wanted_type:
            raise ValidationError(
                f"The request {request_id} is of type {request_type.api_name}. This endpoint is "
                f"only valid for requests of type {wanted_type.api_name}."
            )
        if state not in FINAL_STATES:
            raise ValidationError(
                f"The request {request_id} is not complete yet. {name} will be available once "
                "the request is complete."
            )
        data = self.artifacts.fetch(kind, request_id)
        if data is not None:
            return data
        expired = updated + timedelta(days=s.request_data_days_to_live) < _utcnow()
        if s.aws_s3_bucket_name:
            if expired:
                raise GoneError(f"The data for the build request {request_id} no longer exist")
            raise NotFoundError()
        if expired:
            raise GoneError(f"The {name} for the build request {request_id} no longer exist")
        if kind is ArtifactKind.RELATED_BUNDLES and organization:
            raise IIBError(
                "IIB is done processing the request and cannot find related_bundles. Please make "
                f"sure the iib_organization_customizations for organization {organization} has "
                "related_bundles customization type set"
            )
        raise IIBError(f"IIB is done processing the request and could not find {name}.")

    def catalog_diff(self, request_id: int) -> bytes:
        """The stored catalog diff of a finished index request (JSON), with the artifact
        endpoints' rules: 400 for another request type or an unfinished request, 404 when there
        is none (a failed request, no log location), 410 once expired."""
        request_type, state, updated, _organization = self.store.request_meta(request_id)
        if request_type not in CATALOG_TYPES:
            raise ValidationError(
                f"The request {request_id} is of type {request_type.api_name}. This endpoint is "
                "only valid for requests of type "
                + ", ".join(t.api_name for t in sorted(CATALOG_TYPES))
                + "."
            )
        if state not in FINAL_STATES:
            raise ValidationError(
                f"The request {request_id} is not complete yet. catalog-diff will be available "
                "once the request is complete."
            )
        data = self.artifacts.fetch(ArtifactKind.CATALOG_DIFF, request_id)
        if data is not None:
            return data
        if updated + timedelta(days=self.settings.request_data_days_to_live) < _utcnow():
            raise GoneError(f"The catalog-diff for the build request {request_id} no longer exist")
        raise NotFoundError(f"The request {request_id} has no catalog-diff")

    def deprecation_schema(self, raw_id: str) -> bytes:
        request_id = _parse_id(raw_id)
        request_type, schema = self.store.deprecation_schema(request_id)
        if request_type is not RequestType.ADD_DEPRECATIONS:
            raise ValidationError(
                f"The request {request_id} is of type {request_type.api_name}. This endpoint is "
                "only valid for requests of type add-deprecations."
            )
        if schema is None:
            raise IIBError(f"Retrieving deprecation-schema for request {request_id} failed")
        return schema.encode()

    def health(self) -> bytes:
        self.store.health()
        return dumps({"status": "Health check OK"})


def call_context(context: grpc.ServicerContext, settings: Settings) -> CallContext:
    """Identity and absolute-URL base from the metadata Envoy forwards (the user only when the
    caller is a gateway: ``grpc_auth.asserted_user``)."""
    user = asserted_user(context, settings, metadata_value(context, IDENTITY_METADATA) or None)
    host = metadata_value(context, "x-forwarded-host")
    proto = metadata_value(context, "x-forwarded-proto") or "http"
    base = f"{proto}://{host}" if host else settings_public_url(settings)
    return CallContext(user=user, base_url=base)


def settings_public_url(settings: Settings) -> str:
    """The public base URL used where no request tells it (direct gRPC calls, events)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = "https" if settings.gateway_tls_cert else "http"
    return f"{scheme}://{settings.gateway_listen}"


_SUBMIT_ENDPOINTS = {
    "CreateAddRequest": "add",
    "CreateRmRequest": "rm",
    "CreateRegenerateBundleRequest": "regenerate-bundle",
    "CreateRegenerateBundleBatch": "regenerate-bundle-batch",
    "CreateAddRmBatch": "add-rm-batch",
    "CreateMergeIndexImageRequest": "merge-index-image",
    "CreateCreateEmptyIndexRequest": "create-empty-index",
    "CreateRecursiveRelatedBundlesRequest": "recursive-related-bundles",
    "CreateFbcOperationsRequest": "fbc-operations",
    "CreateAddDeprecationsRequest": "add-deprecations",
}


class BuildsServicer(builds_pb2_grpc.BuildsServicer):
    """``iib.v1.Builds``: the REST API's methods."""

    def __init__(self, core: RequestStoreCore) -> None:
        self.core = core
        for method, endpoint in _SUBMIT_ENDPOINTS.items():
            setattr(self, method, self._submitter(endpoint))

    def _call(self, context: grpc.ServicerContext) -> CallContext:
        return call_context(context, self.core.settings)

    def _submitter(self, endpoint: str) -> Any:
        def submit(request: Any, context: grpc.ServicerContext) -> Any:
            call = self._call(context)
            if call.user is None and not self.core.settings.login_disabled:
                raise UnauthorizedError()
            body = self.core.submit(
                endpoint,
                request.body.data,
                request.body.content_type,
                call,
                request.request_id or metadata_value(context, "idempotency-key") or "",
            )
            mark_created(context)
            return http_body(body)

        return submit

    def ListBuilds(self, request: Any, context: grpc.ServicerContext) -> Any:
        params = {
            name: list(getattr(request, name))
            for name in (
                "page",
                "per_page",
                "verbose",
                "state",
                "batch",
                "request_type",
                "user",
                "index_image",
                "from_index",
                "from_index_startswith",
            )
            if len(getattr(request, name))
        }
        return http_body(self.core.list_builds(params, self._call(context)))

    def GetBuild(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self.core.get_build(request.id, self._call(context)))

    def PatchBuild(self, request: Any, context: grpc.ServicerContext) -> Any:
        body = self.core.patch_build(
            request.id, request.body.data, request.body.content_type, self._call(context)
        )
        return http_body(body)

    def GetBuildLogs(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(
            self.core.artifact(ArtifactKind.LOGS, request.id), "text/plain; charset=utf-8"
        )

    def GetRelatedBundles(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self.core.artifact(ArtifactKind.RELATED_BUNDLES, request.id))

    def GetNestedBundles(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self.core.artifact(ArtifactKind.NESTED_BUNDLES, request.id))

    def GetCatalogDiff(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self.core.catalog_diff(_parse_id(request.id)))

    def GetDeprecationSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self.core.deprecation_schema(request.id))

    def CheckHealth(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self.core.health())


# --- the typed internal API ------------------------------------------------------------------

_INDEX_TYPES = {
    RequestType.ADD,
    RequestType.RM,
    RequestType.CREATE_EMPTY_INDEX,
    RequestType.FBC_OPERATIONS,
    RequestType.ADD_DEPRECATIONS,
}


def _index_params(stored: Any) -> requests_pb2.IndexImageParams:
    view, args = stored.view, stored.worker_args
    params = requests_pb2.IndexImageParams(
        add_arches=args.get("add_arches", []),
        overwrite_from_index=bool(args.get("overwrite_from_index", False)),
        build_tags=view.build_tags,
    )
    if "from_index" in view.images:
        params.from_index = view.images["from_index"]
    if args.get("binary_image"):
        params.binary_image = args["binary_image"]
    if args.get("distribution_scope"):
        params.distribution_scope = args["distribution_scope"]
    return params


def job_message(stored: Any, settings: Settings) -> requests_pb2.Job:
    """The typed message of a stored request (secrets included only while it is not final)."""
    view = stored.view
    msg = requests_pb2.Job(
        id=view.id,
        request_type=cast(Any, int(view.type)),
        state=cast(Any, int(view.state)),
        state_reason=view.state_reason,
        user=view.user or "",
        batch=view.batch_id,
        queue=stored.queue or "",
        serial=stored.serial,
        serial_key=stored.serial_key or "",
        binary_image_config_json=json.dumps(settings.binary_image_config, sort_keys=True),
        index_to_gitlab_push_map_json=json.dumps(settings.index_to_gitlab_push_map, sort_keys=True),
    )
    t, sc, img = view.type, view.scalars, view.images
    if t is RequestType.ADD:
        add = msg.add
        add.index.CopyFrom(_index_params(stored))
        add.bundles.extend(view.image_lists.get(ImageList.BUNDLES, []))
        add.deprecation_list.extend(view.image_lists.get(ImageList.DEPRECATION_LIST, []))
        if sc.get("graph_update_mode"):
            add.graph_update_mode = sc["graph_update_mode"]
        add.check_related_images = bool(sc.get("check_related_images"))
        if sc.get("organization"):
            add.organization = sc["organization"]
    elif t is RequestType.RM:
        msg.rm.index.CopyFrom(_index_params(stored))
        msg.rm.operators.extend(view.operators)
    elif t is RequestType.REGENERATE_BUNDLE:
        rb = msg.regenerate_bundle
        rb.from_bundle_image = img["from_bundle_image"]
        if sc.get("organization"):
            rb.organization = sc["organization"]
        if sc.get("bundle_replacements"):
            rb.bundle_replacements.update(json.loads(sc["bundle_replacements"]))
    elif t is RequestType.MERGE_INDEX_IMAGE:
        mg = msg.merge_index_image
        mg.source_from_index = img["source_from_index"]
        if "target_index" in img:
            mg.target_index = img["target_index"]
        mg.deprecation_list.extend(view.image_lists.get(ImageList.DEPRECATION_LIST, []))
        if stored.worker_args.get("binary_image"):
            mg.binary_image = stored.worker_args["binary_image"]
        if stored.worker_args.get("distribution_scope"):
            mg.distribution_scope = stored.worker_args["distribution_scope"]
        if sc.get("graph_update_mode"):
            mg.graph_update_mode = sc["graph_update_mode"]
        mg.ignore_bundle_ocp_version = bool(sc.get("ignore_bundle_ocp_version"))
        mg.overwrite_target_index = bool(stored.worker_args.get("overwrite_target_index"))
        mg.build_tags.extend(view.build_tags)
    elif t is RequestType.CREATE_EMPTY_INDEX:
        ce = msg.create_empty_index
        ce.index.CopyFrom(_index_params(stored))
        if sc.get("labels"):
            ce.labels.update(json.loads(sc["labels"]))
        ce.output_fbc = bool(stored.worker_args.get("output_fbc"))
    elif t is RequestType.RECURSIVE_RELATED_BUNDLES:
        rr = msg.recursive_related_bundles
        rr.parent_bundle_image = img["parent_bundle_image"]
        if sc.get("organization"):
            rr.organization = sc["organization"]
    elif t is RequestType.FBC_OPERATIONS:
        fb = msg.fbc_operations
        fb.index.CopyFrom(_index_params(stored))
        fb.fbc_fragments.extend(view.image_lists.get(ImageList.FBC_FRAGMENTS, []))
        fb.used_fbc_fragment = bool(sc.get("used_fbc_fragment"))
    elif t is RequestType.ADD_DEPRECATIONS:
        ad = msg.add_deprecations
        ad.index.CopyFrom(_index_params(stored))
        ad.operator_package = view.operator_package or ""
        ad.deprecation_schema = stored.deprecation_schema or ""
    if view.state not in FINAL_STATES:
        sec = stored.secrets
        if "overwrite_from_index_token" in sec:
            msg.secrets.overwrite_from_index_token = sec["overwrite_from_index_token"]
        if "overwrite_target_index_token" in sec:
            msg.secrets.overwrite_target_index_token = sec["overwrite_target_index_token"]
        if "registry_auths" in sec:
            msg.secrets.registry_auths_json = sec["registry_auths"]
        if "cnr_token" in sec:
            msg.secrets.cnr_token = sec["cnr_token"]
    return msg


_RESULT_SCALARS = (
    "binary_image",
    "binary_image_resolved",
    "distribution_scope",
    "from_index_resolved",
    "index_image",
    "index_image_resolved",
    "internal_index_image_copy",
    "internal_index_image_copy_resolved",
    "bundle_image",
    "from_bundle_image_resolved",
    "source_from_index_resolved",
    "target_index_resolved",
    "parent_bundle_image_resolved",
    "fbc_fragment_resolved",
)


def update_payload(request: requests_pb2.UpdateJobRequest) -> dict[str, Any]:
    """The PATCH payload equivalent to a typed update (same validation path)."""
    payload: dict[str, Any] = {}
    if request.HasField("state"):
        payload["state"] = RequestState(request.state).api_name
    if request.HasField("state_reason"):
        payload["state_reason"] = request.state_reason
    res = request.results
    if res.arches:
        payload["arches"] = list(res.arches)
    for name in _RESULT_SCALARS:
        if res.HasField(name):
            payload[name] = getattr(res, name)
    if res.bundle_mapping:
        payload["bundle_mapping"] = {k: list(v.values) for k, v in res.bundle_mapping.items()}
    if res.HasField("fbc_fragments_resolved"):
        payload["fbc_fragments_resolved"] = list(res.fbc_fragments_resolved.values)
    return payload


#: Request types a worker may build together with the serial request ahead of them (the
#: index operations that overwrite from_index).
GROUPABLE_TYPES = frozenset(
    {
        RequestType.ADD,
        RequestType.RM,
        RequestType.FBC_OPERATIONS,
        RequestType.ADD_DEPRECATIONS,
    }
)


class RequestStoreServicer(requests_pb2_grpc.RequestStoreServicer):
    """``iib.v1.RequestStore``: the typed API workers use."""

    def __init__(self, core: RequestStoreCore) -> None:
        self.core = core

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        stored = self.core.store.stored_request(request.id)
        return job_message(stored, self.core.settings)

    def ClaimJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        # ttl 0 with the current token releases the lease (a worker handing the request back)
        ttl = min(max(request.ttl_seconds, 0.0), 3600.0)
        token, left = self.core.store.claim_lease(
            request.id, request.holder[:200] or "unknown", ttl, int(request.token)
        )
        return requests_pb2.Lease(token=token, ttl_seconds=left)

    def ClaimFollowers(self, request: Any, context: grpc.ServicerContext) -> Any:
        ttl = min(max(request.ttl_seconds, 1.0), 3600.0)
        claimed = self.core.store.claim_followers(
            request.id,
            request.holder[:200],
            ttl,
            min(max(int(request.max_jobs), 0), 100),
            GROUPABLE_TYPES,
        )
        response = requests_pb2.ClaimFollowersResponse()
        for request_id, token in claimed:
            stored = self.core.store.stored_request(request_id)
            response.jobs.append(
                requests_pb2.ClaimedJob(
                    job=job_message(stored, self.core.settings),
                    lease=requests_pb2.Lease(token=token, ttl_seconds=ttl),
                )
            )
        return response

    def UpdateJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        payload = check_patch_body(update_payload(request))
        _, changed = self.core.store.update(
            request.id,
            lambda t, state, reason: plan_patch(payload, t, state, reason),
            lease_token=int(request.lease_token),
        )
        stored = self.core.store.stored_request(request.id)
        message = job_message(stored, self.core.settings)
        message.ClearField("secrets")  # handed out by GetJob only
        return requests_pb2.UpdateJobResponse(job=message, state_changed=changed)
