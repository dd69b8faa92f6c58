"""Wait for a SageMaker training or processing job, with bounded deadlines; stop it if the stage ends early.

``describe`` is polled every ``poll_seconds``; a ``Completed`` job returns its
description, a ``Failed`` job raises with its ``FailureReason``, a
``Stopped`` job raises, and a job still running at the deadline is stopped
(``stop``) and raises saying so. The deadline is the earlier of the job's own
(``timeout_seconds`` after the wait starts: its runtime cap plus provisioning,
see ``stage_budget``) and the stage's (``stage_deadline``, a clock value).

:func:`stopped_unless_finished` guards a running job: if the stage ends in
any other way than the job's own end (an AWS error, SIGTERM, Ctrl-C, a bug),
it calls ``Stop*Job`` before the error propagates, so no job runs (and bills)
on after the build that started it. The clock and sleep are injectable so
tests run in milliseconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .build_signals import raise_if_signalled
from .errors import ReleaseToolError

__all__ = [
    "JobEnded",
    "JobKind",
    "PROCESSING_JOB",
    "TRAINING_JOB",
    "WaitPolicy",
    "stopped_unless_finished",
    "wait_for_job",
]


class JobEnded(ReleaseToolError):
    """The job reached a final status, or the waiter stopped it: nothing is left running."""


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
    # A clock value by which the whole stage must stop waiting (None: no stage deadline).
    stage_deadline: float | None = None


def _call(operation: str, job_name: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"{operation} for {job_name} failed: {exc}") from exc


def _final(kind: JobKind, job_name: str, description: dict[str, Any]) -> bool:
    """True when the job completed; raise :class:`JobEnded` when it failed or was stopped."""
    status = description.get(kind.status_key)
    if status == "Failed":
        reason = description.get("FailureReason") or "no FailureReason given"
        raise JobEnded(f"{kind.label} {job_name} failed: {reason}")
    if status in ("Stopped", "Stopping"):
        raise JobEnded(f"{kind.label} {job_name} was stopped before it completed (status {status})")
    return status == "Completed"


def wait_for_job(
    kind: JobKind,
    job_name: str,
    describe: Callable[[], dict[str, Any]],
    stop: Callable[[], Any],
    policy: WaitPolicy,
) -> dict[str, Any]:
    """Return the description of the completed job, or raise :class:`ReleaseToolError`."""
    own_deadline = policy.clock() + policy.timeout_seconds
    stage_first = policy.stage_deadline is not None and policy.stage_deadline < own_deadline
    deadline = policy.stage_deadline if stage_first and policy.stage_deadline is not None else own_deadline
    while True:
        description = _call(f"describe {kind.label}", job_name, describe)
        if _final(kind, job_name, description):
            return description
        if policy.clock() >= deadline:
            _call(kind.stop_operation, job_name, stop)
            limit = "the Train stage's deadline" if stage_first else f"{policy.timeout_seconds / 60:g} minutes"
            raise JobEnded(
                f"{kind.label} {job_name} did not complete within {limit} "
                f"(last status {description.get(kind.status_key)}); called {kind.stop_operation}"
            )
        raise_if_signalled()
        policy.sleep(min(policy.poll_seconds, max(deadline - policy.clock(), 0.0)))


@contextmanager
def stopped_unless_finished(kind: JobKind, job_name: str, stop: Callable[[], Any]) -> Iterator[None]:
    """Stop the job when the block ends other than by the job's own end, then re-raise."""
    try:
        yield
    except JobEnded:
        raise
    except BaseException as cause:
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - the original cause is what the stage reports
            print(f"could not stop {kind.label} {job_name} ({kind.stop_operation}: {exc}); stop it in the "
                  "SageMaker console", file=sys.stderr, flush=True)  # fmt: skip
        else:
            print(f"stopped {kind.label} {job_name} ({kind.stop_operation}) because the stage ended early: "
                  f"{type(cause).__name__}", file=sys.stderr, flush=True)  # fmt: skip
        raise
