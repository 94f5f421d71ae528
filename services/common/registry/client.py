"""A thin client for the Docker Registry HTTP API v2 / OCI distribution spec.

One ``RegistryClient`` talks to any number of registries. Per registry it keeps a
``requests.Session`` (``trust_env = False``: the environment's ``REQUESTS_CA_BUNDLE`` would
otherwise override the CA bundle given here), the URL scheme, the TLS ``verify`` value and the
authentication challenge learnt from ``GET /v2/``. Every call is retried by the ``RetryPolicy``
on connection errors, 408, 429 and 5xx; every HTTP call has a connect and a read timeout.

Manifests are returned with their exact bytes (``Manifest.raw``); blobs are streamed and their
digest is verified; a blob download that breaks off is resumed with a ``Range`` request.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import json
import logging
import re
import tempfile
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NoReturn, TypeVar

import requests
import requests.adapters
import urllib3.exceptions
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.common.errors import RegistryError
from services.common.metrics import REGISTRY_RETRIES
from services.common.reference import ImageReference, parse_reference
from services.common.registry import mediatypes as mt
from services.common.registry.auth import (
    Challenge,
    Credentials,
    CredentialStore,
    Token,
    TokenCache,
    parse_www_authenticate,
    repository_scope,
)
from services.common.registry.digests import DigestHasher, compute_digest, is_valid_digest
from services.common.registry.errors import (
    DigestMismatchError,
    ImageNotFoundError,
    RegistryAuthError,
    RegistryUnavailableError,
    UnsupportedManifestError,
)
from services.common.registry.manifest import Descriptor, Manifest
from services.common.registry.retry import RetryPolicy

__all__ = ["BlobReader", "RegistryClient", "RegistrySettings", "TransferStats", "host_allowed"]

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)
_DIGESTS = re.compile(r"sha256:[0-9a-f]{64}")

T = TypeVar("T")
MiB = 1024 * 1024
_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class RegistrySettings:
    """Typed settings of the registry client (the service config layer maps IIB's names here).

    ``total_attempts``/``retry_delay``/``retry_jitter``/``retry_multiplier`` are IIB's
    ``iib_total_attempts``/``iib_retry_delay``/``iib_retry_jitter``/``iib_retry_multiplier``;
    ``timeout`` plays the role of ``iib_skopeo_timeout`` but bounds each HTTP call (read timeout),
    not a whole command; ``docker_config_path`` is ``iib_docker_config_template``.
    ``ca_bundles`` maps ``host[:port]`` to a CA file for that registry; ``ca_bundle`` is used for
    every other TLS registry when set (else the certifi bundle). Registries in
    ``insecure_registries`` are spoken to over HTTPS without verification, falling back to plain
    HTTP when they do not speak TLS (what ``skopeo --tls-verify=false`` does).
    ``allowed_registries`` bounds where the client goes (image registries, redirects, token
    realms): see :func:`host_allowed`; credentials never follow a redirect to another host.
    """

    total_attempts: int = 5
    retry_delay: float = 10.0
    retry_jitter: float = 10.0
    retry_multiplier: float = 5.0
    retry_max_delay: float = 300.0
    timeout: float = 300.0
    connect_timeout: float = 30.0
    #: seconds one registry operation may take in all: its attempts, the waits between them
    #: and every byte of its answers or uploads (a registry that sends a byte just before each
    #: read timeout would otherwise hold a worker for ever); a blob download counts from its
    #: start to its last byte
    transfer_deadline: float = 3600.0
    docker_config_path: Path | None = None
    ca_bundle: Path | None = None
    ca_bundles: Mapping[str, Path] = field(default_factory=dict)
    insecure_registries: frozenset[str] = frozenset()
    upload_chunk_size: int = 32 * MiB
    monolithic_upload_max: int = 64 * MiB
    max_manifest_bytes: int = 4 * MiB
    max_config_bytes: int = 16 * MiB
    temp_dir: Path | None = None
    user_agent: str = "iib-ng-registry-client/1"
    #: bytes all the unpacks of one request may write (``request_images``); None: no limit
    request_unpack_limit: int | None = None
    #: host patterns this client may contact (registries, redirects, token realms); None: any.
    #: ``quay.io`` (that host, default port), ``*.example.com`` (its subdomains),
    #: ``127.0.0.1:5000`` (that port), ``host:*`` (any port).
    allowed_registries: tuple[str, ...] | None = None
    #: largest body read from any answer other than a manifest or a blob (the ``/v2/`` ping,
    #: token answers, error bodies, tag list pages); a larger one is an error
    max_response_bytes: int = 1 * MiB
    #: most tags ``list_tags`` collects (over every page)
    max_tags: int = 100_000

    def retry_policy(self) -> RetryPolicy:
        """The ``RetryPolicy`` these settings describe."""
        return RetryPolicy(
            total_attempts=self.total_attempts,
            delay=self.retry_delay,
            jitter=self.retry_jitter,
            multiplier=self.retry_multiplier,
            max_delay=self.retry_max_delay,
        )


@dataclass
class TransferStats:
    """Counters of what a client (and the clients derived from it) did on the wire."""

    requests: int = 0
    retries: int = 0
    bytes_uploaded: int = 0
    bytes_downloaded: int = 0
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_existing: int = 0
    manifests_pushed: int = 0
    token_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters by name."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        """The counters as a dict."""
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class _Retryable(Exception):
    """A failure worth another attempt (network error, 408/429/5xx)."""

    def __init__(self, reason: str, *, network: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.network = network
        self.retry_after = retry_after


@dataclass
class _Endpoint:
    registry: str
    base_url: str
    verify: bool | str
    challenge: Challenge | None


@dataclass
class _Shared:
    """State shared by a client and the clients ``with_credentials`` derives from it."""

    sessions: dict[str, requests.Session] = field(default_factory=dict)
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)
    tokens: TokenCache = field(default_factory=TokenCache)
    stats: TransferStats = field(default_factory=TransferStats)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: (registry, repository, digest) -> size of blobs seen in a repository (see blob_exists)
    known_blobs: OrderedDict[tuple[str, str, str], int] = field(default_factory=OrderedDict)


#: How many (repository, blob) facts a client remembers.
_KNOWN_BLOBS = 200_000


class _BlobSource:
    """Bytes or a file to upload, with its size and digest, readable from any offset."""

    def __init__(self, data: bytes | None, path: Path | None, size: int, digest: str) -> None:
        self.data, self.path, self.size, self.digest = data, path, size, digest

    @classmethod
    def of(cls, source: bytes | Path, digest: str | None, size: int | None) -> _BlobSource:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            return cls(data, None, len(data), digest or compute_digest(data))
        path = Path(source)
        actual_size = path.stat().st_size
        if size is not None and size != actual_size:
            raise ValueError(f"{path} has {actual_size} bytes, not {size}")
        if digest is None:
            hasher = DigestHasher()
            with path.open("rb") as stream:
                while chunk := stream.read(MiB):
                    hasher.update(chunk)
            digest = hasher.digest
        return cls(None, path, actual_size, digest)

    def body(
        self, offset: int, length: int, on_bytes: Callable[[int], None]
    ) -> bytes | _UploadBody:
        if length == 0:
            return b""
        return _UploadBody(self, offset, length, on_bytes)


class _UploadBody:
    """A request body over part of a ``_BlobSource`` that counts the bytes actually sent."""

    def __init__(
        self, source: _BlobSource, offset: int, length: int, on_bytes: Callable[[int], None]
    ) -> None:
        self._length = length
        self._remaining = length
        self._on_bytes = on_bytes
        self._data = source.data
        self._pos = offset
        self._file: BinaryIO | None = None
        if source.path is not None:
            self._file = source.path.open("rb")
            self._file.seek(offset)

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            self.close()
            return b""
        _check_deadline(_DEADLINE.get(), "Uploading")
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        if self._file is not None:
            chunk = self._file.read(size)
        else:
            assert self._data is not None
            chunk = self._data[self._pos : self._pos + size]
            self._pos += len(chunk)
        self._remaining -= len(chunk)
        self._on_bytes(len(chunk))
        if not chunk:
            self.close()
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(MiB):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _Adapter(requests.adapters.HTTPAdapter):
    """Sends request bodies in blocks of ``MiB``. urllib3's default of 16 KiB makes a 12 MB
    upload 768 sends, and each send gives up the GIL and waits to get it back: with another
    thread running Python (a builder computing its next image) that wait, not the network, is
    the upload's time (docs/benchmarks.md, "Upload blocks")."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, blocksize=MiB, **pool_kwargs)


def host_allowed(host: str, patterns: Sequence[str] | None) -> bool:
    """Whether ``host`` (``name[:port]``) matches one of ``patterns`` (None: every host).

    A pattern is a host name or address, optionally ``*.`` + a domain (any name under it, not
    the domain itself), optionally followed by ``:<port>`` or ``:*``; without a port it
    matches only a host named without one (the scheme's default port).
    """
    if patterns is None:
        return True
    name, port = _split_host(host)
    for pattern in patterns:
        want_name, want_port = _split_host(pattern)
        if want_port != "*" and want_port != port:
            continue
        if want_name.startswith("*."):
            if name.endswith(want_name[1:]) and len(name) > len(want_name) - 1:
                return True
        elif name == want_name:
            return True
    return False


def _split_host(host: str) -> tuple[str, str]:
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):  # [v6]:port
        name, _, rest = host[1:].partition("]")
        return name, rest.removeprefix(":")
    if host.count(":") == 1:
        name, port = host.split(":")
        return name, port
    return host, ""


