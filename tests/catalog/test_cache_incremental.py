"""An incrementally updated serving cache is exactly the cache written from scratch.

The oracle is :func:`write_serving_cache` (itself checked against opm's format in
test_cache.py): after adding, removing, replacing and deprecating packages, updating the
previous cache for the changed packages must give the same files, modes and digest."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.catalog import (
    CatalogDir,
    RenderedBundle,
    add_bundles,
    directory_tree,
    remove_packages,
    render_bundle,
    update_serving_cache,
    upsert_deprecations,
    write_serving_cache,
)

from .conftest import FIXTURES, versions_of


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _render(package: str, version: str, n: int) -> RenderedBundle:
    return render_bundle(
        FIXTURES / package / version, f"q.io/{package}@sha256:{n:064x}", csv_metadata=True
    )


def test_incremental_updates_equal_a_full_rewrite(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    catalog = CatalogDir.open(configs)
    first = [
        _render("keda", "1.4.1", 1),
        _render("cockroachdb", "3.0.7", 2),
        # redis-operator 0.0.1 alone is refused by opm (default channel stable, channel
        # preview): its whole history is added together.
        *(
            _render("redis-operator", v, 10 + i)
            for i, v in enumerate(versions_of("redis-operator"))
        ),
    ]
    catalog.apply(add_bundles(catalog, first).changes)
    state = tmp_path / "state"
    result = write_serving_cache(
        catalog, state, directory_tree(configs, dir_mode=0o755, file_mode=0o644)
    )

    steps = [
        ("add", lambda c: add_bundles(c, [_render("keda", "1.5.0", 4)]).changes),
        ("remove", lambda c: remove_packages(c, ["cockroachdb"]).changes),
        (
            "deprecate",
            lambda c: (
                upsert_deprecations(
                    c,
                    "redis-operator",
                    '{"schema":"olm.deprecations","package":"redis-operator","entries":[{"reference":{"schema":"olm.package"},"message":"gone"}]}',
                ).changes
            ),
        ),
        (
            "add a package",
            lambda c: add_bundles(c, [_render("cert-utils-operator", "0.0.1", 5)]).changes,
        ),
    ]
    for n, (_, make) in enumerate(steps):
        changes = make(catalog)
        catalog.apply(changes)
        tree = directory_tree(configs, dir_mode=0o755, file_mode=0o644)
        # incremental: a copy of the previous cache, updated for the changed packages
        work = tmp_path / f"inc-{n}"
        shutil.copytree(state, work)
        updated = update_serving_cache(catalog, work, tree, result, set(changes.updates))
        # full rewrite
        full = write_serving_cache(catalog, tmp_path / f"full-{n}", tree)
        assert updated.digest == full.digest
        assert _files(work / "cache") == _files(tmp_path / f"full-{n}" / "cache")
        assert sorted((e.path, e.mode) for e in updated.cache_tree) == sorted(
            (e.path, e.mode) for e in full.cache_tree
        )
        assert updated.index == full.index and updated.owners == full.owners
        state, result = work, updated
