"""The ``kerberos`` identity mode through the real Envoy (HTTPS) against a real MIT KDC.

The KDC (Debian ``krb5-kdc``) serves a throw-away realm ``IIB.TEST`` on a loopback port, plus
``OTHER.TEST`` for the wrong-realm case. The gateway gets a keytab (``KRB5_KTNAME``) holding
``HTTP/localhost@IIB.TEST`` and, as a shared host keytab would, ``HTTP/elsewhere@IIB.TEST``; it
accepts tokens for the first only (``IIB_AUTH_KERBEROS_PRINCIPAL``).

The clients are the real ones: iiblib's ``IIBKrbAuth`` (``kinit -k -t <keytab>`` and one
``Negotiate`` header for ``HTTP@<host>``, sent with every request of its session) submits an
add; IIB's worker code path (``requests_kerberos.HTTPKerberosAuth``, which answers a 401 carrying
``WWW-Authenticate: Negotiate``) PATCHes as the worker principal. Expected values come from
Kerberos itself: the principal names the KDC issued, RFC 4559's challenge, and MIT's refusal of
replays and of tokens older than the clock skew (3 s in this realm).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gssapi
import pytest
import requests
import requests_kerberos  # type: ignore[import-untyped]
from iiblib.iib_authentication import IIBKrbAuth
from iiblib.iib_client import IIBClient

from services.common.errors import UNAUTHORIZED_TEXT, ConfigError
from services.gateway.kerberos import KerberosProvider
from services.tooling.servers.kdc import KdcServer, start_kdc
from tests.gateway.conftest import USER_HEADER, Stack, stack_settings

REALM, OTHER = "IIB.TEST", "OTHER.TEST"
SUBMITTER = f"alice@{REALM}"
WORKER = f"worker@{REALM}"
ADD = {"bundles": ["q.io/ns/b:1"], "from_index": "q.io/idx:1", "binary_image": "q.io/bin:1"}
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
CLOCKSKEW = 3


class Realm:
    """The KDC, the keytabs it exported and a ticket cache per user."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.kdc: KdcServer = start_kdc(
            base / "kdc", (REALM, OTHER), clockskew=CLOCKSKEW, ticket_lifetime="1h"
        )
        self.kdc.add_principals(["HTTP/localhost", "HTTP/elsewhere", "alice", "worker"])
        self.kdc.add_principals(["HTTP/localhost", "mallory"], realm=OTHER)
        self.service_keytab = self.kdc.keytab(
            base / "http.keytab", ["HTTP/localhost", "HTTP/elsewhere"]
        )
        self.keytabs = {
            name: self.kdc.keytab(base / f"{name}.keytab", [name]) for name in ("alice", "worker")
        }
        self.keytabs["mallory"] = self.kdc.keytab(base / "mallory.keytab", ["mallory"], OTHER)

    def ccache(self, user: str, realm: str = REALM, lifetime: str | None = None) -> Path:
        """A fresh ticket cache holding ``user``'s TGT."""
        path = self.base / f"cc-{user}-{time.monotonic_ns()}"
        return self.kdc.kinit(f"{user}@{realm}", self.keytabs[user], path, lifetime)

    def token(self, user: str, service: str = f"HTTP/localhost@{REALM}", **kw: Any) -> str:
        """A SPNEGO token (``Negotiate`` value) of ``user`` for ``service``, as curl sends."""
        realm = service.rpartition("@")[2]
        creds = gssapi.Credentials(
            usage="initiate", store={"ccache": f"FILE:{self.ccache(user, realm, **kw)}"}
        )
        context = gssapi.SecurityContext(
            name=gssapi.Name(service, gssapi.NameType.kerberos_principal),
            creds=creds,
            usage="initiate",
            mech=SPNEGO,
        )
        return base64.b64encode(context.step()).decode()


@pytest.fixture(scope="module")
def realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realm]:
    base = tmp_path_factory.mktemp("krb")
    realm = Realm(base)
    # The gateway runs in this process: libkrb5 reads the realm, the keytab and where to keep
    # its replay cache from the standard variables, as an operator sets them for the gateway.
    saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5_KTNAME", "KRB5RCACHEDIR")}
    os.environ["KRB5_CONFIG"] = str(realm.kdc.krb5_conf)
    os.environ["KRB5_KTNAME"] = f"FILE:{realm.service_keytab}"
    os.environ["KRB5RCACHEDIR"] = str(base)
    try:
        yield realm
    finally:
        realm.kdc.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def gateway(
    realm: Realm, tmp_path_factory: pytest.TempPathFactory, new_database_url: Callable[[], str]
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("krb-stack")
    settings = stack_settings(
        tmp,
        new_database_url(),
        {
            "tls": True,
            "IIB_AUTH_MODES": ["kerberos", "trusted_header"],
            "IIB_AUTH_KERBEROS_PRINCIPAL": f"HTTP/localhost@{REALM}",
            "IIB_WORKER_USERNAMES": [WORKER],
        },
    )
    stack = Stack(settings, tmp)
    # Clients ask for HTTP@<the host of the URL>: localhost, not 127.0.0.1.
    stack.base_url = stack.base_url.replace("127.0.0.1", "localhost")
    yield stack
    stack.close()


@pytest.fixture
def krb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """iiblib and requests-kerberos find the ticket cache through KRB5CCNAME (iiblib resets it
    to its old value, so keep whatever it leaves to this test)."""
    monkeypatch.setenv("KRB5CCNAME", os.environ.get("KRB5CCNAME", ""))


def _session(stack: Stack) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.settings.gateway_tls_cert)
    return session


