"""Parse a CodePipeline Lambda-invoke event and answer the job exactly once.

CodePipeline invokes the function asynchronously and waits for
`PutJobSuccessResult` or `PutJobFailureResult`; an unanswered job hangs until
its timeout and an exception raised out of the handler makes Lambda retry the
whole invocation. `run_job` therefore owns the answer: the gate's own code
returns a `JobOutcome` (or raises), and exactly one answer is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from contracts.aws_errors import describe_exception

from .clients import aws_client
from .input_limits import BoundedJsonError, json_refusal, parse_bounded_json
from .structured_log import gate_logger, log_fields, quiet_sdk_debug_logs

__all__ = [
    "MAX_FAILURE_MESSAGE_CHARS",
    "ArtifactCredentials",
    "CodePipelineJob",
    "InputArtifact",
    "JobEventError",
    "JobOutcome",
    "S3Location",
    "UserParametersError",
    "job_id_of",
    "parse_job_event",
    "parse_user_parameters",
    "run_job",
    "truncate_message",
]

MAX_FAILURE_MESSAGE_CHARS = 5000
"""CodePipeline's limit on `failureDetails.message`."""

_TRUNCATION_MARK = " … [truncated] … "

_LOGGER = gate_logger("function_kit.codepipeline_job")


class JobEventError(ValueError):
    """The invocation event is not a CodePipeline job event of the documented shape."""


class UserParametersError(ValueError):
    """The action's `UserParameters` is present but not a JSON object."""


