"""A stop signal that lands while the process is writing a log line.

CI stop 33 failed on it: the request store's log held "--- Logging error ---" and "RuntimeError:
reentrant call inside <_io.BufferedWriter name='<stderr>'>". Python runs a signal handler in the
main thread between two bytecodes, so a handler that logs can run inside a write to stderr that
the main thread (or the first handler) had begun. The request store's children get two SIGTERMs
at a stop (the process group's and the parent's ``terminate()``).

The signal is sent from inside the log stream's ``write`` here, so the handler runs at the
moment of the race every time (not once in hundreds of stops); the stream records a write that
starts before the one in progress ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent(
    """
    import logging, os, signal, sys

    from services.common.grpc_server import GrpcServer

    class Stream:
        depth = 0
        def write(self, text):
            self.depth += 1
            try:
                if self.depth > 1:
                    sys.__stdout__.write("nested write\\n")
                sys.__stderr__.write(text)
                if "gRPC server listening" in text:
                    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before write returns
                    os.kill(os.getpid(), signal.SIGTERM)  # and again: the parent's terminate()
            finally:
                self.depth -= 1
        def flush(self):
            pass

    handler = logging.StreamHandler(Stream())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    GrpcServer("127.0.0.1:0", [], 2, tls=None).serve_forever(on_stop=lambda: print("stopped"))
    """
)


def test_a_stop_signal_inside_a_log_write_stops_cleanly() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["stopped"], done.stdout
    assert "stopping on signal" in done.stderr
    assert "Logging error" not in done.stderr
