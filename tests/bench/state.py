"""`make bench` state part: the index builder's copies of a catalog's files, and the digest.

A warm build copies the catalog it starts from out of the worker's state cache
(``StateCache.get``), each further request of a coalesced group copies the one before it
(``IndexState.fork``), and after a build the worker keeps its catalog (``StateCache.put``)
before it takes the next request. Each copy is a tree of hard links; a fork is also timed
beside a thread running Python, as it runs in a group. This part writes the
catalog bench's synthetic catalog (3,000 bundles per multiplier) and its serving cache, then
times each copy. Then it times the serving cache's digest (opm's, over ``/configs`` and the
cache) with the tar headers built afresh and with them remembered from the run before, as in a
warm build. Options: ``--sizes=1`` (multipliers), ``--runs=5``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.catalog import CatalogDir, directory_tree, write_serving_cache
from services.catalog.gotar import _header, tree_digest
from services.index_builder.state import IndexState, PartLayer, StateCache, _link_tree
from tests.bench.api import _option
from tests.bench.catalog import generate
from tests.bench.common import python_running


def _time(label: str, runs: int, step: Callable[[int], object]) -> None:
    took = []
    for n in range(runs):
        start = time.perf_counter()
        step(n)
        took.append((time.perf_counter() - start) * 1000)
    print(
        f"  {label}: median {statistics.median(took):.1f} ms "
        f"(min {min(took):.1f}, max {max(took):.1f}, {runs} runs)",
        flush=True,
    )


def _walk_both(state: IndexState, dest: Path) -> None:
    for tree in (state.configs, state.cache_dir):
        _link_tree(tree, dest / tree.name)


def _next(state: IndexState, dest: Path, tag: str) -> IndexState:
    """A build's state after ``state``: its files linked, one of them replaced, new layers."""
    after = state.fork(dest)
    changed = next(p for p in sorted(after.configs.rglob("*.json")) if p.is_file())
    changed.unlink()
    changed.write_text(tag)
    after.parts = [PartLayer(tag, tag, tag, 1, tag, tag)]
    return after


def _copies(multiplier: int, runs: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="iib-bench-state-"))
    try:
        info = generate(base / "configs", multiplier)
        catalog = CatalogDir.open(base / "configs")
        tree = directory_tree(base / "configs", dir_mode=0o755, file_mode=0o644)
        cache = write_serving_cache(catalog, base / "cache", tree)
        state = IndexState(base / "configs", base / "cache", cache, [], frozenset(), "bench")
        files = sum(len(names) for _, _, names in os.walk(base))
        print(
            f"[{info['bundles']} bundles, {info['packages']} packages: {files} files in "
            "/configs and the serving cache] each copy into a new directory:",
            flush=True,
        )
        _time("fork (a group's next request)", runs, lambda n: state.fork(base / f"fork-{n}"))
        _time(
            "the same copy walked in Python (the state cache's copies)",
            runs,
            lambda n: _walk_both(state, base / f"walk-{n}"),
        )
        with python_running():
            _time(
                "fork beside a thread running Python (one cp process per tree)",
                runs,
                lambda n: state.fork(base / f"busy-fork-{n}"),
            )
            # the same copy walked in Python: each file's system call gives up the GIL and
            # waits up to the switch interval to get it back (one run: it takes seconds)
            _time(
                "the same copy walked in Python beside that thread",
                1,
                lambda n: _walk_both(state, base / f"busy-walk-{n}"),
            )
        kept = [StateCache(base / f"states-{n}", 1 << 40) for n in range(runs)]
        _time("put (keep after a build)", runs, lambda n: kept[n].put(state))
        _time(
            "get (a warm build's start)", runs, lambda n: kept[n].get(state.key, base / f"get-{n}")
        )
        # a chain of adds: each build's state (a fork, one package's file replaced) is moved
        # into one cache that already holds the states before it
        chain = StateCache(base / "chain", 1 << 40)
        for n in range(20):
            chain.put(_next(state, base / f"pre-{n}", f"pre-{n}"), move=True)

        following = [_next(state, base / f"next-{n}", f"next-{n}") for n in range(runs)]
        _time(
            "put with 20+ states of one chain in the cache (moved)",
            runs,
            lambda n: chain.put(following[n], move=True),
        )
        entries = [p for p in (base / "chain").iterdir() if (p / "state.json").is_file()]
        whole = sum(json.loads((p / "state.json").read_text())["bytes"] for p in entries)
        print(
            f"  the chain's {len(entries)} states take {chain.usage() / 1e6:.1f} MB on disk, "
            f"each file once ({whole / 1e6:.1f} MB counted whole)",
            flush=True,
        )

        def digest(fresh: bool) -> None:
            if fresh:
                _header.cache_clear()
            tree_digest(tree, cache.cache_tree)

        digest(False)
        _time("digest, tar headers built afresh", runs, lambda n: digest(True))
        digest(False)
        _time("digest, tar headers remembered", runs, lambda n: digest(False))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> None:
    runs = int(_option(argv, "runs", "5"))
    for multiplier in [int(s) for s in _option(argv, "sizes", "1").split(",")]:
        _copies(multiplier, runs)
