"""function_kit.records: where decision records go and how they are written."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from function_kit.codepipeline_job import S3Location
from function_kit.records import (
    RecordError,
    record_kms_key_id,
    record_location,
    record_location_from_environment,
    write_decision_record,
)
from function_kit_fixtures import REGION, aws_credentials
from rehearsal.codepipeline_double import JOB_ID

__all__ = ["aws_credentials"]

ARTIFACT = S3Location("artifact-bucket", "ml-pipeline/TrainOutpu/AbCdE12")


def test_default_is_beside_the_input_artifact() -> None:
    location = record_location(gate="evaluation-gate", job_id=JOB_ID, input_artifact=ARTIFACT)
    assert location.json.uri == f"s3://artifact-bucket/ml-pipeline/TrainOutpu/decision-records/evaluation-gate/{JOB_ID}.json"
    assert location.markdown.uri == f"s3://artifact-bucket/ml-pipeline/TrainOutpu/decision-records/evaluation-gate/{JOB_ID}.md"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"RECORD_BUCKET": "records"},
            f"s3://records/decision-records/evaluation-gate/{JOB_ID}.json",
        ),
        (
            {"RECORD_BUCKET": "records", "RECORD_PREFIX": "/audit/"},
            f"s3://records/audit/evaluation-gate/{JOB_ID}.json",
        ),
        (
            {"RECORD_PREFIX": "audit"},
            f"s3://artifact-bucket/audit/evaluation-gate/{JOB_ID}.json",
        ),
        (
            {"RECORD_BUCKET": "", "RECORD_PREFIX": ""},
            f"s3://artifact-bucket/ml-pipeline/TrainOutpu/decision-records/evaluation-gate/{JOB_ID}.json",
        ),
    ],
)
def test_environment_overrides(environ: dict[str, str], expected: str) -> None:
    location = record_location_from_environment(gate="evaluation-gate", job_id=JOB_ID, input_artifact=ARTIFACT, environ=environ)
    assert location.json.uri == expected


@pytest.fixture
def s3(aws_credentials: None):
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket="artifact-bucket",
            CreateBucketConfiguration={"LocationConstraint": REGION},
        )
        yield client


def test_writes_both_renderings_with_the_artifact_key(s3) -> None:
    location = record_location(gate="g", job_id=JOB_ID, input_artifact=ARTIFACT)
    key_arn = "arn:aws:kms:eu-west-1:111122223333:key/abc"
    write_decision_record(
        s3,
        location,
        json_text='{"ok": true}\n',
        markdown_text="# ✅",
        kms_key_id=key_arn,
    )
    head = s3.head_object(Bucket=location.json.bucket, Key=location.json.key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn
    assert head["ContentType"] == "application/json"
    body = s3.get_object(Bucket=location.markdown.bucket, Key=location.markdown.key)["Body"].read()
    assert body.decode("utf-8") == "# ✅"


def test_without_a_known_key_aws_kms_is_still_sent(s3) -> None:
    """The bucket policy refuses a put without `aws:kms`; with no key known, S3 picks the aws/s3 key."""
    location = record_location(gate="g", job_id=JOB_ID, input_artifact=ARTIFACT)
    sent: list[dict] = []
    s3.meta.events.register(
        "provide-client-params.s3.PutObject",
        lambda params, **_: sent.append(dict(params)),
    )
    write_decision_record(s3, location, json_text="{}", markdown_text="")
    assert len(sent) == 2
    assert all(params["ServerSideEncryption"] == "aws:kms" and "SSEKMSKeyId" not in params for params in sent)


@pytest.mark.parametrize(
    ("environ", "record_bucket", "expected"),
    [
        ({"RECORD_KMS_KEY_ARN": "configured"}, "artifact-bucket", "configured"),
        ({"RECORD_KMS_KEY_ARN": "configured"}, "records", "configured"),
        ({}, "artifact-bucket", "artifact-key"),
        ({}, "records", None),  # another bucket: the artifact's key is not known to fit it
    ],
)
def test_the_record_key_is_configured_else_the_artifacts(environ, record_bucket, expected) -> None:
    location = record_location(gate="g", job_id=JOB_ID, input_artifact=ARTIFACT, record_bucket=record_bucket)
    chosen = record_kms_key_id(location, input_artifact=ARTIFACT, artifact_kms_key_id="artifact-key", environ=environ)
    assert chosen == expected


def test_a_write_failure_names_the_object(s3) -> None:
    location = record_location(gate="g", job_id=JOB_ID, input_artifact=S3Location("no-such-bucket", "k/x"))
    with pytest.raises(
        RecordError,
        match=r"s3://no-such-bucket/k/decision-records/g/.*\.json could not be written: NoSuchBucket",
    ):
        write_decision_record(s3, location, json_text="{}", markdown_text="")
