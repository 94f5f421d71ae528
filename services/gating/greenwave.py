"""Greenwave's decision API and IIB's gating rules (``gate_bundles``, worker semantics §3).

The rules are pure functions (:func:`koji_nvr`, :func:`unsatisfied_reason`); :class:`Greenwave`
is the HTTP seam: ``POST <url>/decision`` with the queue's query plus the bundle's koji NVR as
``subject_identifier``, retried when Greenwave is unreachable or answers 5xx.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from services.common.errors import ExternalServiceError, ValidationError

__all__ = ["Decision", "Greenwave", "koji_nvr", "unsatisfied_reason"]

log = logging.getLogger(__name__)
#: The labels a bundle's koji NVR is made of, in order.
NVR_LABELS = ("com.redhat.component", "version", "release")
#: The most of a Greenwave answer that is read (a decision is a few KB).
MAX_ANSWER = 1024 * 1024


@dataclass
class Decision:
    """Greenwave's decision on one subject."""

    satisfied: bool
    unsatisfied_testcases: list[str] = field(default_factory=list)
    summary: str = ""


def koji_nvr(pull_spec: str, labels: Mapping[str, str]) -> str:
    """``<component>-<version>-<release>`` from a bundle's labels (IIB's ``_get_koji_build_nvr``)."""
    missing = [name for name in NVR_LABELS if not labels.get(name)]
    if missing:
        raise ValidationError(
            f"The bundle {pull_spec} cannot be gated: it has no {missing[0]} label (needed for "
            "its koji NVR)"
        )
    return "-".join(labels[name] for name in NVR_LABELS)


def unsatisfied_reason(
    bundles: Sequence[str], testcases: Sequence[str], config: Mapping[str, str]
) -> str:
    """IIB's state_reason when some bundles do not satisfy the policies (the test cases are
    those of the last unsatisfied bundle, as IIB reports them)."""
    return (
        f"Unsatisfied Greenwave policy for {', '.join(bundles)} with decision_context: "
        f"{config.get('decision_context')}, product_version: {config.get('product_version')}, "
        f"subject_type: {config.get('subject_type')} and test cases: {', '.join(testcases)}"
    )


def _json(response: requests.Response) -> Any:
    body = response.raw.read(MAX_ANSWER + 1, decode_content=True)
    if len(body) > MAX_ANSWER:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class Greenwave:
    """Greenwave's ``/decision`` endpoint, with bounded retries."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        retry_delay: float = 2.0,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = f"{url.rstrip('/')}/decision"
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._http = session or requests.Session()
        self._http.trust_env = False

    def decide(self, bundle: str, query: Mapping[str, str], subject: str) -> Decision:
        """The decision for ``subject`` (a koji NVR); errors name ``bundle``."""
        payload = {**query, "subject_identifier": subject}
        last_problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._http.post(
                    self.url, json=payload, timeout=self.timeout, stream=True, allow_redirects=False
                )
            except requests.RequestException as exc:
                last_problem = f"Greenwave is unreachable: {exc}"
            else:
                with response:
                    body = _json(response)
                    if response.ok:
                        return self._decision(bundle, body)
                    message = body.get("message") if isinstance(body, dict) else None
                    last_problem = str(message or f"Greenwave answered {response.status_code}")
                    if response.status_code < 500:
                        break
            if attempt < self.attempts:
                delay = self.retry_delay * 2 ** (attempt - 1)
                log.warning(
                    "Greenwave attempt %d of %d for %s failed (%s); retrying in %.1fs",
                    attempt,
                    self.attempts,
                    bundle,
                    last_problem,
                    delay,
                )
                time.sleep(delay)
        raise ExternalServiceError(f"Gating check failed for {bundle}: {last_problem}")

    @staticmethod
    def _decision(bundle: str, body: Any) -> Decision:
        if not isinstance(body, dict) or "policies_satisfied" not in body:
            raise ExternalServiceError(
                f'Key "policies_satisfied" missing in Greenwave response for {bundle}'
            )
        requirements = body.get("unsatisfied_requirements")
        testcases = [
            str(item.get("testcase"))
            for item in (requirements if isinstance(requirements, list) else [])
            if isinstance(item, dict)
        ]
        return Decision(bool(body["policies_satisfied"]), testcases, str(body.get("summary", "")))
