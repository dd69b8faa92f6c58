"""evaluation_gate.handler: the documented event in, exactly one answer out, record written, package marked.

S3 and SageMaker are moto; the CodePipeline answers are recorded (moto lacks them).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import botocore.client
import botocore.session
import pytest
from moto import mock_aws

from evaluation_gate.handler import handler
from evaluation_gate_fixtures import (
    CONTRACT_EVALUATION,
    CONTRACT_POLICY,
    evaluation,
    policy,
)
from function_kit_fixtures import REGION, put_zip_artifact, set_fake_aws_environment
from rehearsal.codepipeline_double import ARTIFACT_SECRETS, JOB_ID, FakeLambdaContext, job_event, record_codepipeline_answers

BUCKET = "artifact-bucket"
ARTIFACT_KEY = "ml-pipeline/TrainOutpu/AbCdE12"
RECORD_DIR = "ml-pipeline/TrainOutpu/decision-records/evaluation-gate"


@pytest.fixture(scope="module")
def account():
    """One moto account for the module (starting moto per test costs more than the tests)."""
    with pytest.MonkeyPatch.context() as environment:
        set_fake_aws_environment(environment)
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            sagemaker = boto3.client("sagemaker", region_name=REGION)
            sagemaker.create_model_package_group(ModelPackageGroupName="example")
            yield s3, sagemaker


@pytest.fixture
def aws(account, monkeypatch: pytest.MonkeyPatch):
    """An empty artifact bucket and a fresh PendingManualApproval model package, per test."""
    s3, sagemaker = account
    set_fake_aws_environment(monkeypatch)
    monkeypatch.delenv("PLATFORM_FLOORS", raising=False)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="example",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1",
                    "ModelDataUrl": "s3://b/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    yield s3, sagemaker, arn
    for bucket in s3.list_buckets()["Buckets"]:
        for item in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            s3.delete_object(Bucket=bucket["Name"], Key=item["Key"])
        s3.delete_bucket(Bucket=bucket["Name"])


def put_inputs(
    s3: Any,
    *,
    report: Any = CONTRACT_EVALUATION,
    release_policy: Any = CONTRACT_POLICY,
    package_arn: str | None = None,
) -> None:
    """The TrainOutput artifact with evaluation.json, release-policy.json and, given an ARN, release.json."""
    files = {"evaluation.json": report, "release-policy.json": release_policy}
    if package_arn is not None:
        files["release.json"] = {"model_package_arn": package_arn}
    put_train_output(s3, files)


def put_train_output(s3: Any, files: dict[str, Any], key: str = ARTIFACT_KEY) -> None:
    put_zip_artifact(s3, BUCKET, key, files)


def invoke(event: dict[str, Any] | None = None):
    with record_codepipeline_answers() as answers:
        result = handler(
            event or job_event(bucket=BUCKET, artifacts={"TrainOutput": ARTIFACT_KEY}),
            FakeLambdaContext(),
        )
    assert result is None
    return answers


def read_json(s3: Any, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def spy_on_sagemaker_updates(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The UpdateModelPackage requests the handler sends (they still reach moto)."""
    requests: list[dict[str, Any]] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self: Any, operation_name: str, params: dict[str, Any]) -> Any:
        if operation_name == "UpdateModelPackage":
            requests.append(dict(params))
        return original(self, operation_name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    return requests


def test_passing_model_succeeds_with_record_and_metadata(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, sagemaker, arn = aws
    updates = spy_on_sagemaker_updates(monkeypatch)
    put_inputs(s3, package_arn=arn)
    answers = invoke()
    operation, params = answers.only
    assert operation == "PutJobSuccessResult"
    record_uri = f"s3://{BUCKET}/{RECORD_DIR}/{JOB_ID}.json"
    assert params["outputVariables"] == {
        "decision": "passed",
        "record_uri": record_uri,
        "summary_uri": record_uri[:-4] + "md",
    }
    record = read_json(s3, f"{RECORD_DIR}/{JOB_ID}.json")
    assert record["decision"] == "passed" and len(record["rules"]) == 3
    assert record["policy"]["metrics"]["roc_auc"]["min"] == {
        "value": 0.95,
        "source": "repository",
    }
    markdown = s3.get_object(Bucket=BUCKET, Key=f"{RECORD_DIR}/{JOB_ID}.md")["Body"].read().decode()
    assert markdown.startswith("# Evaluation gate: ✅ PASSED")
    # The status is left alone: the request carries none. (moto, unlike SageMaker, then
    # forgets the status, so the stored package cannot show it.)
    metadata = {
        "evaluation_gate_decision": "passed",
        "evaluation_gate_record": record_uri,
    }
    assert updates == [{"ModelPackageArn": arn, "CustomerMetadataProperties": metadata}]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["CustomerMetadataProperties"] == metadata


def test_failing_model_is_rejected_and_the_message_names_the_rule(aws) -> None:
    s3, sagemaker, arn = aws
    report = evaluation(
        **{
            "metrics.roc_auc": {"value": 0.93, "higher_is_better": True},
            "champion.metrics.roc_auc.value": 0.928,
        }
    )
    put_inputs(s3, report=report, package_arn=arn)
    answers = invoke()
    message = answers.failure_message
    first_line, second_line = message.splitlines()[:2]
    assert first_line == "Evaluation gate FAILED: roc_auc = 0.93 < min 0.95 (repository)"
    record_uri = f"s3://{BUCKET}/{RECORD_DIR}/{JOB_ID}.json"
    assert second_line.startswith(f"Record: {record_uri}")
    assert answers.only[1]["failureDetails"]["externalExecutionId"] == record_uri
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"].startswith(f"Rejected by the evaluation gate. Record: {record_uri}.")
    assert "roc_auc = 0.93 < min 0.95" in package["ApprovalDescription"]
    assert package["CustomerMetadataProperties"]["evaluation_gate_decision"] == "failed"


def test_an_inconclusive_verdict_blocks_and_says_so_in_the_record_the_message_and_the_package(aws) -> None:
    s3, sagemaker, arn = aws
    # improvement interval [-0.004, 0.008]: the threshold -0.0039 lies inside it, nothing else fails.
    put_inputs(s3, release_policy=policy(**{"champion.roc_auc.max_regression": 0.0039}), package_arn=arn)
    answers = invoke()
    first_line = answers.failure_message.splitlines()[0]
    assert first_line.startswith("Evaluation gate INCONCLUSIVE (blocked: the holdout cannot resolve a rule): ")
    assert "minimum detectable difference 0.008576" in first_line
    record = read_json(s3, f"{RECORD_DIR}/{JOB_ID}.json")
    assert (record["decision"], record["passed"]) == ("inconclusive", False)
    markdown = s3.get_object(Bucket=BUCKET, Key=f"{RECORD_DIR}/{JOB_ID}.md")["Body"].read().decode()
    assert markdown.startswith("# Evaluation gate: ❔ INCONCLUSIVE")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["CustomerMetadataProperties"]["evaluation_gate_decision"] == "inconclusive"


def test_user_parameters_override_the_package_arn(aws) -> None:
    s3, sagemaker, arn = aws
    put_inputs(s3, report=evaluation(**{"metrics.log_loss.value": 0.5}))
    invoke(
        job_event(
            bucket=BUCKET,
            artifacts={"TrainOutput": ARTIFACT_KEY},
            user_parameters=json.dumps({"model_package_arn": arn}),
        )
    )
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"


def test_without_a_package_arn_the_gate_still_decides(aws) -> None:
    s3, _, _ = aws
    put_inputs(s3)
    assert invoke().succeeded


def test_files_are_found_across_several_input_artifacts(aws) -> None:
    s3, _, _ = aws
    put_train_output(s3, {"release-policy.json": CONTRACT_POLICY}, key="ml-pipeline/BuildOutpu/1")
    put_train_output(s3, {"evaluation.json": CONTRACT_EVALUATION}, key="ml-pipeline/TrainOutpu/2")
    answers = invoke(
        job_event(
            bucket=BUCKET,
            artifacts={
                "BuildOutput": "ml-pipeline/BuildOutpu/1",
                "TrainOutput": "ml-pipeline/TrainOutpu/2",
            },
        )
    )
    assert answers.succeeded
    assert answers.only[1]["outputVariables"]["record_uri"].startswith(f"s3://{BUCKET}/ml-pipeline/TrainOutpu/decision-records/")


@pytest.mark.parametrize(
    ("files", "cause"),
    [
        (
            {"release-policy.json": CONTRACT_POLICY},
            "evaluation.json is missing from the root of the input artifact(s): TrainOutput",
        ),
        (
            {"evaluation.json": "{oops", "release-policy.json": CONTRACT_POLICY},
            "evaluation.json in artifact TrainOutput",
        ),
        (
            {
                "evaluation.json": evaluation(schema_version=2),
                "release-policy.json": CONTRACT_POLICY,
            },
            "schema_version: 2 is not a supported version",
        ),
        (
            {
                "evaluation.json": CONTRACT_EVALUATION,
                "release-policy.json": policy(version=2),
            },
            "release-policy.json: version: 2 is not a supported policy version",
        ),
        ({"evaluation.json": CONTRACT_EVALUATION}, "release-policy.json is missing"),
        (
            {
                "evaluation.json": CONTRACT_EVALUATION,
                "release-policy.json": CONTRACT_POLICY,
                "release.json": {"model_package_arn": "nope"},
            },
            "release.json: model_package_arn: 'nope' is not a SageMaker model package ARN",
        ),
    ],
)
def test_bad_inputs_fail_closed_with_a_record(aws, files: dict[str, Any], cause: str) -> None:
    s3, _, _ = aws
    put_train_output(s3, files)
    message = invoke().failure_message
    assert message.startswith("Evaluation gate FAILED: ")
    assert cause in message.splitlines()[0]
    assert read_json(s3, f"{RECORD_DIR}/{JOB_ID}.json")["decision"] == "failed"


def test_an_unreadable_artifact_fails_closed(aws) -> None:
    message = invoke().failure_message
    assert f"artifact TrainOutput (s3://{BUCKET}/{ARTIFACT_KEY}) could not be read: NoSuchKey" in message


def test_malformed_user_parameters_fail_closed(aws) -> None:
    s3, _, _ = aws
    put_inputs(s3)
    message = invoke(
        job_event(
            bucket=BUCKET,
            artifacts={"TrainOutput": ARTIFACT_KEY},
            user_parameters="model=3",
        )
    ).failure_message
    assert "UserParameters is not valid JSON" in message


def test_platform_floors_from_the_environment(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, _, _ = aws
    monkeypatch.setenv(
        "PLATFORM_FLOORS",
        json.dumps({"version": 1, "metrics": {"roc_auc": {"min": 0.995}}}),
    )
    put_inputs(s3)
    assert "roc_auc = 0.991 < min 0.995 (platform floor)" in invoke().failure_message


def test_malformed_platform_floors_fail_the_job(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, _, _ = aws
    monkeypatch.setenv("PLATFORM_FLOORS", "{version: 1}")
    put_inputs(s3)
    assert invoke().failure_message.startswith("Evaluation gate FAILED: PLATFORM_FLOORS: not valid JSON")


def test_record_bucket_and_prefix_from_the_environment(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, _, _ = aws
    s3.create_bucket(Bucket="records", CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("RECORD_BUCKET", "records")
    monkeypatch.setenv("RECORD_PREFIX", "audit")
    put_inputs(s3)
    answers = invoke()
    assert answers.only[1]["outputVariables"]["record_uri"] == f"s3://records/audit/evaluation-gate/{JOB_ID}.json"


def test_a_passing_verdict_whose_record_cannot_be_written_fails_closed(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, sagemaker, arn = aws
    monkeypatch.setenv("RECORD_BUCKET", "no-such-bucket")
    put_inputs(s3, package_arn=arn)
    message = invoke().failure_message
    assert message.startswith("Evaluation gate FAILED (fail closed): every rule held, but decision record s3://no-such-bucket/")
    assert "could not be written: NoSuchBucket" in message
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"


def test_a_passing_verdict_whose_package_cannot_be_updated_fails_closed(aws) -> None:
    s3, _, arn = aws
    missing = arn.rsplit("/", 1)[0] + "/99"
    put_inputs(s3, package_arn=missing)
    message = invoke().failure_message
    assert message.startswith(
        f"Evaluation gate FAILED (fail closed): every rule held, but model package {missing} could not be given the decision record"
    )


def test_a_failing_verdict_reports_a_failed_rejection(aws) -> None:
    s3, _, arn = aws
    missing = arn.rsplit("/", 1)[0] + "/99"
    report = evaluation(**{"metrics.log_loss.value": 0.5})
    put_inputs(s3, report=report, package_arn=missing)
    message = invoke().failure_message
    assert message.startswith("Evaluation gate FAILED: log_loss = 0.5 > max 0.25 (repository)")
    assert f"model package {missing} could not be marked Rejected" in message


def test_long_failures_fit_the_limit_and_keep_the_record_uri(aws) -> None:
    s3, _, _ = aws
    names = [f"metric_{i:03d}_" + "x" * 60 for i in range(300)]
    many = {"version": 1, "metrics": {name: {"min": 0.5} for name in names}}
    put_train_output(s3, {"evaluation.json": CONTRACT_EVALUATION, "release-policy.json": many})
    message = invoke().failure_message
    assert len(message) <= 5000
    assert f"Record: s3://{BUCKET}/{RECORD_DIR}/{JOB_ID}.json" in message


def test_each_invocation_answers_exactly_once(aws) -> None:
    s3, _, _ = aws
    put_inputs(s3)
    for event in (
        job_event(bucket=BUCKET, artifacts={"TrainOutput": ARTIFACT_KEY}),
        job_event(bucket=BUCKET, artifacts={}),
    ):
        assert invoke(event).count == 1


def test_an_answer_that_fails_is_not_raised(aws, caplog) -> None:
    s3, _, _ = aws
    put_inputs(s3)
    with (
        record_codepipeline_answers(fail_with=RuntimeError("network down")) as answers,
        caplog.at_level(logging.ERROR),
    ):
        handler(
            job_event(bucket=BUCKET, artifacts={"TrainOutput": ARTIFACT_KEY}),
            FakeLambdaContext(),
        )
    assert answers.count == 1
    assert "could not answer the CodePipeline job" in caplog.text


def test_no_credential_reaches_the_logs_or_the_record(aws, caplog, capsys) -> None:
    s3, _, arn = aws
    report = evaluation(**{"metrics.log_loss.value": 0.5})
    put_inputs(s3, report=report, package_arn=arn)
    # INFO is the level the function logs at (the Lambda runtime's root logger is at WARNING);
    # botocore's own DEBUG output, which prints request headers, is never enabled in the function.
    with caplog.at_level(logging.INFO):
        answers = invoke()
        answers_ok = invoke(job_event(bucket=BUCKET, artifacts={"TrainOutput": "missing"}))
    captured = capsys.readouterr()
    record = s3.get_object(Bucket=BUCKET, Key=f"{RECORD_DIR}/{JOB_ID}.json")["Body"].read().decode()
    everything = caplog.text + captured.out + captured.err + record + json.dumps(answers.calls + answers_ok.calls)
    assert "evaluation gate decided" in caplog.text
    for secret in ARTIFACT_SECRETS:
        assert secret not in everything


def test_the_record_names_the_image_the_release_runs_on(aws) -> None:
    """With its own image, the release trains and serves by digest: the decision record says which."""
    s3, _, arn = aws
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/ml-cicd-model@sha256:" + "ab" * 32
    put_train_output(
        s3,
        {
            "evaluation.json": CONTRACT_EVALUATION,
            "release-policy.json": CONTRACT_POLICY,
            "release.json": {"model_package_arn": arn, "image_uri": image},
        },
    )
    invoke()
    record = read_json(s3, f"{RECORD_DIR}/{JOB_ID}.json")
    assert record["inputs"]["image"] == image


def test_a_failed_job_cannot_carry_output_variables() -> None:
    """Why an inconclusive or failed verdict is not an output variable: CodePipeline's API has no place for it."""
    model = botocore.session.get_session().get_service_model("codepipeline")
    assert "outputVariables" in model.operation_model("PutJobSuccessResult").input_shape.members
    assert set(model.operation_model("PutJobFailureResult").input_shape.members) == {"jobId", "failureDetails"}
