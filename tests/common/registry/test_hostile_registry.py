"""A hostile registry: answers of any size, endless tag pages, huge manifest lists, redirects and
token realms pointing anywhere. Bodies are read bounded (issue 12: a 512 MiB ``/v2/`` answer took
the worker to 1 GiB), and the client only goes where IIB_ALLOWED_REGISTRIES allows, never
carrying credentials to another host."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from services.common.errors import RegistryError
from services.common.registry.auth import Credentials
from services.common.registry.client import RegistryClient, RegistrySettings, host_allowed
from services.common.registry.errors import (
    ImageNotFoundError,
    RegistryAuthError,
    UnsupportedManifestError,
)
from tests.common.registry.hostile_registry import HostileRegistry, Seen, endless

MiB = 1024 * 1024
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    server = HostileRegistry()
    yield server
    server.close()


@pytest.fixture
def other() -> Iterator[HostileRegistry]:
    server = HostileRegistry()
    yield server
    server.close()


def client_for(*servers: HostileRegistry, **settings: object) -> RegistryClient:
    return RegistryClient(
        RegistrySettings(
            insecure_registries=frozenset(s.host for s in servers),
            total_attempts=1,
            retry_delay=0,
            retry_jitter=0,
            retry_multiplier=0,
            timeout=10,
            **settings,  # type: ignore[arg-type]
        )
    )


def ok(_: Seen) -> tuple[int, dict[str, str], list[bytes]]:
    return 200, {"Content-Length": "2"}, [b"{}"]


def image_manifest(_: Seen) -> tuple[int, dict[str, str], list[bytes]]:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": IMAGE,
            "config": {"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 1},
            "layers": [],
        }
    ).encode()
    return 200, {"Content-Type": IMAGE, "Content-Length": str(len(body))}, [body]


def peak_of(action: object) -> tuple[int, float]:
    """Peak traced memory (bytes) and seconds of ``action()``."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1], time.monotonic() - started
    finally:
        tracemalloc.stop()


def test_a_512_mib_ping_answer_is_not_read(hostile: HostileRegistry) -> None:
    size = 512 * MiB
    hostile.route(
        "GET", r"^/v2/$", lambda _: (200, {"Content-Length": str(size)}, endless(total=size))
    )
    hostile.route("GET", r"/manifests/", image_manifest)
    client = client_for(hostile)
    peak, seconds = peak_of(lambda: client.get_manifest(f"{hostile.host}/ns/img:1"))
    assert peak < 16 * MiB and seconds < 5
    assert hostile.sent < 64 * MiB


def test_a_256_mib_error_body_is_read_bounded(hostile: HostileRegistry) -> None:
    hostile.route("GET", r"^/v2/$", ok)
    hostile.route("GET", r"/manifests/", lambda _: (404, {}, endless(total=256 * MiB)))
    client = client_for(hostile)

    def fetch() -> None:
        with pytest.raises(ImageNotFoundError, match=r"not found \(HTTP 404\)"):
            client.get_manifest(f"{hostile.host}/ns/img:1")

    peak, seconds = peak_of(fetch)
    assert peak < 16 * MiB and seconds < 5


def test_a_64_mib_token_answer_is_refused(hostile: HostileRegistry) -> None:
    challenge = f'Bearer realm="http://{hostile.host}/token",service="x"'
    hostile.route(
        "GET",
        r"^/v2/$",
        lambda _: (401, {"WWW-Authenticate": challenge, "Content-Length": "0"}, []),
    )
    hostile.route("GET", r"^/token", lambda _: (200, {}, endless(total=64 * MiB)))
    client = client_for(hostile)
    with pytest.raises(RegistryError, match="answered with more than 1048576 bytes"):
        client.get_manifest(f"{hostile.host}/ns/img:1")


def test_tag_lists_are_bounded_per_page_and_in_all(hostile: HostileRegistry) -> None:
    hostile.route("GET", r"^/v2/$", ok)

    def page(seen: Seen) -> tuple[int, dict[str, str], list[bytes]]:
        n = int(seen.path.rsplit("last=", 1)[-1]) if "last=" in seen.path else 0
        body = json.dumps({"tags": [f"t{n + i}" for i in range(1000)]}).encode()
        link = f'</v2/ns/img/tags/list?n=1000&last={n + 1000}>; rel="next"'
        return 200, {"Link": link, "Content-Length": str(len(body))}, [body]

    hostile.route("GET", r"/tags/list", page)
    client = client_for(hostile, max_tags=5000)
    with pytest.raises(RegistryError, match="more than 5000 tags"):
        client.list_tags(f"{hostile.host}/ns/img")
    hostile.routes.insert(0, ("GET", r"/tags/list", lambda _: (200, {}, endless(total=64 * MiB))))
    with pytest.raises(RegistryError, match="answered with more than 1048576 bytes"):
        client.list_tags(f"{hostile.host}/ns/img")


def test_a_manifest_list_with_too_many_entries_is_refused(hostile: HostileRegistry) -> None:
    entry = {"mediaType": IMAGE, "digest": "sha256:" + "1" * 64, "size": 1}
    body = json.dumps({"schemaVersion": 2, "mediaType": LIST, "manifests": [entry] * 300}).encode()
    hostile.route("GET", r"^/v2/$", ok)
    hostile.route("GET", r"/manifests/", lambda _: (200, {"Content-Type": LIST}, [body]))
    manifest = client_for(hostile).get_manifest(f"{hostile.host}/ns/list:1")
    with pytest.raises(UnsupportedManifestError, match="has 300 entries, more than 256"):
        _ = manifest.manifests


