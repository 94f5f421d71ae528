"""Per-step durations of a request's work, logged into its request log (IIB's #507).

Each step is also a span (a child of the build span, see services/common/telemetry.py) and an
observation of ``iib_build_step_duration_seconds`` (services/common/metrics.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace

from services.common.metrics import STEP_DURATION, current_request_type

__all__ = ["StepTimer"]

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


class StepTimer:
    """Times named steps; a step run several times adds up. Steps may run in two threads at
    once (a build's seal beside its layers), as long as each name is timed by one thread at a
    time: then the sum of the steps can exceed the wall time."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the enclosed block as ``name`` (a span, a histogram observation) and log its
        duration."""
        start = time.perf_counter()
        try:
            with _tracer.start_as_current_span(name, attributes={"iib.step": name}):
                yield
        finally:
            took = time.perf_counter() - start
            self.durations[name] = self.durations.get(name, 0.0) + took
            STEP_DURATION.labels(current_request_type(), name).observe(took)
            log.debug("step %s took %.3f s", name, took)

    def add(self, name: str, seconds: float) -> None:
        """Record a duration measured elsewhere (e.g. inside the image assembly) that has just
        ended: its span covers the ``seconds`` up to now."""
        self.durations[name] = self.durations.get(name, 0.0) + seconds
        STEP_DURATION.labels(current_request_type(), name).observe(seconds)
        now = time.time_ns()
        span = _tracer.start_span(
            name, start_time=now - int(seconds * 1e9), attributes={"iib.step": name}
        )
        span.end(end_time=now)

    def summary(self) -> str:
        """``Step durations: resolve 0.120 s, ... (total 1.234 s)``."""
        total = time.perf_counter() - self._started
        steps = ", ".join(f"{name} {took:.3f} s" for name, took in self.durations.items())
        return f"Step durations: {steps} (total {total:.3f} s)"
