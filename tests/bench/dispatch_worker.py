"""The benchmark's worker: the real runtime with a handler that only records when each work item
arrived and completes the request."""

from __future__ import annotations

import os
import sys

from services.common.config import load_settings
from services.common.logs import configure_logging
from services.common.worker import WorkContext, WorkerRuntime


def main() -> None:
    settings = load_settings()
    configure_logging(settings, "bench-worker")
    out = sys.argv[1]

    def handle(ctx: WorkContext) -> None:
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{ctx.request_id} {ctx.received_at:.6f}\n".encode())
        finally:
            os.close(fd)
        ctx.complete("done")

    WorkerRuntime(settings, "index", handle).serve_forever()


if __name__ == "__main__":
    main()
