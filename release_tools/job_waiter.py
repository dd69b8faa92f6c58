"""Wait for a SageMaker training or processing job, with a bounded timeout.

``describe`` is polled every ``poll_seconds``; a ``Completed`` job returns its
description, a ``Failed`` job raises with its ``FailureReason``, a
``Stopped`` job raises, and a job still running at the deadline is stopped
(``stop``) and raises saying so. The clock and sleep are injectable so tests
run in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ReleaseToolError

__all__ = ["JobKind", "PROCESSING_JOB", "TRAINING_JOB", "WaitPolicy", "wait_for_job"]


@dataclass(frozen=True)
class JobKind:
    """The names SageMaker uses for one kind of job."""

    label: str  # "training job"
    status_key: str  # "TrainingJobStatus"
    stop_operation: str  # "stop_training_job"


TRAINING_JOB = JobKind("training job", "TrainingJobStatus", "stop_training_job")
PROCESSING_JOB = JobKind("processing job", "ProcessingJobStatus", "stop_processing_job")


@dataclass(frozen=True)
class WaitPolicy:
    """How long to wait and how often to look."""

    timeout_seconds: float
    poll_seconds: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)


def _call(operation: str, job_name: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"{operation} for {job_name} failed: {exc}") from exc


def wait_for_job(
    kind: JobKind,
    job_name: str,
    describe: Callable[[], dict[str, Any]],
    stop: Callable[[], Any],
    policy: WaitPolicy,
) -> dict[str, Any]:
    """Return the description of the completed job, or raise :class:`ReleaseToolError`."""
    deadline = policy.clock() + policy.timeout_seconds
    while True:
        description = _call(f"describe {kind.label}", job_name, describe)
        status = description.get(kind.status_key)
        if status == "Completed":
            return description
        if status == "Failed":
            reason = description.get("FailureReason") or "no FailureReason given"
            raise ReleaseToolError(f"{kind.label} {job_name} failed: {reason}")
        if status in ("Stopped", "Stopping"):
            raise ReleaseToolError(f"{kind.label} {job_name} was stopped before it completed (status {status})")
        if policy.clock() >= deadline:
            _call(kind.stop_operation, job_name, stop)
            minutes = policy.timeout_seconds / 60
            raise ReleaseToolError(
                f"{kind.label} {job_name} did not complete within {minutes:g} minutes "
                f"(last status {status}); called {kind.stop_operation}"
            )
        policy.sleep(min(policy.poll_seconds, max(deadline - policy.clock(), 0.0)))
