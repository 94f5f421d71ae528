"""How many registry round trips an ImageService makes, counted by a proxy in front of a real
registry (tests/common/registry/faultproxy.py logs every request it forwards).

The expected counts are the distribution API's (the OCI distribution spec, checked by hand): a
manifest is one ``GET /v2/<name>/manifests/<reference>``, a config one ``GET
/v2/<name>/blobs/<digest>``; a manifest or blob named by its digest names exact bytes, so a
second read cannot give anything new, while a tag can move between two reads.
"""

from __future__ import annotations

import urllib.parse

import pytest

from services.common.errors import RegistryError
from services.common.registry.client import RegistryClient
from services.common.registry.images import ImageService, PushRecord
from services.common.registry.layers import LayerFile, build_layer
from services.common.registry_access import request_images
from tests.common.registry.helpers import FOUR_ARCHES, fast_settings, push_base_image


@pytest.fixture
def client(fault_proxy):
    with RegistryClient(fast_settings(insecure_registries=frozenset({fault_proxy.registry}))) as c:
        yield c


def _gets(proxy, kind: str) -> int:
    return len(proxy.requests("GET", f"/{kind}/"))


def test_a_pinned_image_is_read_once_per_service(client, fault_proxy, repo, tmp_path):
    spec = f"{fault_proxy.registry}/{repo}:v1"
    base = push_base_image(client, spec, tmp_path)
    pinned = f"{fault_proxy.registry}/{repo}@{base.digest}"
    images = ImageService(client)
    fault_proxy.reset_counters()

    # what a build asks about its binary image and from_index, several times over
    assert images.resolve(pinned) == pinned
    assert images.get_image_arches(pinned) == set(FOUR_ARCHES)
    assert images.get_image_label(pinned, "architecture") == "x86_64"
    assert images.labels_per_arch(pinned)["s390x"]["architecture"] == "s390x"
    assert images.reusable_layers(pinned)
    assert len(images.platform_images(pinned)) == 4

    assert images.resolve(pinned) == pinned

    # the resolve's HEAD (the list was not read yet), then the list, its 4 entries and their
    # 4 configs, once each; nothing else
    assert len(fault_proxy.requests("HEAD", "/manifests/")) == 1
    assert _gets(fault_proxy, "manifests") == 1 + 4
    assert _gets(fault_proxy, "blobs") == 4
    assert len(fault_proxy.log) == 1 + 1 + 4 + 4

    # another service (another request) reads them again
    ImageService(client).get_image_arches(pinned)
    assert _gets(fault_proxy, "manifests") == 1 + 4 + 1


def test_a_tag_is_read_again_every_time(client, fault_proxy, repo, tmp_path):
    spec = f"{fault_proxy.registry}/{repo}:moving"
    push_base_image(client, spec, tmp_path / "a", arches=("amd64", "arm64"))
    images = ImageService(client)
    assert images.get_image_arches(spec) == {"amd64", "arm64"}
    push_base_image(client, spec, tmp_path / "b", arches=("s390x",))
    assert images.get_image_arches(spec) == {"s390x"}


def test_a_deleted_manifest_is_not_remembered(client, fault_proxy, repo, tmp_path):
    spec = f"{fault_proxy.registry}/{repo}:gone"
    base = push_base_image(client, spec, tmp_path, arches=("amd64",))
    pinned = f"{fault_proxy.registry}/{repo}@{base.digest}"
    images = ImageService(client)
    assert images.get_image_arches(pinned) == {"amd64"}
    images.delete(pinned)
    with pytest.raises(RegistryError):
        images.get_manifest(pinned)


def test_a_failed_arch_push_still_records_the_manifests_pushed_beside_it(
    client, fault_proxy, repo, tmp_path
):
    """The per-arch manifests go up side by side: when one fails, the others that went up are
    in the record, for ``discard`` (a failed request deletes what it created)."""
    registry = fault_proxy.registry
    base = push_base_image(client, f"{registry}/{repo}-binary:v1", tmp_path)
    images = ImageService(client)
    layer = build_layer([LayerFile("configs/x.json", data=b"{}")], tmp_path / "l.tgz")
    # the s390x manifest is refused; the client does not retry a 400
    fault_proxy.add("PUT", f"/{repo}/manifests/1-s390x$", status=400, times=9)
    record = PushRecord()
    with pytest.raises(RegistryError):
        images.build(base.spec, [f"{registry}/{repo}:1"], [layer], arch_tags=True, record=record)
    tags = sorted(images.list_tags(f"{registry}/{repo}"))
    assert tags == ["1-amd64", "1-arm64", "1-ppc64le"]
    assert len(record.created) == 3
    images.discard(record)
    for arch in ("amd64", "arm64", "ppc64le"):
        assert client.head_manifest(f"{registry}/{repo}:1-{arch}") is None


