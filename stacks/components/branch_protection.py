"""Release-branch protection: approval rule templates and the data scientists' deny policy.

CodeCommit approval rule templates have no CloudFormation resource type, so
each template and its association with the repository is an
`AwsCustomResource` (one SDK call per lifecycle event). Two templates apply to
every pull request into the release branch:

* peer review: `required_approvals` people besides the automated checks (the
  rule asks for one more approval than that, because the checks' approval
  counts towards it too);
* automated checks: one approval from the pull-request checks' reporter
  function, which gives it only when the Build stage's checks passed on the
  revision (the build that runs the pull request's code cannot approve).

The managed policy `DataScientistPolicy` denies direct pushes, branch merges
and approval-rule tampering on the release branch; attached to the data
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
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.components.checkov_skips import LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION, skip_checkov
from stacks.components.log_groups import own_log_group
from stacks.components.nag_acknowledgements import acknowledge, logical_id

__all__ = ["BranchProtection", "BranchProtectionProps", "approval_rule_content"]

_RULE_VERSION = "2018-11-08"
# The construct id CDK gives the stack-wide function behind every AwsCustomResource.
_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"

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
    return json.dumps({
        "Version": _RULE_VERSION,
        "DestinationReferences": [f"refs/heads/{release_branch}"],
        "Statements": [statement],
    }, separators=(",", ":"))


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


class BranchProtection(Construct):
    """Approval rule templates on the release branch, and the data scientists' managed deny policy."""

    def __init__(self, scope: Construct, construct_id: str, *, props: BranchProtectionProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        repository_name = p.repository.repository_name
        checks_session = f"arn:{cdk.Aws.PARTITION}:sts::{cdk.Aws.ACCOUNT_ID}:assumed-role/{p.checks_role.role_name}/*"
        self.peer_review_name = f"{p.project_name}-peer-review"
        self.checks_name = f"{p.project_name}-pull-request-checks"
        self.peer_review_content = approval_rule_content(
            release_branch=p.release_branch, approvals=p.required_approvals + 1)
        self.checks_content = approval_rule_content(
            release_branch=p.release_branch, approvals=1, pool=[checks_session])

        self.log_group = own_log_group(self, retention=p.log_retention, encryption_key=p.encryption_key)
        # One role for the custom resources' function (no AWS managed policy): templates, association, own logs.
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Manages the release branch's approval rule templates and their association",
        )
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ManageApprovalRuleTemplates",
            actions=["codecommit:CreateApprovalRuleTemplate", "codecommit:UpdateApprovalRuleTemplateContent",
                     "codecommit:DeleteApprovalRuleTemplate"],
            resources=["*"],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="AssociateTemplatesWithTheRepository",
            actions=["codecommit:AssociateApprovalRuleTemplateWithRepository",
                     "codecommit:DisassociateApprovalRuleTemplateFromRepository"],
            resources=[p.repository.repository_arn],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:log-stream:*"],
        ))
        acknowledge(self.role, resources={
            "*": "codecommit:Create/Update/DeleteApprovalRuleTemplate have no resource-level permissions; "
                 "association is scoped to the repository.",
            f"<{logical_id(self.log_group)}.Arn>:log-stream:*": "Log streams of this construct's own log group.",
        })
        self.templates: list[cr.AwsCustomResource] = []
        for template_id, name, content, description in (
            ("PeerReviewTemplate", self.peer_review_name, self.peer_review_content,
             f"{p.required_approvals} reviewer(s) besides the automated checks, for {p.release_branch}."),
            ("ChecksTemplate", self.checks_name, self.checks_content,
             f"The Build stage's checks passed on the pull request's latest revision, for {p.release_branch}."),
        ):
            template = cr.AwsCustomResource(
                self, template_id,
                on_create=_sdk_call("createApprovalRuleTemplate", name, {
                    "approvalRuleTemplateName": name,
                    "approvalRuleTemplateContent": content,
                    "approvalRuleTemplateDescription": description,
                }),
                on_update=_sdk_call("updateApprovalRuleTemplateContent", name, {
                    "approvalRuleTemplateName": name, "newRuleContent": content,
                }),
                on_delete=_sdk_call("deleteApprovalRuleTemplate", name, {"approvalRuleTemplateName": name}),
                role=self.role, install_latest_aws_sdk=False, log_group=self.log_group,
            )
            association = cr.AwsCustomResource(
                self, f"{template_id}Association",
                on_create=_sdk_call("associateApprovalRuleTemplateWithRepository", f"{name}@repository", {
                    "approvalRuleTemplateName": name, "repositoryName": repository_name,
                }),
                on_delete=_sdk_call("disassociateApprovalRuleTemplateFromRepository", f"{name}@repository", {
                    "approvalRuleTemplateName": name, "repositoryName": repository_name,
                }),
                role=self.role, install_latest_aws_sdk=False, log_group=self.log_group,
            )
            association.node.add_dependency(template)
            self.templates.append(template)

        # AwsCustomResource runs one singleton function per stack, created by the first template above.
        provider = cdk.Stack.of(self).node.find_child(_CUSTOM_RESOURCE_PROVIDER_ID)
        skip_checkov(provider, LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION)

        self.data_scientist_policy = iam.ManagedPolicy(
            self, "DataScientistPolicy",
            description=(f"Attach to the data scientists' group or role: no direct pushes or merges to "
                         f"{p.release_branch} of {p.repository.repository_name}; releases come through approved "
                         "pull requests."),
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
            ],
        )


def _sdk_call(action: str, physical_id: str, parameters: dict[str, object]) -> cr.AwsSdkCall:
    return cr.AwsSdkCall(
        service="CodeCommit", action=action, parameters=parameters,
        physical_resource_id=cr.PhysicalResourceId.of(physical_id),
    )
