"""No handler ever logs the job's artifact credentials: every `lambdas/*/handler.py`, success and failure paths.

Each function runs with the documented CodePipeline event whose
`artifactCredentials` hold recognisable fake values, under moto (S3, SageMaker)
with the CodePipeline answers recorded (moto lacks them). Everything the run
could leave behind is searched: log records at DEBUG (botocore's included),
stdout and stderr, and the answer sent to CodePipeline. New functions are
covered automatically: the handlers are discovered from the folders.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from evaluation_gate_fixtures import CONTRACT_EVALUATION, CONTRACT_POLICY
from function_kit_fixtures import REGION, put_zip_artifact, set_fake_aws_environment
from rehearsal.codepipeline_double import ARTIFACT_SECRETS, FakeLambdaContext, job_event, record_codepipeline_answers

LAMBDAS = Path(__file__).resolve().parent.parent / "lambdas"
# Every function CodePipeline invokes (they answer jobs through function_kit.codepipeline_job) gets the job's credentials.
HANDLERS = sorted(
    path.parent.name
    for path in LAMBDAS.glob("*/handler.py")
    if "function_kit.codepipeline_job" in path.read_text(encoding="utf-8")
)
BUCKET = "artifact-bucket"
GOOD_KEY = "ml-pipeline/TrainOutpu/good"
BAD_KEY = "ml-pipeline/TrainOutpu/bad"
MISSING_KEY = "ml-pipeline/TrainOutpu/missing"
USER_PARAMETERS = json.dumps({"action": "verify_production", "endpoint_name": "ml-cicd-production-endpoint"})


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as environment:
        set_fake_aws_environment(environment)
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            boto3.client("sagemaker", region_name=REGION).create_model_package_group(ModelPackageGroupName="example")
            put_zip_artifact(
                s3,
                BUCKET,
                GOOD_KEY,
                {
                    "evaluation.json": CONTRACT_EVALUATION,
                    "release-policy.json": CONTRACT_POLICY,
                    "golden-requests.jsonl": '{"body": "1,2,3", "content_type": "text/csv"}\n',
                },
            )
            put_zip_artifact(s3, BUCKET, BAD_KEY, {"evaluation.json": "{not json", "release.json": "[]"})
            yield s3


def run(name: str, event: dict[str, Any], *, answer_fails: bool = False) -> list[tuple[str, dict[str, Any]]]:
    module = importlib.import_module(f"{name}.handler")
    error = (
        ClientError({"Error": {"Code": "InvalidJobStateException", "Message": "job is not in progress"}}, "PutJobSuccessResult")
        if answer_fails
        else None
    )
    with record_codepipeline_answers(fail_with=error) as answers:
        try:
            module.handler(event, FakeLambdaContext(function_name=name))
        except Exception as exc:  # noqa: BLE001 - a raise is a finding of its own, but its text is searched too
            logging.getLogger("test").exception("handler raised %s", exc)
    return answers.calls


SCENARIOS = {
    "inputs-that-pass-or-get-furthest": dict(artifacts={"TrainOutput": GOOD_KEY}, user_parameters=None),
    "with-user-parameters": dict(artifacts={"TrainOutput": GOOD_KEY}, user_parameters=USER_PARAMETERS),
    "malformed-inputs": dict(artifacts={"TrainOutput": BAD_KEY}, user_parameters="{not json"),
    "unreadable-artifact": dict(artifacts={"TrainOutput": MISSING_KEY}, user_parameters=USER_PARAMETERS),
}


def test_every_function_folder_is_covered() -> None:
    assert {"evaluation_gate", "staging_gate", "promote"} <= set(HANDLERS)


def run_and_search(
    name: str,
    scenario: str,
    answer_fails: bool,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_fake_aws_environment(monkeypatch)
    monkeypatch.setenv("RECORD_BUCKET", BUCKET)
    event = job_event(bucket=BUCKET, function_name=name, **SCENARIOS[scenario])
    calls = run(name, event, answer_fails=answer_fails)

    assert calls, f"{name} did not answer the job in scenario {scenario}"
    captured = capsys.readouterr()
    records = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''} {json.dumps(r.__dict__, default=str)}" for r in caplog.records
    )
    outputs = {
        "logs": caplog.text + records,
        "stdout": captured.out,
        "stderr": captured.err,
        "answer": json.dumps(calls, default=str),
    }
    leaks = [(where, secret[:6] + "...") for where, text in outputs.items() for secret in ARTIFACT_SECRETS if secret in text]
    assert not leaks, f"{name} ({scenario}) leaked artifact credentials: {leaks}"
    assert caplog.records, "nothing was logged: the check would prove nothing"


@pytest.mark.parametrize("answer_fails", [False, True], ids=["answered", "answer-call-fails"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("name", HANDLERS)
def test_no_artifact_credential_reaches_any_output(
    aws: Any,
    name: str,
    scenario: str,
    answer_fails: bool,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every application logger at DEBUG; the AWS SDK at INFO, as the functions' INFO log level leaves it.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="botocore")
    run_and_search(name, scenario, answer_fails, caplog, capsys, monkeypatch)


@pytest.mark.parametrize("name", ["evaluation_gate", "staging_gate"])  # the two that read artifacts with them
def test_no_artifact_credential_even_with_the_aws_sdk_at_debug(
    aws: Any,
    name: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    run_and_search(name, "inputs-that-pass-or-get-furthest", False, caplog, capsys, monkeypatch)


def test_the_evaluation_gate_success_path_is_among_the_runs(aws: Any) -> None:
    # The search above covers a real success, not only failures.
    calls = run("evaluation_gate", job_event(bucket=BUCKET, artifacts={"TrainOutput": GOOD_KEY}))
    assert [operation for operation, _ in calls] == ["PutJobSuccessResult"]


def test_the_search_finds_a_credential_when_one_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    # The detector itself must be able to fail.
    caplog.set_level(logging.DEBUG)
    logging.getLogger("leaky").debug("event: %s", job_event())
    assert all(secret in caplog.text for secret in ARTIFACT_SECRETS)


SDK_CHILD_LOGGERS = (
    "botocore.endpoint",
    "botocore.auth",
    "botocore.hooks",
    "botocore.parsers",
    "botocore.retryhandler",
    "botocore.credentials",
    "urllib3",
    "urllib3.connectionpool",
    "boto3.resources",
    "s3transfer.utils",
)


@pytest.mark.parametrize("name", ["evaluation_gate", "staging_gate", "promote"])
def test_no_artifact_credential_with_sdk_child_loggers_set_to_debug(
    aws: Any,
    name: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A child logger with its own DEBUG level ignores its parent's INFO: each must be held at INFO too.
    caplog.set_level(logging.DEBUG)
    for child in SDK_CHILD_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=child)
    run_and_search(name, "with-user-parameters", False, caplog, capsys, monkeypatch)
    assert all(logging.getLogger(child).getEffectiveLevel() >= logging.INFO for child in SDK_CHILD_LOGGERS)
