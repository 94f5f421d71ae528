"""Per-request log files (IIB_REQUEST_LOGS_DIR / S3), served by GET /builds/<id>/logs.

While a worker (index builder, bundle regenerator) works on a request, every log record
emitted in that request's context (its thread and the registry transfer threads it starts,
which copy the context) is also written to
``<IIB_REQUEST_LOGS_DIR>/<id>.log`` with ``IIB_REQUEST_LOGS_FORMAT`` at
``IIB_REQUEST_LOGS_LEVEL``. With S3 configured the file is uploaded to
``request_logs/<id>.log`` when the request ends.
"""

from __future__ import annotations

import contextvars
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.common.artifacts import ArtifactKind, S3ArtifactStore
from services.common.config import Settings
from services.common.logs import RedactingFilter, RedactingFormatter

__all__ = [
    "bound_request",
    "capture_request_log",
    "current_request",
    "request_log",
    "request_log_format",
    "request_workspace",
]

log = logging.getLogger(__name__)

current_request: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_request", default=None
)


class _RequestFilter(logging.Filter):
    def __init__(self, request_id: int) -> None:
        super().__init__()
        self.request_id = request_id

    def filter(self, record: logging.LogRecord) -> bool:
        return current_request.get() == self.request_id


def request_log_format(settings: Settings, request_id: int) -> str:
    """``IIB_REQUEST_LOGS_FORMAT`` with IIB's ``{request_id}`` placeholder replaced by
    ``request-<id>`` (as IIB's workers do, so one request's lines can be found in a log search)."""
    return settings.request_logs_format.replace("{request_id}", f"request-{request_id}")


@contextmanager
def bound_request(request_id: int) -> Iterator[None]:
    """Emit the block's log records in ``request_id``'s context (its log file, if captured)."""
    token = current_request.set(request_id)
    try:
        yield
    finally:
        current_request.reset(token)


@contextmanager
def capture_request_log(settings: Settings, request_id: int) -> Iterator[Path | None]:
    """Write the records emitted in ``request_id``'s context (see :func:`bound_request`), in
    any thread, to its log file until the block ends; then upload the file to S3 if set."""
    directory = settings.request_logs_dir
    if directory is None and settings.aws_s3_bucket_name:
        directory = Path(tempfile.gettempdir()) / "iib-request-logs"
    if directory is None:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{request_id}.log"
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(settings.request_logs_level)
    handler.setFormatter(RedactingFormatter(request_log_format(settings, request_id)))
    handler.addFilter(_RequestFilter(request_id))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()  # its level is lowered at start-up (configure_logging)
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        if settings.aws_s3_bucket_name:
            # never raised: it would replace the request's own error (its state_reason)
            try:
                S3ArtifactStore(settings.aws_s3_bucket_name).store(
                    ArtifactKind.LOGS, request_id, path.read_bytes()
                )
            except Exception as exc:
                log.warning("could not upload the log of request %s to S3: %s", request_id, exc)


@contextmanager
def request_log(settings: Settings, request_id: int) -> Iterator[Path | None]:
    """Capture this request's log records into its log file for the duration of the block."""
    with bound_request(request_id), capture_request_log(settings, request_id) as path:
        yield path


@contextmanager
def request_workspace(settings: Settings, request_id: int) -> Iterator[Path]:
    """What every worker's handler runs in: the request's log capture (``request_log``) and a
    scratch directory under ``IIB_WORK_DIR``, removed afterwards."""
    with request_log(settings, request_id):
        workdir = Path(tempfile.mkdtemp(prefix=f"iib-{request_id}-", dir=settings.work_dir))
        try:
            yield workdir
        finally:
            shutil.rmtree(workdir, True)
