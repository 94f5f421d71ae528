"""A group member's seal (opm's cache digest) runs in its own thread, beside the push of the
image before it; its push waits for it and fails as it failed. While the seal goes on, the push
builds and uploads every new layer but the tail, the one layer that holds the digest.

The oracle for the digest is what ``opm serve`` recomputes at start-up: opm's digest over the
files on disk (``tree_digest`` of the two trees read back, checked against opm's own digests in
tests/catalog/test_cache.py), which must equal the ``digest`` file for the cache to be used.
Which layer holds which file is this project's layout (docs/index-builder.md, "The images it
produces"), not opm's: opm only reads the files the layers make up together, which the
end-to-end tests check on pulled images (tests/e2e/test_index_builds.py)."""

from __future__ import annotations

import os
import shutil
import tarfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.catalog import CatalogDir, directory_tree, tree_digest, write_catalog
from services.common.registry.images import ImageService
from services.common.registry.layers import Layer
from services.index_builder.index_image import (
    CACHE_CREATED_BY,
    CACHE_INDEX_CREATED_BY,
    PreparedIndex,
    bucket_of,
    cache_bucket_of,
    prepare_index_image,
)
from tests.catalog.conftest import catalog_of


class _UploadsOnly:
    """Stands where the image service would: it takes uploads of layers (and records them)
    and, once ``sealed`` is set, one image build; any other use fails the test."""

    def __init__(self) -> None:
        self.uploaded: list[Layer] = []
        self.sealed = threading.Event()
        self.built: list[list[Any]] = []

    def upload_layers(self, target: str, layers: list[Any]) -> None:
        assert target == "registry.example/index:1"
        self.uploaded.extend(layers)

    def build(self, base: str, targets: list[str], layers: list[Any], *a: Any, **kw: Any) -> Any:
        assert self.sealed.is_set(), "the image was pushed before the seal ended"
        self.built.append(list(layers))
        return SimpleNamespace(digest="sha256:" + "1" * 64)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the registry was used ({name}) before the seal ended")


def _prepared(tmp_path: Path, registry: _UploadsOnly | None = None) -> PreparedIndex:
    configs = tmp_path / "configs"
    write_catalog(catalog_of("keda", "cockroachdb"), configs)
    return prepare_index_image(
        cast(ImageService, registry or _UploadsOnly()),
        view=CatalogDir.open(configs),
        configs_root=configs,
        workdir=tmp_path / "output",
        binary_image_resolved="registry.example/opm@sha256:" + "0" * 64,
        arches=["amd64"],
        targets=["registry.example/index:1"],
        labels={},
        seal=False,
    )


def test_a_seal_in_its_own_thread_writes_the_digest_opm_recomputes(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path)
    state = prepared.state
    assert not state.cache.digest and not (state.cache_dir / "digest").exists()
    with ThreadPoolExecutor(max_workers=1) as sealer:
        prepared.sealing = sealer.submit(prepared.seal)
        prepared.sealing.result()
    on_disk = tree_digest(
        directory_tree(state.configs, dir_mode=0o755, file_mode=0o644),
        directory_tree(state.cache_dir / "cache"),
    )
    assert (state.cache_dir / "digest").read_text() == on_disk == state.cache.digest
    prepared.seal()  # done once: a second call changes nothing
    assert (state.cache_dir / "digest").read_text() == on_disk


def test_a_push_fails_as_its_seal_failed_without_pushing_an_image(tmp_path: Path) -> None:
    registry = _UploadsOnly()
    prepared = _prepared(tmp_path, registry)
    cache = prepared.state.cache_dir / "cache"
    listed = cache / "packages.json"
    # a symlink put in place of a listed file: the digest refuses to read it (it names the
    # file), the layer holding it follows it to the same bytes
    moved = tmp_path / "packages.json"
    shutil.move(listed, moved)
    os.symlink(moved, listed)
    with ThreadPoolExecutor(max_workers=1) as sealer:
        prepared.sealing = sealer.submit(prepared.seal)
        with pytest.raises(OSError, match="packages.json") as raised:
            prepared.push()
        # the seal's own error: the push waited for it rather than sealing again
        assert raised.value is prepared.sealing.exception()
    assert not prepared.state.cache.digest
    assert not (prepared.state.cache_dir / "digest").exists()
    assert not registry.built  # no image names the layers uploaded meanwhile


def _files(layer: Layer) -> dict[str, bytes]:
    """The regular files of a layer blob, by path."""
    files: dict[str, bytes] = {}
    with tarfile.open(layer.path, "r:gz") as tar:
        for member in tar.getmembers():
            content = tar.extractfile(member) if member.isfile() else None
            if content is not None:
                files[member.name] = content.read()
    return files


def test_the_layers_are_uploaded_while_the_seal_goes_on_and_only_the_tail_waits(
    tmp_path: Path,
) -> None:
    registry = _UploadsOnly()
    prepared = _prepared(tmp_path, registry)
    packages = ("keda", "cockroachdb")
    # the layers of a build from nothing: the /configs head, a part per bucket of /configs, the
    # provenance, a cache part per cache bucket and the cache index; then the tail
    early = 1 + len({bucket_of(p) for p in packages}) + 1
    early += len({cache_bucket_of(p) for p in packages}) + 1
    seal: Future[None] = Future()
    prepared.sealing = seal
    with ThreadPoolExecutor(max_workers=1) as pusher:
        pushed = pusher.submit(prepared.push)
        try:
            for _ in range(600):
                if len(registry.uploaded) >= early or pushed.done():
                    break
                time.sleep(0.05)
            # all of them uploaded while the seal has not ended (``build`` refuses to run
            # before ``sealed`` is set); the push waits for the seal
            assert not pushed.done(), pushed.exception()
            assert len(registry.uploaded) == early
            assert CACHE_CREATED_BY not in {layer.created_by for layer in registry.uploaded}
            prepared.seal()
            registry.sealed.set()
            seal.set_result(None)
        finally:
            if not seal.done():  # a failed check: the push must not wait for ever
                seal.set_exception(RuntimeError("the test failed"))
        built = pushed.result(timeout=60)
    assert built.digest == "sha256:" + "1" * 64
    layers = registry.built[0]
    tail, index = layers[-1], layers[-2]
    assert (tail.created_by, index.created_by) == (CACHE_CREATED_BY, CACHE_INDEX_CREATED_BY)
    # every layer but the tail was uploaded before the image was pushed (which uploads the tail)
    assert sorted(layer.digest for layer in registry.uploaded) == sorted(
        layer.digest for layer in layers[:-1]
    )
    # the tail holds the digest file alone (and its directories), the index packages.json
    assert _files(tail) == {"tmp/cache/digest": prepared.state.cache.digest.encode()}
    assert "tmp/cache/cache/packages.json" in _files(index)
