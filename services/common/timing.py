"""Per-step durations of a request's work, logged into its request log (IIB's #507)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StepTimer"]

log = logging.getLogger(__name__)


class StepTimer:
    """Times named steps; a step run several times adds up. Thread-safe enough for steps run
    from one thread at a time (a build's)."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the enclosed block as ``name`` and log its duration."""
        start = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.durations[name] = self.durations.get(name, 0.0) + took
            log.debug("step %s took %.3f s", name, took)

    def add(self, name: str, seconds: float) -> None:
        """Record a duration measured elsewhere (e.g. inside the image assembly)."""
        self.durations[name] = self.durations.get(name, 0.0) + seconds

    def summary(self) -> str:
        """``Step durations: resolve 0.120 s, ... (total 1.234 s)``."""
        total = time.perf_counter() - self._started
        steps = ", ".join(f"{name} {took:.3f} s" for name, took in self.durations.items())
        return f"Step durations: {steps} (total {total:.3f} s)"
