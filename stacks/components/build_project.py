"""A CodeBuild project whose buildspec is a file in `buildspecs/`, with its own role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import yaml
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.log_groups import own_log_group
from stacks.components.nag_acknowledgements import acknowledge, arn_as_nag_prints, logical_id
from stacks.service_limits import codebuild_description

__all__ = ["BUILDSPEC_DIR", "BuildProject", "BuildProjectProps"]

BUILDSPEC_DIR = Path(__file__).resolve().parents[2] / "buildspecs"


@dataclass(frozen=True, kw_only=True)
class BuildProjectProps:
    """What one build project needs: its buildspec file, environment and key."""

    buildspec: str
    description: str
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(30))
    # Docker-in-Docker: only the image build needs it.
    privileged: bool = False


class BuildProject(Construct):
    """A PipelineProject (or a standalone project) reading `buildspecs/<name>`.

    The buildspec is read from the file at synth time and inlined, so the
    platform (not the model repository) decides what the stage runs.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, props: BuildProjectProps, source: codebuild.ISource | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        path = BUILDSPEC_DIR / props.buildspec
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.log_group = own_log_group(self, retention=props.log_retention, encryption_key=props.encryption_key)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=f"CodeBuild role for {props.buildspec}: only what that buildspec needs",
        )
        common: dict[str, Any] = dict(
            description=codebuild_description(props.description, props.buildspec),
            build_spec=codebuild.BuildSpec.from_object(spec),
            role=self.role,
            encryption_key=props.encryption_key,
            timeout=props.timeout,
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.SMALL,
                privileged=props.privileged,
            ),
            environment_variables={
                name: codebuild.BuildEnvironmentVariable(value=value) for name, value in props.environment.items()
            },
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)),
            # The buildspecs' `cache: paths:` (pip's cache) stay on the build host between builds.
            cache=codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM),
        )
        if source is None:
            self.project: codebuild.Project = codebuild.PipelineProject(self, "Project", **common)
        else:
            self.project = codebuild.Project(self, "Project", source=source, **common)
        self.acknowledge_cdk_default_grants()

    def acknowledge_cdk_default_grants(self) -> None:
        """Acknowledge, narrowly, what CDK grants every project: its report groups, default log group, KMS."""
        region = arn_as_nag_prints(self)
        project = logical_id(self.project)
        acknowledge(
            self.role,
            actions=["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
            resources={
                region.format(
                    service="codebuild", resource=f"report-group/<{project}>-*"
                ): "Test report groups of this build project (CDK default).",
                region.format(
                    service="logs", resource=f"log-group:/aws/codebuild/<{project}>:*"
                ): "Log streams of this build project's default log group (CDK default).",
            },
        )
