"""``iib.v1.Docs``: the API documentation page (Redoc) and the OpenAPI document it renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from services.common.grpc_edge import http_body
from services.common.pb.iib.v1 import builds_pb2_grpc

__all__ = ["STATIC_DIR", "DocsServicer"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


class DocsServicer(builds_pb2_grpc.DocsServicer):
    """Serves ``static/docs.html`` at ``/``, ``static/api_v1.yaml`` and the vendored Redoc
    script (``static/redoc/``, its version and license in ``static/redoc/README.md``)."""

    def __init__(self) -> None:
        self._page = (STATIC_DIR / "docs.html").read_bytes()
        self._spec = (STATIC_DIR / "api_v1.yaml").read_bytes()
        self._redoc = (STATIC_DIR / "redoc" / "redoc.standalone.js").read_bytes()

    def GetDocsPage(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self._page, "text/html; charset=utf-8")

    def GetOpenApiDocument(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self._spec, "application/yaml")

    def GetRedocScript(self, request: Any, context: grpc.ServicerContext) -> Any:
        return http_body(self._redoc, "application/javascript; charset=utf-8")
