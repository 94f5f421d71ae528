"""Queue routing from ``IIB_USER_TO_QUEUE`` (IIB's ``_get_user_queue``). No I/O."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["user_queue"]


def user_queue(
    user_to_queue: Mapping[str, str | Mapping[str, str]],
    username: str | None,
    *,
    serial: bool,
    pull_spec: str | None,
) -> str | None:
    """The queue for a request, or ``None`` for the default queue.

    ``SERIAL:<user>`` (serial requests) or ``PARALLEL:<user>`` is looked up first, then
    ``<user>``. A string value is the queue; a dict maps a from_index pull spec to a queue and
    falls back to its ``all`` entry. Anonymous requests use the default queue.
    """
    if not username:
        return None
    labeled = f"{'SERIAL' if serial else 'PARALLEL'}:{username}"
    queue = user_to_queue.get(labeled) or user_to_queue.get(username)
    if queue is None or queue == "":
        return None
    if isinstance(queue, str):
        return queue
    if pull_spec and queue.get(pull_spec):
        return queue[pull_spec]
    return queue.get("all")
