"""Running a service's asyncio main with an end that cannot hang.

``asyncio.run`` cancels every task left when its main coroutine returns, once, then waits for
all of them without a bound. On Python 3.11 a task can lose that cancellation:
``asyncio.wait_for`` returns (or raises) the inner result instead of ``CancelledError`` when
the inner future finished just as the cancel came (cpython gh-86296, fixed in 3.12). nats-py's
reconnect loop connects through ``wait_for`` and, when the connection is refused, catches the
error and tries again every ``reconnect_time_wait``; a worker stopped by SIGTERM while NATS was
gone (``iib dev`` killed: nats-server and the worker get their death signals together) could so
loop on reconnecting forever instead of exiting. :func:`run` cancels the leftover tasks again
until they end, for a bounded time, then leaves the rest behind with the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run", "set_from_thread"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def run(main: Coroutine[Any, Any, _T], *, grace: float = 5.0) -> _T:
    """``asyncio.run(main)``, except that the tasks left when ``main`` ends are cancelled again
    every half second until they have ended, for at most ``grace`` seconds."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_leftovers(loop, grace)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    deadline = time.monotonic() + grace
    seen: set[asyncio.Task[Any]] = set()
    while pending := asyncio.all_tasks(loop):  # the tasks not done
        if time.monotonic() >= deadline:
            log.warning(
                "left %d task(s) that did not end when cancelled: %s",
                len(pending),
                ", ".join(sorted(task.get_name() for task in pending)),
            )
            break
        seen |= pending
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
    for task in seen:
        if task.done():
            _report(loop, task)


def _report(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    """As ``asyncio.run`` does: an error a leftover task ended with goes to the loop's
    exception handler (logged), instead of being lost."""
    if task.cancelled() or task.exception() is None:
        return
    loop.call_exception_handler(
        {
            "message": "unhandled exception during shutdown",
            "exception": task.exception(),
            "task": task,
        }
    )


def set_from_thread(loop: asyncio.AbstractEventLoop | None, event: asyncio.Event | None) -> bool:
    """Set ``event`` of ``loop`` from another thread (``call_soon_threadsafe``: a write to the
    loop's self-pipe); whether it was scheduled. False when the loop has not started yet
    (None) or has closed, even meanwhile: there is nothing left to wake then."""
    if loop is None or event is None or loop.is_closed():
        return False
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:  # closed meanwhile
        return False
    return True
