"""The ``client_certificate`` identity mode through the real Envoy.

Certificates are made here with ``cryptography`` (the subject and alternative names written into
them are the expected users). Envoy asks for a client certificate and verifies it against
``IIB_AUTH_CLIENT_CA``; the auth service reads only the certificate Envoy verified, never a header:
an ``x-forwarded-client-cert`` sent by a client identifies nobody."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from services.common.tls import issue_certificate, make_ca
from services.gateway.client_certificate import certificate_user
from tests.gateway.conftest import Stack, stack_settings

ADD = {"bundles": ["q.io/ns/b:1"], "from_index": "q.io/idx:1", "binary_image": "q.io/bin:1"}
WORKER = "iib-worker"


def _certificate(
    subject: list[x509.NameAttribute], alt_names: list[x509.GeneralName]
) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(x509.Name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_each_field_names_the_user() -> None:
    cert = _certificate(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
        ],
        [
            x509.DNSName("alice.example.com"),
            x509.RFC822Name("alice@example.com"),
            x509.UniformResourceIdentifier("spiffe://example.com/alice"),
        ],
    )
    assert certificate_user(cert, "cn") == "alice"
    assert certificate_user(cert, "subject") == r"O=Example\, Inc.,CN=alice"
    assert certificate_user(cert, "email") == "alice@example.com"
    assert certificate_user(cert, "uri") == "spiffe://example.com/alice"
    assert certificate_user(cert, "dns") == "alice.example.com"
    bare = _certificate([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "bob@example.com")], [])
    assert certificate_user(bare, "email") == "bob@example.com"
    assert certificate_user(bare, "cn") is None
    assert certificate_user(bare, "uri") is None
    two = _certificate(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
            x509.NameAttribute(NameOID.COMMON_NAME, "iib-worker"),
        ],
        [],
    )
    assert certificate_user(two, "cn") is None


class Pki:
    def __init__(self, base: Path) -> None:
        self.ca = base / "ca.crt"
        make_ca(self.ca, base / "ca.key", name="IIB client CA")
        self.rogue_ca = base / "rogue-ca.crt"
        make_ca(self.rogue_ca, base / "rogue-ca.key", name="IIB client CA")
        self.base = base

    def client(self, name: str, rogue: bool = False) -> tuple[str, str]:
        ca = self.rogue_ca if rogue else self.ca
        cert = self.base / f"{name}{'-rogue' if rogue else ''}.crt"
        key = cert.with_suffix(".key")
        issue_certificate(ca, ca.with_suffix(".key"), name, cert, key)
        return str(cert), str(key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("client-pki"))


@pytest.fixture(scope="module")
def gateway(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, new_database_url: Callable[[], str]
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("cert-stack")
    settings = stack_settings(
        tmp,
        new_database_url(),
        {
            "tls": True,
            "IIB_AUTH_MODES": ["client_certificate"],
            "IIB_AUTH_CLIENT_CA": str(pki.ca),
            "IIB_WORKER_USERNAMES": [WORKER],
        },
    )
    stack = Stack(settings, tmp)
    yield stack
    stack.close()


def _post(
    stack: Stack, cert: tuple[str, str] | None, headers: dict[str, str] | None = None
) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(stack.settings.gateway_tls_cert)
        session.cert = cert
        return session.post(
            f"{stack.base_url}/api/v1/builds/add", json=ADD, headers=headers, timeout=30
        )


def test_a_verified_certificate_names_the_user(gateway: Stack, pki: Pki) -> None:
    resp = _post(gateway, pki.client("alice"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"] == "alice"


def test_a_worker_certificate_patches_and_a_user_certificate_may_not(
    gateway: Stack, pki: Pki
) -> None:
    rid = _post(gateway, pki.client("alice")).json()["id"]
    body = {"state": "in_progress", "state_reason": "Resolving the bundles"}
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(gateway.settings.gateway_tls_cert)
        session.cert = pki.client(WORKER)
        ok = session.patch(f"{gateway.base_url}/api/v1/builds/{rid}", json=body)
        session.cert = pki.client("mallory")
        session.close()  # a new connection for the other certificate
        refused = session.patch(f"{gateway.base_url}/api/v1/builds/{rid}", json=body)
    assert ok.status_code == 200, ok.text
    assert refused.status_code == 403


def test_no_certificate_is_anonymous_and_a_forged_header_identifies_nobody(
    gateway: Stack,
) -> None:
    resp = _post(gateway, None)
    assert resp.status_code == 401
    assert "WWW-Authenticate" not in resp.headers
    forged = _post(
        gateway,
        None,
        {
            "X-Forwarded-Client-Cert": f'By=spiffe://iib;Hash=00;Subject="CN={WORKER}"',
            "X-Remote-User": WORKER,
        },
    )
    assert forged.status_code == 401


def test_a_certificate_from_another_ca_is_refused_by_the_handshake(
    gateway: Stack, pki: Pki
) -> None:
    # same CA name, different key: only the signature tells them apart; Envoy ends the
    # handshake
    with pytest.raises(requests.exceptions.SSLError):
        _post(gateway, pki.client("alice", rogue=True))
