"""The gateway's auth service: Envoy's ext_authz ``Check`` for POST and PATCH routes.

An :class:`IdentityProvider` turns the request Envoy describes into a user name (or None); the
shared policy (:func:`services.common.identity.authorize`) decides. Allowed requests go on with
the user in the ``x-iib-user`` header (Envoy strips any client-sent copy before this filter);
denied ones get IIB's 401/403 text, which Envoy's local reply config wraps as
``{"error": "..."}``.

Providers:

* :class:`TrustedHeaderProvider` — a front proxy (httpd with mod_auth_gssapi, an OAuth proxy)
  authenticates and passes the user in a header named by ``IIB_AUTH_TRUSTED_HEADER``. Only honoured
  when that setting is set; only safe when Envoy is reachable from that proxy alone.
* :class:`NoIdentityProvider` — no identity source (with ``LOGIN_DISABLED`` everyone is anonymous).

Kerberos (SPNEGO: validate the ``Authorization: Negotiate`` token with gssapi and return the
principal) and mTLS (read the subject of Envoy's ``x-forwarded-client-cert``) plug in as further
providers implementing the same one-method protocol.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import grpc

from services.common.config import Settings
from services.common.grpc_server import GrpcServer
from services.common.identity import IDENTITY_METADATA, authorize
from services.common.pb.envoy.service.auth.v3 import external_auth_pb2 as pb
from services.common.pb.envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc

__all__ = [
    "AuthServicer",
    "IdentityProvider",
    "NoIdentityProvider",
    "TrustedHeaderProvider",
    "build_auth_server",
    "provider_from_settings",
]

log = logging.getLogger(__name__)


class IdentityProvider(Protocol):
    """Finds out who sent a request."""

    def identify(self, http: Any) -> str | None:
        """The authenticated user of ``http`` (an AttributeContext.HttpRequest), or None."""


class NoIdentityProvider:
    """Nobody is ever identified."""

    def identify(self, http: Any) -> str | None:
        return None


class TrustedHeaderProvider:
    """The user is the value of a header set by a trusted front proxy."""

    def __init__(self, header: str) -> None:
        self.header = header.lower()

    def identify(self, http: Any) -> str | None:
        value = http.headers.get(self.header, "").strip()
        return value or None


def provider_from_settings(settings: Settings) -> IdentityProvider:
    if settings.auth_trusted_header:
        return TrustedHeaderProvider(settings.auth_trusted_header)
    return NoIdentityProvider()


class AuthServicer(pb_grpc.AuthorizationServicer):
    """``envoy.service.auth.v3.Authorization``."""

    def __init__(self, settings: Settings, provider: IdentityProvider) -> None:
        self.settings = settings
        self.provider = provider

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        http = request.attributes.request.http
        user = self.provider.identify(http)
        decision = authorize(
            http.method,
            user,
            login_disabled=self.settings.login_disabled,
            worker_usernames=self.settings.worker_usernames,
        )
        if decision.error is not None:
            log.info(
                "request denied",
                extra={
                    "method": http.method,
                    "path": http.path,
                    "status": decision.error.http_status,
                },
            )
            return pb.CheckResponse(
                status={"code": 16 if decision.error.http_status == 401 else 7},
                denied_response=pb.DeniedHttpResponse(
                    status=pb.HttpStatus(code=decision.error.http_status),
                    body=decision.error.message,
                ),
            )
        ok = pb.OkHttpResponse()
        if decision.user is not None:
            ok.headers.append(
                pb.HeaderValueOption(
                    header=pb.HeaderValue(key=IDENTITY_METADATA, value=decision.user),
                    append_action=pb.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
                )
            )
        if isinstance(self.provider, TrustedHeaderProvider):
            ok.headers_to_remove.append(self.provider.header)
        return pb.CheckResponse(status={"code": 0}, ok_response=ok)


def build_auth_server(settings: Settings, address: str | None = None) -> GrpcServer:
    servicer = AuthServicer(settings, provider_from_settings(settings))
    return GrpcServer.for_settings(
        settings,
        address or settings.auth_service_listen,
        [
            (
                pb_grpc.add_AuthorizationServicer_to_server,
                servicer,
                "envoy.service.auth.v3.Authorization",
            )
        ],
    )
