"""Registry authentication: credentials, docker ``config.json``, challenges and Bearer tokens.

Credentials come from three places, the later overriding the earlier for a registry:

1. the docker ``config.json`` template (setting ``iib_docker_config_template``),
2. per-request ``registry_auths`` (``{"auths": {"<registry>": {"auth": "<b64 user:pass>"}}}``),
3. an ``overwrite_from_index_token`` (``"user:password"``) for the from_index repository.

They stay in memory only. ``Credentials`` hides the password in its repr, and no message of this
package contains a credential or a token.

Challenges (``WWW-Authenticate``) select the flow: ``Basic`` sends the credentials on every
request; ``Bearer`` asks the realm for a token per (registry, set of scopes, credentials), e.g.
``repository:ns/img:pull`` for reads and ``repository:ns/img:pull,push`` for writes, and caches it
until shortly before ``expires_in`` runs out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import ConfigError, ValidationError
from services.common.reference import DOCKER_HUB

__all__ = [
    "Challenge",
    "CredentialStore",
    "Credentials",
    "Token",
    "TokenCache",
    "normalize_registry_key",
    "parse_www_authenticate",
    "repository_scope",
]


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for one registry. The password never shows in reprs."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"

    @classmethod
    def from_token(cls, token: str) -> Credentials:
        """Parse IIB's ``overwrite_from_index_token`` form ``"<user>:<password>"``."""
        username, sep, password = token.partition(":")
        if not sep:
            raise ValidationError('The registry token must have the form "<user>:<password>"')
        return cls(username, password)

    @classmethod
    def from_auth(cls, auth: str) -> Credentials:
        """Parse the base64 ``auth`` value of a docker config entry."""
        try:
            decoded = base64.b64decode(auth.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("the auth value is not base64 of <user>:<password>") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise ValueError("the auth value is not base64 of <user>:<password>")
        return cls(username, password)

    def basic_header(self) -> str:
        """The ``Authorization`` value for HTTP Basic."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @property
    def fingerprint(self) -> str:
        """A one-way digest identifying these credentials in caches (never the secret itself)."""
        return hashlib.sha256(f"{self.username}\0{self.password}".encode()).hexdigest()[:32]


def normalize_registry_key(key: str) -> str:
    """Turn a config.json ``auths`` key into ``host[:port][/path]``.

    ``https://index.docker.io/v1/``, ``index.docker.io`` and ``registry-1.docker.io`` all become
    ``docker.io``; a scheme, a trailing slash and a ``/v1``/``/v2`` suffix are dropped.
    """
    text = key.strip()
    text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", text).rstrip("/")
    text = re.sub(r"/v[12]$", "", text)
    host, _, path = text.partition("/")
    host = host.lower()
    if host in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        host = DOCKER_HUB
    return f"{host}/{path}" if path else host


class CredentialStore:
    """Credentials per registry (optionally per ``registry/namespace`` path), most specific wins."""

    def __init__(self, entries: Mapping[str, Credentials] | None = None) -> None:
        self._entries: dict[str, Credentials] = {
            normalize_registry_key(key): creds for key, creds in (entries or {}).items()
        }

    def __repr__(self) -> str:
        return f"CredentialStore(registries={sorted(self._entries)!r})"

    @property
    def registries(self) -> list[str]:
        """The keys credentials are known for (no secrets)."""
        return sorted(self._entries)

    @classmethod
    def from_docker_config(
        cls, document: Mapping[str, Any], source: str = "docker config"
    ) -> CredentialStore:
        """Read the ``auths`` of a docker ``config.json`` document (or IIB's ``registry_auths``).

        Entries may hold ``auth`` (base64 ``user:password``) or ``username`` + ``password``;
        empty entries (left by credential helpers) are skipped. A malformed entry raises
        ``ConfigError`` naming the registry and ``source``, never the value.
        """
        auths = document.get("auths") or {}
        if not isinstance(auths, Mapping):
            raise ConfigError(f'"auths" in {source} must be an object')
        entries: dict[str, Credentials] = {}
        for key, entry in auths.items():
            if not isinstance(entry, Mapping):
                raise ConfigError(f"The entry for {key} in {source} must be an object")
            try:
                if entry.get("auth"):
                    entries[key] = Credentials.from_auth(str(entry["auth"]))
                elif entry.get("username") is not None and entry.get("password") is not None:
                    entries[key] = Credentials(str(entry["username"]), str(entry["password"]))
            except ValueError:
                raise ConfigError(
                    f"The auth value for {key} in {source} is not base64 of <user>:<password>"
                ) from None
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> CredentialStore:
        """Read a docker ``config.json`` file (``ConfigError`` naming the file when unreadable)."""
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"Cannot read the docker config {path}: {type(exc).__name__}"
            ) from None
        if not isinstance(document, Mapping):
            raise ConfigError(f"The docker config {path} is not a JSON object")
        return cls.from_docker_config(document, source=str(path))

    def with_overrides(self, other: CredentialStore | Mapping[str, Credentials]) -> CredentialStore:
        """A new store where ``other``'s entries replace this store's for the same key."""
        merged = CredentialStore()
        merged._entries = dict(self._entries)
        extra = (
            other._entries
            if isinstance(other, CredentialStore)
            else CredentialStore(other)._entries
        )
        merged._entries.update(extra)
        return merged

    def lookup(self, registry: str, repository: str | None = None) -> Credentials | None:
        """Credentials for ``registry`` (and ``repository``): ``reg/ns/img``, ``reg/ns``, ``reg``."""
        host = normalize_registry_key(registry)
        if repository:
            parts = repository.split("/")
            for end in range(len(parts), 0, -1):
                found = self._entries.get(f"{host}/{'/'.join(parts[:end])}")
                if found is not None:
                    return found
        return self._entries.get(host)


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: lower-case ``scheme`` and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        """The token endpoint (Bearer) or the realm name (Basic)."""
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        """The ``service`` the token is for (Bearer)."""
        return self.params.get("service")


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')
_SCHEME_RE = re.compile(rf"\s*,?\s*({_TOKEN})(?:\s+|$)")


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into challenges (quoted values may contain commas)."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme_match = _SCHEME_RE.match(header, pos)
        if scheme_match is None or "=" in header[scheme_match.end(1) : scheme_match.end(1) + 1]:
            break
        scheme = scheme_match.group(1).lower()
        pos = scheme_match.end()
        params: dict[str, str] = {}
        while pos < len(header):
            param_match = _PARAM_RE.match(header, pos)
            if param_match is None:
                break
            value = param_match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param_match.group(1).lower()] = value
            pos = param_match.end()
        challenges.append(Challenge(scheme, params))
    return challenges


def repository_scope(repository: str, actions: Iterable[str]) -> str:
    """``repository:<name>:<a,b>`` as the token endpoint expects it."""
    return f"repository:{repository}:{','.join(actions)}"


@dataclass(frozen=True)
class Token:
    """A Bearer token with its expiry on the monotonic clock. Never printed."""

    value: str = field(repr=False)
    expires_at: float

    def __repr__(self) -> str:
        return f"Token(value='***', expires_at={self.expires_at:.0f})"

    @classmethod
    def from_response(cls, body: Mapping[str, Any], now: float | None = None) -> Token:
        """Build from a token endpoint answer (``token`` or ``access_token``, ``expires_in``)."""
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise ValueError("the token endpoint answered without a token")
        try:
            lifetime = float(body.get("expires_in") or 60)
        except (TypeError, ValueError):
            lifetime = 60.0
        lifetime = max(lifetime, 1.0)
        # Renew a little early so a token never expires between cache lookup and use.
        margin = min(30.0, lifetime * 0.1)
        started = time.monotonic() if now is None else now
        return cls(value, started + lifetime - margin)


class TokenCache:
    """Bearer tokens keyed by (registry, realm, service, scopes, credentials fingerprint)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(
        registry: str, challenge: Challenge, scopes: Iterable[str], credentials: Credentials | None
    ) -> tuple[str, ...]:
        """The cache key for a token request."""
        fingerprint = credentials.fingerprint if credentials else "anonymous"
        return (
            registry,
            challenge.realm,
            challenge.service or "",
            " ".join(sorted(set(scopes))),
            fingerprint,
        )

    def get(self, key: tuple[str, ...]) -> Token | None:
        """A token still valid for ``key``, or None."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and token.expires_at <= time.monotonic():
                del self._tokens[key]
                return None
            return token

    def put(self, key: tuple[str, ...], token: Token) -> None:
        """Remember ``token`` for ``key``."""
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: tuple[str, ...]) -> None:
        """Forget the token for ``key`` (after the registry refused it)."""
        with self._lock:
            self._tokens.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)
