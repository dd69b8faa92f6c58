"""Test helpers for Lambda gates: documented CodePipeline events, zipped
artifacts in (moto) S3, and a recorder for the two CodePipeline answer calls
that moto does not implement.

Import what you need: `from function_kit_fixtures import aws_credentials, ...`
(pytest puts `tests/` on `sys.path`). Owned by the gate-kit engineer; not a
conftest, so nothing here applies unless imported.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from rehearsal.codepipeline_double import intercept_codepipeline_answers

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
ARTIFACT_SECRETS = tuple(ARTIFACT_CREDENTIALS[key] for key in ("accessKeyId", "secretAccessKey", "sessionToken"))
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
            archive.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return buffer.getvalue()


def put_zip_artifact(s3: Any, bucket: str, key: str, files: Mapping[str, Any]) -> None:
    """Upload a zipped artifact; dict/list values are written as JSON."""
    encoded = {name: json.dumps(value) if isinstance(value, (dict, list)) else value for name, value in files.items()}
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
    artifacts = artifacts if artifacts is not None else {"TrainOutput": "ml-pipeline/TrainOutpu/AbCdE12"}
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
    return {"CodePipeline.job": {"id": job_id, "accountId": "111122223333", "data": data}}


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object a handler may read."""

    function_name: str = "evaluation-gate"
    aws_request_id: str = "req-0001"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:111122223333:function:evaluation-gate"

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
        assert len(self.calls) == 1, f"expected exactly one answer, got {len(self.calls)}: {self.calls}"
        return self.calls[0]

    @property
    def succeeded(self) -> bool:
        return self.only[0] == "PutJobSuccessResult"

    @property
    def failure_message(self) -> str:
        operation, params = self.only
        assert operation == "PutJobFailureResult", f"expected a failure answer, got {operation}"
        return str(params["failureDetails"]["message"])


@contextmanager
def record_codepipeline_answers(
    fail_with: Exception | None = None,
) -> Iterator[CodePipelineAnswers]:
    """Intercept the two answer calls on every botocore client (moto lacks them).

    Requests are checked as CodePipeline would check them (the rehearsal's
    `codepipeline_double`: service model, jobId pattern, 5,000-character
    message...), then recorded. With `fail_with`, each answer call is recorded
    and then raises it. Other operations go through unchanged (to moto, when active).
    """
    answers = CodePipelineAnswers(fail_with=fail_with)

    def respond(operation_name: str, api_params: dict[str, Any]) -> Any:
        answers.calls.append((operation_name, api_params))
        if answers.fail_with is not None:
            raise answers.fail_with
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    with intercept_codepipeline_answers(respond):
        yield answers
