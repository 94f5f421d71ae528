"""``services.common.aio.run``: a service's asyncio main ends even when a leftover task loses
its cancellation.

The stubborn task below behaves as nats-py's reconnect loop does on Python 3.11 when
``asyncio.wait_for`` loses a cancel (cpython gh-86296: the inner future finished just as the
cancel came, so its result comes out instead of ``CancelledError``, and the loop, which catches
connection errors, goes on). ``asyncio.run`` cancels each leftover task once and then waits
for it without a bound: with this task it never returns (checked by hand, with
``asyncio.run`` in place of ``run``: the thread below was still alive after 30 s)."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from services.common import aio


def _in_thread(target) -> threading.Thread:
    """Run ``target`` in a thread and wait for it at most 30 s (a hang fails, not blocks)."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    return thread


def test_a_task_that_loses_its_first_cancel_is_cancelled_again() -> None:
    cancels: list[str] = []
    result: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels.append("lost")  # as wait_for can lose it on 3.11
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels.append("ended")
            raise

    async def main() -> str:
        asyncio.get_running_loop().create_task(stubborn(), name="reconnect")
        await asyncio.sleep(0)
        return "stopped"

    thread = _in_thread(lambda: result.append(aio.run(main())))
    assert not thread.is_alive(), "run() did not return"
    assert result == ["stopped"]
    assert cancels == ["lost", "ended"]


def test_a_task_that_never_ends_is_left_behind_after_the_grace(caplog) -> None:
    async def never() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass

    async def main() -> None:
        asyncio.get_running_loop().create_task(never(), name="never-ends")
        await asyncio.sleep(0)

    with caplog.at_level(logging.WARNING, logger="services.common.aio"):
        thread = _in_thread(lambda: aio.run(main(), grace=1.0))
    assert not thread.is_alive(), "run() did not return"
    assert "left 1 task(s) that did not end when cancelled: never-ends" in caplog.text


def test_the_main_coroutine_error_comes_out_and_leftover_errors_are_logged(caplog) -> None:
    async def failing_leftover() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("failed while stopping") from None

    async def main() -> None:
        asyncio.get_running_loop().create_task(failing_leftover())
        await asyncio.sleep(0)
        raise ValueError("main failed")

    with caplog.at_level(logging.ERROR), pytest.raises(ValueError, match="main failed"):
        aio.run(main())
    assert "failed while stopping" in caplog.text
