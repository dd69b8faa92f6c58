"""Release-branch protection: approval rule templates on the release branch, the data scientists' deny policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.components.branch_protection import (
    APPROVAL_BYPASS_ACTIONS,
    CHECKS_BUILD_CONTROL_ACTIONS,
    DIRECT_WRITE_ACTIONS,
    TEMPLATE_LIFECYCLE_ACTIONS,
    approval_rule_content,
)
from tests.synthesis_fixtures import SynthesizedApp, cdk_json_config

# Values the template carries from the configuration are read from it (cdk.json), never restated here.
CONFIG = cdk_json_config()
RELEASE_REF = f"refs/heads/{CONFIG.release_branch}"


def by_type(synthesized: SynthesizedApp, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synthesized.pipeline["Resources"].items() if r["Type"] == kind}


def flatten(value: Any) -> str:
    """A CloudFormation string value as text, each token (Ref, GetAtt...) replaced by `TOKEN`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(part if isinstance(part, str) else "TOKEN" for part in value["Fn::Join"][1])
    return "TOKEN"


def template_resources(synthesized: SynthesizedApp) -> dict[str, dict[str, Any]]:
    """The approval rule template custom resources, by logical ID."""
    return by_type(synthesized, "Custom::ApprovalRuleTemplate")


def template_content(synthesized: SynthesizedApp, name_part: str) -> dict[str, Any]:
    (resource,) = [r for r in template_resources(synthesized).values() if name_part in r["Properties"]["TemplateName"]]
    return json.loads(flatten(resource["Properties"]["Content"]))


@pytest.fixture(scope="module")
def approvals() -> int:
    return CONFIG.pull_request_approvals


def test_rule_content_targets_the_release_branch() -> None:
    content = json.loads(approval_rule_content(release_branch="main", approvals=2, pool=["arn:aws:sts::1:assumed-role/r/*"]))
    assert content == {
        "Version": "2018-11-08",
        "DestinationReferences": ["refs/heads/main"],
        "Statements": [
            {"Type": "Approvers", "NumberOfApprovalsNeeded": 2, "ApprovalPoolMembers": ["arn:aws:sts::1:assumed-role/r/*"]}
        ],
    }


