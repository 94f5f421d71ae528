"""Client-certificate identity for the gateway's auth service.

With ``client_certificate`` among the modes, Envoy asks every HTTPS client for a certificate and
verifies one that is sent against ``IIB_AUTH_CLIENT_CA`` (a certificate that does not verify
fails the TLS handshake; a client without one stays anonymous). ext_authz then passes the
verified peer certificate of the connection in the CheckRequest (``source.certificate``, URL-encoded
PEM, ``include_peer_certificate``): that is the only input read here. Headers are never read, so
an ``x-forwarded-client-cert`` a client sends proves nothing (Envoy also sanitizes it).

The user is the part of the certificate named by ``IIB_AUTH_CLIENT_CERT_FIELD``.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["FIELDS", "ClientCertificateProvider", "certificate_user"]

log = logging.getLogger(__name__)

FIELDS = ("cn", "subject", "email", "uri", "dns")


def certificate_user(cert: x509.Certificate, field: str) -> str | None:
    """The user a certificate names in ``field`` (one of :data:`FIELDS`), or None."""
    if field == "subject":
        return cert.subject.rfc4514_string() or None
    if field == "cn":
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        # Two common names would make the identity ambiguous.
        return str(names[0].value) if len(names) == 1 else None
    try:
        alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        alt_names = None
    values: list[str] = []
    if alt_names is not None:
        if field == "email":
            values = alt_names.get_values_for_type(x509.RFC822Name)
        elif field == "uri":
            values = alt_names.get_values_for_type(x509.UniformResourceIdentifier)
        else:
            values = alt_names.get_values_for_type(x509.DNSName)
    if values:
        return str(values[0])
    if field == "email":
        emails = cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
        return str(emails[0].value) if len(emails) == 1 else None
    return None


class ClientCertificateProvider:
    """Identifies clients by the certificate Envoy verified on their TLS connection."""

    challenge: str | None = None
    consumed_headers: tuple[str, ...] = ()

    def __init__(self, field: str = "cn") -> None:
        if field not in FIELDS:
            raise ValueError(f"unknown certificate field {field!r}")
        self.field = field

    def identify(self, attributes: Any) -> str | None:
        text = urllib.parse.unquote(attributes.source.certificate or "")
        if not text:
            return None
        try:
            cert = x509.load_pem_x509_certificate(text.encode())
        except ValueError:
            log.warning("Envoy passed a peer certificate that does not parse")
            return None
        user = certificate_user(cert, self.field)
        if user is None:
            log.warning(
                "a verified client certificate names no user",
                extra={"field": self.field, "subject": cert.subject.rfc4514_string()},
            )
        return user
