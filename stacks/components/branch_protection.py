"""Release-branch protection: approval rule templates and the data scientists' deny policy.

CodeCommit approval rule templates have no CloudFormation resource type, so
each template and its association with the repository is a
`Custom::ApprovalRuleTemplate` resource whose function
(`lambdas/approval_rule_templates/`) creates, updates (name, content,
description, repository) and deletes them idempotently: a delete of something
already gone succeeds, and a failed create never deletes a template it did
not create. Two templates apply to
every pull request into the release branch:

* peer review: `required_approvals` people besides the automated checks (the
  rule asks for one more approval than that, because the checks' approval
  counts towards it too);
* automated checks: one approval from the pull-request checks' reporter
  function, which gives it only when the Build stage's checks passed on the
  revision (the build that runs the pull request's code cannot approve).

The managed policy `DataScientistPolicy` denies direct pushes, branch merges
and approval-rule tampering on the release branch, and starting, retrying or
reconfiguring the pull-request checks project (only its EventBridge rule
starts it); attached to the data
scientists' group or role, releases can only come through approved pull
requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.gate_function import GateFunction, GateFunctionProps
from stacks.components.nag_acknowledgements import acknowledge

__all__ = ["BranchProtection", "BranchProtectionProps", "approval_rule_content"]

_RULE_VERSION = "2018-11-08"

# Writes that land on a branch without a pull request, and the escape hatches around approval rules.
DIRECT_WRITE_ACTIONS = (
    "codecommit:GitPush",
    "codecommit:PutFile",
    "codecommit:CreateCommit",
    "codecommit:DeleteBranch",
    "codecommit:MergeBranchesByFastForward",
    "codecommit:MergeBranchesBySquash",
    "codecommit:MergeBranchesByThreeWay",
)
APPROVAL_BYPASS_ACTIONS = (
    "codecommit:OverridePullRequestApprovalRules",
    "codecommit:DeletePullRequestApprovalRule",
    "codecommit:UpdatePullRequestApprovalRuleContent",
    "codecommit:DisassociateApprovalRuleTemplateFromRepository",
    "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories",
)
# Approval rule templates have no resource-level permissions (Service Authorization Reference).
TEMPLATE_LIFECYCLE_ACTIONS = (
    "codecommit:CreateApprovalRuleTemplate",
    "codecommit:GetApprovalRuleTemplate",
    "codecommit:UpdateApprovalRuleTemplateContent",
    "codecommit:UpdateApprovalRuleTemplateName",
    "codecommit:UpdateApprovalRuleTemplateDescription",
    "codecommit:DeleteApprovalRuleTemplate",
)
# Starting, retrying or reconfiguring the checks project by hand could set another pull request's identity or a
# `buildspecOverride`: only the platform's EventBridge rule starts it (its role is not a person's).
CHECKS_BUILD_CONTROL_ACTIONS = (
    "codebuild:StartBuild",
    "codebuild:StartBuildBatch",
    "codebuild:RetryBuild",
    "codebuild:RetryBuildBatch",
    "codebuild:UpdateProject",
)
TEMPLATE_ADMIN_ACTIONS = (
    "codecommit:CreateApprovalRuleTemplate",
    "codecommit:UpdateApprovalRuleTemplateContent",
    "codecommit:UpdateApprovalRuleTemplateName",
    "codecommit:UpdateApprovalRuleTemplateDescription",
    "codecommit:DeleteApprovalRuleTemplate",
)


def approval_rule_content(*, release_branch: str, approvals: int, pool: list[str] | None = None) -> str:
    """The JSON content of an `Approvers` rule on the release branch (CodeCommit rule syntax)."""
    statement: dict[str, object] = {"Type": "Approvers", "NumberOfApprovalsNeeded": approvals}
    if pool:
        statement["ApprovalPoolMembers"] = pool
    return json.dumps(
        {
            "Version": _RULE_VERSION,
            "DestinationReferences": [f"refs/heads/{release_branch}"],
            "Statements": [statement],
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True, kw_only=True)
class BranchProtectionProps:
    """The repository and branch to protect, how many people approve, and who runs the checks."""

    project_name: str
    repository: codecommit.IRepository
    release_branch: str
    required_approvals: int
    checks_role: iam.IRole
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays
    # The pull-request checks project: data scientists may not start, retry or change it themselves.
    checks_project_arn: str | None = None


class BranchProtection(Construct):
    """Approval rule templates on the release branch, and the data scientists' managed deny policy."""

    def __init__(self, scope: Construct, construct_id: str, *, props: BranchProtectionProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        repository_name = p.repository.repository_name
        checks_session = f"arn:{cdk.Aws.PARTITION}:sts::{cdk.Aws.ACCOUNT_ID}:assumed-role/{p.checks_role.role_name}/*"
        self.peer_review_name = f"{p.project_name}-release-review"
        self.checks_name = f"{p.project_name}-release-checks"
        self.peer_review_content = approval_rule_content(release_branch=p.release_branch, approvals=p.required_approvals + 1)
        self.checks_content = approval_rule_content(release_branch=p.release_branch, approvals=1, pool=[checks_session])
        self.manager = self._template_manager(p)
        self.role = self.manager.role
        self.templates = self._templates(p, repository_name)
        self.data_scientist_policy = self._data_scientist_policy(p)

    def _template_manager(self, p: BranchProtectionProps) -> GateFunction:
        """The custom resource's function, allowed to manage approval rule templates and associate them."""
        # One function manages both templates (create, update, delete idempotently; see
        # lambdas/approval_rule_templates/template_lifecycle.py), with no AWS managed policy.
        manager = GateFunction(
            self,
            "TemplateManager",
            props=GateFunctionProps(
                name="approval_rule_templates",
                description=(
                    f"Manages the {p.release_branch} approval rule templates of {p.project_name} "
                    "and their association with the repository (CloudFormation custom resource)"
                ),
                log_retention=p.log_retention,
                encryption_key=p.encryption_key,
                timeout=cdk.Duration.minutes(2),
                answers_codepipeline_jobs=False,
            ),
        )
        manager.role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageApprovalRuleTemplates",
                actions=list(TEMPLATE_LIFECYCLE_ACTIONS),
                resources=["*"],
            )
        )
        manager.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssociateTemplatesWithTheRepository",
                actions=[
                    "codecommit:AssociateApprovalRuleTemplateWithRepository",
                    "codecommit:DisassociateApprovalRuleTemplateFromRepository",
                    "codecommit:ListAssociatedApprovalRuleTemplatesForRepository",
                ],
                resources=[p.repository.repository_arn],
            )
        )
        acknowledge(
            manager.role,
            resources={
                "*": "CodeCommit approval rule template actions (create, get, update, delete) have no "
                "resource-level permissions; association is scoped to the repository.",
            },
        )
        return manager

    def _templates(self, p: BranchProtectionProps, repository_name: str) -> list[cdk.CustomResource]:
        """The two approval rule templates, each a custom resource associated with the repository."""
        templates: list[cdk.CustomResource] = []
        for template_id, name, content, description in (
            (
                "ReviewTemplate",
                self.peer_review_name,
                self.peer_review_content,
                f"{p.required_approvals} reviewer(s) besides the automated checks, for {p.release_branch}.",
            ),
            (
                "ChecksApprovalTemplate",
                self.checks_name,
                self.checks_content,
                f"The Build stage's checks passed on the pull request's latest revision, for {p.release_branch}.",
            ),
        ):
            template = cdk.CustomResource(
                self,
                template_id,
                service_token=self.manager.function.function_arn,
                resource_type="Custom::ApprovalRuleTemplate",
                properties={
                    "TemplateName": name,
                    "Content": content,
                    "Description": description,
                    "RepositoryName": repository_name,
                },
            )
            # The function's permissions exist before it is asked to act (and still exist on delete).
            template.node.add_dependency(self.manager.role)
            templates.append(template)
        return templates

    def _data_scientist_policy(self, p: BranchProtectionProps) -> iam.ManagedPolicy:
        """The managed policy that leaves the data scientists approved pull requests as the only way to release."""
        return iam.ManagedPolicy(
            self,
            "DataScientistPolicy",
            description=(
                f"Attach to the data scientists' group or role: no direct pushes or merges to "
                f"{p.release_branch} of {p.repository.repository_name}; releases come through approved "
                "pull requests."
            ),
            statements=[
                iam.PolicyStatement(
                    sid="DenyDirectWritesToReleaseBranch",
                    effect=iam.Effect.DENY,
                    actions=list(DIRECT_WRITE_ACTIONS),
                    resources=[p.repository.repository_arn],
                    # The AWS-documented pattern: applies when the request names the release branch,
                    # and to any request that names no branch at all.
                    conditions={
                        "StringEqualsIfExists": {"codecommit:References": [f"refs/heads/{p.release_branch}"]},
                        "Null": {"codecommit:References": "false"},
                    },
                ),
                iam.PolicyStatement(
                    sid="DenyBypassingApprovalRules",
                    effect=iam.Effect.DENY,
                    actions=list(APPROVAL_BYPASS_ACTIONS),
                    resources=[p.repository.repository_arn],
                ),
                iam.PolicyStatement(
                    sid="DenyChangingApprovalRuleTemplates",
                    effect=iam.Effect.DENY,
                    actions=list(TEMPLATE_ADMIN_ACTIONS),
                    resources=["*"],
                ),
                *(
                    [
                        iam.PolicyStatement(
                            sid="DenyStartingOrChangingTheChecksBuild",
                            effect=iam.Effect.DENY,
                            actions=list(CHECKS_BUILD_CONTROL_ACTIONS),
                            resources=[p.checks_project_arn],
                        )
                    ]
                    if p.checks_project_arn
                    else []
                ),
            ],
        )
