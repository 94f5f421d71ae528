"""A group member's seal (opm's cache digest) runs in its own thread, beside the push of the
image before it; its push waits for it and fails as it failed.

The oracle for the digest is what ``opm serve`` recomputes at start-up: opm's digest over the
files on disk (``tree_digest`` of the two trees read back, checked against opm's own digests in
tests/catalog/test_cache.py), which must equal the ``digest`` file for the cache to be used."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest

from services.catalog import CatalogDir, directory_tree, tree_digest, write_catalog
from services.common.registry.images import ImageService
from services.index_builder.index_image import PreparedIndex, prepare_index_image
from tests.catalog.conftest import catalog_of


class _NoRegistry:
    """Stands where the image service would: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the registry was used ({name}) before the seal ended")


def _prepared(tmp_path: Path) -> PreparedIndex:
    configs = tmp_path / "configs"
    write_catalog(catalog_of("keda", "cockroachdb"), configs)
    return prepare_index_image(
        cast(ImageService, _NoRegistry()),
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


def test_a_push_fails_as_its_seal_failed_before_using_the_registry(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path)
    cache = prepared.state.cache_dir / "cache"
    listed = cache / "packages.json"
    # a symlink put in place of a listed file: the digest refuses to read it (it names the file)
    listed.unlink()
    os.symlink(tmp_path / "configs", listed)
    with ThreadPoolExecutor(max_workers=1) as sealer:
        prepared.sealing = sealer.submit(prepared.seal)
        with pytest.raises(OSError, match="packages.json") as raised:
            prepared.push()
        # the seal's own error: the push waited for it rather than sealing again
        assert raised.value is prepared.sealing.exception()
    assert not prepared.state.cache.digest
    assert not (prepared.state.cache_dir / "digest").exists()
