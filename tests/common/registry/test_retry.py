"""The backoff formula: delay + multiplier * 2**(n-1) + jitter * random, capped."""

from __future__ import annotations

import pytest

from services.common.registry.client import RegistrySettings
from services.common.registry.retry import RetryPolicy


def test_wait_grows_exponentially_with_bounded_jitter():
    low = RetryPolicy(delay=10, jitter=10, multiplier=5, random=lambda: 0.0)
    high = RetryPolicy(delay=10, jitter=10, multiplier=5, random=lambda: 1.0)
    assert [low.wait_time(n) for n in (1, 2, 3, 4)] == [15, 20, 30, 50]
    assert [high.wait_time(n) for n in (1, 2, 3, 4)] == [25, 30, 40, 60]


def test_wait_is_capped_and_honours_retry_after():
    policy = RetryPolicy(delay=1, jitter=0, multiplier=1, max_delay=8)
    assert policy.wait_time(10) == 8
    assert policy.wait_time(1, retry_after=5) == 5
    assert policy.wait_time(1, retry_after=600) == 8


def test_backoff_sleeps_through_the_injected_sleeper():
    slept: list[float] = []
    policy = RetryPolicy(delay=0.5, jitter=0, multiplier=0, sleep=slept.append)
    policy.backoff(1)
    assert slept == [0.5]


def test_settings_map_iib_names_onto_the_policy():
    policy = RegistrySettings(
        total_attempts=3, retry_delay=1, retry_jitter=2, retry_multiplier=3
    ).retry_policy()
    assert (policy.total_attempts, policy.delay, policy.jitter, policy.multiplier) == (3, 1, 2, 3)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    assert RetryPolicy.is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 416])
def test_client_errors_are_not_retried(status):
    assert not RetryPolicy.is_retryable_status(status)


def test_zero_attempts_is_refused():
    with pytest.raises(ValueError):
        RetryPolicy(total_attempts=0)
