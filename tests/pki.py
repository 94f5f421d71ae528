"""The tests' internal PKI: one CA per test run and a certificate per service identity, as
``iib dev`` makes them (``services.common.tls.ServicePKI``)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from services.common.grpc_auth import InternalTLS
from services.common.tls import ServicePKI

_pki: ServicePKI | None = None


def pki() -> ServicePKI:
    """The run's PKI (created on first use, removed when the test process exits)."""
    global _pki
    if _pki is None:
        root = Path(tempfile.mkdtemp(prefix="iib-test-pki-"))
        atexit.register(shutil.rmtree, root, True)
        _pki = ServicePKI(root)
    return _pki


def tls_env(identity: str) -> dict[str, str]:
    """``IIB_INTERNAL_TLS_*`` for a process running as ``identity``."""
    return pki().env(identity)


def tls(identity: str) -> InternalTLS:
    """The TLS material of ``identity`` for an in-test gRPC client or server."""
    cert, key = pki().files(identity)
    return InternalTLS(pki().ca_cert.read_bytes(), cert.read_bytes(), key.read_bytes())
