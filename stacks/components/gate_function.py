"""A Lambda function from `lambdas/<name>/` plus the shared `function_kit` and `contracts` packages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.checkov_skips import LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION, skip_checkov
from stacks.components.log_groups import own_log_group
from stacks.components.nag_acknowledgements import acknowledge, logical_id
from stacks.components.platform_assets import only_folders

__all__ = ["LAMBDA_ROOT", "GateFunction", "GateFunctionProps", "function_code"]

LAMBDA_ROOT = Path(__file__).resolve().parents[2] / "lambdas"
SHARED_PACKAGE = "function_kit"
# `lambdas/contracts` links to the project's `contracts/`: the asset holds the files themselves.
CONTRACTS_PACKAGE = "contracts"


@dataclass(frozen=True, kw_only=True)
class GateFunctionProps:
    """One function: its folder under `lambdas/`, description, configuration."""

    name: str
    description: str
    log_retention: logs.RetentionDays
    encryption_key: kms.IKey
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(5))
    memory_size: int = 256
    # A CodePipeline job worker gets PutJob*Result on * from the Lambda invoke action.
    answers_codepipeline_jobs: bool = True


def function_code(name: str) -> lambda_.Code:
    """`lambdas/<name>/` with the shared `function_kit` and `contracts` packages, nothing else."""
    shipped = (name, SHARED_PACKAGE, CONTRACTS_PACKAGE)
    return lambda_.Code.from_asset(
        str(LAMBDA_ROOT),
        exclude=only_folders(shipped),
        follow_symlinks=cdk.SymlinkFollowMode.EXTERNAL,
    )


class GateFunction(Construct):
    """Python 3.14, JSON logs with explicit retention, code from `lambdas/<name>/`.

    The asset holds only the function's own folder and the shared kit, so a
    change to one gate never redeploys another. The handler is
    `<name>.handler.handler`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: GateFunctionProps) -> None:
        super().__init__(scope, construct_id)
        folder = LAMBDA_ROOT / props.name
        if not (folder / "handler.py").is_file():
            raise FileNotFoundError(f"lambdas/{props.name}/handler.py is missing")
        self.log_group = own_log_group(self, retention=props.log_retention, encryption_key=props.encryption_key)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {props.name} function",
        )
        # Logging permissions scoped to this function's own log group (no managed policy).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:log-stream:*"],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=props.description,
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"{props.name}.handler.handler",
            code=function_code(props.name),
            role=self.role,
            timeout=props.timeout,
            memory_size=props.memory_size,
            environment=dict(props.environment),
            environment_encryption=props.encryption_key,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=self.log_group,
            # Invocations are asynchronous (CodePipeline, EventBridge); each function
            # answers or posts exactly once itself, so a retry could do it twice.
            retry_attempts=0,
        )
        skip_checkov(self.function, LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION)
        resources = {f"<{logical_id(self.log_group)}.Arn>:log-stream:*": "Log streams of this function's own log group."}
        if props.answers_codepipeline_jobs:
            resources["*"] = (
                "codepipeline:PutJobSuccessResult and PutJobFailureResult (added by the pipeline's "
                "Lambda invoke action) have no resource-level permissions."
            )
        acknowledge(self.role, resources=resources)
