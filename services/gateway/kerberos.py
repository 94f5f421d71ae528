"""Kerberos identity for the gateway's auth service: HTTP Negotiate (RFC 4559) with python-gssapi.

A client (iiblib's ``IIBKrbAuth``, requests-kerberos, ``curl --negotiate``) sends
``Authorization: Negotiate <base64 token>``: a raw Kerberos GSS token (iiblib, through
pykerberos) or a SPNEGO token wrapping one (requests-kerberos, curl). The token is accepted with
the keys of the configured service principal only (``IIB_AUTH_KERBEROS_PRINCIPAL``), read from
the keytab libkrb5 finds through ``KRB5_KTNAME`` (and ``KRB5_CONFIG`` for the realms); the user
is the client principal, ``user@REALM``, as mod_auth_gssapi gives IIB in ``REMOTE_USER``.

MIT krb5 refuses a replayed token (its replay cache: ``KRB5RCACHEDIR``, ``/var/tmp`` by default),
a token older than the clock skew (``clockskew``, 300 s) and a ticket past its end time. Because
iiblib computes one token and sends it with every request of its session, an accepted token is
remembered for the TCP connection it came on (Envoy's peer address and port) until its ticket
expires: the same token on the same connection is the same client, not a replay. The cache key
holds the token's digest, so nothing negotiated for one token (one user) ever answers for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import gssapi
import gssapi.exceptions
from gssapi.raw import misc as gss_misc

from services.common.errors import ConfigError, UnauthorizedError

__all__ = ["KerberosProvider", "Negotiated", "service_name"]

log = logging.getLogger(__name__)

#: The Kerberos 5 GSS-API mechanism (RFC 1964); SPNEGO negotiates it too.
KRB5_MECH = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
SPNEGO_MECH = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")


class _AcceptContext(gssapi.SecurityContext):
    """An acceptor context whose step raises on a refused token instead of returning the
    error token and deferring the error to the next call (python-gssapi's default)."""

    __DEFER_STEP_ERRORS__ = False


@dataclass(frozen=True)
class Negotiated:
    """A client authenticated by a Negotiate token."""

    user: str
    #: The acceptor's answer token (base64; mutual authentication), if there is one.
    reply: str | None = None


def service_name(principal: str) -> gssapi.Name:
    """``HTTP/host@REALM`` (or ``HTTP/host``) as a Kerberos principal; ``HTTP@host`` as a GSS
    host-based service name, the form clients ask for."""
    if "/" in principal:
        return gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    return gssapi.Name(principal, gssapi.NameType.hostbased_service)


class KerberosProvider:
    """Identifies clients by a Negotiate token for one service principal."""

    #: The challenge sent with a 401 (RFC 4559 section 4.1).
    challenge: str | None = "Negotiate"
    #: The credential is not forwarded to the services.
    consumed_headers: tuple[str, ...] = ("authorization",)

    def __init__(
        self,
        principal: str,
        *,
        cache_entries: int = 4096,
        max_cache_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.principal = principal
        self.max_cache_seconds = max_cache_seconds
        self.cache_entries = cache_entries
        self._clock = clock
        self._cache: OrderedDict[tuple[str, int, bytes], tuple[Negotiated, float]] = OrderedDict()
        self._lock = threading.Lock()
        keytab = os.environ.get("KRB5_KTNAME", "the default keytab")
        try:
            self.creds = gssapi.Credentials(
                name=service_name(principal),
                usage="accept",
                mechs=[KRB5_MECH, SPNEGO_MECH],
            )
        except gss_misc.GSSError as exc:
            raise ConfigError(
                f"Invalid setting IIB_AUTH_KERBEROS_PRINCIPAL: cannot accept tokens for "
                f"{principal} with the keys of {keytab} (KRB5_KTNAME): {exc.gen_message()}"
            ) from None

    def identify(self, attributes: Any) -> str | None:
        negotiated = self.negotiate(attributes)
        return negotiated.user if negotiated else None

    def negotiate(self, attributes: Any) -> Negotiated | None:
        """The client of a Negotiate token, None without one; UnauthorizedError for a token
        that is malformed, replayed, expired, for another service or from an unknown realm."""
        header = attributes.request.http.headers.get("authorization", "")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "negotiate":
            return None
        peer = attributes.source.address.socket_address
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            token = b""
        if not token:
            self._refuse(peer.address, "the Negotiate token is not base64")
        key = (str(peer.address), int(peer.port_value), hashlib.sha256(token).digest())
        cached = self._cached(key)
        if cached is not None:
            return cached
        context = _AcceptContext(creds=self.creds, usage="accept")
        try:
            reply = context.step(token)
            if not context.complete:
                self._refuse(peer.address, "the negotiation needs more than one round trip")
            if context.mech != KRB5_MECH:
                self._refuse(peer.address, f"mechanism {context.mech.dotted_form} is not Kerberos")
            if gssapi.RequirementFlag.anonymity in context.actual_flags:
                self._refuse(peer.address, "the client is anonymous")
            user = str(context.initiator_name)
            lifetime = float(context.lifetime or 0)
        except gss_misc.GSSError as exc:
            self._refuse(peer.address, exc.gen_message())
        negotiated = Negotiated(user, base64.b64encode(reply).decode() if reply else None)
        if lifetime > 0:
            self._remember(key, negotiated, min(lifetime, self.max_cache_seconds))
        return negotiated

    def _refuse(self, peer: str, reason: str) -> NoReturn:
        log.warning("refused a Kerberos token", extra={"peer": peer, "reason": reason})
        raise UnauthorizedError()

    def _cached(self, key: tuple[str, int, bytes]) -> Negotiated | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            negotiated, expires = entry
            if expires <= self._clock():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return negotiated

    def _remember(self, key: tuple[str, int, bytes], negotiated: Negotiated, ttl: float) -> None:
        with self._lock:
            self._cache[key] = (negotiated, self._clock() + ttl)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
