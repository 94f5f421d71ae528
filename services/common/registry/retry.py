"""Retry policy for registry calls: exponential backoff with jitter, bounded attempts.

The wait before retry number ``n`` (``n = 1`` after the first failure) is::

    wait(n) = min(max_delay, delay + multiplier * 2 ** (n - 1) + uniform(0, jitter))

and, when the registry sent ``Retry-After`` (429/503), ``max(wait(n), min(retry_after, max_delay))``.
At most ``total_attempts`` calls are made, so there are ``total_attempts - 1`` waits.

With IIB's defaults (``iib_total_attempts=5``, ``iib_retry_delay=10``, ``iib_retry_jitter=10``,
``iib_retry_multiplier=5``) the waits are 15–25 s, 20–30 s, 30–40 s and 50–60 s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy"]

# 408 Request Timeout, 429 Too Many Requests and the 5xx a proxy or a registry returns when busy.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failing registry call (see the module docstring)."""

    total_attempts: int = 5
    delay: float = 10.0
    jitter: float = 10.0
    multiplier: float = 5.0
    max_delay: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.total_attempts < 1:
            raise ValueError("total_attempts must be at least 1")
        if min(self.delay, self.jitter, self.multiplier, self.max_delay) < 0:
            raise ValueError("retry delays must not be negative")

    def wait_time(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        wait = self.delay + self.multiplier * 2 ** (retry_number - 1) + self.random() * self.jitter
        wait = min(wait, self.max_delay)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float:
        """Sleep before retry ``retry_number``; returns the time slept."""
        wait = self.wait_time(retry_number, retry_after)
        if wait > 0:
            self.sleep(wait)
        return wait

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        """True for statuses worth retrying (429, 408 and 500/502/503/504)."""
        return status in RETRYABLE_STATUSES