@pytest.mark.parametrize("mount", [False, True], ids=["uploaded", "mounted"])
def test_layers_placed_ahead_are_not_moved_again_by_a_copy(
    client, fault_proxy, repo, tmp_path, mount
):
    """An image's new layers reach another repository once. Without ``mount_from`` they are
    uploaded from their files ahead of the copy, which then neither reads nor mounts them
    (only the base's blobs); with it (the image they were pushed with, in a repository of the
    same registry, one set of credentials) nothing is uploaded and the copy mounts each with
    one request (the distribution spec's cross-repository mount: ``POST
    /blobs/uploads/?mount=<digest>&from=``)."""
    registry = fault_proxy.registry
    base = push_base_image(client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("amd64",))
    images = ImageService(client)
    layer = build_layer([LayerFile("configs/x.json", data=b"{}")], tmp_path / "l.tgz")
    built = images.build(base.spec, [f"{registry}/{repo}:1"], [layer])
    fault_proxy.reset_counters()
    images.upload_layers(
        f"{registry}/{repo}-index", [layer], mount_from=built.resolved if mount else None
    )
    images.copy(built.resolved, [f"{registry}/{repo}-index"])
    encoded = urllib.parse.quote(layer.digest, safe="")
    touching = [
        (method, path.split("?")[0])
        for method, path, *_ in fault_proxy.log
        if layer.digest in path or encoded in path
    ]
    uploads = fault_proxy.requests("PUT", f"/v2/{repo}-index/blobs/uploads/")
    head = ("HEAD", f"/v2/{repo}-index/blobs/{layer.digest}")
    if mount:
        # its HEAD (absent), its mount, and nothing else
        assert touching == [head, ("POST", f"/v2/{repo}-index/blobs/uploads/")], touching
        assert any(f"mount={encoded}" in path for _, path, *_ in fault_proxy.log)
        assert not uploads
    else:
        # its HEAD (absent), its upload (the digest in the PUT's query), and nothing after
        assert touching[0] == head and all(m == "PUT" for m, _ in touching[1:]), touching
        assert uploads
    assert client.blob_exists(f"{registry}/{repo}-index", layer.digest) == layer.size


def test_a_group_reads_a_pinned_image_once_per_set_of_credentials(
    client, fault_proxy, repo, tmp_path
):
    """The requests of a coalesced group share one memory per set of credentials
    (``request_images(memos=)``): the second request with the same ones reads nothing of an
    image the first read by digest; one with other credentials reads it again."""
    registry = fault_proxy.registry
    base = push_base_image(client, f"{registry}/{repo}:v1", tmp_path)
    pinned = f"{registry}/{repo}@{base.digest}"
    from_index = f"{registry}/{repo}-index:v1"
    memos: dict = {}
    first = request_images(client, token_for=from_index, token="u:p", memos=memos)
    fault_proxy.reset_counters()
    assert len(first.platform_images(pinned)) == 4
    read = len(fault_proxy.log)
    assert read == 1 + 4 + 4  # the list, its entries and their configs
    second = request_images(client, token_for=from_index, token="u:p", memos=memos)
    assert len(second.platform_images(pinned)) == 4
    assert len(fault_proxy.log) == read
    other = request_images(client, token_for=from_index, token="v:q", memos=memos)
    assert len(other.platform_images(pinned)) == 4
    assert len(fault_proxy.log) == 2 * read


def test_a_copy_by_digest_done_before_pushes_nothing_again(client, fault_proxy, repo, tmp_path):
    """A group member's image is copied to from_index's repository by digest ahead of the
    overwrite, which copies it again: a manifest put by digest is content-addressed (the
    distribution spec), so the second copy sends nothing, except the tag it moves."""
    registry = fault_proxy.registry
    base = push_base_image(client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("amd64",))
    images = ImageService(client)
    layer = build_layer([LayerFile("configs/x.json", data=b"{}")], tmp_path / "l.tgz")
    built = images.build(base.spec, [f"{registry}/{repo}:1"], [layer])
    index = f"{registry}/{repo}-index"
    images.copy(built.resolved, [index], PushRecord())
    fault_proxy.reset_counters()
    images.copy(built.resolved, [index])
    assert fault_proxy.log == []
    images.copy(built.resolved, [f"{index}:v1"])
    assert [(m, p) for m, p, *_ in fault_proxy.log] == [("PUT", f"/v2/{repo}-index/manifests/v1")]
    # a manifest deleted is pushed again
    images.delete(f"{index}@{built.digest}")
    fault_proxy.reset_counters()
    images.copy(built.resolved, [index])
    assert ("PUT", f"/v2/{repo}-index/manifests/{built.digest}") in [
        (m, p) for m, p, *_ in fault_proxy.log
    ]
    assert client.head_manifest(f"{index}@{built.digest}") is not None


def test_a_config_the_service_pushed_is_copied_from_memory(client, fault_proxy, repo, tmp_path):
    """With other credentials for the target (an overwrite token: no mount), a blob goes
    through the worker; the config the service pushed itself is sent from memory, not read
    back (``GET /v2/<name>/blobs/<digest>``, the distribution spec)."""
    registry = fault_proxy.registry
    base = push_base_image(client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("amd64",))
    index = f"{registry}/{repo}-index"
    images = request_images(client, token_for=f"{index}:v1", token="u:p")
    layer = build_layer([LayerFile("configs/x.json", data=b"{}")], tmp_path / "l.tgz")
    built = images.build(base.spec, [f"{registry}/{repo}:1"], [layer])
    listing = client.get_manifest(built.resolved)
    entry = client.get_manifest(f"{registry}/{repo}@{listing.manifests[0].digest}")
    config = entry.config.digest
    fault_proxy.reset_counters()
    images.upload_layers(index, [layer])
    images.copy(built.resolved, [index])
    assert not fault_proxy.requests("GET", f"/blobs/{config}")
    assert fault_proxy.requests("GET", f"/v2/{repo}/blobs/")  # the base's layers, read through
    assert fault_proxy.requests("PUT", f"/v2/{repo}-index/blobs/uploads/.*{config[7:]}")
    assert client.blob_exists(index, config) == entry.config.size
