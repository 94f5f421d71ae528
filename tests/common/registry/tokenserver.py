"""A small Bearer token server for docker-registry's ``auth.token`` (distribution 2.8).

It checks Basic credentials, grants the requested actions to known users (only ``pull`` to
anonymous callers and to ``read_only`` users), and answers an RS256 JWT whose header carries the
signing certificate as ``x5c`` (distribution accepts a self-signed chain listed in its
``rootcertbundle``). Every request is recorded for assertions on token caching.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from services.common.registry.auth import Credentials
from services.tooling.servers.registry import TLSFiles, TokenAuthConfig


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenRequest:
    """One call to the token endpoint."""

    user: str | None
    scopes: tuple[str, ...]
    granted: tuple[str, ...]
    status: int


class TokenServer:
    """HTTPS token endpoint on 127.0.0.1 (in a thread of the test process)."""

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, str],
        *,
        tls: TLSFiles,
        read_only: frozenset[str] = frozenset(),
        service: str = "iib-test-registry",
        issuer: str = "iib-test-issuer",
        lifetime: int = 300,
    ) -> None:
        self.directory = directory
        self.users = dict(users)
        self.read_only = read_only
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.tls = tls
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iib test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.signing_cert = directory / "token-signer.crt"
        self.signing_cert.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}/token"

    def auth_config(self) -> TokenAuthConfig:
        """The registry's ``auth.token`` settings for this server."""
        return TokenAuthConfig(self.realm, self.service, self.issuer, self.signing_cert)

    def start(self) -> None:
        handler = self._handler_class()
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert, self.tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_for(self, scope_part: str) -> list[TokenRequest]:
        """Recorded requests whose scopes mention ``scope_part``."""
        with self._lock:
            return [r for r in self.requests if any(scope_part in s for s in r.scopes)]

    def _issue(self, user: str | None, scopes: list[str]) -> tuple[str, tuple[str, ...]]:
        access = []
        granted: list[str] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions_text = rest.rpartition(":")
            wanted = [a for a in actions_text.split(",") if a]
            if user is None or user in self.read_only:
                allowed = [a for a in wanted if a == "pull"]
            else:
                allowed = wanted
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
                granted.append(f"{kind}:{name}:{','.join(allowed)}")
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [_b64url_std(self._cert)]}
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature), tuple(granted)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
                user: str | None = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    try:
                        creds = Credentials.from_auth(header[6:])
                    except ValueError:
                        creds = None
                    if creds is None or server.users.get(creds.username) != creds.password:
                        self._answer(401, {"details": "bad credentials"}, None, scopes, ())
                        return
                    user = creds.username
                token, granted = server._issue(user, scopes)
                body = {
                    "token": token,
                    "access_token": token,
                    "expires_in": server.lifetime,
                    "issued_at": datetime.datetime.now(datetime.UTC).isoformat(),
                }
                self._answer(200, body, user, scopes, granted)

            def _answer(
                self,
                status: int,
                body: dict[str, object],
                user: str | None,
                scopes: list[str],
                granted: tuple[str, ...],
            ) -> None:
                with server._lock:
                    server.requests.append(TokenRequest(user, tuple(scopes), granted, status))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _b64url_std(cert: x509.Certificate) -> str:
    # x5c entries are standard (not URL-safe) base64 of the DER certificate.
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
