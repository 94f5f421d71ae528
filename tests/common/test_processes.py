"""Children started by ManagedProcess never outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

STARTER = """
import sys, time
from pathlib import Path
from services.common.processes import ManagedProcess
child = ManagedProcess("sleeper", ["sleep", "1000"], Path(sys.argv[1]))
child.start()
print(child.pid, flush=True)
time.sleep(1000)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return state != "Z"


def test_a_child_dies_when_its_starter_is_killed(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path / "sleeper.log")],
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    assert starter.stdout is not None
    child = int(starter.stdout.readline())
    assert _alive(child)
    starter.send_signal(signal.SIGKILL)  # no clean-up code runs
    starter.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
