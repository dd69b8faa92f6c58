"""function_kit.codepipeline_job: the event is parsed as documented and every job is answered exactly once."""

from __future__ import annotations

import logging

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from function_kit.codepipeline_job import (
    MAX_FAILURE_MESSAGE_CHARS,
    CodePipelineJob,
    JobEventError,
    JobOutcome,
    UserParametersError,
    parse_job_event,
    parse_user_parameters,
    run_job,
    truncate_message,
)
from function_kit_fixtures import REGION, aws_credentials
from rehearsal.codepipeline_double import ARTIFACT_CREDENTIALS, ARTIFACT_SECRETS, JOB_ID, job_event

__all__ = ["aws_credentials"]


@pytest.fixture
def codepipeline(aws_credentials: None) -> boto3.client:
    return boto3.client("codepipeline", region_name=REGION)


def succeed(job: CodePipelineJob) -> JobOutcome:
    return JobOutcome(succeeded=True, message="ok", output_variables={"decision": "passed"})


def failure_message_sent(codepipeline, work, event: dict | None = None) -> str:
    """Run `work` under `run_job` with a stubbed failure answer; the message that was sent."""
    captured: list[dict] = []
    codepipeline.meta.events.register(
        "provide-client-params.codepipeline.PutJobFailureResult",
        lambda params, **_: captured.append(params),
    )
    with Stubber(codepipeline) as stub:
        stub.add_response("put_job_failure_result", {}, {"jobId": JOB_ID, "failureDetails": ANY})
        run_job(event or job_event(), work, codepipeline_client=codepipeline)
        stub.assert_no_pending_responses()
    (params,) = captured
    return params["failureDetails"]["message"]


def test_parses_the_documented_event() -> None:
    job = parse_job_event(job_event(user_parameters='{"a": 1}', continuation_token="tok"))
    assert job.job_id == JOB_ID
    assert job.account_id == "111122223333"
    assert job.function_name == "evaluation-gate"
    assert job.user_parameters == '{"a": 1}'
    assert job.continuation_token == "tok"
    (artifact,) = job.input_artifacts
    assert artifact.name == "TrainOutput"
    assert artifact.location.uri == "s3://artifact-bucket/ml-pipeline/TrainOutpu/AbCdE12"
    assert job.artifact_credentials is not None
    assert job.artifact_credentials.access_key_id == ARTIFACT_CREDENTIALS["accessKeyId"]


def test_credentials_never_appear_in_repr() -> None:
    job = parse_job_event(job_event())
    text = repr(job) + repr(job.artifact_credentials)
    for secret in ARTIFACT_SECRETS:
        assert secret not in text


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda e: e["CodePipeline.job"].pop("data"),
            "CodePipeline.job.data is missing",
        ),
        (
            lambda e: e["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"].update(type="CodeCommit"),
            "inputArtifacts[0].location.type is 'CodeCommit'",
        ),
        (
            lambda e: e["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"].pop("objectKey"),
            "s3Location.objectKey is missing",
        ),
        (
            lambda e: e["CodePipeline.job"]["data"]["artifactCredentials"].pop("sessionToken"),
            "artifactCredentials.sessionToken is missing",
        ),
    ],
)
def test_malformed_events_name_the_bad_key(mutate, expected: str) -> None:
    event = job_event()
    mutate(event)
    with pytest.raises(
        JobEventError,
        match=expected.replace("[", r"\[").replace("]", r"\]").replace(".", r"\."),
    ):
        parse_job_event(event)


@pytest.mark.parametrize(("raw", "expected"), [(None, {}), ("", {}), ("  ", {}), ('{"k": "v"}', {"k": "v"})])
def test_user_parameters_are_optional_json_objects(raw: str | None, expected: dict) -> None:
    assert parse_user_parameters(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("endpoint=x", "^UserParameters is not valid JSON: Expecting value at line 1, column 1$"),
        ("[1, 2]", "must be a JSON object, got list"),
    ],
)
def test_bad_user_parameters_fail_clearly(raw: str, expected: str) -> None:
    with pytest.raises(UserParametersError, match=expected):
        parse_user_parameters(raw)


def test_success_is_answered_once_with_output_variables(codepipeline) -> None:
    with Stubber(codepipeline) as stub:
        stub.add_response(
            "put_job_success_result",
            {},
            {
                "jobId": JOB_ID,
                "outputVariables": {"decision": "passed"},
                "executionDetails": {"summary": "ok"},
            },
        )
        outcome = run_job(job_event(), succeed, codepipeline_client=codepipeline)
        stub.assert_no_pending_responses()
    assert outcome is not None and outcome.succeeded


