"""THE CHECK "handler permissions": the role that deploys a template allows what its resource handlers call.

For every template a role of ours deploys (the staging and production endpoint
templates, both staging modes and both traffic routings), every create, update,
delete and read handler permission of every resource's registry schema
(`tests/handler_permissions.py`), minus the documented exemptions, is judged by
the IAM evaluator against the deploying role's synthesized policy, with the
resource ARN and request context the call would carry.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.accounts import STAGES
from stacks.config import load_config
from stacks.endpoint_stack import EndpointStack
from stacks.endpoint_templates import endpoint_props
from tests.cfn_template_world import Account, TemplateWorld
from tests.handler_permissions import EXEMPTIONS, PER_RELEASE_STACK_TAG, HandlerCall, handler_calls, registry_schema
from tests.iam_policy_evaluation import Request, Verdict, evaluate
from tests.synthesis_fixtures import CROSS_ACCOUNT_ENVIRONMENTS, SynthesizedApp, cdk_json_config
from tests.synthesized_roles import Deployment, deployments

PROJECT = cdk_json_config().project_name
STACK_TAGS = {"project": PROJECT, PER_RELEASE_STACK_TAG: "3f2c9e1"}


@pytest.fixture(scope="module")
def variant_templates() -> dict[str, dict[str, Any]]:
    """The endpoint templates of the other configurations: instance-backed staging, linear production."""
    config = load_config({"ml-cicd": {"staging": {"mode": "instances"}, "canary": {"traffic_routing": "linear"}}})
    app = cdk.App(context={"@aws-cdk/core:validationReportJson": False})
    props = endpoint_props(config)
    stacks = {stage: EndpointStack(app, stage.title(), props=props[stage]) for stage in ("staging", "production")}
    return {stage: Template.from_stack(stack).to_json() for stage, stack in stacks.items()}


@pytest.fixture(scope="module")
def all_deployments(synthesized: SynthesizedApp, variant_templates: dict[str, dict[str, Any]]) -> list[Deployment]:
    default = deployments(synthesized.pipeline, synthesized.templates)
    other = deployments(synthesized.pipeline, variant_templates)
    return [*default, *[d.renamed(f"{d.name} ({'instances' if 'staging' in d.name else 'linear'})") for d in other]]


@pytest.fixture(scope="module")
def cross_account_deployments(synthesized_cross_account: SynthesizedApp) -> list[Deployment]:
    """The endpoint templates as the target accounts' deploy roles deploy them (README "Accounts")."""
    templates = synthesized_cross_account.templates
    return deployments(templates["pipeline"], templates, {stage: templates[f"{stage}-target"] for stage in STAGES})


def _in_another_account(deployment: Deployment, resource: str) -> bool:
    parts = resource.split(":")
    return bool(deployment.role_arn) and len(parts) > 4 and parts[4] not in ("", deployment.role_arn.split(":")[4])


def _verdict(deployment: Deployment, statements: list[dict[str, Any]], request: Request) -> Verdict:
    """The identity policy's verdict and, on another account's resource, its resource policy's too: "the identity
    policy in the trusted account and the resource-based policy in the trusting account must both allow the
    request" (IAM user guide, "Cross-account policy evaluation logic")."""
    verdict = evaluate(statements, request)
    if not verdict.allowed or not _in_another_account(deployment, request.resource):
        return verdict
    as_principal = Request(request.action, request.resource, {**request.context, "aws:PrincipalArn": deployment.role_arn})
    there = evaluate(deployment.resource_policy, as_principal)
    return there if not there.allowed else verdict


def denied(deployment: Deployment, statements: list[dict[str, Any]] | None = None) -> list[str]:
    """Every handler call of the deployment that the role's statements do not allow, described."""
    statements = deployment.statements if statements is None else statements
    out = []
    for call in handler_calls(deployment.world, STACK_TAGS):
        verdict = _verdict(deployment, statements, call.request)
        if not verdict.allowed:
            out.append(
                f"{deployment.name}: {call.logical_id} ({call.resource_type}) {call.phase}: "
                f"{call.permission} on {call.request.resource}: {verdict.reason}"
            )
    return out


def test_every_template_a_role_of_ours_deploys_is_covered(all_deployments: list[Deployment]) -> None:
    names = {d.name for d in all_deployments}
    assert names == {"staging", "production", "staging (instances)", "production (linear)"}
    kinds = {r["Type"] for d in all_deployments for r in d.world.resources.values()}
    assert {
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
        "AWS::CloudWatch::Alarm",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    } <= kinds
    assert all(len(list(handler_calls(d.world, STACK_TAGS))) > 20 for d in all_deployments)


def test_the_deploying_role_allows_every_handler_permission(all_deployments: list[Deployment]) -> None:
    problems = [line for deployment in all_deployments for line in denied(deployment)]
    assert not problems, "\n".join(problems)


def test_removing_any_one_statement_of_the_deploy_role_fails_the_check(all_deployments: list[Deployment]) -> None:
    # Every statement of the role is needed by some handler: none is dead weight, none can go unnoticed.
    production = next(d for d in all_deployments if d.name == "production")
    unneeded = []
    for index, statement in enumerate(production.statements):
        mutated = production.statements[:index] + production.statements[index + 1 :]
        if not any(denied(d, mutated) for d in all_deployments):
            unneeded.append(statement.get("Sid") or statement["Action"])
    assert not unneeded, f"statements no handler needs: {unneeded}"


