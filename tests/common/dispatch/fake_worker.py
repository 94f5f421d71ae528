"""A worker process for the dispatch tests: the real worker runtime with a scripted handler.

The handler reads instructions from the add request's bundle pull specs:
``fake/sleep:<s>`` sleeps (checking for cancellation), ``fake/stubborn:<s>`` sleeps without
checking, ``fake/fail:<msg>`` fails with an IIBError, ``fake/crash:1`` kills the process.
Every start and completion is appended to the JSON-lines file given as argument.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from services.common.config import load_settings
from services.common.errors import IIBError
from services.common.logs import configure_logging
from services.common.worker import WorkContext, WorkerRuntime


def record(path: Path, event: str, ctx: WorkContext) -> None:
    line = (
        json.dumps(
            {
                "event": event,
                "id": ctx.request_id,
                "delivery": ctx.delivery,
                "pid": os.getpid(),
                "t": time.time(),
                "key": ctx.request.serial_key,
            }
        )
        + "\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def make_handler(path: Path):
    def handle(ctx: WorkContext) -> None:
        record(path, "start", ctx)
        ctx.progress("Resolving the bundles")
        for spec in ctx.request.add.bundles:
            kind, _, arg = spec.removeprefix("fake/").partition(":")
            if kind == "sleep":
                end = time.monotonic() + float(arg)
                while time.monotonic() < end:
                    ctx.check_cancelled()
                    time.sleep(0.02)
            elif kind == "stubborn":
                time.sleep(float(arg))
            elif kind == "fail":
                raise IIBError(arg)
            elif kind == "crash":
                os._exit(3)
        # "finish" is written before the final state is stored, "complete" after: the store may
        # release the next serial item (and a worker start it) before complete() returns here
        record(path, "finish", ctx)
        ctx.complete("The operator bundle(s) were successfully added to the index image")
        record(path, "complete", ctx)

    return handle


def main() -> None:
    settings = load_settings()
    configure_logging(settings, "fake-worker")
    WorkerRuntime(settings, "index", make_handler(Path(sys.argv[1]))).serve_forever()


if __name__ == "__main__":
    main()