class S3Location(NamedTuple):
    """An object in S3."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        """The `s3://bucket/key` form people and the AWS CLI use."""
        return f"s3://{self.bucket}/{self.key}"


class InputArtifact(NamedTuple):
    """One input or output artifact of the job (a zip file in the artifact bucket)."""

    name: str
    location: S3Location
    revision: str | None = None


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class ArtifactCredentials:
    """Temporary credentials CodePipeline hands the job to read its artifacts.

    `repr` hides the secrets so the object can never leak into a log line.
    """

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration_time: str | None = None


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class CodePipelineJob:
    """The parts of `event["CodePipeline.job"]` a gate needs."""

    job_id: str
    account_id: str | None
    function_name: str | None
    user_parameters: str | None
    input_artifacts: tuple[InputArtifact, ...]
    output_artifacts: tuple[InputArtifact, ...]
    artifact_credentials: ArtifactCredentials | None = field(repr=False)
    continuation_token: str | None = None


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class JobOutcome:
    """What the gate wants reported to CodePipeline.

    `output_variables` and `continuation_token` are only sent with a success.
    `external_execution_id` (e.g. the decision record URI) is sent with both.
    """

    succeeded: bool
    message: str
    output_variables: Mapping[str, str] | None = None
    continuation_token: str | None = None
    external_execution_id: str | None = None


def _require_str(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise JobEventError(f"{where}.{key} is missing or not a non-empty string")
    return value


def _optional_str(mapping: Mapping[str, Any], key: str, where: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise JobEventError(f"{where}.{key} is not a string")
    return value


def _require_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise JobEventError(f"{where} is missing or not an object")
    return value


def _parse_artifacts(value: Any, where: str) -> tuple[InputArtifact, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise JobEventError(f"{where} is not a list")
    artifacts = []
    for index, raw in enumerate(value):
        here = f"{where}[{index}]"
        raw = _require_mapping(raw, here)
        location = _require_mapping(raw.get("location"), f"{here}.location")
        location_type = location.get("type")
        if location_type != "S3":
            raise JobEventError(f"{here}.location.type is {location_type!r}, expected 'S3'")
        s3 = _require_mapping(location.get("s3Location"), f"{here}.location.s3Location")
        artifacts.append(
            InputArtifact(
                name=_require_str(raw, "name", here),
                revision=_optional_str(raw, "revision", here),
                location=S3Location(
                    bucket=_require_str(s3, "bucketName", f"{here}.location.s3Location"),
                    key=_require_str(s3, "objectKey", f"{here}.location.s3Location"),
                ),
            )
        )
    return tuple(artifacts)


def _parse_credentials(value: Any) -> ArtifactCredentials | None:
    if value is None:
        return None
    where = "CodePipeline.job.data.artifactCredentials"
    raw = _require_mapping(value, where)
    expiration = raw.get("expirationTime")
    return ArtifactCredentials(
        access_key_id=_require_str(raw, "accessKeyId", where),
        secret_access_key=_require_str(raw, "secretAccessKey", where),
        session_token=_require_str(raw, "sessionToken", where),
        expiration_time=None if expiration is None else str(expiration),
    )


def job_id_of(event: Any) -> str | None:
    """The job id, if the event has a usable one (so even a malformed job can be answered)."""
    if isinstance(event, Mapping):
        job = event.get("CodePipeline.job")
        if isinstance(job, Mapping):
            job_id = job.get("id")
            if isinstance(job_id, str) and job_id:
                return job_id
    return None


def parse_job_event(event: Any) -> CodePipelineJob:
    """Turn the Lambda event into a `CodePipelineJob`, or raise `JobEventError` naming the bad key."""
    root = _require_mapping(event, "event")
    job = _require_mapping(root.get("CodePipeline.job"), "CodePipeline.job")
    job_id = _require_str(job, "id", "CodePipeline.job")
    data = _require_mapping(job.get("data"), "CodePipeline.job.data")
    action = data.get("actionConfiguration") or {}
    action = _require_mapping(action, "CodePipeline.job.data.actionConfiguration")
    configuration = _require_mapping(
        action.get("configuration") or {},
        "CodePipeline.job.data.actionConfiguration.configuration",
    )
    where = "CodePipeline.job.data.actionConfiguration.configuration"
    return CodePipelineJob(
        job_id=job_id,
        account_id=_optional_str(job, "accountId", "CodePipeline.job"),
        function_name=_optional_str(configuration, "FunctionName", where),
        user_parameters=_optional_str(configuration, "UserParameters", where),
        input_artifacts=_parse_artifacts(data.get("inputArtifacts"), "CodePipeline.job.data.inputArtifacts"),
        output_artifacts=_parse_artifacts(data.get("outputArtifacts"), "CodePipeline.job.data.outputArtifacts"),
        artifact_credentials=_parse_credentials(data.get("artifactCredentials")),
        continuation_token=_optional_str(data, "continuationToken", "CodePipeline.job.data"),
    )


def parse_user_parameters(raw: str | None) -> dict[str, Any]:
    """`UserParameters` as a dict: `{}` when absent or blank, else it must be a JSON object."""
    if raw is None or not raw.strip():
        return {}
    try:  # within the JSON bounds: variables resolved into it may be anything (docs/contracts.md#limits)
        value = parse_bounded_json(raw)
    except BoundedJsonError as error:
        raise UserParametersError(json_refusal("UserParameters", error)) from None
    if not isinstance(value, dict):
        raise UserParametersError(f"UserParameters must be a JSON object, got {type(value).__name__}")
    return value


def truncate_message(message: str, limit: int = MAX_FAILURE_MESSAGE_CHARS) -> str:
    """`message` cut to at most `limit` characters by removing its middle, marked where cut.

    The end survives (up to a third of `limit`): messages end with where the
    decision record is (`... (record: s3://...)`), which must never be lost.
    """
    if len(message) <= limit:
        return message
    if limit <= len(_TRUNCATION_MARK):
        return message[:limit]
    kept = limit - len(_TRUNCATION_MARK)
    tail = min(kept // 2, limit // 3)
    return message[: kept - tail] + _TRUNCATION_MARK + (message[-tail:] if tail else "")


def _send_answer(client: Any, job_id: str, outcome: JobOutcome) -> None:
    if outcome.succeeded:
        request: dict[str, Any] = {"jobId": job_id}
        if outcome.output_variables:
            request["outputVariables"] = {str(k): str(v) for k, v in outcome.output_variables.items()}
        if outcome.continuation_token:
            request["continuationToken"] = outcome.continuation_token
        if outcome.external_execution_id:
            request["executionDetails"] = {
                "summary": truncate_message(outcome.message, 2048),
                "externalExecutionId": outcome.external_execution_id[:1500],
            }
        elif outcome.message:
            request["executionDetails"] = {"summary": truncate_message(outcome.message, 2048)}
        client.put_job_success_result(**request)
        return
    details: dict[str, str] = {
        "type": "JobFailed",
        "message": truncate_message(outcome.message or "failed"),
    }
    if outcome.external_execution_id:
        details["externalExecutionId"] = outcome.external_execution_id[:1500]
    client.put_job_failure_result(jobId=job_id, failureDetails=details)


def run_job(
    event: Any,
    work: Callable[[CodePipelineJob], JobOutcome],
    *,
    codepipeline_client: Any | None = None,
    logger: logging.Logger | None = None,
) -> JobOutcome | None:
    """Parse `event`, run `work` on the job and answer CodePipeline exactly once.

    Never raises. An invalid event, an exception from `work` or a non-outcome
    return value becomes a failure answer (exception type and first line, no
    traceback). If the answer call itself fails, that is logged and the
    function returns, so Lambda does not retry the whole job. Returns the
    outcome that was (or was meant to be) sent; `None` when the event has no
    job id to answer.
    """
    log = logger or _LOGGER
    quiet_sdk_debug_logs()
    job_id = job_id_of(event)
    if job_id is None:
        log_fields(log, logging.ERROR, "event is not a CodePipeline job: nothing to answer")
        return None
    try:
        job = parse_job_event(event)
        outcome = work(job)
        if not isinstance(outcome, JobOutcome):
            raise TypeError(f"gate returned {type(outcome).__name__}, expected JobOutcome")
    except Exception as error:  # noqa: BLE001 - every failure must become an answer
        log_fields(
            log,
            logging.ERROR,
            "gate failed unexpectedly",
            job_id=job_id,
            error=describe_exception(error),
        )
        outcome = JobOutcome(succeeded=False, message=f"gate error: {describe_exception(error)}")
    try:
        client = codepipeline_client if codepipeline_client is not None else aws_client("codepipeline")
        _send_answer(client, job_id, outcome)
    except Exception as error:  # noqa: BLE001 - a failed answer must not make Lambda retry the job
        log_fields(
            log,
            logging.ERROR,
            "could not answer the CodePipeline job",
            job_id=job_id,
            succeeded=outcome.succeeded,
            error=describe_exception(error),
        )
        return outcome
    log_fields(
        log,
        logging.INFO,
        "answered CodePipeline job",
        job_id=job_id,
        succeeded=outcome.succeeded,
    )
    return outcome
