"""Start, watch and stop the child processes of the system (servers and our own services).

Used by ``iib dev`` and by the test fixtures alike, so that both run the real servers the same
way: each child gets its own session (Envoy dies with SIGTERM otherwise, see
``docs/operations.md``), its output goes to a log file, readiness is polled, and it is stopped by
PID (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from services.common.errors import ExternalServiceError

__all__ = [
    "ManagedProcess",
    "StopSignals",
    "free_port",
    "http_ok",
    "stop_children",
    "tcp_open",
    "wait_until",
]


@functools.cache
def _ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections (Linux default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_given: set[int] = set()
_given_lock = threading.Lock()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    Chosen at random below the kernel's ephemeral range: a port the kernel hands out (bind to
    port 0) can be taken by any outgoing connection before the server that was given it binds
    it, which once made a test's request store fail to start with "Address already in use".
    A process never gets the same port twice from here (two servers of one system must not be
    given one port)."""
    low = _ephemeral_low()
    first = max(1024, low - 12000)
    if low - 1 > first:
        for _ in range(64):
            port = random.randint(first, low - 1)
            with _given_lock:
                # a port given before may not be bound yet by the server it was given to
                if port in _given:
                    continue
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    try:
                        sock.bind(("127.0.0.1", port))
                    except OSError:
                        continue
                _given.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tcp_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def http_ok(url: str, expect: Sequence[int] = (200,)) -> bool:
    """True when ``GET url`` answers with one of the ``expect`` statuses (TLS not verified)."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=1, context=ctx) as resp:
            return int(resp.status) in expect
    except urllib.error.HTTPError as exc:
        return exc.code in expect
    except (OSError, ValueError):
        return False


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true or raise ``ExternalServiceError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise ExternalServiceError(f"{what} did not become ready within {timeout:g} s")


class StopSignals:
    """SIGTERM and SIGINT, recorded for a main loop that looks at them (``wait``, ``is_set``:
    a ``threading.Event``'s interface).

    The kernel may deliver the signal to any of the process's threads, and Python runs the
    handler only once the main thread runs bytecode: an untimed ``Event.wait()`` never
    returned then, and a request store process kept serving after its stop
    (tests/common/test_stop_signal.py). So ``wait`` sleeps in ``select`` on a pipe that
    Python's C-level handler writes to from whichever thread got the signal
    (``signal.set_wakeup_fd``), in steps of at most ``STEP`` seconds. The handler only appends
    to a list: it runs between two bytecodes of the main thread, possibly while that thread
    holds a lock (an Event's, inside its own ``wait``), so a handler that took a lock could wait
    for itself; and it must not log (a second signal can land inside the first one's write to
    stderr: "reentrant call inside BufferedWriter", CI stop 33). Create it in the main
    thread."""

    #: seconds between two looks at the signals, at most
    STEP = 0.5

    def __init__(self) -> None:
        self.received: list[int] = []
        self._wake, wake_write = os.pipe()
        for fd in (self._wake, wake_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._record)
        signal.signal(signal.SIGINT, self._record)

    def _record(self, signum: int, _frame: Any) -> None:
        self.received.append(signum)

    def is_set(self) -> bool:
        return bool(self.received)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a stop signal has come or ``timeout`` seconds have passed (None: no
        limit); whether one has come."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.received:
            left = self.STEP if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self._wake], [], [], min(self.STEP, left))
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake, 512)  # empty the pipe; the handler keeps the numbers
        return True


def stop_children(children: Sequence[BaseProcess], grace: float) -> list[str]:
    """SIGTERM ``children`` (multiprocessing processes; ones never started are left out), give
    them ``grace`` seconds in all to exit, then SIGKILL the ones still running: a child whose
    stop hangs must not outlive its parent and go on serving. Returns the names of the children
    killed."""
    children = [child for child in children if child.pid is not None]
    for child in children:
        if child.is_alive():
            child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    killed = [child for child in children if child.is_alive()]
    for child in killed:
        child.kill()
        child.join(5)
    return [child.name for child in killed]


class ManagedProcess:
    """One child process: started in its own session, logged to a file, stopped by PID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        die_with_parent: bool = True,
    ) -> None:
        """``die_with_parent``: the child gets SIGTERM when the process (thread) that started it
        dies, even by SIGKILL (util-linux ``setpriv --pdeathsig``), so nothing is orphaned."""
        self.name = name
        self.argv = list(argv)
        self.die_with_parent = die_with_parent
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.user = user
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, ready: Callable[[], bool] | None = None, timeout: float = 30.0) -> None:
        """Start the process; if ``ready`` is given, wait until it returns true."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            argv = self.argv
            setpriv = shutil.which("setpriv") if self.die_with_parent else None
            if setpriv:
                argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                start_new_session=True,
            )
        finally:
            log.close()
        try:
            if setpriv:
                wait_until(lambda: self._past(setpriv), timeout, f"{self.name} (setpriv's exec)")
            if ready is not None:
                wait_until(lambda: self._alive_or_raise() and ready(), timeout, self.name)
        except Exception:
            self.stop()
            raise

    def _past(self, setpriv: str) -> bool:
        """Whether setpriv has replaced itself with the command (or the child has exited). It
        sets the death signal just before, so only from then on does the child die with its
        starter: a starter killed in the window between (a few ms, more on a loaded host)
        would leave it orphaned."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return True
        try:
            return os.readlink(f"/proc/{self.proc.pid}/exe") != os.path.realpath(setpriv)
        except OSError:
            return True  # exited (a zombie has no exe link): nothing left to wait for

    def _alive_or_raise(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise ExternalServiceError(
                f"{self.name} exited with status {self.proc.returncode} during start-up; "
                f"see {self.log_path}: {self.log_tail()}"
            )
        return True

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process (and its session), then SIGKILL after ``grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL at once (crash simulation in tests)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