def test_two_templates_each_with_its_repository_are_managed_by_one_function(synthesized: SynthesizedApp) -> None:
    resources = synthesized.pipeline["Resources"]
    templates = template_resources(synthesized)
    assert sorted(r["Properties"]["TemplateName"] for r in templates.values()) == [
        f"{CONFIG.project_name}-release-checks",
        f"{CONFIG.project_name}-release-review",
    ]
    (token,) = {json.dumps(r["Properties"]["ServiceToken"]) for r in templates.values()}
    function_id = json.loads(token)["Fn::GetAtt"][0]
    assert resources[function_id]["Properties"]["Handler"] == "approval_rule_templates.handler.handler"
    (repository_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::CodeCommit::Repository"]
    assert all(r["Properties"]["RepositoryName"] == {"Fn::GetAtt": [repository_id, "Name"]} for r in templates.values())
    # No SDK-call custom resources (whose delete acted by name) remain.
    assert not by_type(synthesized, "Custom::AWS")


def test_peer_review_needs_the_configured_approvals_besides_the_checks(synthesized: SynthesizedApp, approvals: int) -> None:
    peer = template_content(synthesized, "release-review")
    assert peer["DestinationReferences"] == [RELEASE_REF]
    assert peer["Statements"] == [{"Type": "Approvers", "NumberOfApprovalsNeeded": approvals + 1}]


def test_checks_rule_needs_the_checks_role_approval(synthesized: SynthesizedApp) -> None:
    checks = template_content(synthesized, "release-checks")
    (statement,) = checks["Statements"]
    assert statement["NumberOfApprovalsNeeded"] == 1
    assert statement["ApprovalPoolMembers"] == ["arn:TOKEN:sts::TOKEN:assumed-role/TOKEN/*"]


def test_the_approving_role_is_the_reporter_functions_not_the_builds(synthesized: SynthesizedApp) -> None:
    """The build runs the pull request's own code; only the reporter function's sessions may approve."""
    resources = synthesized.pipeline["Resources"]
    (reporter,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "pull_request_reporter.handler.handler"
    ]
    reporter_role = reporter["Properties"]["Role"]["Fn::GetAtt"][0]
    (build,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::CodeBuild::Project" and r["Properties"]["Source"]["Type"] == "CODECOMMIT"
    ]
    build_role = build["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    (checks,) = [
        json.dumps(r["Properties"]["Content"])
        for r in template_resources(synthesized).values()
        if "release-checks" in r["Properties"]["TemplateName"]
    ]
    assert json.dumps({"Ref": reporter_role}) in checks
    assert json.dumps({"Ref": build_role}) not in checks


def test_data_scientist_policy_denies_direct_writes_and_approval_bypass(synthesized: SynthesizedApp) -> None:
    (policy,) = by_type(synthesized, "AWS::IAM::ManagedPolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    writes = statements["DenyDirectWritesToReleaseBranch"]
    assert writes["Effect"] == "Deny" and set(writes["Action"]) == set(DIRECT_WRITE_ACTIONS)
    assert "codecommit:GitPush" in writes["Action"] and "codecommit:MergeBranchesByThreeWay" in writes["Action"]
    assert writes["Condition"] == {
        "StringEqualsIfExists": {"codecommit:References": [RELEASE_REF]},
        "Null": {"codecommit:References": "false"},
    }
    bypass = statements["DenyBypassingApprovalRules"]
    assert bypass["Effect"] == "Deny" and "codecommit:OverridePullRequestApprovalRules" in bypass["Action"]
    assert set(bypass["Action"]) == set(APPROVAL_BYPASS_ACTIONS)
    # Merging an approved pull request stays possible: that is the one way in.
    denied = {a for s in statements.values() for a in s["Action"]}
    assert not any(a.startswith("codecommit:MergePullRequest") for a in denied)
    assert all(s["Effect"] == "Deny" for s in statements.values())


def test_data_scientist_policy_denies_starting_retrying_or_changing_the_checks_build(synthesized: SynthesizedApp) -> None:
    """Only the EventBridge rule starts the checks project: no overrides, no `buildspecOverride: exit 0`."""
    (policy,) = by_type(synthesized, "AWS::IAM::ManagedPolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    deny = statements["DenyStartingOrChangingTheChecksBuild"]
    assert deny["Effect"] == "Deny"
    assert (
        set(deny["Action"])
        == set(CHECKS_BUILD_CONTROL_ACTIONS)
        == {
            "codebuild:StartBuild",
            "codebuild:StartBuildBatch",
            "codebuild:RetryBuild",
            "codebuild:RetryBuildBatch",
            "codebuild:UpdateProject",
        }
    )
    (checks_project,) = [
        k for k, r in by_type(synthesized, "AWS::CodeBuild::Project").items() if r["Properties"]["Source"]["Type"] == "CODECOMMIT"
    ]
    assert deny["Resource"] == {"Fn::GetAtt": [checks_project, "Arn"]}


def test_custom_resource_role_has_no_managed_policy_and_scoped_association(synthesized: SynthesizedApp) -> None:
    (policy,) = [
        p for k, p in by_type(synthesized, "AWS::IAM::Policy").items() if k.startswith("BranchProtectionTemplateManagerRole")
    ]
    statements = {s.get("Sid", "OwnLogs"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["AssociateTemplatesWithTheRepository"]["Resource"]["Fn::GetAtt"][1] == "Arn"
    role_id = policy["Properties"]["Roles"][0]["Ref"]
    assert "ManagedPolicyArns" not in synthesized.pipeline["Resources"][role_id]["Properties"]
    lifecycle = statements["ManageApprovalRuleTemplates"]
    assert set(lifecycle["Action"]) == set(TEMPLATE_LIFECYCLE_ACTIONS) and lifecycle["Resource"] == "*"
