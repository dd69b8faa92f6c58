"""The IAM evaluator the permission checks rely on: each rule of AWS's evaluation logic it implements."""

from __future__ import annotations

import pytest

from tests.iam_policy_evaluation import Request, arn_match, evaluate

BUCKET_OBJECTS = "arn:aws:s3:::artifacts/*"


def allow(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def allowed(statements: list[dict[str, object]], action: str, resource: str = "*", **context: object) -> bool:
    return evaluate(statements, Request(action, resource, context)).allowed  # type: ignore[arg-type]


def test_nothing_is_allowed_without_a_matching_allow() -> None:
    assert not allowed([], "s3:GetObject", "arn:aws:s3:::artifacts/a")
    assert not allowed([allow("s3:PutObject", BUCKET_OBJECTS)], "s3:GetObject", "arn:aws:s3:::artifacts/a")


def test_actions_match_case_insensitively_with_wildcards() -> None:
    assert allowed([allow("s3:getobject*", BUCKET_OBJECTS)], "s3:GetObjectVersion", "arn:aws:s3:::artifacts/a")
    assert allowed([allow("sagemaker:Describe?odel", "*")], "sagemaker:DescribeModel")
    assert not allowed([allow("s3:Get*", BUCKET_OBJECTS)], "s3:PutObject", "arn:aws:s3:::artifacts/a")


def test_not_action_allows_everything_else() -> None:
    statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert allowed([statement], "s3:GetObject")
    assert not allowed([statement], "iam:PassRole")


def test_explicit_deny_wins_over_any_allow() -> None:
    statements = [allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": BUCKET_OBJECTS}]
    assert allowed(statements, "s3:GetObject", "arn:aws:s3:::artifacts/a")
    assert not allowed(statements, "s3:DeleteObject", "arn:aws:s3:::artifacts/a")


def test_resources_match_per_arn_segment_and_case_sensitively() -> None:
    assert arn_match(
        "arn:aws:sagemaker:*:*:model-package/group/*", "arn:aws:sagemaker:eu-west-1:111122223333:model-package/group/3"
    )
    assert not arn_match(
        "arn:aws:sagemaker:*:*:model-package/group/*", "arn:aws:sagemaker:eu-west-1:111122223333:model-package/other/3"
    )
    assert not arn_match("arn:aws:sagemaker:us-east-1:*:endpoint/x", "arn:aws:sagemaker:eu-west-1:111122223333:endpoint/x")
    assert not arn_match("arn:aws:s3:::Artifacts/*", "arn:aws:s3:::artifacts/a")
    # A wildcard in the resource part spans '/' and ':'.
    assert arn_match(
        "arn:aws:logs:us-east-1:111122223333:log-group:/aws/codebuild/p:*",
        "arn:aws:logs:us-east-1:111122223333:log-group:/aws/codebuild/p:log-stream:x",
    )
    assert not allowed(
        [{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": BUCKET_OBJECTS}], "s3:GetObject", "arn:aws:s3:::artifacts/a"
    )


def test_string_conditions_need_the_key_unless_negated_or_if_exists() -> None:
    tagged = allow("sagemaker:AddTags", "*", Condition={"StringEquals": {"aws:RequestTag/p": "ml-cicd"}})
    assert allowed([tagged], "sagemaker:AddTags", **{"aws:RequestTag/p": "ml-cicd"})
    assert not allowed([tagged], "sagemaker:AddTags", **{"aws:RequestTag/p": "other"})
    assert not allowed([tagged], "sagemaker:AddTags")  # key absent: a positive operator is false
    negated = allow("s3:PutObject", "*", Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}})
    assert allowed([negated], "s3:PutObject")  # key absent: a negated operator is true
    if_exists = allow("s3:PutObject", "*", Condition={"StringEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}})
    assert allowed([if_exists], "s3:PutObject")
    assert not allowed([if_exists], "s3:PutObject", **{"s3:x-amz-server-side-encryption": "AES256"})


def test_condition_keys_are_case_insensitive_values_are_not() -> None:
    statement = allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
    assert allowed([statement], "iam:PassRole", **{"IAM:passedtoservice": "sagemaker.amazonaws.com"})
    assert not allowed([statement], "iam:PassRole", **{"iam:PassedToService": "SAGEMAKER.amazonaws.com"})


def test_like_null_bool_and_set_operators() -> None:
    like = allow("iam:CreateServiceLinkedRole", "*", Condition={"StringLike": {"iam:AWSServiceName": "sagemaker.*"}})
    assert allowed(
        [like], "iam:CreateServiceLinkedRole", **{"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
    )
    assert not allowed([like], "iam:CreateServiceLinkedRole", **{"iam:AWSServiceName": "ec2.amazonaws.com"})
    null = allow("s3:GetObject", "*", Condition={"Null": {"aws:TokenIssueTime": "true"}})
    assert allowed([null], "s3:GetObject") and not allowed([null], "s3:GetObject", **{"aws:TokenIssueTime": "x"})
    secure = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert not allowed([allow("s3:*"), secure], "s3:GetObject", **{"aws:SecureTransport": "false"})
    assert allowed([allow("s3:*"), secure], "s3:GetObject", **{"aws:SecureTransport": "true"})
    keys = allow("sagemaker:AddTags", "*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    assert allowed([keys], "sagemaker:AddTags", **{"aws:TagKeys": ["a"]})
    assert not allowed([keys], "sagemaker:AddTags", **{"aws:TagKeys": ["a", "c"]})
    any_key = allow("sagemaker:AddTags", "*", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}})
    assert allowed([any_key], "sagemaker:AddTags", **{"aws:TagKeys": ["c", "a"]})
    assert not allowed([any_key], "sagemaker:AddTags", **{"aws:TagKeys": ["c"]})


def test_every_condition_block_must_hold() -> None:
    statement = allow(
        "application-autoscaling:RegisterScalableTarget",
        "*",
        Condition={
            "StringEquals": {
                "application-autoscaling:service-namespace": "sagemaker",
                "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
            }
        },
    )
    good = {
        "application-autoscaling:service-namespace": "sagemaker",
        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
    }
    assert allowed([statement], "application-autoscaling:RegisterScalableTarget", **good)
    assert not allowed(
        [statement],
        "application-autoscaling:RegisterScalableTarget",
        **{**good, "application-autoscaling:service-namespace": "lambda"},
    )


def test_an_operator_it_does_not_know_raises_rather_than_passing() -> None:
    statement = allow("s3:GetObject", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
    with pytest.raises(NotImplementedError):
        allowed([statement], "s3:GetObject")
