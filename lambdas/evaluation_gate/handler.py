"""Evaluation gate Lambda (CodePipeline invoke action): I/O around `evaluation_decision`.

Reads `evaluation.json`, `release-policy.json` and, optionally, `release.json`
from the root of the input artifact(s) with the job's artifact credentials;
decides; writes the decision record; marks the model package (Rejected on a
failed verdict, metadata either way); answers the job exactly once. The record
carries the chain-of-custody manifest (`function_kit/custody.py`) that the deploy
stages check; with `CHAIN_OF_CUSTODY=required` (the deployed function) a file
or model it cannot account for fails the gate. Never
raises, never logs the event. boto3 is imported on first use, not at import.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.model_package_metadata import MAX_VALUE_CHARS, customer_metadata
from contracts.release_record import RELEASE_FILE, ReleaseFileError, release_package_arn
from function_kit.artifacts import (
    ArtifactError,
    ArtifactFile,
    ArtifactReader,
    artifact_s3_client,
)
from function_kit.codepipeline_job import (
    CodePipelineJob,
    JobOutcome,
    S3Location,
    UserParametersError,
    parse_user_parameters,
    run_job,
    truncate_message,
)
from function_kit.custody import MODE_REQUIRED, CustodyError, manifest
from function_kit.decision_record import DecisionRecord
from function_kit.records import (
    RecordError,
    RecordLocation,
    default_s3_client,
    record_kms_key_id,
    record_location_from_environment,
    write_decision_record,
)
from function_kit.structured_log import gate_logger, log_fields

from .evaluation_decision import (
    MODEL_PACKAGE_ARN_PATTERN,
    NOT_READ,
    EvaluationInputs,
    decide,
)

__all__ = ["GATE_NAME", "handler"]

GATE_NAME = "evaluation_gate"
METADATA_DECISION = "evaluation_gate_decision"
METADATA_RECORD = "evaluation_gate_record"
MAX_APPROVAL_DESCRIPTION_CHARS = 1024

LOGGER = gate_logger("evaluation_gate")


def handler(event: Mapping[str, Any], context: Any) -> None:
    """Lambda entry point: `evaluation_gate.handler.handler`."""
    run_job(event, evaluate_job, logger=LOGGER)


@functools.cache
def _sagemaker_client() -> Any:
    """Created on first use (boto3 is not imported at cold start) and reused while warm."""
    import boto3

    return boto3.client("sagemaker")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


@dataclass
class _ReadInputs:
    """What the gate read from the job, and the problems met reading it."""

    errors: list[str] = field(default_factory=list)
    files: dict[str, ArtifactFile] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    model_package_arn: str | None = None
    reader: ArtifactReader | None = None


def _custody(read: _ReadInputs) -> dict[str, Any] | None:
    """The chain-of-custody manifest of what this gate judges and the deploy stages will use."""
    if read.reader is None:
        return None
    required = os.environ.get("CHAIN_OF_CUSTODY") == MODE_REQUIRED
    release = read.data.get("release.json")
    model_data_url = release.get("model_data_url") if isinstance(release, Mapping) and required else None
    try:
        return manifest(read.reader, default_s3_client() if required else None, model_data_url=model_data_url, required=required)
    except CustodyError as error:
        read.errors.append(f"chain of custody: {error}")
        return None


def _read_json_file(reader: ArtifactReader, name: str, read: _ReadInputs, *, required: bool) -> None:
    try:
        found = reader.require(name) if required else reader.find(name)
        if found is not None:
            read.data[name] = found.json()
            read.files[name] = found
    except ArtifactError as error:
        read.errors.append(str(error))


def _model_package_arn(parameters: Mapping[str, Any], read: _ReadInputs) -> str | None:
    """From `UserParameters.model_package_arn`, else `release.json`; validated, or an error."""
    if "model_package_arn" in parameters:
        arn, where = parameters["model_package_arn"], "UserParameters.model_package_arn"
    elif RELEASE_FILE in read.data:
        try:
            return release_package_arn(read.data[RELEASE_FILE])
        except ReleaseFileError as error:
            read.errors.append(str(error))
            return None
    else:
        return None
    if not isinstance(arn, str) or not MODEL_PACKAGE_ARN_PATTERN.match(arn):
        read.errors.append(f"{where}: {str(arn)[:200]!r} is not a SageMaker model package ARN")
        return None
    return arn


def _read_inputs(job: CodePipelineJob) -> _ReadInputs:
    read = _ReadInputs()
    try:
        parameters = parse_user_parameters(job.user_parameters)
    except UserParametersError as error:
        read.errors.append(str(error))
        parameters = {}
    try:
        reader = ArtifactReader(artifact_s3_client(job.artifact_credentials), job.input_artifacts)
    except ArtifactError as error:
        read.errors.append(str(error))
        return read
    read.reader = reader
    for name, required in (
        ("evaluation.json", True),
        ("release-policy.json", True),
        ("release.json", False),
    ):
        _read_json_file(reader, name, read, required=required)
    read.model_package_arn = _model_package_arn(parameters, read)
    return read


def _record_anchor(job: CodePipelineJob, read: _ReadInputs) -> tuple[S3Location | None, str | None]:
    """Where the record goes beside (the artifact holding evaluation.json), and that artifact's KMS key."""
    found = read.files.get("evaluation.json")
    if found is not None:
        return found.artifact.location, found.kms_key_id
    if job.input_artifacts:
        return job.input_artifacts[0].location, None
    bucket = os.environ.get("RECORD_BUCKET")
    return (S3Location(bucket, ""), None) if bucket else (None, None)


