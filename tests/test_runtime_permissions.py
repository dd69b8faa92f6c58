"""THE CHECK "runtime permissions" itself: attribution, exclusions, and that a missing statement fails it."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.aws_runtime_permissions import LAMBDAS, OPERATIONS, TOOLS, RecordedCall, judge, principal_of, recorded_calls
from tests.synthesis_fixtures import SynthesizedApp

DEPLOYED = {"RECORD_PREFIX": "decision-records/", "MODEL_PACKAGE_GROUP_NAME": "ml-cicd-models"}
PACKAGE = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/ml-cicd-models/7"

TRAINING_JOB = "ml-cicd-3f2c9e1a-20261128"
ISOLATED = {"EnableNetworkIsolation": True}
# What each principal does in a release, as recorded calls (the suite records the same shapes from real runs).
RELEASE_CALLS = [
    RecordedCall("release_tools", "sagemaker", "CreateTrainingJob", {"TrainingJobName": TRAINING_JOB, **ISOLATED}, {}),
    RecordedCall(
        "release_tools",
        "sagemaker",
        "CreateProcessingJob",
        {"ProcessingJobName": "ml-cicd-3f2c9e1a-eval", "NetworkConfig": ISOLATED},
        {},
    ),
    RecordedCall("release_tools", "sagemaker", "ListModelPackages", {"ModelPackageGroupName": "ml-cicd-models"}, {}),
    RecordedCall("release_tools", "sagemaker", "CreateModelPackage", {"ModelPackageGroupName": "ml-cicd-models"}, {}),
    RecordedCall("release_tools", "s3", "PutObject", {"Bucket": "artifacts", "Key": "releases/x/model.tar.gz"}, {}),
    RecordedCall("lambdas/evaluation_gate", "sagemaker", "UpdateModelPackage", {"ModelPackageArn": PACKAGE}, DEPLOYED),
    RecordedCall(
        "lambdas/staging_gate", "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "ml-cicd-staging-endpoint"}, DEPLOYED
    ),
    RecordedCall("lambdas/promote", "sagemaker", "DescribeEndpoint", {"EndpointName": "ml-cicd-production-endpoint"}, DEPLOYED),
    RecordedCall("lambdas/promote", "sagemaker", "ListModelPackages", {"ModelPackageGroupName": "ml-cicd-models"}, DEPLOYED),
    RecordedCall("lambdas/promote", "sagemaker", "UpdateModelPackage", {"ModelPackageArn": PACKAGE}, DEPLOYED),
    RecordedCall("function_kit", "s3", "PutObject", {"Bucket": "b", "Key": "decision-records/promote/1.json"}, DEPLOYED),
    RecordedCall("function_kit", "codepipeline", "PutJobSuccessResult", {"jobId": "1"}, DEPLOYED),
    RecordedCall("lambdas/pull_request_reporter", "codecommit", "UpdatePullRequestApprovalState", {"pullRequestId": "1"}, {}),
]


def test_calls_are_attributed_to_the_code_that_makes_them() -> None:
    assert principal_of([LAMBDAS / "function_kit" / "records.py", LAMBDAS / "promote" / "handler.py"]) == "lambdas/promote"
    assert principal_of([LAMBDAS / "function_kit" / "records.py", Path("/work/tests/test_x.py")]) == "function_kit"
    assert principal_of([TOOLS / "s3_objects.py", TOOLS / "train_and_register.py"]) == "release_tools"
    assert principal_of([TOOLS / "s3_objects.py", TOOLS / "rollback.py"]) == "operator"  # a person's credentials
    assert principal_of([Path("/work/tests/conftest.py")]) is None  # test set-up: nobody's role


def test_a_release_passes_the_check(synthesized: SynthesizedApp) -> None:
    assert judge(RELEASE_CALLS, synthesized.pipeline) == []


def _without(pipeline: dict[str, Any], sid: str) -> dict[str, Any]:
    mutated = copy.deepcopy(pipeline)
    removed = 0
    for resource in mutated["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            kept = [s for s in statements if s.get("Sid") != sid]
            removed += len(statements) - len(kept)
            resource["Properties"]["PolicyDocument"]["Statement"] = kept
    assert removed, f"no statement {sid}"
    return mutated


@pytest.mark.parametrize(
    ("sid", "denied"),
    [
        ("StartIsolatedTrainingAndEvaluationJobs", "sagemaker:CreateTrainingJob"),
        ("ListModelPackages", "sagemaker:ListModelPackages"),
        ("RecordVerdictOnModelPackage", "sagemaker:UpdateModelPackage"),
        ("TestStagingEndpoint", "sagemaker:InvokeEndpoint"),
        ("PromoteChampion", "sagemaker:UpdateModelPackage"),
        ("VerifyProductionEndpoint", "sagemaker:DescribeEndpoint"),
    ],
)
def test_removing_one_statement_fails_the_check(synthesized: SynthesizedApp, sid: str, denied: str) -> None:
    problems = judge(RELEASE_CALLS, _without(synthesized.pipeline, sid))
    assert problems and any(denied in line for line in problems), problems


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("CreateTrainingJob", {"TrainingJobName": TRAINING_JOB}),
        ("CreateTrainingJob", {"TrainingJobName": TRAINING_JOB, "EnableNetworkIsolation": False}),
        ("CreateProcessingJob", {"ProcessingJobName": "ml-cicd-3f2c9e1a-eval", "NetworkConfig": {}}),
    ],
)
def test_the_train_stage_cannot_start_a_job_without_network_isolation(
    synthesized: SynthesizedApp, operation: str, params: dict[str, Any]
) -> None:
    """The jobs run the commit's code; only network isolation keeps AWS credentials out of their containers."""
    problems = judge([RecordedCall("release_tools", "sagemaker", operation, params, {})], synthesized.pipeline)
    assert problems and "implicit deny" in problems[0], problems


