"""Write a gate's decision record (JSON and Markdown) to S3.

Records are written with the function's own credentials (the job's artifact
credentials are read-only). Where they go:

- `RECORD_BUCKET` / `RECORD_PREFIX` when set;
- otherwise the input artifact's bucket, beside the artifact:
  `<artifact-key-dir>/decision-records/<record name>/<job-id>.json|.md`
  (the naming is `contracts/decision_records.py`'s).

Encryption: every put carries `ServerSideEncryption: aws:kms`, on every
path, success or failure: the artifact bucket's policy denies a put without it
(`DenyUnencryptedUploads`), so a record written without it would be lost,
exactly when a verdict failed. The key is `RECORD_KMS_KEY_ARN` (the artifact
key, set by the CDK app), else the input artifact's own KMS key when the record
goes to the artifact's bucket; with neither, S3 uses the account's `aws/s3`
key ("If you specify x-amz-server-side-encryption:aws:kms, but don't provide
x-amz-server-side-encryption-aws-kms-key-id, Amazon S3 uses the AWS managed
key (aws/s3) to protect the data", PutObject API reference).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Any, NamedTuple

from contracts.aws_errors import code_or_type
from contracts.decision_records import RECORD_FOLDER, record_stem

from .clients import aws_client
from .codepipeline_job import CodePipelineJob, JobOutcome, S3Location

__all__ = [
    "RecordError",
    "RecordLocation",
    "default_s3_client",
    "outcome_with_record",
    "record_kms_key_id",
    "record_location",
    "record_location_from_environment",
    "write_decision_record",
]


class RecordError(RuntimeError):
    """The decision record could not be written."""


class RecordLocation(NamedTuple):
    """Where a decision record's two renderings live."""

    json: S3Location
    markdown: S3Location


def record_location(
    *,
    gate: str,
    job_id: str,
    input_artifact: S3Location,
    record_bucket: str | None = None,
    record_prefix: str | None = None,
) -> RecordLocation:
    """The record's keys: configured bucket/prefix, else beside the input artifact."""
    bucket = record_bucket or input_artifact.bucket
    if record_prefix is not None and record_prefix.strip("/"):
        prefix = record_prefix.strip("/")
    elif record_bucket:
        prefix = RECORD_FOLDER
    else:
        artifact_dir = posixpath.dirname(input_artifact.key)
        prefix = posixpath.join(artifact_dir, RECORD_FOLDER) if artifact_dir else RECORD_FOLDER
    stem = record_stem(prefix, gate, job_id)
    return RecordLocation(
        json=S3Location(bucket, f"{stem}.json"),
        markdown=S3Location(bucket, f"{stem}.md"),
    )


def record_location_from_environment(
    *,
    gate: str,
    job_id: str,
    input_artifact: S3Location,
    environ: Mapping[str, str] | None = None,
) -> RecordLocation:
    """`record_location` configured by `RECORD_BUCKET` and `RECORD_PREFIX` (both optional)."""
    env = os.environ if environ is None else environ
    return record_location(
        gate=gate,
        job_id=job_id,
        input_artifact=input_artifact,
        record_bucket=env.get("RECORD_BUCKET") or None,
        record_prefix=env.get("RECORD_PREFIX") or None,
    )


def record_kms_key_id(
    location: RecordLocation,
    *,
    input_artifact: S3Location | None,
    artifact_kms_key_id: str | None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The KMS key for the record: `RECORD_KMS_KEY_ARN`, else the artifact's key when the record shares its bucket."""
    env = os.environ if environ is None else environ
    configured = env.get("RECORD_KMS_KEY_ARN") or None
    if configured:
        return configured
    if input_artifact is not None and location.json.bucket == input_artifact.bucket:
        return artifact_kms_key_id
    return None


def default_s3_client() -> Any:
    """An S3 client with the function's own credentials (SigV4), reused across warm invocations."""
    return aws_client("s3")


def write_decision_record(
    s3_client: Any,
    location: RecordLocation,
    *,
    json_text: str,
    markdown_text: str,
    kms_key_id: str | None = None,
) -> RecordLocation:
    """Put both renderings, always with `aws:kms` (and the key when known); raise `RecordError` naming the failure."""
    encryption = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        encryption["SSEKMSKeyId"] = kms_key_id
    for target, body, content_type in (
        (location.json, json_text, "application/json"),
        (location.markdown, markdown_text, "text/markdown; charset=utf-8"),
    ):
        try:
            s3_client.put_object(
                Bucket=target.bucket,
                Key=target.key,
                Body=body.encode("utf-8"),
                ContentType=content_type,
                **encryption,
            )
        except Exception as error:  # noqa: BLE001 - reported to the caller as one line
            raise RecordError(f"decision record {target.uri} could not be written: {code_or_type(error)}") from None
    return location


def outcome_with_record(
    job: CodePipelineJob,
    *,
    gate: str,
    passed: bool,
    decision: str,
    verdict: str,
    json_text: str,
    markdown_text: str,
    s3_client: Any,
    environ: Mapping[str, str],
    kms_key_id: str | None = None,
) -> JobOutcome:
    """Write a gate's decision record beside its input artifact and build the job's answer around it.

    The answer names the record (message, output variables `decision`,
    `record_uri`, `summary_uri`, external execution id). A verdict whose
    record cannot be written is a failure: a pass without its record is not a pass.
    """
    if not job.input_artifacts:
        return JobOutcome(succeeded=False, message=f"{verdict} (no decision record: the job has no input artifact)")
    anchor = job.input_artifacts[0].location
    location = record_location_from_environment(gate=gate, job_id=job.job_id, input_artifact=anchor, environ=environ)
    key = record_kms_key_id(location, input_artifact=anchor, artifact_kms_key_id=kms_key_id, environ=environ)
    try:
        write_decision_record(s3_client, location, json_text=json_text, markdown_text=markdown_text, kms_key_id=key)
    except Exception as error:  # noqa: BLE001 - a verdict without its record is not a pass
        return JobOutcome(succeeded=False, message=f"{verdict}; and the decision record failed: {error}")
    return JobOutcome(
        succeeded=passed,
        message=f"{verdict} (record: {location.markdown.uri})",
        output_variables={"decision": decision, "record_uri": location.json.uri, "summary_uri": location.markdown.uri},
        external_execution_id=location.json.uri,
    )
