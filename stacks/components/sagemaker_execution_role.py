"""The role SageMaker training, processing and hosting run with: this project's data only."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.nag_acknowledgements import acknowledge, acknowledge_object_grant, arn_as_nag_prints
from stacks.components.release_store import ReleaseStore

__all__ = ["SageMakerExecutionRole", "SageMakerExecutionRoleProps", "grant_image_logs_and_metrics", "grant_pass_to_sagemaker"]


def grant_pass_to_sagemaker(execution_role: iam.IRole, grantee: iam.IGrantable) -> None:
    """Let `grantee` pass the execution role to SageMaker, and to no other service.

    `iam:PassedToService` is the IAM condition key AWS documents for limiting which
    service a passed role may go to ("Granting a user permissions to pass a role to
    an AWS service"); this is the only way the project grants iam:PassRole.
    """
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PassExecutionRoleToSageMaker",
            actions=["iam:PassRole"],
            resources=[execution_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )


@dataclass(frozen=True, kw_only=True)
class SageMakerExecutionRoleProps:
    """The data the jobs and endpoints use: the artifact store, its key and the release store."""

    bucket: s3.IBucket
    key: kms.IKey
    release: ReleaseStore


class SageMakerExecutionRole(Construct):
    """Writes releases and captured data (never deletes), pulls the framework image, writes its logs and metrics.

    The stack wires the rest: the model image repository lets it pull (`ImageRepository.grant_pull`), and the
    production rollback alarms let it read them (`rollback_alarms.grant_describe_alarms`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: SageMakerExecutionRoleProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker execution role for training, evaluation and endpoints of this project",
        )
        # Release data: training and evaluation outputs, captured data. No delete (the release bucket denies it to
        # everyone); the artifact store stays readable so models released before the release bucket still serve.
        p.release.grant_write(self.role, "releases/", "data-capture/")
        p.bucket.grant_read(self.role)
        acknowledge_object_grant(self.role, p.bucket, reason="Objects of the project's own artifact bucket.")
        p.key.grant_encrypt_decrypt(self.role)
        p.key.grant(self.role, "kms:CreateGrant", "kms:DescribeKey")
        grant_image_logs_and_metrics(self.role)
        # Endpoints serve registered model packages of this account's registry.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadModelPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[stack.format_arn(service="sagemaker", resource="model-package", resource_name="*")],
            )
        )
        acknowledge(
            self.role,
            resources={
                arn_as_nag_prints(self).format(
                    service="sagemaker", resource="model-package/*"
                ): "Endpoints serve registered packages; the package ARN is only known per release."
            },
        )


def grant_image_logs_and_metrics(role: iam.Role) -> None:
    """What every SageMaker execution role needs: the framework image, its logs and SageMaker metrics."""
    stack = cdk.Stack.of(role)
    # The scikit-learn framework images live in AWS-owned accounts, one per region.
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PullFrameworkImage",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[f"arn:{stack.partition}:ecr:{stack.region}:*:repository/sagemaker-scikit-learn"],
        )
    )
    auth = iam.PolicyStatement(sid="EcrAuthorization", actions=["ecr:GetAuthorizationToken"], resources=["*"])
    role.add_to_policy(auth)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="JobAndEndpointLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name="/aws/sagemaker/*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="SageMakerMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
        )
    )
    acknowledge(
        role,
        resources={
            "*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
            "PutMetricData is limited to SageMaker namespaces by condition.",
            arn_as_nag_prints(role, account="*").format(
                service="ecr", resource="repository/sagemaker-scikit-learn"
            ): "The framework image is owned by an AWS account that differs per region; the repository name is fixed.",
            arn_as_nag_prints(role).format(
                service="logs", resource="log-group:/aws/sagemaker/*"
            ): "SageMaker writes job and endpoint logs under /aws/sagemaker/.",
        },
    )
