"""RegistryClient against a real docker-registry over plain HTTP."""

from __future__ import annotations

import json

import pytest

from services.common.errors import RegistryError
from services.common.registry import client as client_module
from services.common.registry import mediatypes as mt
from services.common.registry.client import RegistryClient
from services.common.registry.digests import compute_digest
from services.common.registry.errors import ImageNotFoundError
from services.common.registry.manifest import (
    Descriptor,
    Platform,
    encode_json,
    image_manifest_bytes,
    index_manifest_bytes,
)
from services.common.registry.mediatypes import ImageFormat
from tests.common.registry.helpers import fast_settings, skopeo_inspect


def _push_image(
    client: RegistryClient,
    repo: str,
    fmt: ImageFormat,
    arch: str = "amd64",
    payload: bytes = b"layer",
) -> tuple[bytes, str]:
    layer_digest = client.upload_blob(repo, payload)
    config = encode_json(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    config_digest = client.upload_blob(repo, config)
    # Indented on purpose: the registry must keep and return these exact bytes.
    raw = json.dumps(
        json.loads(
            image_manifest_bytes(
                fmt,
                Descriptor(fmt.config_type, config_digest, len(config)),
                [Descriptor(fmt.layer_gzip_type, layer_digest, len(payload))],
            )
        ),
        indent=3,
    ).encode()
    return raw, client.put_manifest(f"{repo}@{compute_digest(raw)}", raw, fmt.manifest_type)


@pytest.mark.parametrize("fmt", [ImageFormat.DOCKER, ImageFormat.OCI])
def test_manifests_and_lists_round_trip_byte_for_byte(plain_client, plain_registry, repo, fmt):
    spec = f"{plain_registry.registry}/{repo}"
    amd_raw, amd = _push_image(plain_client, spec, fmt, "amd64", b"amd")
    arm_raw, arm = _push_image(plain_client, spec, fmt, "arm64", b"arm")
    index_raw = index_manifest_bytes(
        fmt,
        [
            Descriptor(fmt.manifest_type, amd, len(amd_raw), Platform("linux", "amd64")),
            Descriptor(fmt.manifest_type, arm, len(arm_raw), Platform("linux", "arm64", "v8")),
        ],
    )
    index_digest = plain_client.put_manifest(f"{spec}:v1", index_raw)

    by_tag = plain_client.get_manifest(f"{spec}:v1")
    assert (by_tag.raw, by_tag.digest, by_tag.media_type) == (
        index_raw,
        index_digest,
        fmt.index_type,
    )
    child = plain_client.get_manifest(f"{spec}@{amd}")
    assert (child.raw, child.media_type) == (amd_raw, fmt.manifest_type)
    assert [e.platform.key for e in by_tag.manifests] == ["linux/amd64", "linux/arm64/v8"]
    head = plain_client.head_manifest(f"{spec}:v1")
    assert head is not None and head.digest == index_digest and head.media_type == fmt.index_type
    raw_seen_by_skopeo = skopeo_inspect(f"{spec}:v1", plain_registry, "--raw")
    assert encode_json(raw_seen_by_skopeo) == index_raw


def test_missing_manifest_is_none_on_head_and_not_found_on_get(plain_client, plain_registry, repo):
    spec = f"{plain_registry.registry}/{repo}:nope"
    assert plain_client.head_manifest(spec) is None
    with pytest.raises(
        ImageNotFoundError, match=f"manifest of {plain_registry.registry}/{repo}:nope"
    ):
        plain_client.get_manifest(spec)


def test_monolithic_and_chunked_uploads_store_the_same_blob(
    plain_client, plain_registry, repo, tmp_path
):
    spec = f"{plain_registry.registry}/{repo}"
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = plain_client.upload_blob(spec + "-mono", data)
    assert plain_client.upload_blob(spec + "-chunked", path, chunk_size=1024 * 1024) == digest
    assert plain_client.blob_exists(spec + "-chunked", digest) == len(data)
    assert plain_client.read_blob(spec + "-chunked", digest, max_bytes=len(data)) == data
    before = plain_client.stats.blobs_existing
    plain_client.upload_blob(spec + "-mono", data)
    assert plain_client.stats.blobs_existing == before + 1


def test_mount_from_another_repository_and_fallback_when_absent(plain_client, plain_registry, repo):
    spec = f"{plain_registry.registry}/{repo}"
    digest = plain_client.upload_blob(spec + "-src", b"shared layer")
    assert plain_client.mount_blob(spec + "-dst", digest, f"{repo}-src") is True
    assert plain_client.blob_exists(spec + "-dst", digest) == len(b"shared layer")
    unknown = compute_digest(b"never uploaded")
    assert plain_client.mount_blob(spec + "-dst", unknown, f"{repo}-src") is False
    assert plain_client.blob_exists(spec + "-dst", unknown) is None


def test_copy_blob_mounts_within_a_registry_and_streams_across(
    plain_client, plain_registry, second_registry, repo
):
    src = f"{plain_registry.registry}/{repo}"
    digest = plain_client.upload_blob(src, b"payload" * 1000)
    assert plain_client.copy_blob(src, f"{plain_registry.registry}/{repo}-m", digest) == "mounted"
    assert plain_client.copy_blob(src, f"{second_registry.registry}/{repo}", digest) == "copied"
    assert plain_client.copy_blob(src, f"{second_registry.registry}/{repo}", digest) == "existing"
    assert plain_client.read_blob(f"{second_registry.registry}/{repo}", digest) == b"payload" * 1000


def test_tags_are_listed_across_pages(plain_client, plain_registry, repo):
    spec = f"{plain_registry.registry}/{repo}"
    raw, _ = _push_image(plain_client, spec, ImageFormat.DOCKER)
    for tag in ["a", "b", "c", "d", "e"]:
        plain_client.put_manifest(f"{spec}:{tag}", raw)
    assert sorted(plain_client.list_tags(spec, page_size=2)) == ["a", "b", "c", "d", "e"]


def test_delete_by_tag_removes_the_manifest(plain_client, plain_registry, repo):
    spec = f"{plain_registry.registry}/{repo}"
    raw, digest = _push_image(plain_client, spec, ImageFormat.DOCKER)
    plain_client.put_manifest(f"{spec}:gone", raw)
    plain_client.delete_manifest(f"{spec}:gone")
    assert plain_client.head_manifest(f"{spec}@{digest}") is None
    with pytest.raises(ImageNotFoundError):
        plain_client.delete_manifest(f"{spec}:gone")


def test_blob_delete_and_missing_blob_errors_name_the_image(plain_client, plain_registry, repo):
    spec = f"{plain_registry.registry}/{repo}"
    digest = plain_client.upload_blob(spec, b"to delete")
    plain_client.delete_blob(spec, digest)
    assert plain_client.blob_exists(spec, digest) is None
    with pytest.raises(ImageNotFoundError, match=f"{plain_registry.registry}/{repo}"):
        plain_client.read_blob(spec, digest)


def test_manifest_fetched_by_digest_is_verified(plain_client, plain_registry, repo):
    spec = f"{plain_registry.registry}/{repo}"
    raw, digest = _push_image(plain_client, spec, ImageFormat.OCI)
    assert plain_client.get_manifest(f"{spec}@{digest}").digest == digest
    assert mt.OCI_MANIFEST == plain_client.get_manifest(f"{spec}@{digest}").media_type


def test_insecure_registry_is_reached_over_plain_http_and_secure_default_refuses(plain_registry):
    strict = RegistryClient(fast_settings(total_attempts=1))
    with pytest.raises(RegistryError, match=f"{plain_registry.registry}.*TLS error"):
        strict.head_manifest(f"{plain_registry.registry}/x/y:z")
    strict.close()


def test_registry_starter_stops_its_process(tmp_path):
    from services.tooling.servers.registry import start_registry

    server = start_registry(tmp_path / "reg")
    assert server.process.running()
    assert (tmp_path / "reg" / "config.yml").read_text().count("127.0.0.1") == 1
    server.stop()
    assert not server.process.running()


def test_an_upload_sends_its_file_in_blocks_of_a_mebibyte(
    plain_client, plain_registry, repo, tmp_path, monkeypatch
):
    """urllib3 reads a request body in blocks of 16 KiB unless told otherwise (its
    ``HTTPConnection`` default, urllib3 2.x); every block is a send that gives up the GIL and
    waits to get it back, which beside a busy thread is the upload's whole time
    (docs/benchmarks.md, "Upload blocks"). The blocks are counted where the body is read."""
    blocks: list[int] = []
    real_read = client_module._UploadBody.read

    def counting_read(self, size=-1):
        chunk = real_read(self, size)
        blocks.append(len(chunk))
        return chunk

    monkeypatch.setattr(client_module._UploadBody, "read", counting_read)
    data = bytes(range(256)) * 4096 * 8  # 8 MiB
    path = tmp_path / "blob"
    path.write_bytes(data)
    spec = f"{plain_registry.registry}/{repo}"
    digest = plain_client.upload_blob(spec, path, chunk_size=0)  # one PUT
    assert digest == compute_digest(data)
    assert plain_client.read_blob(spec, digest, max_bytes=len(data)) == data
    assert [size for size in blocks if size] == [1024 * 1024] * 8
