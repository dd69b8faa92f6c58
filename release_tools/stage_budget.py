"""How long the Train stage may take, and so how long a training job may run.

The Train stage is one CodeBuild action that waits for two SageMaker jobs in
turn (training, then the evaluation processing job), each allowed
``training_timeout_minutes`` of runtime. CodePipeline caps that action:
"CodeBuild build action and test action: 8 hours" (CodePipeline user guide,
Quotas, "Length of time before an action times out"). A build killed at that
cap cannot stop the job it was waiting for, so the setting is bounded here,
once, for synth (``stacks/config.py``), the CodeBuild project timeout
(``stacks/pipeline_stack.py``) and the waiter's deadlines
(``train_and_register.py``).

Per job, the waiter allows the job's ``MaxRuntimeInSeconds`` plus
``PROVISIONING_MINUTES``: the runtime clock starts after SageMaker has
launched the instance and downloaded image and data (the ``Starting`` and
``Downloading`` statuses), and stopping a job takes up to the 120-second
SIGTERM grace that SageMaker documents (``StoppingCondition``). The stage adds
``STAGE_OVERHEAD_MINUTES`` for installing the tools, uploading inputs,
packaging the model, registering it and writing the artifact.
"""

from __future__ import annotations

__all__ = [
    "CODEBUILD_ACTION_LIMIT_MINUTES",
    "JOBS_PER_STAGE",
    "MAX_TRAINING_TIMEOUT_MINUTES",
    "PROVISIONING_MINUTES",
    "STAGE_OVERHEAD_MINUTES",
    "job_wait_seconds",
    "jobs_deadline_seconds",
    "stage_timeout_minutes",
]

CODEBUILD_ACTION_LIMIT_MINUTES = 480
PROVISIONING_MINUTES = 15
STAGE_OVERHEAD_MINUTES = 30
JOBS_PER_STAGE = 2


def job_wait_seconds(timeout_minutes: int) -> int:
    """How long the waiter waits for one job: its runtime cap plus provisioning and stopping."""
    return (timeout_minutes + PROVISIONING_MINUTES) * 60


def jobs_deadline_seconds(timeout_minutes: int) -> int:
    """From the tool's start, when it must have stopped waiting for jobs: both jobs' waits.

    The stage overhead stays for what comes before (installing the tools) and
    after (registering, writing the artifact), so the tool stops its own jobs
    before CodeBuild's timeout could end the build under it.
    """
    return JOBS_PER_STAGE * job_wait_seconds(timeout_minutes)


def stage_timeout_minutes(timeout_minutes: int) -> int:
    """The CodeBuild project timeout: both jobs' waits plus the stage's own work."""
    return STAGE_OVERHEAD_MINUTES + JOBS_PER_STAGE * (timeout_minutes + PROVISIONING_MINUTES)


# The largest training_timeout_minutes whose stage fits CodePipeline's 8-hour cap: 210.
MAX_TRAINING_TIMEOUT_MINUTES = (CODEBUILD_ACTION_LIMIT_MINUTES - STAGE_OVERHEAD_MINUTES) // JOBS_PER_STAGE - PROVISIONING_MINUTES