def _post(session: requests.Session, stack: Stack, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Negotiate {token}"} if token else {}
    return session.post(f"{stack.base_url}/api/v1/builds/add", json=ADD, headers=headers)


def test_iiblib_submits_an_add_with_its_keytab(gateway: Stack, realm: Realm, krb_env: None) -> None:
    port = gateway.settings.gateway_listen.rpartition(":")[2]
    client = IIBClient(
        f"localhost:{port}",
        auth=IIBKrbAuth(SUBMITTER, "localhost", ktfile=str(realm.keytabs["alice"])),
        ssl_verify=str(gateway.settings.gateway_tls_cert),
    )
    client.iib_session.session.trust_env = False
    build = client.add_bundles("q.io/idx:1", ["q.io/ns/b:1"], [], binary_image="q.io/bin:1")
    assert build.user == SUBMITTER
    # iiblib sends the same token again on the same connection: the same client, not a replay
    again = client.add_bundles("q.io/idx:1", ["q.io/ns/b:2"], [], binary_image="q.io/bin:1")
    assert again.user == SUBMITTER
    assert client.get_build(build.id).user == SUBMITTER


def test_a_worker_principal_patches_as_iib_workers_do(
    gateway: Stack, realm: Realm, krb_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _post(_session(gateway), gateway, realm.token("alice"))
    assert created.status_code == 201, created.text
    url = f"{gateway.base_url}/api/v1/builds/{created.json()['id']}"
    body = {"state": "in_progress", "state_reason": "Resolving the bundles"}

    monkeypatch.setenv("KRB5CCNAME", f"FILE:{realm.ccache('worker')}")
    worker = _session(gateway)
    # IIB's workers (iib/workers/api_utils.py): mutual authentication OPTIONAL
    worker.auth = requests_kerberos.HTTPKerberosAuth(
        mutual_authentication=requests_kerberos.OPTIONAL
    )
    resp = worker.patch(url, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["state_reason"] == "Resolving the bundles"
    # requests-kerberos' default (REQUIRED) checks the server's answer token: it is sent
    strict = _session(gateway)
    strict.auth = requests_kerberos.HTTPKerberosAuth()
    resp = strict.patch(url, json={**body, "state_reason": "Building the index image"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["WWW-Authenticate"].startswith("Negotiate ")

    monkeypatch.setenv("KRB5CCNAME", f"FILE:{realm.ccache('alice')}")
    submitter = _session(gateway)
    submitter.auth = requests_kerberos.HTTPKerberosAuth(
        mutual_authentication=requests_kerberos.OPTIONAL
    )
    resp = submitter.patch(url, json=body)
    assert resp.status_code == 403
    assert resp.json() == {"error": "This API endpoint is restricted to IIB workers"}


def test_no_token_is_401_with_a_negotiate_challenge(gateway: Stack) -> None:
    resp = _post(_session(gateway), gateway, None)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Negotiate"
    assert resp.json() == {"error": UNAUTHORIZED_TEXT}
    garbage = _post(_session(gateway), gateway, "bm90IGEgdG9rZW4=")
    assert garbage.status_code == 401
    assert garbage.headers["WWW-Authenticate"] == "Negotiate"
    # the next mode still works: a front proxy's header from loopback
    proxied = _session(gateway).post(
        f"{gateway.base_url}/api/v1/builds/add", json=ADD, headers={USER_HEADER: "bob@PROXY"}
    )
    assert proxied.status_code == 201, proxied.text
    assert proxied.json()["user"] == "bob@PROXY"


def test_a_token_from_another_realm_is_refused(gateway: Stack, realm: Realm) -> None:
    token = realm.token("mallory", service=f"HTTP/localhost@{OTHER}")
    resp = _post(_session(gateway), gateway, token)
    assert resp.status_code == 401
    assert resp.json() == {"error": UNAUTHORIZED_TEXT}


def test_a_token_for_another_service_is_refused(gateway: Stack, realm: Realm) -> None:
    # HTTP/elsewhere's key is in the gateway's keytab, but it is not the configured principal
    token = realm.token("alice", service=f"HTTP/elsewhere@{REALM}")
    resp = _post(_session(gateway), gateway, token)
    assert resp.status_code == 401


def test_a_token_is_remembered_for_its_connection_only(gateway: Stack, realm: Realm) -> None:
    token = realm.token("alice")
    first = _session(gateway)
    assert _post(first, gateway, token).json()["user"] == SUBMITTER
    assert _post(first, gateway, token).json()["user"] == SUBMITTER
    # another user's token on the same connection is that user
    other = _post(first, gateway, realm.token("worker"))
    assert other.status_code == 201 and other.json()["user"] == WORKER
    # and no token there is no identity
    assert _post(first, gateway, None).status_code == 401
    # the same token on another connection is a replay
    replayed = _post(_session(gateway), gateway, token)
    assert replayed.status_code == 401
    assert replayed.json() == {"error": UNAUTHORIZED_TEXT}


def test_an_expired_token_is_refused(gateway: Stack, realm: Realm) -> None:
    token = realm.token("alice", lifetime="1s")
    time.sleep(1 + CLOCKSKEW + 0.5)
    resp = _post(_session(gateway), gateway, token)
    assert resp.status_code == 401


def test_a_keytab_without_the_principal_stops_the_gateway(
    realm: Realm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5_KTNAME", f"FILE:{realm.keytabs['alice']}")
    with pytest.raises(ConfigError, match="IIB_AUTH_KERBEROS_PRINCIPAL.*KRB5_KTNAME"):
        KerberosProvider(f"HTTP/localhost@{REALM}")
