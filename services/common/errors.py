"""The one error hierarchy of the project.

Every error knows its HTTP status and its gRPC status code name. Errors are raised in the
domain (validation, catalog engine, registry client, workers) and translated exactly once at
the edge: the gRPC server interceptor (``services.common.grpc_edge``) turns them into a gRPC
status plus the ``x-http-status`` metadata Envoy uses, and the workers turn them into a
request's ``state_reason``.

::

    IIBError                      500  INTERNAL          (IIB's IIBError: message shown to users)
    ├── ValidationError           400  INVALID_ARGUMENT
    │   └── FinalStateError       400  INVALID_ARGUMENT  ("A complete request cannot change states")
    ├── UnauthorizedError         401  UNAUTHENTICATED
    ├── ForbiddenError            403  PERMISSION_DENIED
    ├── NotFoundError             404  NOT_FOUND
    ├── ConflictError             409  ABORTED
    │   ├── LeaseHeldError                               (another worker builds the request)
    │   └── LeaseLostError                               (a stale build lease: fencing)
    ├── GoneError                 410  FAILED_PRECONDITION
    ├── UnsupportedMediaTypeError 415  INVALID_ARGUMENT
    ├── ConfigError               500  INTERNAL          (a bad setting; raised at start-up)
    ├── CatalogError              500  INTERNAL          (a catalog that cannot be loaded/changed)
    │   └── CatalogValidationError                       (opm-validate style problem tree)
    ├── RegistryError             500  INTERNAL          (a registry refused or kept failing)
    └── ExternalServiceError      503  UNAVAILABLE       (a dependency is unreachable)

Errors that gRPC callers must tell apart carry a ``reason``: the interceptor sends it as a
``google.rpc.ErrorInfo`` (domain ``iib.v1``) in the status details, and clients match the reason
(:func:`services.common.grpc_edge.error_reason`), never the message text.

The module has no I/O and imports nothing outside the standard library, so the sans-IO cores
can raise these errors freely.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "CatalogValidationError",
    "ConfigError",
    "ConflictError",
    "ExternalServiceError",
    "FinalStateError",
    "ForbiddenError",
    "GoneError",
    "LeaseHeldError",
    "LeaseLostError",
    "IIBError",
    "NotFoundError",
    "RegistryError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "ValidationError",
]

# Werkzeug's texts, which IIB returns verbatim (contract §0 and §7).
UNAUTHORIZED_TEXT = (
    "The server could not verify that you are authorized to access the URL requested. You "
    "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
    "understand how to supply the credentials required."
)
NOT_FOUND_TEXT = "The requested resource was not found"
UNSUPPORTED_MEDIA_TYPE_TEXT = (
    "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
)
BAD_REQUEST_TEXT = "The browser (or proxy) sent a request that this server could not understand."
INTERNAL_ERROR_TEXT = (
    "The server encountered an internal error and was unable to complete your request. Either "
    "the server is overloaded or there is an error in the application."
)


class IIBError(Exception):
    """Base of every error the project raises on purpose.

    ``str(error)`` is the user-facing message (an API error body or a request's
    ``state_reason``); it must never contain a secret.
    """

    http_status: int = 500
    grpc_code: str = "INTERNAL"
    #: The ``google.rpc.ErrorInfo`` reason gRPC callers match on (None: no ErrorInfo).
    reason: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(IIBError):
    """Bad input from a client (HTTP 400)."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class FinalStateError(ValidationError):
    """A request in a final state was asked to change state (IIB's exact message)."""

    reason = "REQUEST_FINAL"

    def __init__(self, state_name: str) -> None:
        super().__init__(f"A {state_name} request cannot change states")


class UnauthorizedError(IIBError):
    """No identity where one is required (HTTP 401, Werkzeug's text by default)."""

    http_status = 401
    grpc_code = "UNAUTHENTICATED"

    def __init__(self, message: str = UNAUTHORIZED_TEXT) -> None:
        super().__init__(message)


class ForbiddenError(IIBError):
    """An identity that may not do this (HTTP 403)."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"


class NotFoundError(IIBError):
    """Unknown resource (HTTP 404, always IIB's fixed text on the REST API)."""

    http_status = 404
    grpc_code = "NOT_FOUND"
    reason = "NOT_FOUND"

    def __init__(self, message: str = NOT_FOUND_TEXT) -> None:
        super().__init__(message)


class ConflictError(IIBError):
    """A conflicting submission, e.g. an idempotency key reused for other content (HTTP 409)."""

    http_status = 409
    grpc_code = "ABORTED"


class LeaseHeldError(ConflictError):
    """Another worker holds the build lease of the request (it is being built right now)."""

    reason = "LEASE_HELD"

    def __init__(self, message: str, remaining: float) -> None:
        super().__init__(message)
        self.remaining = remaining


class LeaseLostError(ConflictError):
    """The caller's build lease is no longer the request's current one (fencing): another
    worker claimed the request after the caller's lease expired."""

    reason = "LEASE_LOST"


class GoneError(IIBError):
    """Data that existed but has expired (HTTP 410)."""

    http_status = 410
    grpc_code = "FAILED_PRECONDITION"


class UnsupportedMediaTypeError(IIBError):
    """A body that is not declared as JSON (HTTP 415)."""

    http_status = 415
    grpc_code = "INVALID_ARGUMENT"

    def __init__(self, message: str = UNSUPPORTED_MEDIA_TYPE_TEXT) -> None:
        super().__init__(message)


class ConfigError(IIBError):
    """A setting that is missing or malformed; the message names the setting."""


class CatalogError(IIBError):
    """A catalog or bundle that cannot be loaded, rendered or changed.

    The message names the file and field (or bundle) at fault.
    """


class CatalogValidationError(CatalogError):
    """A catalog that fails ``opm validate``-style checks.

    ``problems`` holds every problem found (opm collects them all before failing); the message
    is the rendered tree.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class RegistryError(IIBError):
    """A container registry refused an operation or kept failing; the message names the image."""


class ExternalServiceError(IIBError):
    """A service the system depends on is unreachable (HTTP 503)."""

    http_status = 503
    grpc_code = "UNAVAILABLE"
