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

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import grpc

from services.common.config import Settings
from services.common.errors import UnauthorizedError
from services.common.grpc_server import GrpcServer
from services.common.identity import IDENTITY_METADATA, Decision, authorize
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

    def identify(self, attributes: Any) -> str | None:
        """The authenticated user of the request ``attributes`` (Envoy's AttributeContext:
        ``.request.http`` and the peer in ``.source``), or None. Raises UnauthorizedError
        for a request that claims an identity in a way that cannot be trusted."""


class NoIdentityProvider:
    """Nobody is ever identified."""

    def identify(self, attributes: Any) -> str | None:
        return None


def source_address(attributes: Any) -> str:
    """The address of the client connected to Envoy (the TCP peer)."""
    return str(attributes.source.address.socket_address.address)


class TrustedHeaderProvider:
    """The user is the value of a header set by a trusted front proxy.

    The header is honoured only from ``proxies`` (the TCP peer's address must be in one of
    the networks): any other client could otherwise claim to be anyone, a worker included. A
    header sent twice (Envoy joins the values with ``,``) is refused."""

    def __init__(self, header: str, proxies: Sequence[str] = ("127.0.0.0/8", "::1/128")) -> None:
        self.header = header.lower()
        self.proxies = [ipaddress.ip_network(cidr, strict=False) for cidr in proxies]

    def _trusted(self, address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.proxies)

    def identify(self, attributes: Any) -> str | None:
        value = attributes.request.http.headers.get(self.header, "").strip()
        if not value:
            return None
        address = source_address(attributes)
        if not self._trusted(address):
            log.warning(
                "ignored the identity header from an untrusted peer", extra={"peer": address}
            )
            return None
        if "," in value:
            raise UnauthorizedError(f"The {self.header} header was sent more than once")
        return value


def provider_from_settings(settings: Settings) -> IdentityProvider:
    if settings.auth_trusted_header:
        return TrustedHeaderProvider(settings.auth_trusted_header, settings.auth_trusted_proxies)
    return NoIdentityProvider()


class AuthServicer(pb_grpc.AuthorizationServicer):
    """``envoy.service.auth.v3.Authorization``."""

    def __init__(self, settings: Settings, provider: IdentityProvider) -> None:
        self.settings = settings
        self.provider = provider

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        http = request.attributes.request.http
        try:
            user = self.provider.identify(request.attributes)
        except UnauthorizedError as exc:
            decision = Decision(None, exc)
        else:
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
