"""The staging gate end to end: documented CodePipeline event, moto S3/SageMaker/sagemaker-runtime."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from function_kit_fixtures import REGION, aws_credentials  # noqa: F401 - fixture
from rehearsal.codepipeline_double import ARTIFACT_SECRETS, job_event, record_codepipeline_answers
from staging_fixtures import (
    ARTIFACT_BUCKET,
    answer_for,
    create_endpoint,
    golden_requests,
    queue_endpoint_answers,
    register_package,
    shared_client,
    tick_clock,
    upload_train_output,
)
from staging_gate.endpoint_probe import runtime_client
from staging_gate.handler import StagingGateServices, handler, run_staging_gate

ENDPOINT = "ml-cicd-staging-endpoint"  # the endpoint is named after its stack
PARAMETERS = json.dumps({"endpoint_name": ENDPOINT})


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[Any]:  # noqa: F811
    with mock_aws():
        _CLIENTS.update(
            sagemaker=shared_client("sagemaker"),
            runtime=shared_client("sagemaker-runtime"),
            s3=shared_client("s3"),
            codepipeline=shared_client("codepipeline"),
        )
        yield _CLIENTS["sagemaker"]


@pytest.fixture
def release(aws: Any) -> str:
    """A registered package, served by the staging endpoint, in the TrainOutput artifact."""
    arn = register_package(aws)
    create_endpoint(aws, ENDPOINT, arn)
    upload_train_output(arn)
    return arn


_CLIENTS: dict[str, Any] = {}
"""One client per service per test: building clients dominates the run time. The
default factories (job-credential S3 client included) are exercised by the `handler` test."""


def _services(step_seconds: float = 0.010, **overrides: Any) -> StagingGateServices:
    ticks = tick_clock(step_seconds)
    shared: dict[str, Any] = {
        "sagemaker": lambda: _CLIENTS["sagemaker"],
        "runtime": lambda **_timeouts: _CLIENTS["runtime"],
        "records_s3": lambda: _CLIENTS["s3"],
        "artifact_s3": lambda _credentials: _CLIENTS["s3"],
        "codepipeline": _CLIENTS["codepipeline"],
    }
    return StagingGateServices(clock=lambda: next(ticks), **{**shared, **overrides})


def _run(services: StagingGateServices | None = None, parameters: str | None = PARAMETERS, environ: Any = None):
    with record_codepipeline_answers() as answers:
        run_staging_gate(
            job_event(user_parameters=parameters, function_name="staging-gate"),
            services=services or _services(),
            environ=environ or {},
        )
    return answers


def _record(answers: Any) -> dict[str, Any]:
    operation, params = answers.only
    uri = (
        params["outputVariables"]["record_uri"]
        if operation == "PutJobSuccessResult"
        else params["failureDetails"]["externalExecutionId"]
    )
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def test_a_good_release_passes_and_records_every_request(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    answers = _run()
    assert answers.succeeded, answers.calls
    record = _record(answers)
    assert record["decision"] == "passed"
    assert len(record["requests"]) == 3 * len(golden_requests())
    assert all(r["status"] == "matched" for r in record["requests"])
    p95_rule = next(r for r in record["rules"] if r["rule_id"] == "staging.max_p95_latency_ms")
    assert p95_rule["value"] == pytest.approx(10.0) and p95_rule["bound"] == 200 and p95_rule["bound_source"] == "repository"
    assert answers.only[1]["outputVariables"]["decision"] == "passed"


def test_the_summary_lists_the_requests_in_markdown(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    answers = _run()
    summary_uri = answers.only[1]["outputVariables"]["summary_uri"]
    bucket, key = summary_uri.removeprefix("s3://").split("/", 1)
    text = boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert text.startswith("# staging-gate: ✅ PASSED") and "## Requests" in text and "benign-csv-1" in text


def test_a_stale_endpoint_fails_naming_both_packages(aws: Any) -> None:
    served = register_package(aws)
    release_arn = register_package(aws)
    create_endpoint(aws, ENDPOINT, served)
    upload_train_output(release_arn)
    answers = _run()
    message = answers.failure_message
    assert served in message and release_arn in message and "not the release's" in message


def test_slow_responses_fail_on_p95(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    answers = _run(_services(step_seconds=0.250))
    record = _record(answers)
    rule = next(r for r in record["rules"] if r["rule_id"] == "staging.max_p95_latency_ms")
    assert rule["outcome"] == "failed" and rule["value"] == pytest.approx(250.0)
    assert "p95_latency_ms 250.0 > bound 200" in answers.failure_message


def test_a_platform_floor_stricter_than_the_repository_wins(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    floors = json.dumps({"version": 1, "staging": {"max_p95_latency_ms": 50}})
    answers = _run(_services(step_seconds=0.100), environ={"PLATFORM_FLOORS": floors})
    record = _record(answers)
    rule = next(r for r in record["rules"] if r["rule_id"] == "staging.max_p95_latency_ms")
    assert (rule["bound"], rule["bound_source"], rule["outcome"]) == (50, "platform floor", "failed")


def test_a_wrong_prediction_fails_naming_the_request(release: str) -> None:
    requests = golden_requests()
    queue_endpoint_answers([answer_for(r, flip=(i == 2)) for i, r in enumerate(requests)])
    answers = _run()
    assert "expected label" in answers.failure_message and "got label" in answers.failure_message
    rule = next(r for r in _record(answers)["rules"] if r["rule_id"] == f"golden.{requests[2].name}")
    assert rule["outcome"] == "failed" and "3 of 3 responses wrong" in rule["reason"]


def test_a_malformed_response_fails(release: str) -> None:
    requests = golden_requests()
    answers_list = [answer_for(r) for r in requests]
    answers_list[0] = ("<html>502 Bad Gateway</html>", "text/html")
    queue_endpoint_answers(answers_list)
    message = _run().failure_message
    assert "malformed" in message and "text/html" in message


def test_an_unreachable_endpoint_fails_closed_after_one_attempt(release: str) -> None:
    def unreachable_runtime(**timeouts: int) -> Any:
        return runtime_client(endpoint_url="http://127.0.0.1:9", **timeouts)  # nothing listens there

    answers = _run(_services(runtime=unreachable_runtime))
    assert "unreachable" in answers.failure_message
    assert len(_record(answers)["requests"]) == 1


def test_a_missing_endpoint_fails_closed(release: str) -> None:
    message = _run(parameters=json.dumps({"endpoint_name": "no-such-endpoint"})).failure_message
    assert "DescribeEndpoint no-such-endpoint failed" in message


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (None, "UserParameters.endpoint_name: None"),
        ("{not json", "UserParameters is not valid JSON"),
        (json.dumps({"endpoint_name": "#{DeployStaging.EndpointName}"}), "is not an endpoint name"),
        (json.dumps({"endpoint_name": ENDPOINT, "repetitions": 50}), "UserParameters.repetitions: 50"),
    ],
)
def test_bad_user_parameters_fail_closed(release: str, parameters: str | None, expected: str) -> None:
    assert expected in _run(parameters=parameters).failure_message


def test_an_invalid_golden_file_fails_naming_the_line(aws: Any) -> None:
    arn = register_package(aws)
    create_endpoint(aws, ENDPOINT, arn)
    first = golden_requests()[0].name
    upload_train_output(arn, golden=json.dumps({"name": first, "content_type": "text/csv"}) + "\n{oops\n")
    message = _run().failure_message
    assert "golden-requests.jsonl in artifact TrainOutput" in message and "line 1: body: missing" in message


def test_a_policy_without_a_staging_section_fails_closed(aws: Any) -> None:
    arn = register_package(aws)
    create_endpoint(aws, ENDPOINT, arn)
    upload_train_output(arn, policy={"version": 1, "metrics": {"roc_auc": {"min": 0.9}}})
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    message = _run().failure_message
    assert "staging.max_error_rate: no bound set" in message


def test_a_missing_input_file_fails_closed(aws: Any) -> None:
    arn = register_package(aws)
    create_endpoint(aws, ENDPOINT, arn)
    upload_train_output(arn, omit=["release.json"])
    assert "release.json is missing" in _run().failure_message


def test_an_unexpected_exception_is_still_one_failure_answer(release: str) -> None:
    def broken() -> Any:
        raise RuntimeError("boom")

    answers = _run(_services(sagemaker=broken))
    assert answers.count == 1 and "RuntimeError: boom" in answers.failure_message


def test_the_handler_answers_once_and_never_logs_credentials(
    release: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    caplog.set_level(logging.INFO)
    with record_codepipeline_answers() as answers:
        handler(job_event(user_parameters=PARAMETERS, function_name="staging-gate"), None)
    assert answers.count == 1 and answers.succeeded
    logged = caplog.text
    assert "staging gate decided" in logged
    for secret in ARTIFACT_SECRETS:
        assert secret not in logged


def test_the_record_goes_to_the_configured_bucket(release: str) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="records", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    answers = _run(environ={"RECORD_BUCKET": "records", "RECORD_PREFIX": "audit"})
    assert answers.only[1]["outputVariables"]["record_uri"].startswith("s3://records/audit/staging-gate/")
    assert ARTIFACT_BUCKET not in answers.only[1]["outputVariables"]["record_uri"]


class _ColdStart:
    """A runtime client whose first `cold` invocations time out, as a cold serverless endpoint does."""

    def __init__(self, client: Any, cold: int) -> None:
        self.client, self.cold, self.timeouts_seen = client, cold, []

    def invoke_endpoint(self, **request: Any) -> Any:
        from botocore.exceptions import ReadTimeoutError

        if self.cold > 0:
            self.cold -= 1
            raise ReadTimeoutError(endpoint_url=f"https://runtime.sagemaker/endpoints/{ENDPOINT}/invocations")
        return self.client.invoke_endpoint(**request)


def _cold_services(cold: int, built: list[dict[str, int]]) -> StagingGateServices:
    endpoint = _ColdStart(_CLIENTS["runtime"], cold)

    def runtime(**timeouts: int) -> Any:
        built.append(timeouts)
        return endpoint

    return _services(runtime=runtime)


def test_a_cold_start_is_warmed_up_reported_and_not_counted(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    built: list[dict[str, int]] = []
    answers = _run(_cold_services(cold=1, built=built))
    assert answers.succeeded, answers.calls
    record = _record(answers)
    warmup = record["inputs"]["warmup"]
    assert warmup["warm"] is True and [a["outcome"] for a in warmup["attempts"]] == ["ReadTimeoutError", "answered"]
    assert all(r["status"] == "matched" for r in record["requests"])  # the timeout is in no measured call
    error_rate = next(r for r in record["rules"] if r["rule_id"] == "staging.max_error_rate")
    assert error_rate["value"] == 0 and any(note.startswith("warm-up (not judged)") for note in record["notes"])
    # The warm-up client waits longer than the measured one; both as configured (defaults here).
    assert built == [{"connect_timeout": 2, "read_timeout": 60}, {"connect_timeout": 2, "read_timeout": 5}]


def test_without_warm_up_the_same_cold_start_fails_the_error_rate(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    environ = {"STAGING_PROBE": json.dumps({"warmup_max_attempts": 0})}
    with record_codepipeline_answers() as answers:
        run_staging_gate(
            job_event(user_parameters=PARAMETERS, function_name="staging-gate"),
            services=_cold_services(cold=1, built=[]),
            environ=environ,
        )
    record = _record(answers)
    assert record["inputs"]["warmup"] is None
    error_rate = next(r for r in record["rules"] if r["rule_id"] == "staging.max_error_rate")
    assert error_rate["outcome"] == "failed" and error_rate["value"] > 0


def test_the_warm_up_is_bounded_by_attempts_and_configured_timeouts(release: str) -> None:
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    built: list[dict[str, int]] = []
    probe = {"warmup_max_attempts": 3, "read_timeout_seconds": 9, "warmup_read_timeout_seconds": 30}
    with record_codepipeline_answers() as answers:
        run_staging_gate(
            job_event(user_parameters=PARAMETERS, function_name="staging-gate"),
            services=_cold_services(cold=100, built=built),
            environ={"STAGING_PROBE": json.dumps(probe)},
        )
    warmup = _record(answers)["inputs"]["warmup"]
    assert (warmup["warm"], len(warmup["attempts"]), warmup["stopped"]) == (False, 3, "stopped: 3 attempts")
    assert built == [{"connect_timeout": 2, "read_timeout": 30}, {"connect_timeout": 2, "read_timeout": 9}]


def test_an_unusable_probe_configuration_fails_closed_naming_the_key(release: str) -> None:
    answers = _run(environ={"STAGING_PROBE": json.dumps({"read_timeout_seconds": 600})})
    assert "STAGING_PROBE.read_timeout_seconds: 600 is not an integer from 1 to 60" in answers.failure_message


def test_the_record_names_the_image_the_endpoint_serves(aws: Any) -> None:
    """release.json's image (by digest for the repository's own) is in the staging gate's record."""
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/ml-cicd-model@sha256:" + "ab" * 32
    arn = register_package(aws)
    create_endpoint(aws, ENDPOINT, arn)
    upload_train_output(arn, image_uri=image)
    queue_endpoint_answers([answer_for(r) for r in golden_requests()])
    answers = _run()
    assert answers.succeeded, answers.calls
    assert _record(answers)["inputs"]["image"] == image
