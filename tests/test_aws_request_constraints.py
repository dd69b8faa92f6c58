"""The suite-wide check of AWS requests against the service model's constraints (`rehearsal.aws_request_constraints`)."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
import pytest
import regex
from botocore.config import Config

from rehearsal.aws_request_constraints import (
    RequestConstraintViolation,
    check_request,
    expected_violations,
    take_violations,
)

ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/ml-cicd-models/7"
SERVICES = (
    "s3",
    "sagemaker",
    "sagemaker-runtime",
    "codepipeline",
    "cloudformation",
    "sts",
    "cloudwatch",
    "application-autoscaling",
    "codecommit",
    "codebuild",
)


def _client(service: str, session: Any = None) -> Any:
    return (session or boto3).client(
        service, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_the_parenthesis_case_fails_loudly_naming_operation_path_value_and_pattern() -> None:
    sagemaker = _client("sagemaker")
    with pytest.raises(RequestConstraintViolation) as raised:
        sagemaker.update_model_package(
            ModelPackageArn=ARN, CustomerMetadataProperties={"promoted_by": "CodePipeline execution e1 (job j1)"}
        )
    message = str(raised.value)
    assert raised.value.response["Error"]["Code"] == "ValidationException"  # as the service answers
    assert "sagemaker UpdateModelPackage: CustomerMetadataProperties['promoted_by']" in message
    assert "'CodePipeline execution e1 (job j1)'" in message and r"pattern ^([\p{L}\p{Z}\p{N}" in message
    # Recorded too, so a violation the code swallows still fails the test (conftest's autouse fixture).
    assert [v.path for v in take_violations()] == ["CustomerMetadataProperties['promoted_by']"]


def test_a_client_of_a_new_session_is_checked_too() -> None:
    session = boto3.session.Session()
    # Aimed at a local port nothing listens on, one attempt: refused at once instead of retried out over the network.
    sagemaker = session.client(
        "sagemaker",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with expected_violations() as seen:
        with pytest.raises(Exception):  # noqa: B017 - no endpoint answers; the check is what matters
            sagemaker.list_model_packages(ModelPackageGroupName="g", MaxResults=1000)
    assert [(v.path, v.constraint) for v in seen] == [("MaxResults", "max value 100")]


@pytest.mark.parametrize(
    ("operation", "params", "path", "constraint"),
    [
        ("UpdateModelPackage", {"ModelPackageArn": ARN, "ModelApprovalStatus": "Accepted"}, "ModelApprovalStatus", "enum"),
        (
            "UpdateModelPackage",
            {"ModelPackageArn": ARN, "ApprovalDescription": "x" * 1025},
            "ApprovalDescription",
            "max length 1024 (has 1025)",
        ),
        (
            "UpdateModelPackage",
            {"ModelPackageArn": ARN, "ApprovalDescription": "two\nlines"},
            "ApprovalDescription",
            "pattern .*",
        ),
        (
            "UpdateModelPackage",
            {"ModelPackageArn": ARN, "CustomerMetadataProperties": {f"k{i}": "v" for i in range(51)}},
            "CustomerMetadataProperties",
            "max entries 50 (has 51)",
        ),
        (
            "UpdateModelPackage",
            {"ModelPackageArn": ARN, "CustomerMetadataPropertiesToRemove": ["ok", "no,"]},
            "CustomerMetadataPropertiesToRemove[1]",
            "pattern",
        ),
        (
            "UpdateModelPackage",
            {"ModelPackageArn": ARN, "CustomerMetadataProperties": {"a#": "v"}},
            "CustomerMetadataProperties key",
            "pattern",
        ),
        (
            "CreateModel",
            {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": ARN, "Environment": {"K": "v" * 1025}}},
            "PrimaryContainer.Environment['K']",
            "max length 1024 (has 1025)",
        ),
    ],
)
def test_constraints_are_checked_through_structures_lists_and_maps(
    operation: str, params: dict[str, Any], path: str, constraint: str
) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation)
    violations = check_request(model, params)
    assert [v.path for v in violations] == [path]
    assert violations[0].constraint.startswith(constraint)


def test_a_valid_request_passes() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model("UpdateModelPackage")
    assert (
        check_request(
            model,
            {
                "ModelPackageArn": ARN,
                "ModelApprovalStatus": "Approved",
                "CustomerMetadataProperties": {"promoted_at": "2026-11-29T19:00:00Z"},
            },
        )
        == []
    )


def test_a_long_value_is_shortened_in_the_message() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model("UpdateModelPackage")
    (violation,) = check_request(model, {"ModelPackageArn": ARN, "ApprovalDescription": "y" * 5000})
    assert len(violation.value) <= 80 and violation.value.endswith("...'")


def test_every_pattern_of_the_services_the_project_calls_compiles() -> None:
    """Java patterns (UTF-16 surrogate pairs included) are translated, never skipped."""
    from rehearsal.aws_request_constraints import _compiled

    session = botocore.session.get_session()
    patterns = {
        shape.metadata["pattern"]
        for service in SERVICES
        for model in [session.get_service_model(service)]
        for shape in map(model.shape_for, model.shape_names)
        if "pattern" in shape.metadata
    }
    assert len(patterns) > 100
    for pattern in patterns:
        assert isinstance(_compiled(pattern), regex.Pattern)
    assert _compiled(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*").fullmatch("𝔘 ok")
