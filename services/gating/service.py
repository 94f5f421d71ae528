"""``iib.v1.Gating``: Greenwave decisions for a set of bundles under a queue's configuration."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from services.common.config import Settings
from services.common.errors import ConfigError
from services.common.pb.iib.v1 import gating_pb2, gating_pb2_grpc
from services.gating.greenwave import Greenwave, koji_nvr, unsatisfied_reason

__all__ = ["GatingServicer"]

log = logging.getLogger(__name__)


class GatingServicer(gating_pb2_grpc.GatingServicer):
    """Decides with the queue's ``IIB_GREENWAVE_CONFIG`` entry; a queue without one is not
    gated."""

    def __init__(self, settings: Settings, greenwave: Greenwave | None = None) -> None:
        self.settings = settings
        if greenwave is None and settings.greenwave_url:
            greenwave = Greenwave(
                settings.greenwave_url,
                attempts=settings.greenwave_attempts,
                retry_delay=settings.greenwave_retry_delay,
                timeout=settings.greenwave_timeout,
            )
        self.greenwave = greenwave

    def DecideBundles(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self.settings.greenwave_config.get(request.queue or None)
        if not query:
            return gating_pb2.DecideBundlesResponse(gated=False, satisfied=True)
        if self.greenwave is None:
            raise ConfigError("IIB is not configured to handle gating of bundles")
        bundles = [bundle.pull_spec for bundle in request.bundles]
        log.info("Gating on bundles: %s", ", ".join(bundles), extra={"request": request.request_id})
        decisions: list[gating_pb2.BundleDecision] = []
        unsatisfied: list[str] = []
        testcases: list[str] = []
        for bundle in request.bundles:
            subject = koji_nvr(bundle.pull_spec, bundle.labels)
            decision = self.greenwave.decide(bundle.pull_spec, query, subject)
            decisions.append(
                gating_pb2.BundleDecision(
                    pull_spec=bundle.pull_spec,
                    subject_identifier=subject,
                    policies_satisfied=decision.satisfied,
                    unsatisfied_testcases=decision.unsatisfied_testcases,
                    summary=decision.summary,
                )
            )
            if not decision.satisfied:
                unsatisfied.append(bundle.pull_spec)
                testcases = decision.unsatisfied_testcases
        reason = unsatisfied_reason(unsatisfied, testcases, query) if unsatisfied else ""
        return gating_pb2.DecideBundlesResponse(
            gated=True, satisfied=not unsatisfied, decisions=decisions, reason=reason
        )
