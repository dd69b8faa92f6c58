"""Training time: bounded by what the Train stage can wait for, provisioning counted, jobs stopped
when the stage ends early (fake clock, botocore Stubber, a real SIGTERM)."""

from __future__ import annotations

import json
import os
import signal

import boto3
import pytest
from botocore.stub import Stubber

from release_tools.build_signals import BuildTerminated, signals_raise
from release_tools.errors import ReleaseToolError
from release_tools.job_runner import run_job, stage_wait_policy
from release_tools.job_waiter import PROCESSING_JOB, TRAINING_JOB, JobEnded, wait_for_job
from release_tools.stage_budget import CODEBUILD_ACTION_LIMIT_MINUTES, MAX_TRAINING_TIMEOUT_MINUTES, stage_timeout_minutes
from stacks.config import ConfigError, load_config
from tests.release_tools_fixtures import REGION, FakeClock, settings
from tests.synthesis_fixtures import SynthesizedApp

JOB = "ml-cicd-3f2c9e1a-20261128120000"


def test_the_largest_allowed_timeout_fits_the_codebuild_action_limit() -> None:
    assert stage_timeout_minutes(MAX_TRAINING_TIMEOUT_MINUTES) <= CODEBUILD_ACTION_LIMIT_MINUTES
    assert stage_timeout_minutes(MAX_TRAINING_TIMEOUT_MINUTES + 1) > CODEBUILD_ACTION_LIMIT_MINUTES
    assert load_config({"ml-cicd": {"training_timeout_minutes": 210}}).training_timeout_minutes == 210


