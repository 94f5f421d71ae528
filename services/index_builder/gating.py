"""The index builder's side of gating: ask the Gating service about an add request's bundles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import grpc

from services.common.errors import IIBError
from services.common.grpc_auth import InternalTLS
from services.common.grpc_server import channel
from services.common.pb.iib.v1 import gating_pb2, gating_pb2_grpc

__all__ = ["GatingClient"]


class GatingClient:
    """``iib.v1.Gating`` over gRPC; a refusal or an unreachable service fails the request."""

    def __init__(self, address: str, tls: InternalTLS | None, timeout: float = 300.0) -> None:
        self._stub = gating_pb2_grpc.GatingStub(channel(address, tls))  # type: ignore[no-untyped-call]
        self._timeout = timeout

    def gate(
        self,
        request_id: int,
        queue: str,
        bundles: Sequence[str],
        labels_of: Callable[[str], Mapping[str, str]],
    ) -> None:
        """Raise IIBError (with Greenwave's reasons) unless every bundle may enter the index."""
        message = gating_pb2.DecideBundlesRequest(
            queue=queue,
            request_id=request_id,
            bundles=[gating_pb2.GatedBundle(pull_spec=b, labels=labels_of(b)) for b in bundles],
        )
        try:
            # wait_for_ready: a gating service that is restarting is waited for, up to the timeout
            answer = self._stub.DecideBundles(message, timeout=self._timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise IIBError(
                    f"The gating service did not answer within {self._timeout:.0f} seconds"
                ) from None
            raise IIBError(exc.details() or "The gating service failed") from None
        if not answer.satisfied:
            raise IIBError(answer.reason)
