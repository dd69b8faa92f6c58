"""Where releases come from: the CodeCommit repository with its protections, or a host repository through a connection.

- CodeCommit (the default): the seeded `ModelRepository`, its pull-request
  checks (`PullRequestChecks`) and the release branch's protection
  (`BranchProtection`: approval rule templates and the data scientists' deny
  policy).
- A repository on GitHub, GitLab or Bitbucket (`source.repository` set): the
  CodeConnections connection (`ConnectionSource`) and the webhook-started
  checks that report a commit status (`HostPullRequestChecks`).

`add_release_source` adds these constructs and their stack outputs directly to
the stack (their construct ids are the stack's children, so the resources keep
the logical IDs they always had) and returns what the pipeline wires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from stacks.components.branch_protection import BranchProtection, BranchProtectionProps
from stacks.components.connection_source import ConnectionSource, ConnectionSourceProps
from stacks.components.host_pull_request_checks import HostPullRequestChecks, HostPullRequestChecksProps
from stacks.components.model_repository import ModelRepository
from stacks.components.platform_assets import PlatformAssets
from stacks.components.pull_request_checks import PullRequestChecks, PullRequestChecksProps
from stacks.config import SourceConfig

__all__ = ["ReleaseSource", "ReleaseSourceProps", "add_release_source"]


@dataclass(frozen=True, kw_only=True)
class ReleaseSourceProps:
    """The configured source, the release branch and its review rule, and what the checks build needs."""

    project_name: str
    source: SourceConfig
    repository_name: str
    release_branch: str
    pull_request_approvals: int
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays
    # The variables every build project gets (the checks run the Build stage's commands).
    environment: Mapping[str, str]
    assets: PlatformAssets


@dataclass(frozen=True, kw_only=True)
class ReleaseSource:
    """Exactly one of the two is set: the CodeCommit repository, or the connection to the host's repository."""

    repository: codecommit.IRepository | None = None
    connection: ConnectionSource | None = None
    pull_request_checks: PullRequestChecks | None = None
    branch_protection: BranchProtection | None = None


def add_release_source(stack: cdk.Stack, *, props: ReleaseSourceProps) -> ReleaseSource:
    """CodeCommit (seeded, branch-protected, checked) or a host repository through a connection."""
    if props.source.uses_connection:
        return _connection_source(stack, props)
    return _codecommit_source(stack, props)


def _codecommit_source(stack: cdk.Stack, p: ReleaseSourceProps) -> ReleaseSource:
    source = ModelRepository(
        stack,
        "ModelRepository",
        repository_name=p.repository_name,
        release_branch=p.release_branch,
        description=f"{p.project_name}: the model project. Every commit on {p.release_branch} is a release candidate.",
    )
    checks = PullRequestChecks(
        stack,
        "PullRequestChecks",
        props=PullRequestChecksProps(
            project_name=p.project_name,
            repository=source.repository,
            release_branch=p.release_branch,
            encryption_key=p.encryption_key,
            log_retention=p.log_retention,
            environment=p.environment,
        ),
    )
    p.assets.grant_read(checks.role)
    protection = BranchProtection(
        stack,
        "BranchProtection",
        props=BranchProtectionProps(
            project_name=p.project_name,
            repository=source.repository,
            release_branch=p.release_branch,
            required_approvals=p.pull_request_approvals,
            checks_role=checks.reporter_role,
            encryption_key=p.encryption_key,
            log_retention=p.log_retention,
            checks_project_arn=checks.project.project_arn,
        ),
    )
    _outputs(
        stack,
        [
            (
                "RepositoryCloneUrlHttp",
                source.repository.repository_clone_url_http,
                "git clone URL (HTTPS, git-remote-codecommit or credentials).",
            ),
            ("RepositoryCloneUrlGrc", source.repository.repository_clone_url_grc, "git clone URL for git-remote-codecommit."),
            (
                "DataScientistPolicyArn",
                protection.data_scientist_policy.managed_policy_arn,
                "Attach to the data scientists' IAM group or role: releases only through approved pull requests.",
            ),
        ],
    )
    return ReleaseSource(repository=source.repository, pull_request_checks=checks, branch_protection=protection)


def _connection_source(stack: cdk.Stack, p: ReleaseSourceProps) -> ReleaseSource:
    connection = ConnectionSource(
        stack, "ConnectionSource", props=ConnectionSourceProps(project_name=p.project_name, source=p.source)
    )
    outputs = [
        (
            "SourceRepository",
            f"{connection.provider_type}: {connection.full_repository_id}",
            "Releases come from this repository's release branch, through the CodeConnections connection.",
        ),
        ("SourceConnectionArn", connection.connection_arn, "The CodeConnections connection the pipeline uses."),
    ]
    if connection.created is not None:
        outputs.append(
            (
                "CompleteTheConnection",
                connection.pending_console_url,
                "The connection was created PENDING: a person completes the handshake here once "
                "(Developer Tools > Settings > Connections > Update pending connection).",
            )
        )
    # A webhook needs a usable connection: CloudFormation creates it with the checks project, so the checks wait
    # for the connection to be completed (first deploy), then come with the next deploy.
    if p.source.awaits_connection:
        outputs.append(
            (
                "NextStep",
                "Complete the connection, set source.connection_completed to true, run make deploy again",
                "The pull-request checks (the host's webhook and commit status) are added once the connection is completed.",
            )
        )
    else:
        outputs += _host_pull_request_checks(stack, p, connection)
    _outputs(stack, outputs)
    return ReleaseSource(connection=connection)


def _host_pull_request_checks(
    stack: cdk.Stack, p: ReleaseSourceProps, connection: ConnectionSource
) -> list[tuple[str, str, str]]:
    checks = HostPullRequestChecks(
        stack,
        "HostPullRequestChecks",
        props=HostPullRequestChecksProps(
            project_name=p.project_name,
            connection=connection,
            release_branch=p.release_branch,
            encryption_key=p.encryption_key,
            log_retention=p.log_retention,
            environment=p.environment,
        ),
    )
    p.assets.grant_read(checks.role)
    return [
        (
            "PullRequestStatusName",
            checks.status_context,
            "The commit status the pull-request checks post: require it in the host's branch protection.",
        ),
        (
            "HostChecksGuardPolicyArn",
            checks.guard_policy.managed_policy_arn,
            "Attach to every person and CI role of the account (not the CDK deployment roles): "
            "nobody starts the pull-request checks by hand.",
        ),
    ]


def _outputs(stack: cdk.Stack, outputs: list[tuple[str, str, str]]) -> None:
    for name, value, description in outputs:
        cdk.CfnOutput(stack, name, value=value, description=description)
