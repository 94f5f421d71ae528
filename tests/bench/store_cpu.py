"""The request store's CPU per operation, this tree's store against another revision's.

``python -m tests.bench store_cpu --before=<git revision> [--seeded=DATABASE_URL]
[--requests=100] [--rounds=10] [--seed=2000]``

The host's speed drifts by up to a third within minutes, which hides a change of ~10 % in
end-to-end runs unless they are interleaved many times; the CPU a process spends
(``time.process_time``) on the same work is steadier. Both stores (``--before``'s
``services/request_store/store.py`` loaded beside this tree's, on one engine) do, in turns, with
the order swapped every round:

- ``create``: the API bench's POST body through ``Store.create``;
- ``relay``: the relay's poll and mark (``publishable_outbox`` + ``mark_sent``) after every two
  submissions;
- ``update``: the API bench's three PATCHes per request through ``Store.update``.

Prints each figure's median, min and max over the rounds, in ms of CPU. Without ``--seeded``
a PostgreSQL cluster is started and ``--seed`` requests are stored first. Only the store's
module is swapped: the rest (models, validation) is this tree's, so ``--before`` must be a
revision whose store.py runs against this tree's other modules (e.g. the commit before).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.request_store import validation
from services.request_store.patch import plan_patch
from services.tooling.servers.postgres import start_postgres
from tests.bench.api import ADD_BODY, USER, _option, _patches, seed
from tests.request_store.cores import store_core

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("create", "relay", "update")


def _store_module(revision: str, workdir: Path) -> Any:
    """``services/request_store/store.py`` as of ``revision``, loaded as its own module."""
    text = subprocess.run(
        ["git", "show", f"{revision}:services/request_store/store.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = workdir / "store_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("store_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["store_before"] = module
    spec.loader.exec_module(module)
    return module


def _plan(payload: dict[str, Any]) -> Callable[..., Any]:
    return lambda t, state, reason: plan_patch(payload, t, state, reason)


def _round(store: Any, core: Any, count: int) -> dict[str, float]:
    """ms of CPU per create, per relay poll + mark and per update, ``count`` requests."""
    context = core._validation_context(USER)
    while rows := store.publishable_outbox():
        store.mark_sent([r.id for r in rows])
    spent = dict.fromkeys(FIGURES, 0.0)
    ids: list[int] = []
    for _ in range(count // 2):
        for _ in range(2):
            new = validation.SINGLE_VALIDATORS["add"](copy.deepcopy(ADD_BODY), context)
            start = time.process_time()
            ids.append(store.create([new], user=USER, queues=[None]).request_ids[0])
            spent["create"] += time.process_time() - start
        start = time.process_time()
        rows = store.publishable_outbox()
        store.mark_sent([r.id for r in rows])
        spent["relay"] += time.process_time() - start
    start = time.process_time()
    for n, request_id in enumerate(ids):
        for payload in _patches(n):
            store.update(request_id, _plan(payload))
    spent["update"] = time.process_time() - start
    per = {"create": len(ids), "relay": count // 2, "update": 3 * len(ids)}
    return {name: spent[name] / per[name] * 1000 for name in FIGURES}


def _compare(url: str, revision: str, count: int, rounds: int, workdir: Path) -> None:
    core = store_core(url, workdir)
    now = core.store
    before = _store_module(revision, workdir).Store(now.engine, now.secrets)
    before.outbox_builder = now.outbox_builder
    stores = {revision: before, "this tree": now}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in stores}
    try:
        for n in range(rounds):
            order = list(stores) if n % 2 == 0 else list(stores)[::-1]
            for name in order:
                results[name].append(_round(stores[name], core, count))
    finally:
        now.engine.dispose()
    print(f"{rounds} rounds × {count} requests each, alternated; ms of CPU per operation:")
    for figure in FIGURES:
        cells = []
        for name, runs in results.items():
            values = [r[figure] for r in runs]
            cells.append(
                f"{name} {statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"
            )
        print(f"  {figure}: " + "; ".join(cells))


def main(argv: list[str]) -> None:
    revision = _option(argv, "before", "")
    if not revision:
        raise SystemExit("store_cpu: --before=<git revision> is required")
    count = max(2, int(_option(argv, "requests", "100")))
    rounds = int(_option(argv, "rounds", "10"))
    seeded = _option(argv, "seeded", "")
    workdir = Path(tempfile.mkdtemp(prefix="iib-bench-store-cpu-"))
    try:
        print(f"request store CPU: {revision} against this tree, PostgreSQL")
        if seeded:
            _compare(seeded, revision, count, rounds, workdir)
            return
        os.chmod(workdir, 0o711)  # the cluster runs as postgres when we are root
        pg = start_postgres(workdir / "pg")
        try:
            url = pg.create_database("iib")
            stored = int(_option(argv, "seed", "2000"))
            print(f"seeding {stored} requests: {seed(url, stored, workdir):.1f} s")
            _compare(url, revision, count, rounds, workdir)
        finally:
            pg.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
