"""The one module of CodePipeline test doubles, for the rehearsal and the test suite alike.

- `job_event`: the Lambda-invoke event CodePipeline sends a function, in the
  documented shape
  (https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-invoke-lambda-function.html),
  with fake artifact credentials whose values are distinctive, so a test can
  prove they never reach a log line (`ARTIFACT_SECRETS`);
- `FakeLambdaContext`: the attributes of the Lambda context object a handler reads;
- `record_codepipeline_answers`: the two job-answer calls (`PutJobSuccessResult`,
  `PutJobFailureResult`), which moto does not implement, intercepted on every
  botocore client, checked as the service would check them (the request shape
  from the service model, plus the lengths and patterns botocore itself does
  not enforce: the job id, the 5,000-character failure message...) and
  recorded; `CodePipelineAnswers.only` / `only_for(job_id)` assert a job was
  answered exactly once. Every other call goes through unchanged (to moto, when active).

Nothing here is shipped in a Lambda asset; the rehearsal never prints or records the event.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "ANSWER_OPERATIONS",
    "ARTIFACT_CREDENTIALS",
    "ARTIFACT_SECRETS",
    "JOB_ID",
    "CodePipelineAnswer",
    "CodePipelineAnswers",
    "FakeLambdaContext",
    "InvalidCodePipelineAnswer",
    "check_answer",
    "intercept_codepipeline_answers",
    "job_event",
    "new_job_id",
    "record_codepipeline_answers",
]

ANSWER_OPERATIONS = frozenset({"PutJobSuccessResult", "PutJobFailureResult"})
JOB_ID = "11111111-2222-3333-4444-555555555555"
# Distinctive values, so a test can prove they never reach a log line.
ARTIFACT_CREDENTIALS = {
    "accessKeyId": "ASIAJOBARTIFACTKEY01",
    "secretAccessKey": "job-secret-Zx9QwErTy8uIoP7aSdFgHjKl6",
    "sessionToken": "job-session-token-Mn5bVc4xZ3lKj2hGf1dSa0",
    "expirationTime": 1732800000000,
}
ARTIFACT_SECRETS = tuple(ARTIFACT_CREDENTIALS[key] for key in ("accessKeyId", "secretAccessKey", "sessionToken"))
"""The credential values that must never be logged (the expiration time is not secret)."""

_DEFAULT_ARTIFACTS = {"TrainOutput": "ml-pipeline/TrainOutpu/AbCdE12"}
_JOB_ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9@\-_]+$")
_LAMBDA_TIMEOUT_MS = 300_000


def new_job_id() -> str:
    """A job id of the form CodePipeline gives (a UUID)."""
    return str(uuid.uuid4())


def job_event(
    *,
    bucket: str = "artifact-bucket",
    artifacts: Mapping[str, str] | None = None,
    user_parameters: str | None = None,
    job_id: str = JOB_ID,
    function_name: str = "evaluation-gate",
    continuation_token: str | None = None,
    account_id: str = "111122223333",
) -> dict[str, Any]:
    """`{"CodePipeline.job": ...}` exactly as CodePipeline documents it.

    `artifacts` maps input artifact names to object keys in `bucket`;
    `user_parameters` is the action's UserParameters string, variables already resolved.
    """
    configuration: dict[str, str] = {"FunctionName": function_name}
    if user_parameters is not None:
        configuration["UserParameters"] = user_parameters
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": configuration},
        "inputArtifacts": [
            {
                "name": name,
                "revision": None,
                "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
            }
            for name, key in (_DEFAULT_ARTIFACTS if artifacts is None else artifacts).items()
        ],
        "outputArtifacts": [],
        "artifactCredentials": dict(ARTIFACT_CREDENTIALS),
    }
    if continuation_token is not None:
        data["continuationToken"] = continuation_token
    return {"CodePipeline.job": {"id": job_id, "accountId": account_id, "data": data}}


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object a handler may read."""

    function_name: str = "evaluation-gate"
    timeout_ms: int = _LAMBDA_TIMEOUT_MS
    aws_request_id: str = field(default_factory=new_job_id)
    memory_limit_in_mb: int = 256
    account_id: str = "111122223333"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """The function's ARN."""
        return f"arn:aws:lambda:eu-west-1:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        """Where CloudWatch would put the function's logs."""
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (fake) function timeout."""
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


class InvalidCodePipelineAnswer(AssertionError):
    """An answer CodePipeline would refuse."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidCodePipelineAnswer(message)


