"""A scripted HTTP server playing a hostile registry (docker-registry will not serve hostile
answers): each route answers with a status, headers and a body that may be endless, and every
request is recorded with its Authorization header."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, dict[str, str], Iterable[bytes]]
Route = Callable[["Seen"], Answer]


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


def endless(chunk: bytes = b"x" * 65536, total: int | None = None) -> Iterator[bytes]:
    """``total`` bytes (None: until the client hangs up) of ``chunk``."""
    sent = 0
    while total is None or sent < total:
        yield chunk
        sent += len(chunk)


@dataclass
class HostileRegistry:
    routes: list[tuple[str, str, Route]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    #: bytes of body actually written to clients
    sent: int = 0

    def __post_init__(self) -> None:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                request = Seen(self.command, self.path, self.headers.get("Authorization"))
                registry.seen.append(request)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                for method, pattern, route in registry.routes:
                    if method == self.command and re.search(pattern, self.path):
                        status, headers, body = route(request)
                        break
                else:
                    status, headers, body = 404, {}, [b'{"errors":[]}']
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if self.command == "HEAD":
                    return
                chunked = "Content-Length" not in headers
                try:
                    for part in body:
                        if chunked:
                            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        else:
                            self.wfile.write(part)
                        registry.sent += len(part)
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def route(self, method: str, pattern: str, answer: Route) -> None:
        self.routes.append((method, pattern, answer))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