def test_success_passes_the_continuation_token(codepipeline) -> None:
    def more(job: CodePipelineJob) -> JobOutcome:
        return JobOutcome(succeeded=True, message="", continuation_token="step-2")

    with Stubber(codepipeline) as stub:
        stub.add_response(
            "put_job_success_result",
            {},
            {"jobId": JOB_ID, "continuationToken": "step-2"},
        )
        run_job(job_event(), more, codepipeline_client=codepipeline)
        stub.assert_no_pending_responses()


def test_failure_is_answered_once(codepipeline) -> None:
    def fail(job: CodePipelineJob) -> JobOutcome:
        return JobOutcome(
            succeeded=False,
            message="roc_auc 0.9 < min 0.95",
            external_execution_id="s3://b/k.json",
        )

    with Stubber(codepipeline) as stub:
        stub.add_response(
            "put_job_failure_result",
            {},
            {
                "jobId": JOB_ID,
                "failureDetails": {
                    "type": "JobFailed",
                    "message": "roc_auc 0.9 < min 0.95",
                    "externalExecutionId": "s3://b/k.json",
                },
            },
        )
        run_job(job_event(), fail, codepipeline_client=codepipeline)
        stub.assert_no_pending_responses()


def test_unexpected_exception_becomes_one_failure_without_traceback(codepipeline, caplog) -> None:
    def explode(job: CodePipelineJob) -> JobOutcome:
        raise KeyError("metrics")

    with caplog.at_level(logging.INFO):
        message = failure_message_sent(codepipeline, explode)
    assert message == "gate error: KeyError: 'metrics'"
    assert "Traceback" not in caplog.text


def test_a_non_outcome_return_value_is_a_failure(codepipeline) -> None:
    message = failure_message_sent(codepipeline, lambda job: None)
    assert "expected JobOutcome" in message


def test_malformed_job_is_still_answered(codepipeline) -> None:
    event = job_event()
    del event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]
    calls: list[str] = []
    with Stubber(codepipeline) as stub:
        stub.add_response("put_job_failure_result", {}, {"jobId": JOB_ID, "failureDetails": ANY})
        run_job(
            event,
            lambda job: calls.append("ran") or succeed(job),
            codepipeline_client=codepipeline,
        )
        stub.assert_no_pending_responses()
    assert calls == []


def test_event_without_a_job_id_is_logged_not_answered(codepipeline, caplog) -> None:
    with Stubber(codepipeline) as stub, caplog.at_level(logging.ERROR):
        assert run_job({"not": "a job"}, succeed, codepipeline_client=codepipeline) is None
        stub.assert_no_pending_responses()
    assert "nothing to answer" in caplog.text


def test_failing_answer_is_logged_and_not_raised(codepipeline, caplog) -> None:
    with Stubber(codepipeline) as stub, caplog.at_level(logging.ERROR):
        stub.add_client_error("put_job_success_result", service_error_code="JobNotFoundException")
        outcome = run_job(job_event(), succeed, codepipeline_client=codepipeline)
        stub.assert_no_pending_responses()
    assert outcome is not None
    assert "could not answer the CodePipeline job" in caplog.text
    assert "JobNotFoundException" in caplog.text


def test_answer_is_never_retried_after_a_failed_answer(codepipeline) -> None:
    attempts: list[str] = []

    class BrokenClient:
        def put_job_success_result(self, **_: object) -> None:
            attempts.append("success")
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "slow down"}},
                "PutJobSuccessResult",
            )

        def put_job_failure_result(self, **_: object) -> None:
            attempts.append("failure")

    run_job(job_event(), succeed, codepipeline_client=BrokenClient())
    assert attempts == ["success"]


def test_long_failure_messages_are_cut_to_the_limit(codepipeline) -> None:
    message = failure_message_sent(codepipeline, lambda job: JobOutcome(False, "x" * 12_000))
    assert len(message) == MAX_FAILURE_MESSAGE_CHARS
    assert "[truncated]" in message and message.endswith("x")


@pytest.mark.parametrize("length", [0, 1, 4999, 5000, 5001, 20000])
def test_truncate_message_never_exceeds_the_limit(length: int) -> None:
    text = "é" * length
    cut = truncate_message(text)
    assert len(cut) <= MAX_FAILURE_MESSAGE_CHARS
    assert cut == text or length > MAX_FAILURE_MESSAGE_CHARS


def test_logs_carry_no_credentials(codepipeline, caplog, capsys) -> None:
    with Stubber(codepipeline) as stub, caplog.at_level(logging.DEBUG):
        stub.add_response(
            "put_job_success_result",
            {},
            {"jobId": JOB_ID, "outputVariables": ANY, "executionDetails": ANY},
        )
        run_job(job_event(), succeed, codepipeline_client=codepipeline)
    output = caplog.text + "".join(capsys.readouterr())
    for secret in ARTIFACT_SECRETS:
        assert secret not in output
