"""Who runs the Train stage's two jobs: the job-runner interface and its SageMaker implementation.

``train_and_register`` orchestrates the stage (inputs to S3, training, the
serving package, the champion, evaluation, the report check, registration,
``TrainOutput``) and hands the two jobs to a :class:`JobRunner`:

- :class:`SageMakerJobRunner` (the pipeline): ``CreateTrainingJob`` and
  ``CreateProcessingJob`` with the requests of ``training_job`` and
  ``evaluation_job``, waited for within the stage's budget and stopped if the
  stage ends early (``job_waiter``);
- ``rehearsal.local_jobs.LocalJobRunner`` (``make rehearse``): the model
  repository's ``train.py`` and ``evaluate.py`` run locally in SageMaker's
  folder layout, against the rehearsal's sandbox S3.

A runner works only through S3, as the jobs do: a training run reads the
inputs the stage uploaded under ``layout`` and leaves ``model.tar.gz`` under
``layout.training_output``; an evaluation run reads the serving package, the
holdout and the champion's package and leaves ``evaluation.json`` at
``layout.evaluation_json``. The model registry is not the runner's: the stage
reads and writes it with its own ``sagemaker`` client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ReleaseToolError
from .evaluation_job import EvaluationRun, evaluation_job_request
from .job_waiter import (
    PROCESSING_JOB,
    TRAINING_JOB,
    JobEnded,
    JobKind,
    WaitPolicy,
    stopped_unless_finished,
    wait_for_job,
)
from .settings import TrainSettings
from .stage_budget import job_wait_seconds, jobs_deadline_seconds
from .training_job import TrainingRun, training_job_request

__all__ = ["JobRunner", "SageMakerJobRunner", "run_job", "stage_wait_policy"]


class JobRunner(Protocol):
    """Runs the Train stage's training and evaluation jobs; a failure raises :class:`ReleaseToolError`."""

    def run_training(self, run: TrainingRun) -> str:
        """Train; return the S3 URI of the training output ``model.tar.gz``."""
        ...

    def run_evaluation(self, run: EvaluationRun) -> None:
        """Evaluate ``run.model_data_url`` (and the champion); ``evaluation.json`` ends at ``run.layout.evaluation_json``."""
        ...


def _aws(operation: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"{operation} failed: {exc}") from exc


def run_job(
    kind: JobKind,
    job_name: str,
    create: Callable[[], Any],
    describe: Callable[[], dict[str, Any]],
    stop: Callable[[], Any],
    wait: WaitPolicy,
) -> dict[str, Any]:
    """Create the job and wait for it; a stage that ends any other way stops the job first."""
    operation = kind.stop_operation.replace("stop_", "create_")
    # Guarded from the create call on: a signal during the request may leave a job behind.
    with stopped_unless_finished(kind, job_name, stop):
        try:
            _aws(operation, create)
        except ReleaseToolError as exc:
            raise JobEnded(str(exc)) from exc  # SageMaker refused the job: nothing runs
        print(f"{kind.label} {job_name} started", flush=True)
        return wait_for_job(kind, job_name, describe, stop, wait)


def stage_wait_policy(
    settings: TrainSettings,
    *,
    poll_seconds: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitPolicy:
    """Each job: its runtime cap plus provisioning; both jobs: within the stage's deadline (``stage_budget``)."""
    return WaitPolicy(
        timeout_seconds=job_wait_seconds(settings.timeout_minutes),
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
        stage_deadline=clock() + jobs_deadline_seconds(settings.timeout_minutes),
    )


@dataclass(frozen=True, kw_only=True)
class SageMakerJobRunner:
    """The pipeline's runner: SageMaker training and processing jobs, waited for with ``wait``."""

    sagemaker: Any
    settings: TrainSettings
    wait: WaitPolicy

    def run_training(self, run: TrainingRun) -> str:
        name = run.layout.training_job_name
        trained = run_job(
            TRAINING_JOB,
            name,
            lambda: self.sagemaker.create_training_job(**training_job_request(self.settings, run)),
            lambda: self.sagemaker.describe_training_job(TrainingJobName=name),
            lambda: self.sagemaker.stop_training_job(TrainingJobName=name),
            self.wait,
        )
        model_url = trained.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        if not model_url:
            raise ReleaseToolError(f"training job {name} completed without ModelArtifacts.S3ModelArtifacts")
        return str(model_url)

    def run_evaluation(self, run: EvaluationRun) -> None:
        name = run.layout.evaluation_job_name
        run_job(
            PROCESSING_JOB,
            name,
            lambda: self.sagemaker.create_processing_job(**evaluation_job_request(self.settings, run)),
            lambda: self.sagemaker.describe_processing_job(ProcessingJobName=name),
            lambda: self.sagemaker.stop_processing_job(ProcessingJobName=name),
            self.wait,
        )
