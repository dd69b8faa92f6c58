"""A repository on GitHub, GitLab or Bitbucket, reached through an AWS CodeConnections connection.

The connection is either an existing one (its ARN in the configuration) or
created here. "A connection created through ... AWS CloudFormation is in
PENDING status by default. ... you must use the console to update the pending
connection" (Developer Tools console user guide, "Update a pending
connection"): the stack output and the `make synth` summary say so.

Whoever uses the connection (the pipeline's source action, the pull-request
checks build) is granted `UseConnection` on that one ARN and nothing else. The
IAM Service Authorization Reference lists no repository condition key for
`UseConnection` (only `aws:ResourceTag`), so the connection itself is the
scope: install the host's app for this repository only (README).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_codeconnections as codeconnections
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import CONNECTION_PROVIDERS, SourceConfig

__all__ = ["ConnectionSource", "ConnectionSourceProps"]

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

    def grant_use(self, role: iam.IRole, *, build: bool = False) -> None:
        """Let `role` use the connection for this repository (a build also fetches the connection's token)."""
        actions = ["UseConnection"] + (["GetConnection", "GetConnectionToken"] if build else [])
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UseTheSourceConnection",
                actions=[f"{self.action_prefix}:{action}" for action in actions],
                resources=[self.connection_arn],
            )
        )

    @property
    def pending_console_url(self) -> str:
        """Where a person completes a created connection's handshake."""
        region = cdk.Aws.REGION
        return f"https://{region}.console.aws.amazon.com/codesuite/settings/connections?region={region}"
