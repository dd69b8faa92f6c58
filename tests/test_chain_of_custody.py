"""Chain of custody: the evaluation gate records what it judged; every deploy refuses a change (issue 18, part 3).

The real evaluation gate and the real promote function (`verify_custody`,
`verify_production`) run on documented CodePipeline events against moto S3
(versioned buckets, as deployed) and SageMaker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from evaluation_gate.handler import handler as evaluation_gate
from evaluation_gate_fixtures import CONTRACT_EVALUATION, CONTRACT_POLICY
from function_kit.custody import CUSTODY_FILES, compare
from function_kit_fixtures import REGION, put_zip_artifact, set_fake_aws_environment
from promote.handler import PromoteServices, run_promote
from rehearsal.codepipeline_double import FakeLambdaContext, job_event, record_codepipeline_answers
from staging_fixtures import register_package

ARTIFACTS, RELEASES = "artifact-bucket", "release-bucket"
TRAIN_OUTPUT = "ml-pipeline/TrainOutpu/AbCdE12"
MODEL_URL = f"s3://{RELEASES}/releases/run-1/training/run-1/output/model.tar.gz"
TEMPLATE = {"Resources": {"Endpoint": {"Type": "AWS::SageMaker::Endpoint"}}}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Versioned artifact store and release bucket, a model in it, a registered package, a full TrainOutput."""
    set_fake_aws_environment(monkeypatch)
    monkeypatch.delenv("PLATFORM_FLOORS", raising=False)
    monkeypatch.setenv("RECORD_BUCKET", RELEASES)
    monkeypatch.setenv("RECORD_PREFIX", "decision-records/")
    monkeypatch.setenv("CHAIN_OF_CUSTODY", "required")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACTS, RELEASES):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=RELEASES, Key=MODEL_URL.split("/", 3)[3], Body=b"the judged model")
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        arn = register_package(sagemaker, group="example")
        files = train_output(arn)
        put_zip_artifact(s3, ARTIFACTS, TRAIN_OUTPUT, files)
        yield {"s3": s3, "sagemaker": sagemaker, "arn": arn, "files": files}


def train_output(arn: str) -> dict[str, Any]:
    files: dict[str, Any] = {
        "evaluation.json": CONTRACT_EVALUATION,
        "release-policy.json": CONTRACT_POLICY,
        "release.json": {"model_package_arn": arn, "model_package_group_name": "example", "model_data_url": MODEL_URL},
    }
    for stage in ("staging", "production"):
        files[f"endpoint/{stage}.template.json"] = TEMPLATE
        files[f"endpoint/{stage}.config.json"] = {"Parameters": {"ModelPackageArn": arn}}
    return files


