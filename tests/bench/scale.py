"""Benchmark, scale part: requests completed per minute with 1, 2 and 3 index builders.

The system of tests/tooling/scale.py: a 3-node NATS JetStream cluster (3-replica streams),
PostgreSQL, two request store processes behind Envoy, and index builder processes running the
real worker runtime with a scripted handler that sleeps ``--work`` seconds per request (a
stand-in for a build that waits on registries, so the figure is the dispatch path's: outbox,
JetStream, leases, serial ordering, state updates). Each run submits ``--requests`` add
requests through Envoy on a mix of indexes (``--indexes`` indexes; three serial requests, which
run one at a time per index in submission order, for every parallel one) and times the first
submission to the last completion. Several runs per builder count; median, min and max.

    python -m tests.bench scale [--requests=120] [--work=0.25] [--indexes=4] [--runs=3]
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.api import _option
from tests.tooling.scale import ScaleSystem, add_body


def _run(system: ScaleSystem, count: int, work: float, indexes: int, tag: str) -> float:
    """Submit ``count`` requests, wait until they are all complete; requests per minute."""
    before = system.completed()
    started = time.perf_counter()
    for n in range(count):
        index = f"q.io/bench/{tag}-index-{n % indexes}:v4.14"
        system.submit(add_body(work, index, serial=n % 4 != 3))
    deadline = time.monotonic() + 1800
    while system.completed() < before + count:
        if time.monotonic() > deadline:
            raise SystemExit("the builders did not complete the run within 30 minutes")
        time.sleep(0.1)
    return count / (time.perf_counter() - started) * 60


def main(argv: list[str]) -> None:
    count = int(_option(argv, "requests", "120"))
    work = float(_option(argv, "work", "0.25"))
    indexes = int(_option(argv, "indexes", "4"))
    runs = int(_option(argv, "runs", "3"))
    print(
        f"scale benchmark: {count} add requests per run through Envoy (2 request store processes,"
        f" PostgreSQL, 3-node NATS cluster with 3-replica streams), {indexes} indexes, 3 serial"
        f" per parallel request, {work:g} s of handler work each; {runs} runs per builder count;"
        " all on one 2-core host",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="iib-bench-scale-"))
    system = ScaleSystem(workdir / "system", ack_wait=30.0)
    try:
        system.start(builders=0)
        for builders in (1, 2, 3):
            while len(system.builders) < builders:
                system.add_builder()
            time.sleep(2.0)  # the new builder connects
            rates = [_run(system, count, work, indexes, f"b{builders}r{r}") for r in range(runs)]
            ideal = 60 / work * builders
            print(
                f"{builders} index builder{'s' if builders > 1 else ''}: median"
                f" {statistics.median(rates):.0f} requests/min (min {min(rates):.0f}, max"
                f" {max(rates):.0f}; runs: {', '.join(f'{r:.0f}' for r in rates)}); builders always"
                f" busy would give {ideal:.0f}/min",
                flush=True,
            )
    finally:
        system.close()
        shutil.rmtree(workdir, ignore_errors=True)