def test_a_call_on_another_projects_resource_fails(synthesized: SynthesizedApp) -> None:
    foreign = RecordedCall(
        "lambdas/promote",
        "sagemaker",
        "UpdateModelPackage",
        {"ModelPackageArn": PACKAGE.replace("ml-cicd-models", "other-models")},
        DEPLOYED,
    )
    assert judge([foreign], synthesized.pipeline)


def test_an_unmapped_operation_fails_rather_than_passing(synthesized: SynthesizedApp) -> None:
    call = RecordedCall("lambdas/promote", "sagemaker", "DeleteModelPackage", {"ModelPackageName": PACKAGE}, DEPLOYED)
    assert ("sagemaker", "DeleteModelPackage") not in OPERATIONS
    assert "does not map" in judge([call], synthesized.pipeline)[0]


def test_a_configuration_the_platform_never_deploys_is_not_judged(synthesized: SynthesizedApp) -> None:
    elsewhere = RecordedCall(
        "function_kit", "s3", "PutObject", {"Bucket": "b", "Key": "audit/1.json"}, {"RECORD_PREFIX": "audit"}
    )
    deployed = RecordedCall("function_kit", "s3", "PutObject", {"Bucket": "b", "Key": "audit/1.json"}, DEPLOYED)
    assert judge([elsewhere], synthesized.pipeline) == []
    assert judge([deployed], synthesized.pipeline)  # the same write under the deployed configuration is refused


def test_the_hook_records_project_calls_and_leaves_artifact_credentials_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from function_kit.artifacts import ArtifactError, ArtifactReader
    from function_kit.codepipeline_job import InputArtifact, S3Location
    from release_tools.s3_objects import download_bytes

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response("get_object", {"Body": io.BytesIO(b"x")}, {"Bucket": "artifacts", "Key": "k"})
        assert download_bytes(client, "s3://artifacts/k") == b"x"
    assert [(c.principal, c.operation) for c in recorded_calls()] == [("release_tools", "GetObject")]
    artifact = InputArtifact(name="TrainOutput", location=S3Location(bucket="artifacts", key="ml-pipeline/TrainOutpu/x"))
    with Stubber(client) as stubber:  # input artifacts: read with CodePipeline's credentials, never judged
        stubber.add_client_error("get_object", "AccessDenied")
        with pytest.raises(ArtifactError):
            ArtifactReader(client, [artifact])._open(0)
        stubber.assert_no_pending_responses()
    assert len(recorded_calls()) == 1
