"""A Git server over HTTP for the GitLab push tests: ``git http-backend`` (Debian package
``git``) behind a small HTTP layer that requires basic auth, as GitLab does for a project
access token (``token_name:token``).

Run as ``python -m services.tooling.servers.git_http --root DIR --port N --user NAME
--password-file FILE``; ``start_git_http`` starts it as a ``ManagedProcess`` and makes bare
repositories with a first commit. Every request and its answer status go to the log.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from services.common.processes import ManagedProcess, free_port, tcp_open

__all__ = ["GitHttpServer", "start_git_http"]

_BACKEND = "/usr/lib/git-core/git-http-backend"
_MAX_BODY = 256 * 1024 * 1024


def _read_chunked(rfile: object) -> bytes:
    data = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)  # type: ignore[attr-defined]
        if size == 0:
            rfile.readline()  # type: ignore[attr-defined]
            return bytes(data)
        data += rfile.read(size)  # type: ignore[attr-defined]
        rfile.readline()  # type: ignore[attr-defined]
        if len(data) > _MAX_BODY:
            raise ValueError("body too large")


class _Handler(BaseHTTPRequestHandler):
    root: Path
    user: str
    password: str

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header.startswith("Basic ") and hmac.compare_digest(header[6:], expected)

    def _serve(self) -> None:
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(self.rfile)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, _MAX_BODY)) if length else b""
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": self.user,  # lets git http-backend accept pushes
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(
            [_BACKEND], input=body, env=env, capture_output=True, timeout=120, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True, type=Path)
    args = parser.parse_args(argv)
    handler = type(
        "Handler",
        (_Handler,),
        {
            "root": args.root,
            "user": args.user,
            "password": args.password_file.read_text().strip(),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.serve_forever()
    return 0


@dataclass
class GitHttpServer:
    """A running server: ``url(name)`` is a repository's clone URL."""

    port: int
    root: Path
    process: ManagedProcess

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def bare(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def create_repository(self, name: str, branch: str, files: dict[str, str]) -> None:
        """A bare repository whose ``branch`` has one commit with ``files`` (path → text)."""
        bare = self.bare(name)
        _git("init", "--quiet", "--bare", str(bare))
        with tempfile.TemporaryDirectory() as work:
            _git("init", "--quiet", "-b", branch, work)
            for path, text in files.items():
                target = Path(work) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            _git("-C", work, "add", ".")
            _git("-C", work, "commit", "--quiet", "-m", "initial")
            _git("-C", work, "push", "--quiet", str(bare), f"{branch}:refs/heads/{branch}")

    def stop(self) -> None:
        self.process.stop()


def _git(*args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return subprocess.run(
        ["git", *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def start_git_http(base: Path, user: str, password: str) -> GitHttpServer:
    """Serve the bare repositories under ``base/repos`` on a free loopback port, to ``user``
    with ``password`` only."""
    root = base / "repos"
    root.mkdir(parents=True, exist_ok=True)
    secret = base / "password"
    secret.write_text(password)
    secret.chmod(0o600)
    port = free_port()
    process = ManagedProcess(
        "git-http",
        [
            sys.executable,
            "-m",
            "services.tooling.servers.git_http",
            "--root",
            str(root),
            "--port",
            str(port),
            "--user",
            user,
            "--password-file",
            str(secret),
        ],
        base / "git-http.log",
        cwd=Path(__file__).resolve().parents[3],
    )
    process.start(ready=lambda: tcp_open("127.0.0.1", port), timeout=30)
    return GitHttpServer(port, root, process)


if __name__ == "__main__":
    raise SystemExit(main())