def _netloc_host(url: str) -> str:
    """``host[:port]`` of a URL, without user info."""
    parts = urllib.parse.urlsplit(url)
    name = parts.hostname or ""
    if ":" in name:
        name = f"[{name}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{name}:{port}" if port is not None else name


#: (monotonic deadline, its length in seconds) of the registry operation running in this context
_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "registry_deadline", default=None
)


class TransferDeadlineError(RegistryError):
    """A registry operation ran past ``RegistrySettings.transfer_deadline``."""


def _check_deadline(deadline: tuple[float, float] | None, what: str) -> None:
    if deadline is not None and time.monotonic() > deadline[0]:
        raise TransferDeadlineError(
            f"{what}: the registry did not finish within {deadline[1]:g} s "
            "(IIB_REGISTRY_TRANSFER_DEADLINE)"
        )


def _pieces(
    response: requests.Response, deadline: tuple[float, float] | None, what: str
) -> Iterator[bytes]:
    """A streamed answer's body as it arrives (``read1``: one receive at a time, so a body
    dripping in never holds the reader past ``deadline``), content-decoded."""
    while True:
        _check_deadline(deadline, what)
        piece = response.raw.read1(64 * 1024, decode_content=True)
        if not piece:
            return
        yield piece


def _read_body(response: requests.Response, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of a streamed answer's body (``RegistryError`` beyond it)."""
    buffer = bytearray()
    deadline = _DEADLINE.get()
    try:
        for chunk in _pieces(response, deadline, f"Reading the answer of {what or 'the registry'}"):
            buffer += chunk
            if len(buffer) > limit:
                response.close()
                raise RegistryError(f"{what} answered with more than {limit} bytes")
    except _NETWORK_ERRORS as exc:
        raise _Retryable(f"connection dropped ({type(exc).__name__})", network=True) from None
    return bytes(buffer)


def _buffer_body(response: requests.Response, limit: int, what: str) -> None:
    """Read a streamed answer's body, bounded, so ``.json()``/``.content`` use it."""
    response._content = _read_body(response, limit, what)
    setattr(response, "_content_consumed", True)  # noqa: B010 (requests' own flag)
    response.close()


_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5


def _error_detail(response: requests.Response) -> str:
    """``CODE: message`` items of a registry error body (never headers, never our request)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    items = []
    for error in errors[:3]:
        if isinstance(error, dict):
            code, message = error.get("code", ""), error.get("message", "")
            items.append(f"{code}: {message}" if message else str(code))
    return "; ".join(items)[:300]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _with_params(url: str, params: Sequence[tuple[str, str]]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _as_ref(ref: ImageReference | str) -> ImageReference:
    return ref if isinstance(ref, ImageReference) else parse_reference(ref)


class RegistryClient:
    """Registry API v2 client: manifests, blobs, uploads, mounts, tags, deletes (see module doc)."""

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        credentials: CredentialStore | Mapping[str, Credentials] | None = None,
        retry: RetryPolicy | None = None,
        _shared: _Shared | None = None,
        _base_credentials: CredentialStore | None = None,
    ) -> None:
        self.settings = settings or RegistrySettings()
        self.retry = retry or self.settings.retry_policy()
        self._shared = _shared or _Shared()
        base = _base_credentials
        if base is None:
            base = (
                CredentialStore.load(self.settings.docker_config_path)
                if self.settings.docker_config_path
                else CredentialStore()
            )
        self._credentials = base.with_overrides(credentials) if credentials else base
        self._timeout = (self.settings.connect_timeout, self.settings.timeout)

    def __repr__(self) -> str:
        return f"RegistryClient(credentials={self._credentials!r})"

    # ------------------------------------------------------------------ lifecycle

    def with_credentials(
        self, credentials: CredentialStore | Mapping[str, Credentials]
    ) -> RegistryClient:
        """A client whose credentials are these plus ``credentials`` (which win).

        Sessions, learnt endpoints, the token cache (keyed by credential fingerprint) and the
        stats are shared with this client; nothing is written to disk.
        """
        return RegistryClient(
            self.settings,
            credentials=credentials,
            retry=self.retry,
            _shared=self._shared,
            _base_credentials=self._credentials,
        )

    @property
    def stats(self) -> TransferStats:
        """Transfer counters (shared with derived clients)."""
        return self._shared.stats

    def close(self) -> None:
        """Close the HTTP sessions (also those of derived clients)."""
        with self._shared.lock:
            for session in self._shared.sessions.values():
                session.close()
            self._shared.sessions.clear()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def credentials_for(self, ref: ImageReference) -> Credentials | None:
        """The credentials this client would use for ``ref`` (None when anonymous)."""
        return self._credentials.lookup(ref.registry, ref.repository)

    @staticmethod
    def mountable(source: ImageReference, target: ImageReference) -> bool:
        """Whether a mount from ``source``'s repository into ``target``'s can be asked at all:
        another repository of the same registry. Whether the target's credentials may read
        the source is the registry's answer (:meth:`mount_blob`)."""
        return source.registry == target.registry and source.repository != target.repository

    def can_mount(self, source: ImageReference, target: ImageReference) -> bool:
        """Whether a blob of ``source``'s repository can be mounted into ``target``'s:
        :meth:`mountable`, and both read and written with one set of credentials (a mount is
        one request, which must read the source too; with different credentials per
        repository, e.g. an overwrite token scoped to from_index, a blob goes through this
        worker instead, except where ``ImageService.upload_layers`` has it as a file and tries
        the mount with the target's credentials first)."""
        if not self.mountable(source, target):
            return False
        return self.credentials_for(source) == self.credentials_for(target)

    # ------------------------------------------------------------------ manifests

    def get_manifest(self, ref: ImageReference | str) -> Manifest:
        """Fetch a manifest of any media type by tag or digest, keeping its exact bytes.

        When fetched by digest, the bytes are checked against that digest.
        """
        ref = _as_ref(ref)

        def op() -> Manifest:
            response = self._send(
                "GET",
                ref,
                f"/manifests/{ref.reference}",
                actions=("pull",),
                what="get the manifest of",
                headers={"Accept": ", ".join(mt.ALL_MANIFEST_TYPES)},
                stream=True,
            )
            with contextlib.closing(response):
                if response.status_code != 200:
                    self._raise_for(response, ref, "get the manifest of")
                raw = self._read_limited(response, self.settings.max_manifest_bytes, ref)
                manifest = Manifest.parse(raw, response.headers.get("Content-Type"))
                header_digest = response.headers.get("Docker-Content-Digest")
            if manifest.is_schema1 and header_digest and is_valid_digest(header_digest):
                manifest = Manifest(raw, manifest.media_type, header_digest)
            return manifest

        manifest = self._retrying(ref, "get the manifest of", op)
        if ref.digest and manifest.digest != ref.digest and not manifest.is_schema1:
            actual = compute_digest(manifest.raw, ref.digest.split(":", 1)[0])
            if actual != ref.digest:
                raise DigestMismatchError(
                    f"The manifest of {ref} does not match its digest (got {manifest.digest})"
                )
        return manifest

    def head_manifest(self, ref: ImageReference | str) -> Descriptor | None:
        """Media type, digest and size of a manifest without its body; None when it is absent."""
        ref = _as_ref(ref)

        def op() -> Descriptor | None:
            response = self._send(
                "HEAD",
                ref,
                f"/manifests/{ref.reference}",
                actions=("pull",),
                what="check the manifest of",
                headers={"Accept": ", ".join(mt.ALL_MANIFEST_TYPES)},
            )
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                self._raise_for(response, ref, "check the manifest of")
            digest = response.headers.get("Docker-Content-Digest", "")
            media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
            size = int(response.headers.get("Content-Length") or 0)
            if not is_valid_digest(digest) or not media_type:
                manifest = self.get_manifest(ref)
                return manifest.descriptor()
            return Descriptor(media_type, digest, size)

        return self._retrying(ref, "check the manifest of", op)

    def put_manifest(
        self, ref: ImageReference | str, manifest: Manifest | bytes, media_type: str | None = None
    ) -> str:
        """Push manifest bytes at ``ref``'s tag (or digest); returns the manifest digest.

        The bytes are sent unchanged, so the digest is the sha256 of exactly those bytes.
        """
        ref = _as_ref(ref)
        if isinstance(manifest, Manifest):
            raw, media_type = manifest.raw, media_type or manifest.media_type
        else:
            raw = manifest
            media_type = media_type or Manifest.parse(raw).media_type
        digest = compute_digest(raw)
        target = ref.tag or ref.digest or digest

        def op() -> str:
            response = self._send(
                "PUT",
                ref,
                f"/manifests/{target}",
                actions=("pull", "push"),
                what="push the manifest of",
                headers={"Content-Type": media_type},
                body=lambda: raw,
            )
            if response.status_code not in (200, 201, 202):
                if response.status_code == 400:
                    # a blob thought present may have been garbage-collected: ask next time
                    self.forget_blobs(ref)
                self._raise_for(response, ref, "push the manifest of")
            self.stats.add(manifests_pushed=1, bytes_uploaded=len(raw))
            return digest

        return self._retrying(ref, "push the manifest of", op)

    def delete_manifest(self, ref: ImageReference | str) -> None:
        """Delete the manifest ``ref`` names (a tag is resolved first: all its tags go)."""
        ref = _as_ref(ref)
        digest = ref.digest
        if digest is None:
            found = self.head_manifest(ref)
            if found is None:
                raise ImageNotFoundError(f"Failed to delete {ref}: the manifest does not exist")
            digest = found.digest

        def op() -> None:
            response = self._send(
                "DELETE",
                ref,
                f"/manifests/{digest}",
                actions=("delete",),
                what="delete",
            )
            if response.status_code not in (200, 202):
                self._raise_for(response, ref, "delete")

        self._retrying(ref, "delete", op)

    def list_tags(self, ref: ImageReference | str, page_size: int = 1000) -> list[str]:
        """All tags of ``ref``'s repository, following ``Link`` pagination."""
        ref = _as_ref(ref)
        tags: list[str] = []
        path: str | None = f"/tags/list?n={page_size}"
        while path is not None:

            def op(current: str = path) -> tuple[list[str], str | None]:
                response = self._send(
                    "GET", ref, current, actions=("pull",), what="list the tags of"
                )
                if response.status_code != 200:
                    self._raise_for(response, ref, "list the tags of")
                try:
                    body = response.json()
                    listed = body.get("tags") or [] if isinstance(body, dict) else []
                except ValueError:
                    raise RegistryError(f"Failed to list the tags of {ref}: not JSON") from None
                page = [str(t) for t in listed] if isinstance(listed, list) else []
                if not page and response.links.get("next"):
                    raise RegistryError(f"Failed to list the tags of {ref}: an empty page")
                return page, response.links.get("next", {}).get("url")

            page, next_url = self._retrying(ref, "list the tags of", op)
            tags.extend(page)
            if len(tags) > self.settings.max_tags:
                raise RegistryError(
                    f"Failed to list the tags of {ref}: more than {self.settings.max_tags} tags"
                )
            if next_url:
                parts = urllib.parse.urlsplit(next_url)
                prefix = f"/v2/{ref.repository}"
                path = parts.path.removeprefix(prefix) + (f"?{parts.query}" if parts.query else "")
            else:
                path = None
        return tags

    # ------------------------------------------------------------------ blobs

    def blob_exists(self, ref: ImageReference | str, digest: str) -> int | None:
        """The size of blob ``digest`` in ``ref``'s repository, or None when it is absent.

        A blob this client (or one sharing its state) saw, uploaded or mounted in a repository
        is remembered there and not asked for again: blobs are immutable and only garbage
        collection removes them, after which pushing a manifest fails with ``BLOB_UNKNOWN``
        and :meth:`forget_blobs` makes the next attempt check again."""
        ref = _as_ref(ref)
        key = (ref.registry, ref.repository, digest)
        with self._shared.lock:
            known = self._shared.known_blobs.get(key)
        if known is not None:
            return known

        def op() -> int | None:
            response = self._send(
                "HEAD", ref, f"/blobs/{digest}", actions=("pull",), what="check a blob of"
            )
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                self._raise_for(response, ref, f"check the blob {digest} of")
            return int(response.headers.get("Content-Length") or 0)

        size = self._retrying(ref, f"check the blob {digest} of", op)
        if size is not None:
            self._remember_blob(ref, digest, size)
        return size

    def _remember_blob(self, ref: ImageReference, digest: str, size: int) -> None:
        with self._shared.lock:
            blobs = self._shared.known_blobs
            blobs[(ref.registry, ref.repository, digest)] = size
            while len(blobs) > _KNOWN_BLOBS:
                blobs.popitem(last=False)

    def forget_blobs(self, ref: ImageReference | str) -> None:
        """Forget what is known of ``ref``'s repository's blobs (they are asked for again)."""
        ref = _as_ref(ref)
        with self._shared.lock:
            for key in [
                k for k in self._shared.known_blobs if k[:2] == (ref.registry, ref.repository)
            ]:
                del self._shared.known_blobs[key]

    def open_blob(
        self, ref: ImageReference | str, digest: str, size: int | None = None
    ) -> BlobReader:
        """A file object streaming blob ``digest``; it resumes on drops and verifies at EOF."""
        return BlobReader(self, _as_ref(ref), digest, size)

    def read_blob(
        self, ref: ImageReference | str, digest: str, max_bytes: int | None = None
    ) -> bytes:
        """A small blob (a config) in memory, digest-verified, at most ``max_bytes``."""
        limit = max_bytes if max_bytes is not None else self.settings.max_config_bytes
        ref = _as_ref(ref)
        buffer = bytearray()
        with self.open_blob(ref, digest) as reader:
            while chunk := reader.read(MiB):
                buffer += chunk
                if len(buffer) > limit:
                    raise RegistryError(
                        f"The blob {digest} of {ref} is larger than the {limit} bytes allowed"
                    )
        return bytes(buffer)

    def download_blob(
        self, ref: ImageReference | str, digest: str, dest: Path, size: int | None = None
    ) -> int:
        """Stream blob ``digest`` into the file ``dest`` (verified); returns its size."""
        written = 0
        with self.open_blob(ref, digest, size) as reader, Path(dest).open("wb") as out:
            while chunk := reader.read(MiB):
                out.write(chunk)
                written += len(chunk)
        return written

    def upload_blob(
        self,
        ref: ImageReference | str,
        source: bytes | Path,
        digest: str | None = None,
        *,
        size: int | None = None,
        check_exists: bool = True,
        chunk_size: int | None = None,
    ) -> str:
        """Upload bytes or a file as a blob of ``ref``'s repository; returns its digest.

        Skipped when the blob is already there (``check_exists``). Blobs up to
        ``settings.monolithic_upload_max`` (or any, with ``chunk_size=0``) go in one PUT; larger
        ones in ``PATCH`` chunks that resume from the registry's ``Range`` after a failure.
        """
        ref = _as_ref(ref)
        blob = _BlobSource.of(source, digest, size)
        if check_exists and self.blob_exists(ref, blob.digest) is not None:
            self.stats.add(blobs_existing=1)
            return blob.digest
        chunk = self.settings.upload_chunk_size if chunk_size is None else chunk_size
        what = f"upload the blob {blob.digest} to"
        if chunk <= 0 or (chunk_size is None and blob.size <= self.settings.monolithic_upload_max):
            self._retrying(ref, what, lambda: self._upload_monolithic(ref, blob, what))
        else:
            self._upload_chunked(ref, blob, chunk, what)
        self.stats.add(blobs_uploaded=1)
        self._remember_blob(ref, blob.digest, blob.size)
        return blob.digest

    def mount_blob(
        self,
        ref: ImageReference | str,
        digest: str,
        from_repository: str,
        size: int | None = None,
    ) -> bool:
        """Mount blob ``digest`` from another repository of the same registry.

        True when the registry mounted it (201; with ``size``, the blob is then known to be
        there, see :meth:`blob_exists`); False when it offered an upload instead (202) or
        refused the mount (401, 403: the credentials for ``ref`` may not read
        ``from_repository``), in which case the caller uploads the blob.
        """
        ref = _as_ref(ref)
        what = f"mount the blob {digest} from {from_repository} into"

        def op() -> bool:
            response = self._send(
                "POST",
                ref,
                f"/blobs/uploads/?{urllib.parse.urlencode({'mount': digest, 'from': from_repository})}",
                actions=("pull", "push"),
                extra_scopes=(repository_scope(from_repository, ("pull",)),),
                what=what,
            )
            if response.status_code == 201:
                self.stats.add(blobs_mounted=1)
                if size is not None:
                    self._remember_blob(ref, digest, size)
                return True
            if response.status_code == 202:
                self._cancel_upload(ref, response)
                return False
            if response.status_code in (401, 403):
                log.debug(
                    "the registry refused to %s %s (HTTP %d)", what, ref, response.status_code
                )
                response.close()
                return False
            self._raise_for(response, ref, what)

        return self._retrying(ref, what, op)

    def copy_blob(
        self,
        source: ImageReference | str,
        target: ImageReference | str,
        digest: str,
        size: int | None = None,
    ) -> str:
        """Make blob ``digest`` of ``source``'s repository present in ``target``'s.

        Returns ``"existing"``, ``"mounted"`` (same registry) or ``"copied"`` (streamed through
        a temporary file, digest-verified on the way).
        """
        source, target = _as_ref(source), _as_ref(target)
        if self.blob_exists(target, digest) is not None:
            self.stats.add(blobs_existing=1)
            return "existing"
        if source.registry == target.registry:
            if source.repository == target.repository:
                raise ImageNotFoundError(f"The blob {digest} is missing from {source.name}")
            if self.can_mount(source, target) and self.mount_blob(
                target, digest, source.repository, size
            ):
                return "mounted"
        with tempfile.TemporaryDirectory(dir=self.settings.temp_dir) as tmp:
            path = Path(tmp) / "blob"
            self.download_blob(source, digest, path, size)
            self.upload_blob(target, path, digest, check_exists=False)
        return "copied"

    def delete_blob(self, ref: ImageReference | str, digest: str) -> None:
        """Delete blob ``digest`` from ``ref``'s repository."""
        ref = _as_ref(ref)
        with self._shared.lock:
            self._shared.known_blobs.pop((ref.registry, ref.repository, digest), None)

        def op() -> None:
            response = self._send(
                "DELETE", ref, f"/blobs/{digest}", actions=("delete",), what="delete a blob of"
            )
            if response.status_code not in (200, 202):
                self._raise_for(response, ref, f"delete the blob {digest} of")

        self._retrying(ref, f"delete the blob {digest} of", op)

    # ------------------------------------------------------------------ uploads

    def _upload_location(self, ref: ImageReference, what: str) -> str:
        response = self._send("POST", ref, "/blobs/uploads/", actions=("pull", "push"), what=what)
        if response.status_code != 202 or not response.headers.get("Location"):
            self._raise_for(response, ref, what)
        return self._absolute(ref, response.headers["Location"])

    def _upload_monolithic(self, ref: ImageReference, blob: _BlobSource, what: str) -> None:
        location = self._upload_location(ref, what)
        response = self._send(
            "PUT",
            ref,
            _with_query(location, digest=blob.digest),
            actions=("pull", "push"),
            what=what,
            headers={"Content-Type": "application/octet-stream"},
            body=lambda: blob.body(0, blob.size, self._count_upload),
        )
        if response.status_code not in (201, 204):
            self._raise_for(response, ref, what)

    def _upload_chunked(
        self, ref: ImageReference, blob: _BlobSource, chunk: int, what: str
    ) -> None:
        state: dict[str, Any] = {"location": None, "offset": 0, "acked": 0}

        def op() -> None:
            if state["location"] is None:
                state["location"] = self._upload_location(ref, what)
                state["offset"] = state["acked"] = 0
            else:
                status = self._send(
                    "GET", ref, state["location"], actions=("pull", "push"), what=what
                )
                if status.status_code == 404:
                    state["location"] = None
                    raise _Retryable("the upload session expired", network=False, retry_after=0)
                if status.status_code != 204:
                    self._raise_for(status, ref, what)
                end = self._range_end(status)
                # distribution answers "0-0" both for 0 and for 1 byte received.
                state["offset"] = end + 1 if end > 0 else min(state["acked"], max(end + 1, 0))
                if status.headers.get("Location"):
                    state["location"] = self._absolute(ref, status.headers["Location"])
            while state["offset"] < blob.size:
                start = state["offset"]
                length = min(chunk, blob.size - start)
                response = self._send(
                    "PATCH",
                    ref,
                    state["location"],
                    actions=("pull", "push"),
                    what=what,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{start}-{start + length - 1}",
                    },
                    body=functools.partial(blob.body, start, length, self._count_upload),
                )
                if response.status_code == 416:
                    raise _Retryable(
                        "the registry lost track of the upload", network=False, retry_after=0
                    )
                if response.status_code != 202:
                    self._raise_for(response, ref, what)
                state["location"] = self._absolute(
                    ref, response.headers.get("Location") or state["location"]
                )
                end = self._range_end(response)
                state["offset"] = end + 1 if end >= 0 else start + length
                state["acked"] = state["offset"]
            response = self._send(
                "PUT",
                ref,
                _with_query(state["location"], digest=blob.digest),
                actions=("pull", "push"),
                what=what,
                headers={"Content-Type": "application/octet-stream"},
                body=lambda: b"",
            )
            if response.status_code not in (201, 204):
                self._raise_for(response, ref, what)

        self._retrying(ref, what, op)

    @staticmethod
    def _range_end(response: requests.Response) -> int:
        """The inclusive end offset of ``Range: 0-<end>`` (-1 when absent or malformed)."""
        match = re.match(r"^(?:bytes=)?(\d+)-(-?\d+)$", response.headers.get("Range", "").strip())
        return int(match.group(2)) if match else -1

    def _cancel_upload(self, ref: ImageReference, response: requests.Response) -> None:
        location = response.headers.get("Location")
        if not location:
            return
        with contextlib.suppress(_Retryable, RegistryError):
            self._send(
                "DELETE",
                ref,
                self._absolute(ref, location),
                actions=("pull", "push"),
                what="cancel an upload to",
            )

    def _count_upload(self, count: int) -> None:
        self.stats.add(bytes_uploaded=count)

    # ------------------------------------------------------------------ HTTP core

    def _session(self, key: str) -> requests.Session:
        with self._shared.lock:
            session = self._shared.sessions.get(key)
            if session is None:
                session = requests.Session()
                session.trust_env = False
                session.headers["User-Agent"] = self.settings.user_agent
                adapter = _Adapter(pool_connections=4, pool_maxsize=16)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._shared.sessions[key] = session
            return session

    def _verify_for(self, host: str) -> bool | str:
        if self._is_insecure(host):
            return False
        bundle = self.settings.ca_bundles.get(host) or self.settings.ca_bundle
        return str(bundle) if bundle else True

    def _is_insecure(self, host: str) -> bool:
        insecure = self.settings.insecure_registries
        return host in insecure or host.rsplit(":", 1)[0] in insecure

    def _endpoint(self, ref: ImageReference, refresh: bool = False) -> _Endpoint:
        registry = ref.registry
        with self._shared.lock:
            endpoint = self._shared.endpoints.get(registry)
        if endpoint is not None and not refresh:
            return endpoint
        host = ref.api_host
        insecure = self._is_insecure(registry)
        verify = self._verify_for(registry)
        last_error: Exception | None = None
        if not host_allowed(registry, self.settings.allowed_registries):
            raise RegistryAuthError(
                f"The registry {registry} is not allowed (it matches no IIB_ALLOWED_REGISTRIES "
                "entry)"
            )
        for scheme in ("https", "http") if insecure else ("https",):
            base_url = f"{scheme}://{host}"
            try:
                response = self._request(
                    self._session(registry),
                    "GET",
                    f"{base_url}/v2/",
                    headers={},
                    stream=True,  # the body is never needed: not read at all
                    timeout=self._timeout,
                    verify=verify,
                )
            except requests.exceptions.SSLError as exc:
                if insecure and scheme == "https":
                    last_error = exc
                    continue
                raise RegistryError(
                    f"Failed to reach the registry {registry}: TLS error ({type(exc.__cause__ or exc).__name__}); "
                    "check the CA bundle configured for it"
                ) from None
            except _NETWORK_ERRORS as exc:
                raise _Retryable(
                    f"cannot connect to {registry} ({type(exc).__name__})", network=True
                ) from None
            self.stats.add(requests=1)
            with contextlib.closing(response):
                if RetryPolicy.is_retryable_status(response.status_code):
                    raise _Retryable(
                        f"HTTP {response.status_code} from {registry}/v2/",
                        network=False,
                        retry_after=_retry_after(response),
                    )
                challenge = None
                if response.status_code == 401:
                    challenge = self._pick_challenge(response)
                endpoint = _Endpoint(registry, base_url, verify, challenge)
            with self._shared.lock:
                self._shared.endpoints[registry] = endpoint
            return endpoint
        raise _Retryable(
            f"cannot connect to {registry} ({type(last_error).__name__})", network=True
        )

    @staticmethod
    def _pick_challenge(response: requests.Response) -> Challenge | None:
        challenges = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
        for scheme in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == scheme:
                    return challenge
        return None

    def _absolute(self, ref: ImageReference, location: str) -> str:
        endpoint = self._endpoint(ref)
        return urllib.parse.urljoin(endpoint.base_url + "/", location)

    def _authorization(
        self,
        ref: ImageReference,
        endpoint: _Endpoint,
        scopes: Sequence[str],
        what: str,
        fresh: bool,
    ) -> tuple[str | None, tuple[str, ...] | None]:
        """The Authorization header for a request and, for a cached token, its cache key."""
        challenge = endpoint.challenge
        if challenge is None:
            return None, None
        credentials = self.credentials_for(ref)
        if challenge.scheme == "basic":
            return (credentials.basic_header() if credentials else None), None
        if challenge.scheme != "bearer":
            return None, None
        key = TokenCache.key(ref.registry, challenge, scopes, credentials)
        token = None if fresh else self._shared.tokens.get(key)
        if token is not None:
            return f"Bearer {token.value}", key
        token = self._fetch_token(ref, endpoint, challenge, scopes, credentials, what)
        self._shared.tokens.put(key, token)
        return f"Bearer {token.value}", None

    def _fetch_token(
        self,
        ref: ImageReference,
        endpoint: _Endpoint,
        challenge: Challenge,
        scopes: Sequence[str],
        credentials: Credentials | None,
        what: str,
    ) -> Token:
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise RegistryAuthError(
                f"Failed to {what} {ref}: the registry {ref.registry} sent a Bearer challenge without a usable realm"
            )
        realm_host = _netloc_host(realm)
        if not host_allowed(realm_host, self.settings.allowed_registries):
            raise RegistryAuthError(
                f"Failed to {what} {ref}: the registry {ref.registry} sends clients for tokens to "
                f"{realm_host}, which is not allowed (IIB_ALLOWED_REGISTRIES)"
            )
        verify: bool | str
        if realm_host in self.settings.ca_bundles or self._is_insecure(realm_host):
            verify = self._verify_for(realm_host)
        else:
            verify = endpoint.verify
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", scope) for scope in scopes)
        headers = {}
        if credentials is not None:
            params.append(("account", credentials.username))
            headers["Authorization"] = credentials.basic_header()
        try:
            response = self._request(
                self._session(realm_host),
                "GET",
                _with_params(realm, params),
                headers=headers,
                stream=True,
                timeout=self._timeout,
                verify=verify,
            )
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"Failed to {what} {ref}: TLS error talking to the token service of {ref.registry} "
                f"({type(exc.__cause__ or exc).__name__})"
            ) from None
        except _NETWORK_ERRORS as exc:
            raise _Retryable(
                f"cannot connect to the token service of {ref.registry} ({type(exc).__name__})",
                network=True,
            ) from None
        self.stats.add(requests=1, token_requests=1)
        with contextlib.closing(response):
            if RetryPolicy.is_retryable_status(response.status_code):
                raise _Retryable(
                    f"HTTP {response.status_code} from the token service of {ref.registry}",
                    network=False,
                    retry_after=_retry_after(response),
                )
            if response.status_code != 200:
                who = "the credentials" if credentials else "anonymous access"
                raise RegistryAuthError(
                    f"Failed to {what} {ref}: the token service of {ref.registry} refused {who} "
                    f"(HTTP {response.status_code})"
                )
            body = _read_body(
                response,
                self.settings.max_response_bytes,
                f"The token service of {ref.registry}",
            )
            try:
                return Token.from_response(json.loads(body))
            except (ValueError, RecursionError):
                raise RegistryAuthError(
                    f"Failed to {what} {ref}: the token service of {ref.registry} sent no usable token"
                ) from None

    def _send(
        self,
        method: str,
        ref: ImageReference,
        path_or_url: str,
        *,
        actions: Sequence[str],
        what: str,
        extra_scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        body: Callable[[], bytes | _UploadBody] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One HTTP exchange with authentication (one re-authentication on 401).

        Raises ``_Retryable`` for network errors and retryable statuses; returns every other
        response for the caller to interpret.
        """
        scopes = [repository_scope(ref.repository, actions), *extra_scopes]
        fresh = False
        while True:
            endpoint = self._endpoint(ref)
            url = (
                path_or_url
                if path_or_url.startswith(("http://", "https://"))
                else f"{endpoint.base_url}/v2/{ref.repository}{path_or_url}"
            )
            authorization, token_key = self._authorization(ref, endpoint, scopes, what, fresh)
            request_headers = dict(headers or {})
            if authorization:
                request_headers["Authorization"] = authorization
            data = body() if body is not None else None
            started = time.monotonic()
            try:
                response = self._request(
                    self._session(ref.registry),
                    method,
                    url,
                    headers=request_headers,
                    data=data,
                    stream=True,
                    timeout=self._timeout,
                    verify=endpoint.verify,
                    follow=method in ("GET", "HEAD"),
                )
                if not stream and method != "HEAD":
                    _buffer_body(response, self.settings.max_response_bytes, ref.registry)
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f"Failed to {what} {ref}: TLS error ({type(exc.__cause__ or exc).__name__})"
                ) from None
            except _NETWORK_ERRORS as exc:
                raise _Retryable(
                    f"connection to {ref.registry} failed ({type(exc).__name__})", network=True
                ) from None
            finally:
                if isinstance(data, _UploadBody):
                    data.close()
            self.stats.add(requests=1)
            log.debug(
                "%s %s -> %d (%.0f ms)",
                method,
                urllib.parse.urlsplit(url).path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code == 401 and not fresh:
                # Once more, either with a freshly learnt challenge (the ping needed no auth but
                # this repository does) or because a cached token was refused (expired/revoked).
                challenge = self._pick_challenge(response)
                learnt = challenge is not None and (
                    endpoint.challenge is None
                    or (challenge.scheme, challenge.realm, challenge.service)
                    != (
                        endpoint.challenge.scheme,
                        endpoint.challenge.realm,
                        endpoint.challenge.service,
                    )
                )
                if learnt:
                    with self._shared.lock:
                        endpoint.challenge = challenge
                if token_key is not None:
                    self._shared.tokens.invalidate(token_key)
                if learnt or token_key is not None:
                    response.close()
                    fresh = True
                    continue
            if RetryPolicy.is_retryable_status(response.status_code):
                response.close()
                raise _Retryable(
                    f"HTTP {response.status_code} {response.reason}",
                    network=False,
                    retry_after=_retry_after(response),
                )
            return response

    def _request(
        self,
        session: requests.Session,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        follow: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """One HTTP exchange; redirects (GET/HEAD) are followed here, at most five, only to
        allowed hosts, and ``Authorization`` never goes to a host other than the first."""
        origin = _netloc_host(url)
        current = dict(headers)
        for _ in range(_MAX_REDIRECTS + 1):
            response = session.request(
                method, url, headers=current, allow_redirects=False, **kwargs
            )
            location = response.headers.get("Location")
            if not follow or response.status_code not in _REDIRECTS or not location:
                return response
            response.close()
            url = urllib.parse.urljoin(url, location)
            host = _netloc_host(url)
            if urllib.parse.urlsplit(url).scheme not in ("https", "http") or not host:
                raise RegistryError(f"{origin} redirected to an unusable address")
            if not host_allowed(host, self.settings.allowed_registries):
                raise RegistryAuthError(
                    f"{origin} redirected to {host}, which is not allowed (IIB_ALLOWED_REGISTRIES)"
                )
            if host != origin:
                current = {k: v for k, v in current.items() if k.lower() != "authorization"}
            if response.status_code == 303:
                method = "GET"
        raise RegistryError(f"{origin} redirected more than {_MAX_REDIRECTS} times")

    def _raise_for(
        self, response: requests.Response, ref: ImageReference | str, what: str
    ) -> NoReturn:
        """Raise the error a non-success response means (never returns)."""
        status = response.status_code
        try:
            if not getattr(response, "_content_consumed", False):  # a streamed answer
                _buffer_body(response, self.settings.max_response_bytes, "")
            detail = _error_detail(response)
        except (RegistryError, _Retryable):
            detail = ""
        response.close()
        suffix = f"HTTP {status}" + (f" {detail}" if detail else "")
        if status == 401:
            raise RegistryAuthError(f"Failed to {what} {ref}: authentication failed ({suffix})")
        if status == 403:
            raise RegistryAuthError(f"Failed to {what} {ref}: access denied ({suffix})")
        if status == 404:
            raise ImageNotFoundError(f"Failed to {what} {ref}: not found ({suffix})")
        raise RegistryError(f"Failed to {what} {ref}: {suffix}")

    def _read_limited(self, response: requests.Response, limit: int, ref: ImageReference) -> bytes:
        buffer = io.BytesIO()
        deadline = _DEADLINE.get()
        try:
            for chunk in _pieces(response, deadline, f"Reading the manifest of {ref}"):
                buffer.write(chunk)
                if buffer.tell() > limit:
                    raise UnsupportedManifestError(
                        f"The manifest of {ref} is larger than the {limit} bytes allowed"
                    )
        except _NETWORK_ERRORS as exc:
            raise _Retryable(f"connection dropped ({type(exc).__name__})", network=True) from None
        self.stats.add(bytes_downloaded=buffer.tell())
        return buffer.getvalue()

    def _retrying(self, ref: ImageReference | str, what: str, op: Callable[[], T]) -> T:
        """Run ``op`` under the retry policy, in a span (``registry <what>``, the retries as
        its events); turn exhausted retries into a clear error."""
        registry = ref.registry if isinstance(ref, ImageReference) else ref.partition("/")[0]
        with _tracer.start_as_current_span(
            f"registry {_DIGESTS.sub('<digest>', what)}",
            kind=SpanKind.CLIENT,
            attributes={"server.address": registry, "iib.image": str(ref)},
        ) as span:
            outer = _DEADLINE.get()
            if outer is not None:  # an operation inside another keeps the outer deadline
                return self._attempts(ref, registry, what, op, span)
            limit = self.settings.transfer_deadline
            token = _DEADLINE.set((time.monotonic() + limit, limit))
            try:
                return self._attempts(ref, registry, what, op, span)
            finally:
                _DEADLINE.reset(token)

    def _attempts(
        self,
        ref: ImageReference | str,
        registry: str,
        what: str,
        op: Callable[[], T],
        span: trace.Span,
    ) -> T:
        attempts = self.retry.total_attempts
        for attempt in range(1, attempts + 1):
            try:
                return op()
            except _Retryable as failure:
                if attempt == attempts:
                    message = (
                        f"Failed to {what} {ref}: {failure.reason} "
                        f"(gave up after {attempts} attempt{'s' if attempts > 1 else ''})"
                    )
                    if failure.network:
                        raise RegistryUnavailableError(message) from None
                    raise RegistryError(message) from None
                wait = self.retry.wait_time(attempt, failure.retry_after)
                deadline = _DEADLINE.get()
                if deadline is not None and time.monotonic() + wait > deadline[0]:
                    raise TransferDeadlineError(
                        f"Failed to {what} {ref}: {failure.reason}; no further attempt fits in "
                        f"{deadline[1]:g} s (IIB_REGISTRY_TRANSFER_DEADLINE)"
                    ) from None
                self.stats.add(retries=1)
                REGISTRY_RETRIES.labels(registry).inc()
                span.add_event("retry", {"reason": failure.reason, "attempt": attempt})
                log.warning(
                    "Failed to %s %s: %s; retry %d of %d in %.1f s",
                    what,
                    ref,
                    failure.reason,
                    attempt,
                    attempts - 1,
                    wait,
                )
                if wait > 0:
                    self.retry.sleep(wait)
        raise AssertionError("unreachable")


class BlobReader(io.RawIOBase):
    """A streaming, resuming, digest-verifying reader of one blob.

    A connection that breaks off is reopened with ``Range: bytes=<offset>-`` (or, when the
    registry ignores ranges, by skipping the bytes already read), within the client's retry
    budget. At EOF the digest (and the size, when known) is checked: ``DigestMismatchError``.
    """

    def __init__(
        self, client: RegistryClient, ref: ImageReference, digest: str, size: int | None
    ) -> None:
        super().__init__()
        if not is_valid_digest(digest):
            raise RegistryError(f"Invalid blob digest {digest!r} for {ref}")
        self._client = client
        self._ref = ref
        self._digest = digest
        self._size = size
        self._hasher = DigestHasher.for_digest(digest)
        self._response: requests.Response | None = None
        self._failures = 0
        self._done = False
        self._what = f"download the blob {digest} of"
        limit = client.settings.transfer_deadline
        self._deadline = (time.monotonic() + limit, limit)

    @property
    def offset(self) -> int:
        """Bytes delivered so far."""
        return self._hasher.size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        view = memoryview(buffer).cast("B")
        while True:
            try:
                _check_deadline(
                    self._deadline, f"Downloading the blob {self._digest} of {self._ref}"
                )
                if self._response is None:
                    self._open()
                assert self._response is not None
                # one receive at a time, so the deadline is checked while a blob drips in
                chunk = self._response.raw.read1(len(view), decode_content=False)
            except _Retryable as failure:
                self._fail(failure)
                continue
            except _NETWORK_ERRORS as exc:
                self._fail(
                    _Retryable(
                        f"connection dropped after {self.offset} bytes ({type(exc).__name__})",
                        network=True,
                    )
                )
                continue
            if not chunk:
                if self._size is not None and self.offset < self._size:
                    self._fail(
                        _Retryable(
                            f"connection closed after {self.offset} of {self._size} bytes",
                            network=True,
                        )
                    )
                    continue
                self._finish()
                return 0
            if self._size is not None and self.offset + len(chunk) > self._size:
                self._close_response()
                raise DigestMismatchError(
                    f"The blob {self._digest} of {self._ref.name} is larger than its {self._size} bytes"
                )
            self._hasher.update(chunk)
            self._client.stats.add(bytes_downloaded=len(chunk))
            view[: len(chunk)] = chunk
            return len(chunk)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(MiB):
                parts.append(chunk)
            return b"".join(parts)
        buffer = bytearray(size)
        count = self.readinto(buffer)
        return bytes(buffer[:count])

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        response = self._client._send(
            "GET",
            self._ref,
            f"/blobs/{self._digest}",
            actions=("pull",),
            what=self._what,
            headers=headers,
            stream=True,
        )
        if response.status_code == 206 and self.offset:
            self._response = response
            return
        if response.status_code != 200:
            self._client._raise_for(
                response, self._ref.name, f"download the blob {self._digest} of"
            )
        self._response = response
        skip = self.offset
        while skip:
            data = response.raw.read(min(skip, MiB), decode_content=False)
            if not data:
                raise _Retryable(
                    "connection closed while skipping to the resume offset", network=True
                )
            skip -= len(data)

    def _fail(self, failure: _Retryable) -> None:
        self._close_response()
        self._failures += 1
        retry = self._client.retry
        if self._failures >= retry.total_attempts:
            message = (
                f"Failed to {self._what} {self._ref.name}: {failure.reason} "
                f"(gave up after {retry.total_attempts} attempts)"
            )
            if failure.network:
                raise RegistryUnavailableError(message)
            raise RegistryError(message)
        wait = retry.wait_time(self._failures, failure.retry_after)
        if time.monotonic() + wait > self._deadline[0]:
            raise TransferDeadlineError(
                f"Failed to {self._what} {self._ref.name}: {failure.reason}; no further attempt "
                f"fits in {self._deadline[1]:g} s (IIB_REGISTRY_TRANSFER_DEADLINE)"
            )
        self._client.stats.add(retries=1)
        log.warning(
            "Failed to %s %s: %s; resuming in %.1f s",
            self._what,
            self._ref.name,
            failure.reason,
            wait,
        )
        if wait > 0:
            retry.sleep(wait)

    def _finish(self) -> None:
        self._close_response()
        self._done = True
        if self._hasher.digest != self._digest:
            raise DigestMismatchError(
                f"The blob {self._digest} of {self._ref.name} does not match its digest "
                f"(got {self._hasher.digest})"
            )

    def _close_response(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def close(self) -> None:
        self._close_response()
        super().close()
