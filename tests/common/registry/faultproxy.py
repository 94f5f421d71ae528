"""A small HTTP reverse proxy in front of a plain-HTTP registry that injects faults and counts.

Faults are queued with ``add``: a request matching ``method`` and the ``path`` regex gets, for
its next ``times`` occurrences, either an error status (optionally with ``Retry-After``), the
real response cut off after ``after_bytes`` body bytes (connection dropped mid-blob), or the
real response with one body byte flipped (corruption). Everything else is forwarded unchanged
(``Host`` included, so the registry's ``Location`` URLs point back at the proxy).

``bytes_in`` counts request-body bytes that passed through (what a client uploaded); ``log``
records ``(method, path, status, range header)`` of every request.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
_CHUNK = 1024 * 1024


@dataclass
class Fault:
    """One injected fault (see the module docstring)."""

    method: str
    path: str
    kind: str  # "status" | "drop" | "corrupt"
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    after_bytes: int = 0
    hits: int = 0
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.hits < self.times
            and method == self.method
            and self.pattern.search(path) is not None
        )


class FaultProxy:
    """Reverse proxy on 127.0.0.1:<port> to ``upstream`` (``host:port``, plain HTTP)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int, str | None]] = []
        self.bytes_in = 0
        self.bytes_out = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def registry(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, method: str, path: str, kind: str = "status", **options: object) -> Fault:
        fault = Fault(method, path, kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self.faults.append(fault)
        return fault

    def requests(self, method: str, path_regex: str) -> list[tuple[str, str, int, str | None]]:
        pattern = re.compile(path_regex)
        with self._lock:
            return [e for e in self.log if e[0] == method and pattern.search(e[1])]

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_in = self.bytes_out = 0
            self.log.clear()

    def start(self) -> FaultProxy:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int, range_header: str | None) -> None:
        with self._lock:
            self.log.append((method, path, status, range_header))

    def _count(self, incoming: int = 0, outgoing: int = 0) -> None:
        with self._lock:
            self.bytes_in += incoming
            self.bytes_out += outgoing

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._proxy()

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    body = b"".join(parts)
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    chunks, remaining = [], length
                    while remaining:
                        chunk = self.rfile.read(min(_CHUNK, remaining))
                        if not chunk:
                            break
                        chunks.append(chunk)
                        remaining -= len(chunk)
                    body = b"".join(chunks)
                proxy._count(incoming=len(body))
                return body

            def _proxy(self) -> None:
                method, path = self.command, self.path
                body = self._read_body() if method in ("POST", "PUT", "PATCH") else b""
                fault = proxy._take_fault(method, path)
                if fault is not None and fault.kind == "status":
                    proxy._record(method, path, fault.status, self.headers.get("Range"))
                    self.send_response(fault.status)
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", fault.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    # Repeated headers (skopeo sends one Accept per media type) must all pass.
                    upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                    for key, value in self.headers.items():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                            upstream.putheader(key, value)
                    if body or method in ("POST", "PUT", "PATCH"):
                        upstream.putheader("Content-Length", str(len(body)))
                    upstream.endheaders(body or None)
                    response = upstream.getresponse()
                    proxy._record(method, path, response.status, self.headers.get("Range"))
                    self.send_response_only(response.status, response.reason)
                    length_header = response.getheader("Content-Length")
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    if method == "HEAD":
                        self.send_header("Content-Length", length_header or "0")
                        self.end_headers()
                        return
                    if length_header is None:
                        data = response.read()
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        proxy._count(outgoing=len(data))
                        return
                    self.send_header("Content-Length", length_header)
                    self.end_headers()
                    self._stream(response, int(length_header), fault)
                finally:
                    upstream.close()

            def _stream(
                self, response: http.client.HTTPResponse, length: int, fault: Fault | None
            ) -> None:
                sent = 0
                while sent < length:
                    chunk = response.read(min(_CHUNK, length - sent))
                    if not chunk:
                        break
                    if fault is not None and fault.kind == "drop":
                        room = fault.after_bytes - sent
                        if room <= len(chunk):
                            self.wfile.write(chunk[: max(room, 0)])
                            self.wfile.flush()
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    if fault is not None and fault.kind == "corrupt" and sent == 0:
                        chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    proxy._count(outgoing=len(chunk))

        return Handler
