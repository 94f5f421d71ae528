"""Greenwave gating of bundles (IIB's ``gate_bundles``, worker semantics §3).

For each resolved bundle, its koji NVR (labels ``com.redhat.component``-``version``-``release``)
is sent to ``POST <IIB_GREENWAVE_URL>/decision`` with the queue's query
(``IIB_GREENWAVE_CONFIG[queue]``); every bundle whose policies are not satisfied is collected and
the request fails with IIB's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests

from services.common.errors import IIBError

__all__ = ["gate_bundles"]


def gate_bundles(
    bundles: Sequence[str],
    config: Mapping[str, str],
    greenwave_url: str | None,
    labels_of: Callable[[str], Mapping[str, str]],
    *,
    timeout: float = 30.0,
    session: requests.Session | None = None,
) -> None:
    """Raise IIBError unless Greenwave's policies are satisfied for every bundle."""
    if not greenwave_url:
        raise IIBError("IIB is not configured to handle gating of bundles")
    http = session or requests.Session()
    http.trust_env = False
    url = f"{greenwave_url.rstrip('/')}/decision"
    unsatisfied: list[str] = []
    testcases: list[str] = []
    for bundle in bundles:
        labels = labels_of(bundle)
        try:
            nvr = f"{labels['com.redhat.component']}-{labels['version']}-{labels['release']}"
        except KeyError as exc:
            raise IIBError(
                f"The bundle {bundle} cannot be gated: it has no {exc.args[0]} label (needed for "
                "its koji NVR)"
            ) from None
        payload = {**config, "subject_identifier": nvr}
        try:
            response = http.post(url, json=payload, timeout=timeout)
        except requests.RequestException as exc:
            raise IIBError(f"Gating check failed for {bundle}: {exc}") from None
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        if not response.ok:
            message = body.get("message") if isinstance(body, dict) else None
            raise IIBError(f"Gating check failed for {bundle}: {message or response.text}")
        if not isinstance(body, dict) or "policies_satisfied" not in body:
            raise IIBError(f'Key "policies_satisfied" missing in Greenwave response for {bundle}')
        if not body["policies_satisfied"]:
            unsatisfied.append(bundle)
            testcases = [
                str(item.get("testcase"))
                for item in body.get("unsatisfied_requirements", [])
                if isinstance(item, dict)
            ]
    if unsatisfied:
        raise IIBError(
            f"Unsatisfied Greenwave policy for {', '.join(unsatisfied)} with decision_context: "
            f"{config.get('decision_context')}, product_version: {config.get('product_version')}, "
            f"subject_type: {config.get('subject_type')} and test cases: {', '.join(testcases)}"
        )