def check_answer(client: Any, operation_name: str, params: dict[str, Any]) -> None:
    """Refuse an answer the service would refuse (raises InvalidCodePipelineAnswer)."""
    from botocore.validate import ParamValidator

    shape = client.meta.service_model.operation_model(operation_name).input_shape
    report = ParamValidator().validate(params, shape)
    _require(not report.has_errors(), f"invalid {operation_name} request: {report.generate_report()}")
    _require(bool(_JOB_ID_PATTERN.match(params["jobId"])), f"jobId {params['jobId']!r} does not match CodePipeline's pattern")
    if operation_name == "PutJobFailureResult":
        details = params["failureDetails"]
        _require(1 <= len(details["message"]) <= 5000, f"failure message has {len(details['message'])} characters")
        _require(len(details.get("externalExecutionId", "x")) <= 1500, "externalExecutionId is over 1,500 characters")
        return
    for name, value in params.get("outputVariables", {}).items():
        _require(bool(_VARIABLE_NAME.match(name)), f"output variable name {name!r} is invalid")
        _require(isinstance(value, str), f"output variable {name} is not a string")
    summary = params.get("executionDetails", {}).get("summary", "x")
    _require(1 <= len(summary) <= 2048, f"execution summary has {len(summary)} characters")
    _require(len(params.get("continuationToken", "x")) <= 2048, "continuationToken is over 2,048 characters")


@contextmanager
def intercept_codepipeline_answers(respond: Callable[[str, dict[str, Any]], Any]) -> Iterator[None]:
    """Within the block, checked answer calls go to `respond(operation_name, params)` instead of AWS."""
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name not in ANSWER_OPERATIONS or client.meta.service_model.service_name != "codepipeline":
            return original(client, operation_name, api_params)
        check_answer(client, operation_name, api_params)
        return respond(operation_name, api_params)

    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


class CodePipelineAnswer(NamedTuple):
    """One `PutJob*Result` call as the function made it: `(operation, request)`."""

    operation: str
    request: dict[str, Any]

    @property
    def job_id(self) -> str:
        """The job answered."""
        return str(self.request["jobId"])

    @property
    def succeeded(self) -> bool:
        """True for `PutJobSuccessResult`."""
        return self.operation == "PutJobSuccessResult"

    @property
    def message(self) -> str:
        """The failure message, or the success summary."""
        if self.succeeded:
            return str(self.request.get("executionDetails", {}).get("summary", ""))
        return str(self.request.get("failureDetails", {}).get("message", ""))

    @property
    def output_variables(self) -> Mapping[str, str]:
        """Output variables sent with a success."""
        return dict(self.request.get("outputVariables") or {})


@dataclass
class CodePipelineAnswers:
    """Answers sent to CodePipeline, in call order."""

    calls: list[CodePipelineAnswer] = field(default_factory=list)
    fail_with: Exception | None = None

    @property
    def count(self) -> int:
        return len(self.calls)

    def for_job(self, job_id: str) -> list[CodePipelineAnswer]:
        """The answers given to `job_id` (a correct function gives exactly one)."""
        return [answer for answer in self.calls if answer.job_id == job_id]

    def only_for(self, job_id: str) -> CodePipelineAnswer:
        """The single answer to `job_id`; an AssertionError unless there was exactly one."""
        answers = self.for_job(job_id)
        assert len(answers) == 1, f"expected exactly one answer to job {job_id}, got {len(answers)}"
        return answers[0]

    @property
    def only(self) -> CodePipelineAnswer:
        """The single answer; an AssertionError unless there was exactly one."""
        assert len(self.calls) == 1, f"expected exactly one answer, got {len(self.calls)}: {self.calls}"
        return self.calls[0]

    @property
    def succeeded(self) -> bool:
        return self.only.succeeded

    @property
    def failure_message(self) -> str:
        answer = self.only
        assert not answer.succeeded, f"expected a failure answer, got {answer.operation}"
        return str(answer.request["failureDetails"]["message"])


@contextmanager
def record_codepipeline_answers(fail_with: Exception | None = None) -> Iterator[CodePipelineAnswers]:
    """Intercept, check and record the two answer calls on every botocore client.

    With `fail_with`, each answer call is recorded and then raises it.
    """
    answers = CodePipelineAnswers(fail_with=fail_with)

    def respond(operation_name: str, api_params: dict[str, Any]) -> Any:
        answers.calls.append(CodePipelineAnswer(operation_name, dict(api_params)))
        if answers.fail_with is not None:
            raise answers.fail_with
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    with intercept_codepipeline_answers(respond):
        yield answers
