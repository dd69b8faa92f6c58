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

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.aws_errors import code_or_type
from contracts.decision_records import EVALUATION_GATE, record_timestamp
from contracts.model_package_metadata import MAX_VALUE_CHARS, customer_metadata
from contracts.release_record import RELEASE_FILE, ReleaseFileError, release_package_arn
from function_kit.artifacts import (
    ArtifactError,
    ArtifactFile,
    ArtifactReader,
)
from function_kit.clients import client_of
from function_kit.codepipeline_job import (
    CodePipelineJob,
    JobOutcome,
    S3Location,
    UserParametersError,
    parse_user_parameters,
    truncate_message,
)
from function_kit.custody import MODE_REQUIRED, CustodyError, manifest
from function_kit.decision_record import DecisionRecord
from function_kit.pipeline_function import FunctionServices, FunctionSteps, run_pipeline_function
from function_kit.records import (
    RecordError,
    RecordLocation,
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

__all__ = ["GATE_NAME", "EvaluationGateServices", "evaluation_gate_steps", "handler", "run_evaluation_gate"]

GATE_NAME = EVALUATION_GATE
METADATA_DECISION = "evaluation_gate_decision"
METADATA_RECORD = "evaluation_gate_record"
MAX_APPROVAL_DESCRIPTION_CHARS = 1024

LOGGER = gate_logger("evaluation_gate")


@dataclass(eq=False)
class EvaluationGateServices(FunctionServices):
    """The gate's clients (`function_kit.pipeline_function.FunctionServices` plus the registry); tests replace any."""

    sagemaker: Callable[[], Any] = client_of("sagemaker")


@dataclass(eq=False)
class _ReadInputs:
    """What the gate read from the job, and the problems met reading it."""

    job_id: str
    started_at: str
    errors: list[str] = field(default_factory=list)
    files: dict[str, ArtifactFile] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    model_package_arn: str | None = None
    reader: ArtifactReader | None = None
    locations: dict[str, Any] = field(default_factory=dict)
    decided_at: str | None = None


def _custody(read: _ReadInputs, services: EvaluationGateServices) -> dict[str, Any] | None:
    """The chain-of-custody manifest of what this gate judges and the deploy stages will use."""
    if read.reader is None:
        return None
    required = os.environ.get("CHAIN_OF_CUSTODY") == MODE_REQUIRED
    release = read.data.get("release.json")
    model_data_url = release.get("model_data_url") if isinstance(release, Mapping) and required else None
    try:
        s3 = services.records_s3() if required else None
        return manifest(read.reader, s3, model_data_url=model_data_url, required=required)
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


def _read_artifacts(job: CodePipelineJob, services: EvaluationGateServices) -> _ReadInputs:
    read = _ReadInputs(job_id=job.job_id, started_at=record_timestamp())
    try:
        parameters = parse_user_parameters(job.user_parameters)
    except UserParametersError as error:
        read.errors.append(str(error))
        parameters = {}
    try:
        reader = ArtifactReader(services.artifact_s3(job.artifact_credentials), job.input_artifacts)
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


def _write_record(
    job: CodePipelineJob, read: _ReadInputs, record: DecisionRecord, services: EvaluationGateServices
) -> tuple[RecordLocation | None, str | None]:
    anchor, kms_key_id = _record_anchor(job, read)
    if anchor is None:
        return (
            None,
            "the decision record could not be written: no input artifact and no RECORD_BUCKET",
        )
    location = record_location_from_environment(gate=GATE_NAME, job_id=job.job_id, input_artifact=anchor)
    try:
        write_decision_record(
            services.records_s3(),
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


def _update_model_package(
    arn: str, record: DecisionRecord, location: RecordLocation | None, services: EvaluationGateServices
) -> str | None:
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
        services.sagemaker().update_model_package(**request)
    except Exception as error:  # noqa: BLE001 - reported in the job's answer
        action = "marked Rejected" if not record.passed else "given the decision record"
        return f"model package {arn} could not be {action}: {code_or_type(error)}"
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


def _read(job: CodePipelineJob, services: EvaluationGateServices) -> _ReadInputs:
    """The job's files (and what they are: where each came from, the image, the chain of custody)."""
    read = _read_artifacts(job, services)
    read.locations = {
        name: f"{found.artifact.location.uri} (artifact {found.artifact.name})" for name, found in read.files.items()
    }
    read.locations["model_package_arn"] = read.model_package_arn
    release = read.data.get("release.json")
    if isinstance(release, dict) and release.get("image_uri"):
        # The image the release trained on and will serve (by digest when it is the repository's own).
        read.locations["image"] = str(release["image_uri"])[:300]
    read.locations["custody"] = _custody(read, services)
    read.decided_at = record_timestamp()
    return read


def _decide(read: _ReadInputs) -> DecisionRecord:
    """`evaluation_decision.decide` on what was read (pure)."""
    return decide(
        EvaluationInputs(
            evaluation=read.data.get("evaluation.json", NOT_READ),
            repository_policy=read.data.get("release-policy.json", NOT_READ),
            platform_floors=os.environ.get("PLATFORM_FLOORS"),
            errors=read.errors,
            locations=read.locations,
            release=read.data.get("release.json"),
        ),
        job_id=read.job_id,
        started_at=read.started_at,
        decided_at=read.decided_at,
    )


def _package_problems(
    read: _ReadInputs,
    record: DecisionRecord,
    location: RecordLocation | None,
    record_problem: str | None,
    services: EvaluationGateServices,
) -> list[str]:
    """Mark the model package with the verdict (never a pass whose record is lost); the problems met."""
    problems = [record_problem] if record_problem else []
    if read.model_package_arn is None:
        return problems
    if record.passed and record_problem:
        problems.append(f"model package {read.model_package_arn} left unchanged: the record could not be written")
        return problems
    package_problem = _update_model_package(read.model_package_arn, record, location, services)
    return problems + [package_problem] if package_problem else problems


def _write(job: CodePipelineJob, read: _ReadInputs, record: DecisionRecord, services: EvaluationGateServices) -> JobOutcome:
    """Write the record, mark the model package, and say what to answer."""
    location, record_problem = _write_record(job, read, record, services)
    problems = _package_problems(read, record, location, record_problem, services)
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


def evaluation_gate_steps(
    services: EvaluationGateServices,
) -> FunctionSteps[CodePipelineJob, _ReadInputs, DecisionRecord, JobOutcome]:
    """The gate's read → decide → write, with `services`."""
    return FunctionSteps(
        read=lambda job: _read(job, services),
        decide=_decide,
        write=lambda job, read, record: _write(job, read, record, services),
    )


def run_evaluation_gate(event: Any, *, services: EvaluationGateServices | None = None) -> JobOutcome | None:
    """Run the gate on `event` and answer its job; returns what was answered."""
    chosen = services or EvaluationGateServices()
    return run_pipeline_function(event, evaluation_gate_steps(chosen), codepipeline_client=chosen.codepipeline, logger=LOGGER)


def handler(event: Mapping[str, Any], context: Any) -> None:
    """Lambda entry point: `evaluation_gate.handler.handler`."""
    run_evaluation_gate(event)
