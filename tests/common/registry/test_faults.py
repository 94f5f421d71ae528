"""Retries and resumption against a fault-injecting proxy in front of the real registry."""

from __future__ import annotations

import pytest

from services.common.errors import RegistryError
from services.common.processes import free_port
from services.common.registry.client import RegistryClient
from services.common.registry.errors import DigestMismatchError, RegistryUnavailableError
from services.common.registry.images import ImageService
from services.common.registry.retry import RetryPolicy
from tests.common.registry.helpers import fast_settings, push_base_image


@pytest.fixture
def client(fault_proxy):
    with RegistryClient(fast_settings(insecure_registries=frozenset({fault_proxy.registry}))) as c:
        yield c


@pytest.fixture
def pushed(client, fault_proxy, repo, tmp_path):
    spec = f"{fault_proxy.registry}/{repo}:v1"
    base = push_base_image(client, spec, tmp_path, arches=("amd64", "arm64"))
    fault_proxy.reset_counters()
    return base


def test_server_errors_then_success_are_retried(client, fault_proxy, pushed):
    fault_proxy.add("GET", r"/manifests/v1$", status=500, times=2)
    assert client.get_manifest(pushed.spec).digest == pushed.digest
    assert [e[2] for e in fault_proxy.requests("GET", r"/manifests/v1$")] == [500, 500, 200]


def test_too_many_requests_honours_retry_after(client, fault_proxy, pushed):
    fault_proxy.add("HEAD", r"/manifests/v1$", status=429, retry_after="0.2", times=1)
    slept: list[float] = []
    client.retry = RetryPolicy(
        total_attempts=3, delay=0, jitter=0, multiplier=0, sleep=slept.append
    )
    assert ImageService(client).resolve(pushed.spec).endswith(pushed.digest)
    assert slept == [0.2]


def test_a_registry_that_keeps_failing_gives_up_naming_the_image(client, fault_proxy, pushed):
    fault_proxy.add("GET", r"/manifests/v1$", status=503, times=100)
    with pytest.raises(RegistryError) as info:
        client.get_manifest(pushed.spec)
    message = str(info.value)
    assert pushed.spec in message
    assert "HTTP 503" in message and "gave up after 4 attempts" in message
    assert len(fault_proxy.requests("GET", r"/manifests/v1$")) == 4


def test_dropped_blob_download_resumes_with_a_range_request(client, fault_proxy, repo):
    spec = f"{fault_proxy.registry}/{repo}"
    data = bytes(range(256)) * 8192  # 2 MiB
    digest = client.upload_blob(spec, data)
    fault_proxy.add("GET", rf"/blobs/{digest}$", kind="drop", after_bytes=1_500_000)
    assert client.read_blob(spec, digest, max_bytes=len(data)) == data
    gets = fault_proxy.requests("GET", rf"/blobs/{digest}$")
    assert [(status, rng) for _, _, status, rng in gets] == [(200, None), (206, "bytes=1500000-")]


def test_unpack_survives_a_dropped_layer_download(client, fault_proxy, pushed, tmp_path):
    layer = pushed.layer_digests["arm64"][1]
    fault_proxy.add("GET", rf"/blobs/{layer}$", kind="drop", after_bytes=20)
    stats = ImageService(client).unpack(pushed.spec, tmp_path / "root", arch="arm64")
    assert (tmp_path / "root" / "bin" / "opm").read_text().endswith("opm arm64\n")
    assert stats.files == 2


def test_a_connection_that_always_drops_gives_up_naming_the_image(client, fault_proxy, repo):
    spec = f"{fault_proxy.registry}/{repo}"
    data = b"z" * 300_000
    digest = client.upload_blob(spec, data)
    fault_proxy.add("GET", rf"/blobs/{digest}$", kind="drop", after_bytes=10, times=100)
    with pytest.raises(RegistryUnavailableError, match=f"blob {digest} of {spec}.*gave up after 4"):
        client.read_blob(spec, digest, max_bytes=len(data))


def test_corrupted_blob_is_detected(client, fault_proxy, repo):
    spec = f"{fault_proxy.registry}/{repo}"
    digest = client.upload_blob(spec, b"precious bytes")
    fault_proxy.add("GET", rf"/blobs/{digest}$", kind="corrupt")
    with pytest.raises(DigestMismatchError, match=f"{digest} of {spec} does not match"):
        client.read_blob(spec, digest)


def test_chunked_upload_resumes_after_a_failed_chunk(client, fault_proxy, repo, tmp_path):
    spec = f"{fault_proxy.registry}/{repo}"
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 4096 * 3)  # 3 MiB, 1 MiB chunks
    fault_proxy.add("PATCH", r"/blobs/uploads/", status=502, times=1)
    digest = client.upload_blob(spec, path, chunk_size=1024 * 1024)
    assert client.read_blob(spec, digest, max_bytes=4 * 1024 * 1024) == path.read_bytes()
    patches = [status for _, _, status, _ in fault_proxy.requests("PATCH", r"/blobs/uploads/")]
    assert patches == [502, 202, 202, 202]
    assert len(fault_proxy.requests("POST", r"/blobs/uploads/$")) == 1  # resumed, not restarted


def test_monolithic_upload_is_retried_after_a_server_error(client, fault_proxy, repo):
    spec = f"{fault_proxy.registry}/{repo}"
    fault_proxy.add("PUT", r"/blobs/uploads/", status=500, times=1)
    digest = client.upload_blob(spec, b"retry me")
    assert client.read_blob(spec, digest) == b"retry me"


def test_manifest_push_is_retried_after_a_server_error(client, fault_proxy, pushed, repo):
    fault_proxy.add("PUT", r"/manifests/", status=503, times=2)
    ImageService(client).copy(pushed.spec, [f"{fault_proxy.registry}/{repo}-copy:v1"])
    assert client.get_manifest(f"{fault_proxy.registry}/{repo}-copy:v1").digest == pushed.digest


def test_unreachable_registry_is_an_external_service_error_naming_the_image():
    registry = f"127.0.0.1:{free_port()}"
    with RegistryClient(
        fast_settings(total_attempts=2, insecure_registries=frozenset({registry}))
    ) as client:
        with pytest.raises(
            RegistryUnavailableError, match=f"{registry}/ns/img:v1.*gave up after 2"
        ):
            client.get_manifest(f"{registry}/ns/img:v1")
