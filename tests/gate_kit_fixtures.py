"""Test helpers for Lambda gates: documented CodePipeline events, zipped
artifacts in (moto) S3, and a recorder for the two CodePipeline answer calls
that moto does not implement.

Import what you need: `from gate_kit_fixtures import aws_credentials, ...`
(pytest puts `tests/` on `sys.path`). Owned by the gate-kit engineer; not a
conftest, so nothing here applies unless imported.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import pytest
from botocore.validate import ParamValidator

__all__ = [
    "ARTIFACT_CREDENTIALS",
    "ARTIFACT_SECRETS",
    "FUNCTION_ACCESS_KEY",
    "JOB_ID",
    "REGION",
    "CodePipelineAnswers",
    "FakeLambdaContext",
    "aws_credentials",
    "job_event",
    "put_zip_artifact",
    "record_codepipeline_answers",
    "set_fake_aws_environment",
    "zip_bytes",
]

REGION = "eu-west-1"
JOB_ID = "11111111-2222-3333-4444-555555555555"
FUNCTION_ACCESS_KEY = "AKIAFUNCTIONROLE0000"
# Distinctive values, so a test can prove they never reach a log line.
ARTIFACT_CREDENTIALS = {
    "accessKeyId": "ASIAJOBARTIFACTKEY01",
    "secretAccessKey": "job-secret-Zx9QwErTy8uIoP7aSdFgHjKl6",
    "sessionToken": "job-session-token-Mn5bVc4xZ3lKj2hGf1dSa0",
    "expirationTime": 1732800000000,
}
ARTIFACT_SECRETS = tuple(
    ARTIFACT_CREDENTIALS[key]
    for key in ("accessKeyId", "secretAccessKey", "sessionToken")
)
"""The credential values that must never be logged (the expiration time is not secret)."""


def set_fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake function credentials and region, whatever the shell has set (usable at any scope
    with `pytest.MonkeyPatch.context()`)."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "RECORD_BUCKET",
        "RECORD_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FUNCTION_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "function-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake function credentials and region for one test."""
    set_fake_aws_environment(monkeypatch)


def zip_bytes(files: Mapping[str, str | bytes]) -> bytes:
    """A zip archive holding `files` (name -> text or bytes), as CodePipeline stores artifacts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(
                name, content.encode("utf-8") if isinstance(content, str) else content
            )
    return buffer.getvalue()


def put_zip_artifact(s3: Any, bucket: str, key: str, files: Mapping[str, Any]) -> None:
    """Upload a zipped artifact; dict/list values are written as JSON."""
    encoded = {
        name: json.dumps(value) if isinstance(value, (dict, list)) else value
        for name, value in files.items()
    }
    s3.put_object(Bucket=bucket, Key=key, Body=zip_bytes(encoded))


def job_event(
    *,
    bucket: str = "artifact-bucket",
    artifacts: Mapping[str, str] | None = None,
    user_parameters: str | None = None,
    job_id: str = JOB_ID,
    function_name: str = "evaluation-gate",
    continuation_token: str | None = None,
) -> dict[str, Any]:
    """The Lambda-invoke event exactly as CodePipeline documents it.

    `artifacts` maps input artifact names to object keys in `bucket`.
    """
    artifacts = (
        artifacts
        if artifacts is not None
        else {"TrainOutput": "ml-pipeline/TrainOutpu/AbCdE12"}
    )
    configuration: dict[str, str] = {"FunctionName": function_name}
    if user_parameters is not None:
        configuration["UserParameters"] = user_parameters
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": configuration},
        "inputArtifacts": [
            {
                "name": name,
                "revision": None,
                "location": {
                    "type": "S3",
                    "s3Location": {"bucketName": bucket, "objectKey": key},
                },
            }
            for name, key in artifacts.items()
        ],
        "outputArtifacts": [],
        "artifactCredentials": dict(ARTIFACT_CREDENTIALS),
    }
    if continuation_token is not None:
        data["continuationToken"] = continuation_token
    return {
        "CodePipeline.job": {"id": job_id, "accountId": "111122223333", "data": data}
    }


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object a handler may read."""

    function_name: str = "evaluation-gate"
    aws_request_id: str = "req-0001"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-1:111122223333:function:evaluation-gate"
    )

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class CodePipelineAnswers:
    """Answers sent to CodePipeline: `(operation, params)` in call order."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: Exception | None = None

    @property
    def count(self) -> int:
        return len(self.calls)

    @property
    def only(self) -> tuple[str, dict[str, Any]]:
        """The single answer; fails the test unless there was exactly one."""
        assert len(self.calls) == 1, (
            f"expected exactly one answer, got {len(self.calls)}: {self.calls}"
        )
        return self.calls[0]

    @property
    def succeeded(self) -> bool:
        return self.only[0] == "PutJobSuccessResult"

    @property
    def failure_message(self) -> str:
        operation, params = self.only
        assert operation == "PutJobFailureResult", (
            f"expected a failure answer, got {operation}"
        )
        return str(params["failureDetails"]["message"])


_ANSWERS = frozenset({"PutJobSuccessResult", "PutJobFailureResult"})
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9@\-_]+$")


def _check_limits_botocore_does_not(
    operation_name: str, params: dict[str, Any]
) -> None:
    """Maximum lengths and patterns from the service model, which botocore does not enforce."""
    assert _JOB_ID.match(params["jobId"]), (
        f"jobId {params['jobId']!r} does not match CodePipeline's pattern"
    )
    if operation_name == "PutJobFailureResult":
        details = params["failureDetails"]
        assert 1 <= len(details["message"]) <= 5000, (
            f"failure message has {len(details['message'])} characters"
        )
        assert len(details.get("externalExecutionId", "x")) <= 1500
        return
    for name, value in params.get("outputVariables", {}).items():
        assert _VARIABLE_NAME.match(name), f"output variable name {name!r} is invalid"
        assert isinstance(value, str), f"output variable {name} is not a string"
    summary = params.get("executionDetails", {}).get("summary", "x")
    assert 1 <= len(summary) <= 2048, f"execution summary has {len(summary)} characters"
    assert len(params.get("continuationToken", "x")) <= 2048


@contextmanager
def record_codepipeline_answers(
    fail_with: Exception | None = None,
) -> Iterator[CodePipelineAnswers]:
    """Intercept the two answer calls on every botocore client (moto lacks them).

    Parameters are validated against the real CodePipeline service model
    (the jobId pattern, the 5,000-character message limit...), then recorded.
    With `fail_with`, each answer call is recorded and then raises it. Other
    operations go through unchanged (to moto, when active).
    """
    answers = CodePipelineAnswers(fail_with=fail_with)
    original = botocore.client.BaseClient._make_api_call

    def intercept(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if (
            operation_name not in _ANSWERS
            or self.meta.service_model.service_name != "codepipeline"
        ):
            return original(self, operation_name, api_params)
        shape = self.meta.service_model.operation_model(operation_name).input_shape
        report = ParamValidator().validate(api_params, shape)
        if report.has_errors():
            raise AssertionError(
                f"invalid {operation_name} request: {report.generate_report()}"
            )
        _check_limits_botocore_does_not(operation_name, api_params)
        answers.calls.append((operation_name, api_params))
        if answers.fail_with is not None:
            raise answers.fail_with
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    botocore.client.BaseClient._make_api_call = intercept  # type: ignore[method-assign]
    try:
        yield answers
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
