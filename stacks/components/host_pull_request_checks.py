"""Pull-request checks on GitHub, GitLab or Bitbucket: a CodeBuild webhook build whose status the host shows.

The same checks as on CodeCommit (`buildspecs/pull_request.yml`, which runs the
Build stage's commands) run for every pull request opened or updated into the
release branch, and reopened on the hosts that report reopening
(`pull_request_events`). CodeBuild starts them from the host's
webhook through the project's CodeConnections source and reports the build's
state back on the pull request's head commit as a commit status: "the
context of the build status CodeBuild sends to the source provider ... is used
for the `context` parameter in the GitHub commit status" (`name` in Bitbucket's)
(CodeBuild API reference, BuildStatusConfig). Its name is `STATUS_CONTEXT`,
which the host's branch protection requires (see the README).

The build runs the pull request's own code: its role can read the platform's
tools and use the connection for this repository, and nothing else. No
function of ours comments or approves on an external host.

CodeBuild posts the status for any build of the project, and a build started
by hand can override the buildspec (`buildspecOverride`): whoever may
`StartBuild`, `RetryBuild` or `UpdateProject` on this project can post a green
status for any commit. CodeBuild's Service Authorization Reference lists no
condition key for these actions and the project has no resource policy that
CloudFormation sets, so the guard is a deny to attach to the people and roles
of the account (`guard_policy`, stack output `HostChecksGuardPolicyArn`); no
role this stack creates is allowed them (docs/security.md, threat model).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.branch_protection import CHECKS_BUILD_CONTROL_ACTIONS
from stacks.components.build_project import BuildProject, BuildProjectProps
from stacks.components.connection_source import ConnectionSource
from stacks.service_limits import PULL_REQUEST_CHECKS_BUILDSPEC, host_pull_request_checks_summary, status_context

__all__ = [
    "HOST_CHECKS_CONTROL_ACTIONS",
    "HostPullRequestChecks",
    "HostPullRequestChecksProps",
    "pull_request_events",
    "status_context",
]

# Starting, retrying or reconfiguring the checks by hand, or changing their webhook's filters.
HOST_CHECKS_CONTROL_ACTIONS = (*CHECKS_BUILD_CONTROL_ACTIONS, "codebuild:UpdateWebhook", "codebuild:DeleteWebhook")
# "PULL_REQUEST_REOPENED ... only supported for GitHub and GitHub Enterprise Server" among CodeBuild's Bitbucket
# events (CDK's EventAction, which refuses it for Bitbucket); GitLab lists it ("GitLab webhook events").
_NO_REOPEN_EVENT = ("Bitbucket",)


def pull_request_events(provider_type: str) -> tuple[codebuild.EventAction, ...]:
    """The webhook events that start the checks on this host (CodeBuild user guide, "<host> webhook events")."""
    events = (codebuild.EventAction.PULL_REQUEST_CREATED, codebuild.EventAction.PULL_REQUEST_UPDATED)
    if provider_type in _NO_REOPEN_EVENT:
        return events
    return (*events, codebuild.EventAction.PULL_REQUEST_REOPENED)


@dataclass(frozen=True, kw_only=True)
class HostPullRequestChecksProps:
    """The connection source, release branch and the build's environment."""

    project_name: str
    connection: ConnectionSource
    release_branch: str
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays
    environment: Mapping[str, str] = field(default_factory=dict)


class HostPullRequestChecks(Construct):
    """A webhook-started CodeBuild project that reports its verdict as a commit status on the host."""

    def __init__(self, scope: Construct, construct_id: str, *, props: HostPullRequestChecksProps) -> None:
        super().__init__(scope, construct_id)
        p, c = props, props.connection
        self.status_context = status_context(p.project_name)
        source = codebuild.Source.git_hub(
            owner=c.owner,
            repo=c.repository_name,
            webhook=True,
            report_build_status=True,
            build_status_context=self.status_context,
            webhook_filters=[
                # An anchored pattern: CodeBuild matches filter patterns as regular expressions.
                codebuild.FilterGroup.in_event_of(*pull_request_events(c.provider_type)).and_base_ref_is(
                    f"^refs/heads/{re.escape(p.release_branch)}$"
                )
            ],
        )
        self.build = BuildProject(
            self,
            "Build",
            props=BuildProjectProps(
                buildspec=PULL_REQUEST_CHECKS_BUILDSPEC,
                description=host_pull_request_checks_summary(
                    project_name=p.project_name, release_branch=p.release_branch, provider_type=c.provider_type
                ),
                encryption_key=p.encryption_key,
                log_retention=p.log_retention,
                environment={**p.environment, "REPOSITORY_NAME": c.full_repository_id},
            ),
            source=source,
        )
        self.project = self.build.project
        self.role = self.build.role
        project = self.project.node.default_child
        # The host and the connection: CodeBuild's source types per host, authenticated by CodeConnections
        # ("auth ... type CODECONNECTIONS ... resource: the connection's ARN", CodeBuild API, SourceAuth).
        project.add_property_override("Source.Type", c.codebuild_source_type)  # type: ignore[union-attr]
        project.add_property_override("Source.Location", c.clone_url)  # type: ignore[union-attr]
        project.add_property_override("Source.Auth", {"Type": "CODECONNECTIONS", "Resource": c.connection_arn})  # type: ignore[union-attr]
        # CloudFormation creates the webhook with the project, through the connection: the grant must exist by
        # then, and the role's default policy cannot be it (it references the project's log group).
        self.project.node.add_dependency(c.use_policy(self, "UseTheConnection", role=self.role))
        self.guard_policy = self._guard_policy()

    def _guard_policy(self) -> iam.ManagedPolicy:
        """A deny of starting, retrying or reconfiguring the checks by hand: attach it to every principal."""
        return iam.ManagedPolicy(
            self,
            "GuardPolicy",
            description="Nobody starts, retries or reconfigures the pull-request checks by hand: their verdict "
            "is the commit status the release branch requires.",
            statements=[
                iam.PolicyStatement(
                    sid="OnlyTheHostsWebhookStartsTheChecks",
                    effect=iam.Effect.DENY,
                    actions=list(HOST_CHECKS_CONTROL_ACTIONS),
                    resources=[self.project.project_arn],
                )
            ],
        )
