"""verify_production and promote end to end: documented event, moto S3/SageMaker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from function_kit_fixtures import REGION, aws_credentials  # noqa: F401
from promote.champion_promotion import PREVIOUS_CHAMPION_KEY, SUPERSEDED_BY_KEY
from promote.handler import PromoteServices, run_promote
from promote.production_check import MAX_WAIT_ATTEMPTS
from rehearsal.codepipeline_double import job_event, record_codepipeline_answers
from staging_fixtures import (
    create_endpoint,
    register_package,
    set_endpoint_state,
    shared_client,
    space_creation_times,
    upload_train_output,
)

ENDPOINT = "ml-cicd-production-endpoint"  # the endpoint is named after its stack
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_CLIENTS: dict[str, Any] = {}
"""One client per service per test (building clients dominates the run time); the
parametrized bad-parameters test runs the default factories."""


@pytest.fixture
def sagemaker(aws_credentials: None) -> Iterator[Any]:  # noqa: F811
    with mock_aws():
        _CLIENTS.update(
            sagemaker=shared_client("sagemaker"),
            s3=shared_client("s3"),
            codepipeline=shared_client("codepipeline"),
        )
        yield _CLIENTS["sagemaker"]


def _run(action: str, *, token: str | None = None, environ: Any = None, **extra: str):
    parameters = json.dumps({"action": action, "endpoint_name": ENDPOINT, **extra})
    with record_codepipeline_answers() as answers:
        run_promote(
            job_event(user_parameters=parameters, function_name="promote", continuation_token=token),
            services=PromoteServices(
                now=lambda: NOW,
                sagemaker=lambda: _CLIENTS["sagemaker"],
                records_s3=lambda: _CLIENTS["s3"],
                artifact_s3=lambda _credentials: _CLIENTS["s3"],
                codepipeline=_CLIENTS["codepipeline"],
            ),
            environ=environ or {},
        )
    return answers


def _package(sagemaker: Any, arn: str) -> dict[str, Any]:
    return sagemaker.describe_model_package(ModelPackageName=arn)


@pytest.fixture
def champion_and_release(sagemaker: Any) -> tuple[str, str]:
    """Production ran the approved champion; CloudFormation has just deployed the release."""
    champion = register_package(sagemaker, status="Approved")
    release = register_package(sagemaker)
    space_creation_times(champion, release)
    create_endpoint(sagemaker, ENDPOINT, champion, suffix="1")
    create_endpoint(sagemaker, ENDPOINT, release, suffix="2")
    upload_train_output(release)
    return champion, release


def test_verify_production_passes_when_production_serves_the_release(champion_and_release: tuple[str, str]) -> None:
    answers = _run("verify_production", endpoint_config_name=f"{ENDPOINT}-config-2")
    assert answers.succeeded
    assert answers.only[1]["outputVariables"]["decision"] == "passed"


def test_a_silent_sagemaker_rollback_fails_verification(sagemaker: Any, champion_and_release: tuple[str, str]) -> None:
    champion, release = champion_and_release
    # SageMaker's guardrail alarm fired during baking: back on the old config, InService.
    create_endpoint(sagemaker, ENDPOINT, champion, suffix="1b")
    set_endpoint_state(ENDPOINT, status="InService", failure_reason="Alarm ml-cicd-5xx went into ALARM during baking")
    message = _run("verify_production").failure_message
    assert "rolled the deployment back automatically" in message
    assert champion in message and release in message


def test_a_rollback_to_a_config_with_the_same_package_is_caught_by_the_config_name(
    champion_and_release: tuple[str, str],
) -> None:
    message = _run("verify_production", endpoint_config_name="config-cloudformation-deployed").failure_message
    assert f"runs endpoint config {ENDPOINT}-config-2, not config-cloudformation-deployed" in message


def test_an_updating_endpoint_is_waited_for_with_a_bounded_continuation_token(
    champion_and_release: tuple[str, str],
) -> None:
    set_endpoint_state(ENDPOINT, status="Updating")
    answers = _run("verify_production")
    assert answers.succeeded
    token = json.loads(answers.only[1]["continuationToken"])
    assert token["attempt"] == 1
    exhausted = json.dumps({"attempt": MAX_WAIT_ATTEMPTS, "first_seen": NOW.timestamp()})
    message = _run("verify_production", token=exhausted).failure_message
    assert "giving up" in message


def test_a_failed_or_rolling_back_endpoint_fails_at_once(champion_and_release: tuple[str, str]) -> None:
    set_endpoint_state(ENDPOINT, status="RollingBack", failure_reason="alarm")
    assert "SageMaker is rolling back" in _run("verify_production").failure_message


def test_promote_approves_the_release_and_records_the_previous_champion(
    sagemaker: Any, champion_and_release: tuple[str, str]
) -> None:
    champion, release = champion_and_release
    answers = _run("promote", pipeline_execution_id="0a1b2c3d-exec")
    assert answers.succeeded, answers.calls
    promoted = _package(sagemaker, release)
    assert promoted["ModelApprovalStatus"] == "Approved"
    assert promoted["CustomerMetadataProperties"][PREVIOUS_CHAMPION_KEY] == champion
    assert "CodePipeline execution 0a1b2c3d-exec" in promoted["ApprovalDescription"]
    superseded = _package(sagemaker, champion)
    assert superseded["ModelApprovalStatus"] == "Approved"
    assert superseded["CustomerMetadataProperties"][SUPERSEDED_BY_KEY] == release


def test_promote_is_safe_to_retry(sagemaker: Any, champion_and_release: tuple[str, str]) -> None:
    _, release = champion_and_release
    assert _run("promote").succeeded
    first = _package(sagemaker, release)["CustomerMetadataProperties"]
    assert _run("promote").succeeded
    assert _package(sagemaker, release)["CustomerMetadataProperties"] == first


def test_the_first_release_has_no_previous_champion(sagemaker: Any) -> None:
    release = register_package(sagemaker)
    create_endpoint(sagemaker, ENDPOINT, release)
    upload_train_output(release)
    assert _run("promote").succeeded
    assert _package(sagemaker, release)["CustomerMetadataProperties"][PREVIOUS_CHAMPION_KEY] == "none"


def test_promote_refuses_when_production_does_not_serve_the_release(sagemaker: Any) -> None:
    champion = register_package(sagemaker, status="Approved")
    release = register_package(sagemaker)
    create_endpoint(sagemaker, ENDPOINT, champion)
    upload_train_output(release)
    assert "not the release's" in _run("promote").failure_message
    assert _package(sagemaker, release)["ModelApprovalStatus"] == "PendingManualApproval"


def test_promote_refuses_when_a_newer_package_is_already_approved(sagemaker: Any) -> None:
    release = register_package(sagemaker)
    newer = register_package(sagemaker, status="Approved")
    space_creation_times(release, newer)
    create_endpoint(sagemaker, ENDPOINT, release)
    upload_train_output(release)
    message = _run("promote").failure_message
    assert newer in message and "would not make it the champion" in message


def test_promote_refuses_a_group_other_than_its_own(champion_and_release: tuple[str, str]) -> None:
    message = _run("promote", environ={"MODEL_PACKAGE_GROUP_NAME": "another-group"}).failure_message
    assert "promotes in another-group" in message


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"action": "deploy", "endpoint_name": ENDPOINT}, "UserParameters.action: 'deploy'"),
        ({"action": "promote"}, "UserParameters.endpoint_name: None"),
    ],
)
def test_bad_user_parameters_fail_closed(
    champion_and_release: tuple[str, str], parameters: dict[str, str], expected: str
) -> None:
    with record_codepipeline_answers() as answers:
        run_promote(job_event(user_parameters=json.dumps(parameters)), services=PromoteServices(), environ={})
    assert expected in answers.failure_message


def test_the_promote_record_names_the_image_the_release_serves(sagemaker: Any) -> None:
    """The release's image (by digest for the repository's own) is in the record, as in the gates' records."""
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/ml-cicd-model@sha256:" + "ab" * 32
    release = register_package(sagemaker)
    create_endpoint(sagemaker, ENDPOINT, release)
    upload_train_output(release, image_uri=image)
    answers = _run("promote")
    assert answers.succeeded, answers.calls
    uri = answers.only[1]["outputVariables"]["record_uri"]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    record = json.loads(_CLIENTS["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["inputs"]["image"] == image