def test_an_update_retags_with_a_diff_that_lacks_the_project_tag(all_deployments: list[Deployment]) -> None:
    # Finding 3: the second release re-tags the endpoint with only `source-revision`; a request-tag condition alone
    # would refuse it. The role allows it because the endpoint already carries the project tag.
    production = next(d for d in all_deployments if d.name == "production")
    (call,) = [
        c
        for c in handler_calls(production.world, STACK_TAGS)
        if c.resource_type == "AWS::SageMaker::Endpoint" and c.phase == "update" and c.permission == "sagemaker:AddTags"
    ]
    assert "aws:RequestTag/ml-cicd:project" not in call.request.context
    assert evaluate(production.statements, call.request).allowed
    only_request_tag = [s for s in production.statements if s.get("Sid") != "ManageOwnHostingResources"]
    assert not evaluate(only_request_tag, call.request).allowed
    foreign = {**call.request.context, "aws:ResourceTag/ml-cicd:project": "another-project"}
    assert not evaluate(production.statements, type(call.request)(call.request.action, call.request.resource, foreign)).allowed


def test_exemptions_are_narrow_and_still_listed_by_the_schemas() -> None:
    for exemption in EXEMPTIONS:
        schema = registry_schema(exemption.resource_type)
        listed = {p for handler in schema["handlers"].values() for p in handler.get("permissions", [])}
        assert exemption.permissions <= listed, f"stale exemption: {exemption.permissions - listed}"
        assert len(exemption.reason) > 30 and len(exemption.permissions) <= 3


def test_an_exemption_stops_applying_when_the_template_uses_the_feature() -> None:
    target = {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
        "Properties": {
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "ResourceId": "endpoint/e/variant/AllTraffic",
            "MinCapacity": 1,
            "MaxCapacity": 2,
            "ScheduledActions": [{"ScheduledActionName": "night", "Schedule": "cron(0 22 * * ? *)"}],
        },
    }
    world = TemplateWorld({"Resources": {"Target": target}}, Account(stack_name="e"))
    permissions = {c.permission for c in handler_calls(world, STACK_TAGS)}
    assert "application-autoscaling:PutScheduledAction" in permissions
    assert "lambda:PutProvisionedConcurrencyConfig" not in permissions


def test_a_call_on_another_projects_resource_is_refused(all_deployments: list[Deployment]) -> None:
    production = next(d for d in all_deployments if d.name == "production")
    call: HandlerCall = next(c for c in handler_calls(production.world, STACK_TAGS) if c.permission == "sagemaker:UpdateEndpoint")
    other = call.request.resource.replace(f"{PROJECT}-production-endpoint", "someone-elses-endpoint")
    assert other != call.request.resource
    assert not evaluate(production.statements, type(call.request)(call.request.action, other, call.request.context)).allowed
    assert json.dumps(call.request.context)  # the context is plain data, as IAM's request context is


# -- the target accounts' deploy roles (README "Accounts") ----------------------------


def test_the_target_accounts_deploy_roles_are_judged_with_their_own_statements(
    cross_account_deployments: list[Deployment],
) -> None:
    assert [d.name for d in cross_account_deployments] == ["staging", "production"]
    for deployment in cross_account_deployments:
        account = deployment.role_arn.split(":")[4]
        assert deployment.world.where.account == account != CROSS_ACCOUNT_ENVIRONMENTS["pipeline"]["account"]
        assert {s.get("Sid") for s in deployment.statements} >= {"DeployTheEndpointStack", "LetSageMakerGrantOnTheArtifactKey"}
        sids = {s.get("Sid") for s in deployment.resource_policy}
        assert {f"{deployment.name.title()}DeployRoleUsesKey", f"{deployment.name.title()}DeploysPackages"} <= sids
        calls = list(handler_calls(deployment.world, STACK_TAGS))
        assert len(calls) > 20 and any(_in_another_account(deployment, c.request.resource) for c in calls)


def test_the_target_accounts_deploy_roles_allow_every_handler_permission(cross_account_deployments: list[Deployment]) -> None:
    # Their own policy in the target account and, for the pipeline account's key and model packages, its policies.
    problems = [line for deployment in cross_account_deployments for line in denied(deployment)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("sid", ["{stage}DeployRoleUsesKey", "{stage}DeployRoleLetsSageMakerGrant", "{stage}DeploysPackages"])
def test_a_cross_account_call_the_pipeline_accounts_policy_does_not_allow_is_refused(
    sid: str, cross_account_deployments: list[Deployment]
) -> None:
    # The check can fail on the pipeline account's side alone: without one resource-policy statement some handler
    # call is refused although the role's own policy allows it.
    production = next(d for d in cross_account_deployments if d.name == "production")
    left = [s for s in production.resource_policy if s.get("Sid") != sid.format(stage="Production")]
    assert len(left) == len(production.resource_policy) - 1
    mutated = replace(production, resource_policy=left)
    assert denied(mutated), f"nothing needs {sid}"
    assert all("allow" in line for line in denied(mutated))


def test_sagemakers_grant_on_the_artifact_key_needs_the_aws_resource_context(cross_account_deployments: list[Deployment]) -> None:
    # kms:CreateGrant is allowed only as SageMaker's request on the role's behalf: the same call made by the role
    # itself (no kms:GrantIsForAWSResource) is refused by both policies.
    production = next(d for d in cross_account_deployments if d.name == "production")
    (call,) = [c for c in handler_calls(production.world, STACK_TAGS) if c.permission == "kms:CreateGrant"]
    assert _verdict(production, production.statements, call.request).allowed
    direct = Request(call.request.action, call.request.resource, {"kms:GrantIsForAWSResource": "false"})
    assert not evaluate(production.statements, direct).allowed
    assert not evaluate(
        production.resource_policy,
        Request(direct.action, direct.resource, {**direct.context, "aws:PrincipalArn": production.role_arn}),
    ).allowed
