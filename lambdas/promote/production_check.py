"""Is production serving the release, still deploying, or rolled back? Pure.

After the production CloudFormation deploy, the endpoint's live configuration
must be the intended one. SageMaker deployment guardrails can roll an update
back on their own (alarm during baking): the endpoint is then InService again
but on the previous EndpointConfig, serving the previous model package, with
a `FailureReason`. That is a failed release, never a success.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from function_kit.served_model import ServedModel, package_mismatch

__all__ = [
    "FAILED",
    "MAX_WAIT_ATTEMPTS",
    "MAX_WAIT_SECONDS",
    "SERVING",
    "WAITING",
    "ProductionVerdict",
    "WaitToken",
    "WaitTokenError",
    "assess_production",
    "next_wait_token",
    "read_wait_token",
]

SERVING = "serving"
WAITING = "waiting"
FAILED = "failed"
MAX_WAIT_ATTEMPTS = 120
MAX_WAIT_SECONDS = 3600
_IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating"})


@dataclass(frozen=True)
class ProductionVerdict:
    """`state` is SERVING, WAITING or FAILED; `message` says why in one line."""

    state: str
    message: str


def assess_production(
    served: ServedModel, *, expected_package_arn: str, expected_config_name: str | None = None
) -> ProductionVerdict:
    """Judge the live endpoint against the release."""
    name = served.endpoint_name
    reason = f": {served.failure_reason}" if served.failure_reason else ""
    if served.status == "RollingBack":
        return ProductionVerdict(FAILED, f"SageMaker is rolling back the deployment of endpoint {name}{reason}")
    if served.status in _IN_PROGRESS or served.deployment_in_progress:
        progress = f" ({'; '.join(served.variant_statuses)})" if served.variant_statuses else ""
        return ProductionVerdict(WAITING, f"endpoint {name} is {served.status}, a deployment is in progress{progress}")
    if served.status != "InService":
        return ProductionVerdict(FAILED, f"endpoint {name} is {served.status}, not InService{reason}")
    if served.variant_statuses:
        return ProductionVerdict(WAITING, f"endpoint {name} variants are still changing: {'; '.join(served.variant_statuses)}")
    mismatch = package_mismatch(served, expected_package_arn)
    if mismatch:
        if served.failure_reason:
            return ProductionVerdict(
                FAILED, f"SageMaker rolled the deployment back automatically ({served.failure_reason}): {mismatch}"
            )
        return ProductionVerdict(FAILED, f"{mismatch}: production is not serving the release (rolled back?)")
    if expected_config_name and served.endpoint_config_name != expected_config_name:
        return ProductionVerdict(
            FAILED,
            f"endpoint {name} runs endpoint config {served.endpoint_config_name}, not {expected_config_name} that "
            f"CloudFormation deployed: SageMaker rolled the deployment back{reason}",
        )
    return ProductionVerdict(
        SERVING, f"endpoint {name} is InService on {served.endpoint_config_name}, serving {expected_package_arn}"
    )


class WaitTokenError(ValueError):
    """The continuation token is unreadable, or the wait is over its bounds."""


@dataclass(frozen=True)
class WaitToken:
    """What CodePipeline hands back on the next invocation: how long we have been waiting."""

    attempt: int
    first_seen: float

    def to_json(self) -> str:
        """The token as sent in `continuationToken`."""
        return json.dumps({"attempt": self.attempt, "first_seen": self.first_seen})


MAX_TOKEN_CHARS = 200
"""A token this function issues is about 50 characters."""
_CLOCK_SKEW_SECONDS = 300


def _token_problem(data: Any, now: float) -> str | None:
    """Why decoded token data is not one this function issued; None when it is."""
    if not isinstance(data, dict) or set(data) != {"attempt", "first_seen"}:
        return "expected an object with exactly attempt and first_seen"
    attempt, first_seen = data["attempt"], data["first_seen"]
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= MAX_WAIT_ATTEMPTS:
        return f"attempt {str(attempt)[:20]} is not an integer from 1 to {MAX_WAIT_ATTEMPTS}"
    if isinstance(first_seen, bool) or not isinstance(first_seen, (int, float)) or not math.isfinite(first_seen):
        return "first_seen is not a time"
    if first_seen > now + _CLOCK_SKEW_SECONDS or first_seen <= 0:
        return "first_seen is not a time in the past"
    return None


def read_wait_token(raw: str | None, *, now: float) -> WaitToken | None:
    """The token CodePipeline handed back, or `WaitTokenError` (one line) unless this function issued it."""
    if raw is None:
        return None
    shown = raw[:60] + ("..." if len(raw) > 60 else "")
    data: Any = None
    problem = f"{len(raw)} characters, more than {MAX_TOKEN_CHARS}" if len(raw) > MAX_TOKEN_CHARS else None
    if problem is None:
        try:
            data = json.loads(raw)
            problem = _token_problem(data, now)
        except (ValueError, RecursionError):
            problem = "not JSON"
    if problem:
        raise WaitTokenError(f"continuation token {shown!r} is not one this function issued ({problem})")
    return WaitToken(attempt=data["attempt"], first_seen=float(data["first_seen"]))


def next_wait_token(previous: str | None, *, now: float) -> WaitToken:
    """The token for one more wait, or `WaitTokenError` once the attempts or the time are used up."""
    token = read_wait_token(previous, now=now)
    if token is None:
        return WaitToken(attempt=1, first_seen=now)
    attempt, first_seen = token.attempt, token.first_seen
    if attempt >= MAX_WAIT_ATTEMPTS:
        raise WaitTokenError(f"still deploying after {attempt} checks: giving up")
    if now - first_seen > MAX_WAIT_SECONDS:
        raise WaitTokenError(f"still deploying after {int(now - first_seen)} s (limit {MAX_WAIT_SECONDS} s): giving up")
    return WaitToken(attempt=attempt + 1, first_seen=first_seen)