@pytest.mark.parametrize("minutes", [211, 226, 1440])
def test_a_timeout_the_stage_cannot_wait_for_is_refused_in_one_line(minutes: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": {"training_timeout_minutes": minutes}})
    message = str(caught.value)
    assert "\n" not in message and message.startswith("invalid configuration ml-cicd.training_timeout_minutes:")
    assert "allowed: an integer from 5 to 210" in message and "480-minute" in message


def test_the_train_project_timeout_is_the_stage_budget(synthesized: SynthesizedApp) -> None:
    (train,) = [r for k, r in synthesized.pipeline["Resources"].items()
                if r["Type"] == "AWS::CodeBuild::Project" and k.startswith("TrainProject")]  # fmt: skip
    # Default 60 minutes: 30 overhead + 2 x (60 + 15 provisioning).
    assert train["Properties"]["TimeoutInMinutes"] == stage_timeout_minutes(60) == 180


def test_the_train_role_may_stop_only_this_projects_jobs(synthesized: SynthesizedApp) -> None:
    statements = [s for r in synthesized.pipeline["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  and any(role["Ref"].startswith("TrainProjectRole") for role in r["Properties"].get("Roles", []))
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]  # fmt: skip
    stop = [s for s in statements if {"sagemaker:StopTrainingJob", "sagemaker:StopProcessingJob"} <= set(s["Action"])]
    assert len(stop) == 1
    resources = json.dumps(stop[0]["Resource"])
    assert ":training-job/ml-cicd-*" in resources and ":processing-job/ml-cicd-*" in resources and '"*"' not in resources


def _statuses(kind_key: str, in_progress_minutes: int, poll: int = 60):
    """Describe answers: InProgress for ``in_progress_minutes`` (one answer a poll), then Completed."""
    answers = iter([{kind_key: "InProgress"}] * (in_progress_minutes * 60 // poll) + [{kind_key: "Completed"}])
    return lambda: next(answers)


def test_provisioning_counts_in_the_job_deadline() -> None:
    """A 30-minute job that spends 10 minutes provisioning completes at 40 minutes: not stopped."""
    clock, stops = FakeClock(), []
    policy = stage_wait_policy(settings(TRAINING_TIMEOUT_MINUTES="30"), poll_seconds=60, clock=clock.clock, sleep=clock.sleep)
    result = wait_for_job(TRAINING_JOB, JOB, _statuses("TrainingJobStatus", 40), lambda: stops.append(1), policy)
    assert result["TrainingJobStatus"] == "Completed" and stops == [] and clock.now == 40 * 60


def test_a_job_stuck_beyond_runtime_plus_provisioning_is_stopped() -> None:
    clock, stops = FakeClock(), []
    policy = stage_wait_policy(settings(TRAINING_TIMEOUT_MINUTES="30"), poll_seconds=60, clock=clock.clock, sleep=clock.sleep)
    with pytest.raises(JobEnded, match="did not complete within 45 minutes"):
        wait_for_job(TRAINING_JOB, JOB, lambda: {"TrainingJobStatus": "InProgress"}, lambda: stops.append(1), policy)
    assert stops == [1] and clock.now == 45 * 60


def test_the_evaluation_gets_only_what_the_stage_has_left() -> None:
    """Training used 80 of the stage's 90 job minutes: the evaluation is stopped 10 minutes later."""
    clock = FakeClock()
    policy = stage_wait_policy(settings(TRAINING_TIMEOUT_MINUTES="30"), poll_seconds=60, clock=clock.clock, sleep=clock.sleep)
    clock.now += 80 * 60
    stops: list[int] = []
    with pytest.raises(JobEnded, match="did not complete within the Train stage's deadline"):
        wait_for_job(PROCESSING_JOB, JOB + "-eval", lambda: {"ProcessingJobStatus": "InProgress"},
                     lambda: stops.append(1), policy)  # fmt: skip
    assert stops == [1] and clock.now == 90 * 60


@pytest.fixture()
def sagemaker(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client("sagemaker", region_name=REGION)


def _run_training(sagemaker, sleep) -> None:
    clock = FakeClock()
    policy = stage_wait_policy(settings(), poll_seconds=60, clock=clock.clock, sleep=sleep)
    run_job(TRAINING_JOB, JOB,
            lambda: sagemaker.create_training_job(TrainingJobName=JOB, RoleArn="arn:aws:iam::111122223333:role/r",
                                                  AlgorithmSpecification={"TrainingInputMode": "File", "TrainingImage": "i"},
                                                  OutputDataConfig={"S3OutputPath": "s3://b/o"},
                                                  ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
                                                  StoppingCondition={"MaxRuntimeInSeconds": 60},
                                                  EnableNetworkIsolation=True),  # the Train role starts no other job
            lambda: sagemaker.describe_training_job(TrainingJobName=JOB),
            lambda: sagemaker.stop_training_job(TrainingJobName=JOB), policy)  # fmt: skip


def _describe_in_progress(stubber: Stubber) -> None:
    stubber.add_response("describe_training_job", {
        "TrainingJobName": JOB, "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:111122223333:training-job/{JOB}",
        "ModelArtifacts": {"S3ModelArtifacts": ""}, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting",
        "AlgorithmSpecification": {"TrainingInputMode": "File"}, "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {}, "CreationTime": 0,
    }, {"TrainingJobName": JOB})  # fmt: skip


def test_sigterm_while_waiting_stops_the_training_job(sagemaker) -> None:
    """A real SIGTERM to this process, during the wait: StopTrainingJob is called, then one line."""

    def sigterm(_seconds: float) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with Stubber(sagemaker) as stubber:
        stubber.add_response(
            "create_training_job", {"TrainingJobArn": f"arn:aws:sagemaker:{REGION}:111122223333:training-job/{JOB}"}
        )
        _describe_in_progress(stubber)
        stubber.add_response("stop_training_job", {}, {"TrainingJobName": JOB})
        with signals_raise(), pytest.raises(BuildTerminated, match="received SIGTERM"):
            _run_training(sagemaker, sigterm)
        stubber.assert_no_pending_responses()
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the build's only while the stage runs


def test_an_aws_error_while_waiting_stops_the_job_too(sagemaker) -> None:
    with Stubber(sagemaker) as stubber:
        stubber.add_response(
            "create_training_job", {"TrainingJobArn": f"arn:aws:sagemaker:{REGION}:111122223333:training-job/{JOB}"}
        )
        stubber.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded")
        stubber.add_response("stop_training_job", {}, {"TrainingJobName": JOB})
        with pytest.raises(ReleaseToolError, match="describe training job .* failed: .*Rate exceeded"):
            _run_training(sagemaker, lambda _s: None)
        stubber.assert_no_pending_responses()


def test_a_job_that_ended_by_itself_is_not_stopped_again(sagemaker) -> None:
    """A failed job raises JobEnded: no StopTrainingJob (the Stubber refuses any unexpected call)."""
    with Stubber(sagemaker) as stubber:
        stubber.add_response(
            "create_training_job", {"TrainingJobArn": f"arn:aws:sagemaker:{REGION}:111122223333:training-job/{JOB}"}
        )
        stubber.add_response("describe_training_job", {
            "TrainingJobName": JOB, "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:111122223333:training-job/{JOB}",
            "ModelArtifacts": {"S3ModelArtifacts": ""}, "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: exit 1", "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 10}, "StoppingCondition": {}, "CreationTime": 0,
        })  # fmt: skip
        with pytest.raises(JobEnded, match="AlgorithmError"):
            _run_training(sagemaker, lambda _s: None)
        stubber.assert_no_pending_responses()


def test_a_refused_create_stops_nothing(sagemaker) -> None:
    with Stubber(sagemaker) as stubber:
        stubber.add_client_error("create_training_job", "ResourceLimitExceeded", "quota for ml.m5.large is 0")
        with pytest.raises(JobEnded, match="create_training_job failed: .*quota"):
            _run_training(sagemaker, lambda _s: None)
        stubber.assert_no_pending_responses()
