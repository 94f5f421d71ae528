"""A small stand-in for Greenwave's ``POST /api/v1.0/decision`` (Greenwave cannot run here).

The answers follow Greenwave's API documentation and IIB's tests
(``tests/test_workers/test_greenwave.py``): ``{"policies_satisfied": bool, "summary": str,
"unsatisfied_requirements": [{"testcase": ..., "type": ...}]}``, and ``{"message": ...}`` with a
4xx/5xx status for errors. Each subject (koji NVR) gets the answer set for it; every request is
recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.common.processes import free_port

PASSED = {"policies_satisfied": True, "summary": "All required tests passed"}


def failed(*testcases: str) -> dict[str, Any]:
    """A decision with unsatisfied requirements (Greenwave's shape)."""
    return {
        "policies_satisfied": False,
        "summary": f"{len(testcases)} of {len(testcases)} required tests not found",
        "unsatisfied_requirements": [
            {"testcase": t, "type": "test-result-missing", "subject_type": "koji_build"}
            for t in testcases
        ],
    }


class FakeGreenwave:
    """Answers by subject; ``errors`` is a list of (status, body) served first, one per call."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.errors: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"path": self.path, "body": body})
                if fake.errors:
                    status, answer = fake.errors.pop(0)
                elif self.path != "/api/v1.0/decision":
                    status, answer = 404, {"message": "not found"}
                else:
                    subject = body.get("subject_identifier", "")
                    status, answer = 200, fake.answers.get(subject, PASSED)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The API root IIB_GREENWAVE_URL names (``/decision`` is appended)."""
        return f"http://127.0.0.1:{self.port}/api/v1.0/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