def _write_record(job: CodePipelineJob, read: _ReadInputs, record: DecisionRecord) -> tuple[RecordLocation | None, str | None]:
    anchor, kms_key_id = _record_anchor(job, read)
    if anchor is None:
        return (
            None,
            "the decision record could not be written: no input artifact and no RECORD_BUCKET",
        )
    location = record_location_from_environment(gate=GATE_NAME, job_id=job.job_id, input_artifact=anchor)
    try:
        write_decision_record(
            default_s3_client(),
            location,
            json_text=record.to_json(),
            markdown_text=record.to_markdown(),
            kms_key_id=record_kms_key_id(location, input_artifact=anchor, artifact_kms_key_id=kms_key_id),
        )
    except RecordError as error:
        return None, str(error)
    return location, None


def _approval_description(record: DecisionRecord, record_uri: str | None) -> str:
    where = f" Record: {record_uri}." if record_uri else ""
    text = f"Rejected by the evaluation gate.{where} {record.verdict_line()}"
    return truncate_message(" ".join(text.split()), MAX_APPROVAL_DESCRIPTION_CHARS)


def _update_model_package(arn: str, record: DecisionRecord, location: RecordLocation | None) -> str | None:
    """Attach the verdict to the package (and reject it on a failed verdict); the problem, if any."""
    record_uri = location.json.uri if location else None
    properties = {METADATA_DECISION: record.decision}
    if record_uri and len(record_uri) <= MAX_VALUE_CHARS:  # a cut URI would point nowhere
        properties[METADATA_RECORD] = record_uri
    request: dict[str, Any] = {
        "ModelPackageArn": arn,
        "CustomerMetadataProperties": customer_metadata(properties),
    }
    if not record.passed:
        request["ModelApprovalStatus"] = "Rejected"
        request["ApprovalDescription"] = _approval_description(record, record_uri)
    try:
        _sagemaker_client().update_model_package(**request)
    except Exception as error:  # noqa: BLE001 - reported in the job's answer
        code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
        action = "marked Rejected" if not record.passed else "given the decision record"
        return f"model package {arn} could not be {action}: {code}"
    if record_uri and METADATA_RECORD not in properties:
        return f"model package {arn}: the record URI is longer than {MAX_VALUE_CHARS} characters"
    return None


def _outcome(record: DecisionRecord, location: RecordLocation | None, problems: list[str]) -> JobOutcome:
    record_line = f"Record: {location.json.uri} (summary: {location.markdown.uri})" if location else "Record: not written"
    if record.passed and not problems:
        assert location is not None
        return JobOutcome(
            succeeded=True,
            message=f"{record.verdict_line()}. {record_line}",
            output_variables={
                "decision": record.decision,
                "record_uri": location.json.uri,
                "summary_uri": location.markdown.uri,
            },
            external_execution_id=location.json.uri,
        )
    verdict = record.verdict_line()
    if record.passed:
        verdict = f"{record.gate} FAILED (fail closed): every rule held, but {problems[0]}"
    lines = [truncate_message(" ".join(verdict.split()), 3000), record_line, *problems]
    return JobOutcome(
        succeeded=False,
        message=truncate_message("\n".join(lines)),
        external_execution_id=location.json.uri if location else None,
    )


def evaluate_job(job: CodePipelineJob) -> JobOutcome:
    """Read, decide, record, mark the package; the outcome `run_job` answers with."""
    started_at = _now()
    read = _read_inputs(job)
    locations: dict[str, Any] = {
        name: f"{found.artifact.location.uri} (artifact {found.artifact.name})" for name, found in read.files.items()
    }
    locations["model_package_arn"] = read.model_package_arn
    release = read.data.get("release.json")
    if isinstance(release, dict) and release.get("image_uri"):
        # The image the release trained on and will serve (by digest when it is the repository's own).
        locations["image"] = str(release["image_uri"])[:300]
    locations["custody"] = _custody(read)
    record = decide(
        EvaluationInputs(
            evaluation=read.data.get("evaluation.json", NOT_READ),
            repository_policy=read.data.get("release-policy.json", NOT_READ),
            platform_floors=os.environ.get("PLATFORM_FLOORS"),
            errors=read.errors,
            locations=locations,
            release=read.data.get("release.json"),
        ),
        job_id=job.job_id,
        started_at=started_at,
        decided_at=_now(),
    )
    location, record_problem = _write_record(job, read, record)
    problems = [record_problem] if record_problem else []
    if read.model_package_arn is None:
        pass
    elif record.passed and record_problem:
        problems.append(f"model package {read.model_package_arn} left unchanged: the record could not be written")
    else:
        package_problem = _update_model_package(read.model_package_arn, record, location)
        if package_problem:
            problems.append(package_problem)
    outcome = _outcome(record, location, problems)
    log_fields(
        LOGGER,
        logging.INFO if outcome.succeeded else logging.WARNING,
        "evaluation gate decided",
        job_id=job.job_id,
        decision=record.decision,
        answer="succeeded" if outcome.succeeded else "failed",
        failed_rules=[rule.rule_id for rule in record.failed_rules],
        errors=len(record.errors),
        problems=problems,
        record_uri=location.json.uri if location else None,
        model_package_arn=read.model_package_arn,
    )
    return outcome
