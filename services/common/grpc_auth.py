"""Who may call which internal gRPC method: mutual TLS identities and a per-method policy.

Every internal gRPC port (request store, gating, the gateway's auth service) serves TLS and
requires a client certificate signed by the internal CA (``IIB_INTERNAL_TLS_CA``); a caller's
identity is its certificate's common name (``iib dev`` issues one certificate per service:
``gateway``, ``request-store``, ``index-builder``, ``bundle-regenerator``, ``gating``). The
:class:`AuthorizationInterceptor` then checks the method's policy:

* ``iib.v1.RequestStore`` (jobs with decrypted secrets) and ``iib.v1.Gating``: worker
  identities only (``IIB_INTERNAL_WORKER_IDENTITIES``);
* ``envoy.service.auth.v3.Authorization`` (ext_authz): the gateway only;
* ``iib.builds.v1.BuildService`` (the typed API) and ``iib.builds.v1.Dashboard``: any
  authenticated service (the gateway forwards public gRPC calls; other services may call it
  directly), the user only from a gateway (below);
* anything else (``iib.v1.Builds``, health, reflection): any authenticated service.

The user a request is made for travels as ``x-iib-user`` metadata; it is honoured only from a
gateway identity (``IIB_INTERNAL_GATEWAY_IDENTITIES``), the only caller that authenticated the
user (:func:`asserted_user`).

``IIB_INTERNAL_INSECURE=true`` turns all of this off (plaintext, no identities, metadata
trusted): only for an isolated development machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from services.common.config import Settings
from services.common.errors import ConfigError

__all__ = [
    "AuthorizationInterceptor",
    "InternalTLS",
    "MethodPolicy",
    "asserted_user",
    "default_policy",
    "internal_tls",
    "peer_identity",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InternalTLS:
    """PEM bytes of the internal CA and of this process's certificate and key."""

    ca: bytes
    cert: bytes
    key: bytes

    def server_credentials(self) -> grpc.ServerCredentials:
        """TLS that requires a client certificate signed by the internal CA."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS that verifies the server against the internal CA and presents our certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def internal_tls(settings: Settings) -> InternalTLS | None:
    """The process's internal TLS material; None only with ``IIB_INTERNAL_INSECURE``.

    :raises ConfigError: when the files are missing, partly set, or unreadable
    """
    paths = {
        "IIB_INTERNAL_TLS_CA": settings.internal_tls_ca,
        "IIB_INTERNAL_TLS_CERT": settings.internal_tls_cert,
        "IIB_INTERNAL_TLS_KEY": settings.internal_tls_key,
    }
    if settings.internal_insecure and not any(paths.values()):
        return None
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise ConfigError(
            f"Missing setting {missing[0]}: internal gRPC needs mutual TLS (set "
            "IIB_INTERNAL_TLS_CA, IIB_INTERNAL_TLS_CERT and IIB_INTERNAL_TLS_KEY, or "
            "IIB_INTERNAL_INSECURE=true on an isolated development machine)"
        )
    data: dict[str, bytes] = {}
    for name, path in paths.items():
        assert path is not None
        try:
            data[name] = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"Invalid setting {name}: cannot read {path}: {exc}") from None
    return InternalTLS(
        data["IIB_INTERNAL_TLS_CA"], data["IIB_INTERNAL_TLS_CERT"], data["IIB_INTERNAL_TLS_KEY"]
    )


def peer_identity(context: grpc.ServicerContext) -> str | None:
    """The common name of the caller's verified client certificate (None: no TLS peer)."""
    names = (context.auth_context() or {}).get("x509_common_name") or []
    if not names:
        return None
    value = names[0]
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class MethodPolicy:
    """Per service (``package.Service``): the identities allowed (None: any authenticated)."""

    services: Mapping[str, Collection[str] | None]
    default: Collection[str] | None = None

    def allowed(self, method: str) -> Collection[str] | None:
        service = method.strip("/").partition("/")[0]
        return self.services.get(service, self.default)


def default_policy(settings: Settings) -> MethodPolicy:
    """The project's policy (see the module docstring)."""
    workers = frozenset(settings.internal_worker_identities)
    return MethodPolicy(
        {
            "iib.v1.RequestStore": workers,
            "iib.v1.Gating": workers,
            "envoy.service.auth.v3.Authorization": frozenset(settings.internal_gateway_identities),
            "iib.builds.v1.BuildService": None,
            "iib.builds.v1.Dashboard": None,
        }
    )


class AuthorizationInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls whose peer identity the method's policy does not allow."""

    def __init__(self, policy: MethodPolicy, *, require_identity: bool = True) -> None:
        self.policy = policy
        self.require_identity = require_identity

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or not self.require_identity:
            return handler
        method = handler_call_details.method
        allowed = self.policy.allowed(method)

        def check(context: grpc.ServicerContext) -> None:
            identity = peer_identity(context)
            if identity is None:
                log.warning("refused %s: no client certificate", method)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "a client certificate is required")
            if allowed is not None and identity not in allowed:
                log.warning("refused %s for identity %r", method, identity)
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, f"{identity} may not call {method}"
                )

        return _guarded(handler, check)


def _guarded(
    handler: grpc.RpcMethodHandler, check: Callable[[grpc.ServicerContext], None]
) -> grpc.RpcMethodHandler:
    def wrap(behavior: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            check(context)
            return behavior(request, context)

        return call

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            wrap(handler.unary_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap(handler.stream_stream),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def asserted_user(
    context: grpc.ServicerContext, settings: Settings, metadata_user: str | None
) -> str | None:
    """The user a call is made for: the ``x-iib-user`` metadata when the caller is a gateway
    (or internal TLS is off), else None (a forged header from another service is ignored)."""
    if metadata_user is None:
        return None
    if settings.internal_insecure and peer_identity(context) is None:
        return metadata_user
    if peer_identity(context) in settings.internal_gateway_identities:
        return metadata_user
    log.warning(
        "ignored x-iib-user metadata from %r (not a gateway identity)", peer_identity(context)
    )
    return None
