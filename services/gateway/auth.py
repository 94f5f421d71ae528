"""The gateway's auth service: Envoy's ext_authz ``Check`` for POST and PATCH routes.

The identity modes (``IIB_AUTH_MODES``) are :class:`IdentityProvider` objects tried in order: the
first that names a user wins; one that finds a credential it cannot trust (a refused Kerberos
token, a repeated trusted header) answers 401 at once. The shared policy
(:func:`services.common.identity.authorize`) then decides. Allowed requests go on with the user in
the ``x-iib-user`` header (Envoy strips any client-sent copy before this filter) and without the
credential headers the providers consumed; denied ones get IIB's 401/403 text, which Envoy's local
reply config wraps as ``{"error": "..."}``, and on 401 the providers' challenges
(``WWW-Authenticate: Negotiate``).

Providers:

* :class:`~services.gateway.kerberos.KerberosProvider` (``kerberos``) — an ``Authorization:
  Negotiate`` token for ``IIB_AUTH_KERBEROS_PRINCIPAL``, checked with gssapi against the keytab
  of ``KRB5_KTNAME``; the user is the client principal ``user@REALM``.
* :class:`~services.gateway.client_certificate.ClientCertificateProvider`
  (``client_certificate``) — the TLS client certificate Envoy verified against
  ``IIB_AUTH_CLIENT_CA``; the user is the field ``IIB_AUTH_CLIENT_CERT_FIELD`` names.
* :class:`TrustedHeaderProvider` (``trusted_header``) — a front proxy (httpd with
  mod_auth_gssapi, an OAuth proxy) authenticates and passes the user in a header named by
  ``IIB_AUTH_TRUSTED_HEADER``, honoured only from ``IIB_AUTH_TRUSTED_PROXIES``.
* With no mode, nobody is identified (with ``LOGIN_DISABLED`` everyone is anonymous).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import grpc

from services.common.config import Settings
from services.common.errors import ConfigError, UnauthorizedError
from services.common.grpc_server import GrpcServer
from services.common.identity import IDENTITY_METADATA, Decision, authorize
from services.common.pb.envoy.service.auth.v3 import external_auth_pb2 as pb
from services.common.pb.envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from services.gateway.client_certificate import ClientCertificateProvider
from services.gateway.kerberos import KerberosProvider

__all__ = [
    "AuthServicer",
    "IdentityProvider",
    "NoIdentityProvider",
    "TrustedHeaderProvider",
    "auth_modes",
    "build_auth_server",
    "provider_from_settings",
    "providers_from_settings",
]

log = logging.getLogger(__name__)


class IdentityProvider(Protocol):
    """Finds out who sent a request."""

    #: The ``WWW-Authenticate`` challenge of this mode, sent with a 401 (None: none).
    challenge: str | None
    #: Request headers holding this mode's credential: never forwarded upstream.
    consumed_headers: tuple[str, ...]

    def identify(self, attributes: Any) -> str | None:
        """The authenticated user of the request ``attributes`` (Envoy's AttributeContext:
        ``.request.http`` and the peer in ``.source``), or None. Raises UnauthorizedError
        for a request that claims an identity in a way that cannot be trusted."""


class NoIdentityProvider:
    """Nobody is ever identified."""

    challenge: str | None = None
    consumed_headers: tuple[str, ...] = ()

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

    challenge: str | None = None

    def __init__(self, header: str, proxies: Sequence[str] = ("127.0.0.0/8", "::1/128")) -> None:
        self.header = header.lower()
        self.consumed_headers: tuple[str, ...] = (self.header,)
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


def auth_modes(settings: Settings) -> tuple[str, ...]:
    """``IIB_AUTH_MODES``, or when unset every mode whose own setting is set (kerberos,
    client_certificate, trusted_header), so configurations from before the setting keep working."""
    if settings.auth_modes is not None:
        return settings.auth_modes
    derived = [
        ("kerberos", settings.auth_kerberos_principal),
        ("client_certificate", settings.auth_client_ca),
        ("trusted_header", settings.auth_trusted_header),
    ]
    return tuple(mode for mode, setting in derived if setting)


def providers_from_settings(settings: Settings) -> list[IdentityProvider]:
    """One provider per mode, in order; a mode without its settings is a ConfigError."""
    providers: list[IdentityProvider] = []
    for mode in auth_modes(settings):
        if mode == "kerberos":
            if not settings.auth_kerberos_principal:
                raise ConfigError(
                    "Missing setting IIB_AUTH_KERBEROS_PRINCIPAL: the kerberos mode needs the "
                    "service principal (e.g. HTTP/iib.example.com@EXAMPLE.COM)"
                )
            providers.append(KerberosProvider(settings.auth_kerberos_principal))
        elif mode == "client_certificate":
            if not settings.auth_client_ca:
                raise ConfigError(
                    "Missing setting IIB_AUTH_CLIENT_CA: the client_certificate mode needs the CA "
                    "bundle client certificates are verified against"
                )
            if not settings.gateway_tls_cert:
                raise ConfigError(
                    "Missing setting IIB_GATEWAY_TLS_CERT: the client_certificate mode needs HTTPS"
                )
            providers.append(ClientCertificateProvider(settings.auth_client_cert_field))
        elif mode == "trusted_header":
            if not settings.auth_trusted_header:
                raise ConfigError(
                    "Missing setting IIB_AUTH_TRUSTED_HEADER: the trusted_header mode needs the "
                    "header name (e.g. X-Remote-User)"
                )
            providers.append(
                TrustedHeaderProvider(settings.auth_trusted_header, settings.auth_trusted_proxies)
            )
    return providers


def provider_from_settings(settings: Settings) -> IdentityProvider:
    """The first configured provider (NoIdentityProvider without one)."""
    providers = providers_from_settings(settings)
    return providers[0] if providers else NoIdentityProvider()


def _header(key: str, value: str) -> Any:
    return pb.HeaderValueOption(
        header=pb.HeaderValue(key=key, value=value),
        append_action=pb.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


class AuthServicer(pb_grpc.AuthorizationServicer):
    """``envoy.service.auth.v3.Authorization``."""

    def __init__(
        self,
        settings: Settings,
        provider: IdentityProvider | Sequence[IdentityProvider],
    ) -> None:
        self.settings = settings
        self.providers: list[IdentityProvider] = (
            list(provider) if isinstance(provider, Sequence) else [provider]
        )
        self.challenges = [p.challenge for p in self.providers if p.challenge]
        self.consumed = sorted({h for p in self.providers for h in p.consumed_headers})

    def _identify(self, attributes: Any) -> tuple[str | None, list[Any]]:
        """The user (first provider that names one) and the headers to add to the answer."""
        for provider in self.providers:
            if isinstance(provider, KerberosProvider):
                negotiated = provider.negotiate(attributes)
                if negotiated is not None:
                    reply = (
                        [_header("www-authenticate", f"Negotiate {negotiated.reply}")]
                        if negotiated.reply
                        else []
                    )
                    return negotiated.user, reply
                continue
            user = provider.identify(attributes)
            if user is not None:
                return user, []
        return None, []

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        http = request.attributes.request.http
        reply: list[Any] = []
        try:
            user, reply = self._identify(request.attributes)
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
            status = decision.error.http_status
            log.info(
                "request denied",
                extra={"method": http.method, "path": http.path, "status": status},
            )
            denied = pb.DeniedHttpResponse(
                status=pb.HttpStatus(code=status), body=decision.error.message
            )
            if status == 401:
                denied.headers.extend(
                    pb.HeaderValueOption(
                        header=pb.HeaderValue(key="www-authenticate", value=challenge),
                        append_action=pb.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD,
                    )
                    for challenge in self.challenges
                )
            return pb.CheckResponse(
                status={"code": 16 if status == 401 else 7}, denied_response=denied
            )
        ok = pb.OkHttpResponse()
        if decision.user is not None:
            ok.headers.append(_header(IDENTITY_METADATA, decision.user))
        ok.headers_to_remove.extend(self.consumed)
        ok.response_headers_to_add.extend(reply)
        return pb.CheckResponse(status={"code": 0}, ok_response=ok)


def build_auth_server(settings: Settings, address: str | None = None) -> GrpcServer:
    servicer = AuthServicer(settings, providers_from_settings(settings))
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