def judge(aws: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Run the evaluation gate; return its answer and its decision record (JSON)."""
    with record_codepipeline_answers() as answers:
        evaluation_gate(job_event(bucket=ARTIFACTS, artifacts={"TrainOutput": TRAIN_OUTPUT}), FakeLambdaContext())
    listed = aws["s3"].list_objects_v2(Bucket=RELEASES, Prefix="decision-records/").get("Contents", [])
    records = [o["Key"] for o in listed if o["Key"].endswith(".json")]
    record = json.loads(aws["s3"].get_object(Bucket=RELEASES, Key=records[0])["Body"].read()) if records else None
    return answers, record


def check(aws: dict[str, Any], action: str = "verify_custody", **extra: str) -> Any:
    parameters = {
        "action": action,
        "custody_record": f"s3://{RELEASES}/decision-records/evaluation-gate/11111111-2222-3333-4444-555555555555.json",
        **extra,
    }
    with record_codepipeline_answers() as answers:
        run_promote(
            job_event(
                bucket=ARTIFACTS,
                artifacts={"TrainOutput": TRAIN_OUTPUT},
                function_name="promote",
                user_parameters=json.dumps(parameters),
            ),
            services=PromoteServices(
                sagemaker=lambda: aws["sagemaker"], records_s3=lambda: aws["s3"], artifact_s3=lambda _credentials: aws["s3"]
            ),
            environ={"RECORD_BUCKET": RELEASES, "RECORD_PREFIX": "decision-records/"},
        )
    return answers


def test_the_evaluation_gate_records_the_digest_of_every_file_and_the_model(aws: dict[str, Any]) -> None:
    answers, record = judge(aws)
    assert answers.succeeded and record is not None
    custody = record["inputs"]["custody"]
    assert custody["mode"] == "required" and set(custody["files"]) == set(CUSTODY_FILES)
    zipped = json.dumps(aws["files"]["endpoint/production.template.json"]).encode()
    assert custody["files"]["endpoint/production.template.json"] == hashlib.sha256(zipped).hexdigest()
    head = aws["s3"].head_object(Bucket=ARTIFACTS, Key=TRAIN_OUTPUT)
    assert custody["artifact_versions"] == {"TrainOutput": head["VersionId"]}
    model = custody["model"]
    assert model["sha256"] == hashlib.sha256(b"the judged model").hexdigest() and model["s3_uri"] == MODEL_URL
    assert model["version_id"] == aws["s3"].head_object(Bucket=RELEASES, Key=MODEL_URL.split("/", 3)[3])["VersionId"]


def test_an_unchanged_release_passes_the_check_before_each_deploy(aws: dict[str, Any]) -> None:
    judge(aws)
    answers = check(aws)
    assert answers.succeeded, answers.calls


def test_a_changed_endpoint_template_stops_the_deploy(aws: dict[str, Any]) -> None:
    judge(aws)
    files = dict(aws["files"])
    files["endpoint/production.template.json"] = {"Resources": {"Backdoor": {"Type": "AWS::IAM::Role"}}}
    put_zip_artifact(aws["s3"], ARTIFACTS, TRAIN_OUTPUT, files)
    message = check(aws).failure_message
    assert "custody" in message or "changed since the evaluation gate judged" in message
    assert "endpoint/production.template.json" in message


def test_an_overwritten_model_stops_the_deploy_and_production_verification(aws: dict[str, Any]) -> None:
    judge(aws)
    aws["s3"].put_object(Bucket=RELEASES, Key=MODEL_URL.split("/", 3)[3], Body=b"another model")
    assert "model version_id" in check(aws).failure_message
    verify = check(aws, "verify_production", endpoint_name="ml-cicd-production")
    assert "model version_id" in verify.failure_message


def test_a_gate_that_cannot_account_for_a_template_fails_closed(aws: dict[str, Any]) -> None:
    files = {k: v for k, v in aws["files"].items() if k != "endpoint/staging.config.json"}
    put_zip_artifact(aws["s3"], ARTIFACTS, TRAIN_OUTPUT, files)
    answers, _ = judge(aws)
    assert "chain of custody: endpoint/staging.config.json is missing" in answers.failure_message


def test_a_record_without_a_required_manifest_is_refused(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAIN_OF_CUSTODY")
    answers, record = judge(aws)
    assert answers.succeeded and record is not None and record["inputs"]["custody"]["mode"] == "recorded"
    assert "not 'required'" in check(aws).failure_message


def test_a_custody_record_outside_the_release_bucket_is_refused(aws: dict[str, Any]) -> None:
    judge(aws)
    answers = check(aws, custody_record=f"s3://{ARTIFACTS}/forged.json")
    assert "is not a record in the release bucket" in answers.failure_message


def test_compare_names_every_difference() -> None:
    recorded = {
        "version": 1,
        "mode": "required",
        "files": {"a": "1", "b": "2"},
        "model": {"s3_uri": "s3://x/m", "version_id": "v1", "etag": "e", "size": 3},
    }
    now = {"files": {"a": "1", "b": "3", "c": "4"}}
    problems = compare(recorded, now, {"s3_uri": "s3://x/m", "version_id": "v2", "etag": "e", "size": 3})
    assert [p.split(":")[0] for p in problems] == ["b", "c", "model version_id"]
    assert compare({"version": 1, "mode": "required", **now, "model": recorded["model"]}, now, recorded["model"]) == []


def test_the_refused_deploy_says_so_in_its_decision_record(aws: dict[str, Any]) -> None:
    """The `verify-custody` record names the failed rule and the changed file, as the threat model says."""
    judge(aws)
    files = dict(aws["files"])
    files["endpoint/staging.config.json"] = {"Parameters": {"ModelPackageArn": "arn:aws:sagemaker:::model-package/x/9"}}
    put_zip_artifact(aws["s3"], ARTIFACTS, TRAIN_OUTPUT, files)
    assert check(aws).failure_message
    listed = aws["s3"].list_objects_v2(Bucket=RELEASES, Prefix="decision-records/")["Contents"]
    keys = [o["Key"] for o in listed if "custody" in o["Key"] and o["Key"].endswith(".json")]
    assert keys, [o["Key"] for o in listed]
    record = json.loads(aws["s3"].get_object(Bucket=RELEASES, Key=keys[-1])["Body"].read())
    assert record["gate"] == "verify-custody" and record["decision"] == "failed" and record["passed"] is False
    (rule,) = record["rules"]
    assert rule["rule_id"] == "custody.unchanged" and rule["outcome"] == "failed"
    assert "endpoint/staging.config.json" in rule["reason"] and "when judged" in rule["reason"]
    assert record["inputs"]["custody_record"].endswith("/evaluation-gate/11111111-2222-3333-4444-555555555555.json")
