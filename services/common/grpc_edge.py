"""The edge between our errors and gRPC: one server interceptor, plus HttpBody helpers.

Every gRPC server of the project installs :class:`ErrorInterceptor`. It translates an
``IIBError`` raised anywhere below into the gRPC status of the error's ``grpc_code`` plus the
``x-http-status`` metadata that Envoy's REST facade turns into the HTTP status (see
``docs/rest-facade.md``). Any other exception is logged with its traceback and answered with
IIB's generic 500 text, so internals never leak into a response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import INTERNAL_ERROR_TEXT, IIBError

__all__ = [
    "ERROR_DOMAIN",
    "ErrorInterceptor",
    "error_reason",
    "http_body",
    "mark_created",
    "metadata_value",
]

log = logging.getLogger(__name__)
HTTP_STATUS_KEY = "x-http-status"
#: The ``google.rpc.ErrorInfo`` domain of this project's error reasons.
ERROR_DOMAIN = "iib.v1"


def http_body(data: bytes, content_type: str = "application/json") -> httpbody_pb2.HttpBody:
    """An HttpBody answer (exact bytes and content type)."""
    return httpbody_pb2.HttpBody(content_type=content_type, data=data)


def mark_created(context: grpc.ServicerContext) -> None:
    """Make Envoy answer 201 instead of 200 (sent as initial metadata)."""
    context.send_initial_metadata(((HTTP_STATUS_KEY, "201"),))


def metadata_value(context: grpc.ServicerContext, key: str) -> str | None:
    """The first value of an invocation metadata key, or None."""
    for item in context.invocation_metadata() or ():
        if item.key == key:
            value = item.value
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def error_reason(error: grpc.RpcError) -> str | None:
    """The ``google.rpc.ErrorInfo`` reason of a failed call (None when it carries none)."""
    if not isinstance(error, grpc.Call):
        return None
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return str(info.reason)
    return None


def _abort(
    context: grpc.ServicerContext,
    code_name: str,
    http_status: int,
    message: str,
    reason: str | None = None,
) -> None:
    # Trailing metadata reaches Envoy's response headers only on a trailers-only answer, which
    # is what an abort before any initial metadata gives.
    trailers: tuple[tuple[str, str | bytes], ...] = ((HTTP_STATUS_KEY, str(http_status)),)
    if reason is not None:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN))
        status = status_pb2.Status(
            code=getattr(code_pb2, code_name), message=message, details=[detail]
        )
        trailers += tuple(rpc_status.to_status(status).trailing_metadata)
    context.set_trailing_metadata(trailers)
    context.abort(getattr(grpc.StatusCode, code_name), message)


#: Services Envoy transcodes to REST: their errors carry no binary status details (the
#: transcoder would try to render them into the body, which keeps IIB's ``{"error": ...}``).
TRANSCODED_SERVICES = ("iib.v1.Builds", "iib.v1.Docs")


@contextmanager
def _translated(context: grpc.ServicerContext, method: str) -> Iterator[None]:
    """Turn what the body raises into the call's gRPC status: project errors with their code,
    HTTP status and (outside the transcoded services) an ErrorInfo reason, anything else as
    INTERNAL; a call the client already ended is logged and ends quietly."""
    rich = method.strip("/").partition("/")[0] not in TRANSCODED_SERVICES
    try:
        yield
    except grpc.RpcError:
        if not context.is_active():  # the client went away (cancelled, deadline)
            log.info("call ended by the client", extra={"method": method})
            return
        raise
    except IIBError as exc:
        _abort(context, exc.grpc_code, exc.http_status, exc.message, exc.reason if rich else None)
    except Exception as exc:
        # grpcio's context.abort() ends the RPC by raising a bare Exception(): let it through.
        if type(exc) is Exception and not exc.args:
            raise
        log.exception("unhandled error in %s", method)
        _abort(context, "INTERNAL", 500, INTERNAL_ERROR_TEXT)


def _wrap(behavior: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Callable[..., Any]:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        with _translated(context, method):
            return behavior(request, context)
        return None  # the client ended the call

    return handler


def _wrap_stream(
    behavior: Callable[[Any, grpc.ServicerContext], Any], method: str
) -> Callable[..., Any]:
    """:func:`_wrap` for a server-streaming method (a generator)."""

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        with _translated(context, method):
            yield from behavior(request, context)

    return handler


class ErrorInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Translate project errors into gRPC statuses (unary-unary and server-streaming methods)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is not None and handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, handler_call_details.method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _wrap(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
