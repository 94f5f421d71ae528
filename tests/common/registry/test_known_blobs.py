"""The client remembers which blobs a repository has, so pushes do not ask again; a blob that
vanished (garbage collection) makes the manifest push fail once, after which the build checks
and uploads again and succeeds."""

from __future__ import annotations

from services.common.registry.images import SCRATCH, ImageService
from services.common.registry.layers import LayerFile, build_layer


def test_known_blobs_skip_checks_and_a_vanished_blob_is_pushed_again(
    plain_client, plain_registry, repo, tmp_path
):
    images = ImageService(plain_client)
    layer = build_layer([LayerFile("data.txt", data=b"remembered")], tmp_path / "l.tar.gz")
    first = f"{plain_registry.registry}/{repo}:one"
    images.build(SCRATCH, [first], [layer])
    requests_before = plain_client.stats.snapshot()["requests"]
    # the layer blob is known present: asking costs no request
    assert plain_client.blob_exists(first, layer.digest) == layer.size
    assert plain_client.stats.snapshot()["requests"] == requests_before

    # the blob disappears behind the client's back (another client deletes it)
    other = type(plain_client)(plain_client.settings)
    other.delete_blob(first, layer.digest)
    assert other.blob_exists(first, layer.digest) is None

    second = f"{plain_registry.registry}/{repo}:two"
    result = images.build(SCRATCH, [second], [layer])
    assert images.get_image_digest(second) == result.digest
    assert other.blob_exists(second, layer.digest) == layer.size