# --- where the client goes ----------------------------------------------------------------


def test_host_patterns() -> None:
    patterns = ("quay.io", "*.example.com", "127.0.0.1:5000", "local:*")
    assert host_allowed("quay.io", patterns) and host_allowed("QUAY.IO", patterns)
    assert not host_allowed("quay.io:8443", patterns)
    assert host_allowed("a.example.com", patterns) and host_allowed("a.b.example.com", patterns)
    assert not host_allowed("example.com", patterns)
    assert not host_allowed("evilexample.com", patterns)
    assert not host_allowed("a.example.com:443", patterns)
    assert host_allowed("127.0.0.1:5000", patterns) and not host_allowed("127.0.0.1:5001", patterns)
    assert host_allowed("local:1", patterns) and host_allowed("local", patterns)  # any port
    assert host_allowed("anything", None) and not host_allowed("anything", ())


def test_a_registry_not_allowed_is_never_contacted(hostile: HostileRegistry) -> None:
    client = client_for(hostile, allowed_registries=("quay.io",))
    with pytest.raises(RegistryAuthError, match=f"The registry {hostile.host} is not allowed"):
        client.get_manifest(f"{hostile.host}/ns/img:1")
    assert hostile.seen == []


def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    hostile: HostileRegistry, other: HostileRegistry
) -> None:
    hostile.route("GET", r"^/v2/$", ok)
    hostile.route(
        "GET",
        r"/manifests/",
        lambda _: (307, {"Location": f"http://{other.host}/steal", "Content-Length": "0"}, []),
    )
    client = client_for(hostile, other, allowed_registries=(hostile.host,))
    with pytest.raises(
        RegistryAuthError, match=f"redirected to {other.host}, which is not allowed"
    ):
        client.get_manifest(f"{hostile.host}/ns/img:1")
    assert other.seen == []


def test_credentials_do_not_follow_a_redirect_to_another_host(
    hostile: HostileRegistry, other: HostileRegistry
) -> None:
    basic = 'Basic realm="r"'
    hostile.route(
        "GET", r"^/v2/$", lambda _: (401, {"WWW-Authenticate": basic, "Content-Length": "0"}, [])
    )
    hostile.route(
        "GET",
        r"/manifests/",
        lambda _: (302, {"Location": f"http://{other.host}/cdn/m", "Content-Length": "0"}, []),
    )
    other.route("GET", r"^/cdn/", image_manifest)
    client = client_for(hostile, other, allowed_registries=(hostile.host, other.host))
    client = client.with_credentials({hostile.host: Credentials("svc", "secret")})
    client.get_manifest(f"{hostile.host}/ns/img:1")
    sent = [s.authorization for s in hostile.seen if "manifests" in s.path]
    assert sent and (sent[0] or "").startswith("Basic ")
    assert [s.authorization for s in other.seen] == [None]


def test_a_token_realm_not_allowed_is_never_contacted(
    hostile: HostileRegistry, other: HostileRegistry
) -> None:
    challenge = f'Bearer realm="http://{other.host}/token",service="x"'
    hostile.route(
        "GET",
        r"^/v2/$",
        lambda _: (401, {"WWW-Authenticate": challenge, "Content-Length": "0"}, []),
    )
    client = client_for(hostile, other, allowed_registries=(hostile.host,))
    client = client.with_credentials({hostile.host: Credentials("svc", "secret")})
    with pytest.raises(
        RegistryAuthError, match=f"for tokens to {other.host}, which is not allowed"
    ):
        client.get_manifest(f"{hostile.host}/ns/img:1")
    assert other.seen == []


def dripping(byte_every: float, total: int):
    """An answer that sends one byte every ``byte_every`` seconds: each read returns well
    within the read timeout, so only an overall deadline ends it."""

    def answer(_: Seen) -> tuple[int, dict[str, str], Iterator[bytes]]:
        def body() -> Iterator[bytes]:
            for _ in range(total):
                time.sleep(byte_every)
                yield b" "

        return 200, {"Content-Type": IMAGE, "Content-Length": str(total)}, body()

    return answer


def test_a_manifest_dripped_byte_by_byte_fails_at_the_transfer_deadline(
    hostile: HostileRegistry,
) -> None:
    hostile.route("GET", r"^/v2/$", ok)
    hostile.route("GET", r"/manifests/", dripping(0.05, 10_000))  # 500 s in all
    client = client_for(hostile, transfer_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(RegistryError, match="IIB_REGISTRY_TRANSFER_DEADLINE"):
        client.get_manifest(f"{hostile.host}/ns/drip:1")
    assert time.monotonic() - started < 3


def test_a_blob_dripped_byte_by_byte_fails_at_the_transfer_deadline(
    hostile: HostileRegistry, tmp_path
) -> None:
    digest = "sha256:" + "1" * 64
    hostile.route("GET", r"^/v2/$", ok)
    hostile.route("GET", r"/blobs/", dripping(0.05, 10_000))
    client = client_for(hostile, transfer_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(RegistryError, match="IIB_REGISTRY_TRANSFER_DEADLINE"):
        client.download_blob(f"{hostile.host}/ns/drip@{digest}", digest, tmp_path / "blob")
    assert time.monotonic() - started < 3
