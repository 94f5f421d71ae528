"""Who may call what on the REST API (IIB's login_required and worker rules). No I/O.

The gateway's ext_authz service applies this before Envoy forwards a request, and the request
store applies it again on the identity it receives (``x-iib-user`` metadata, which Envoy strips
from client requests and only the auth service sets), so both answer the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from services.common.errors import ForbiddenError, IIBError, UnauthorizedError

__all__ = ["IDENTITY_METADATA", "Decision", "authorize"]

# The gRPC metadata key carrying the authenticated user from Envoy to the services.
IDENTITY_METADATA = "x-iib-user"
WORKER_ONLY = "This API endpoint is restricted to IIB workers"


@dataclass(frozen=True)
class Decision:
    """The outcome: allowed with ``user`` (None = anonymous), or ``error`` to answer."""

    user: str | None
    error: IIBError | None = None

    @property
    def allowed(self) -> bool:
        return self.error is None


def authorize(
    method: str,
    user: str | None,
    *,
    login_disabled: bool,
    worker_usernames: Collection[str],
) -> Decision:
    """Apply IIB's rules: reads are open; POST and PATCH need an identity unless LOGIN_DISABLED;
    PATCH needs a worker identity when there is one (anonymous PATCH is allowed only when login
    is disabled, as in IIB)."""
    method = method.upper()
    if method not in ("POST", "PATCH", "PUT", "DELETE"):
        return Decision(user)
    if user is None and not login_disabled:
        return Decision(None, UnauthorizedError())
    if method == "PATCH" and user is not None and user not in worker_usernames:
        return Decision(user, ForbiddenError(WORKER_ONLY))
    return Decision(user)
