"""The roles SageMaker runs with: one for the endpoints, one for the training and evaluation jobs.

Both jobs run the commit's own code (`train.py`, `evaluate.py`, or the
repository's image), so they get a role of their own that may put only the
jobs' outputs (`releases/<run>/training/`, `releases/<run>/evaluation/`):
never a served model (`releases/<run>/model/`), the code and data of a run,
a decision record or captured data. The endpoints' role puts only captured
data (`data-capture/`). The release bucket's policy holds both roles to those
prefixes as well (`ReleaseStore.confine_writes`), whatever IAM grants later.

Neither the jobs' nor the endpoints' containers get these credentials at all:
the platform starts every job and model with network isolation, and "If you
enable network isolation, the containers can't make any outbound network
calls, even to other AWS services such as Amazon S3. Additionally, no AWS
credentials are made available to the container runtime environment. [...]
SageMaker still performs download and upload operations against Amazon S3
using your SageMaker execution role in isolation from the training or
inference container" (SageMaker Developer Guide, "Run Training and Inference
Containers in Internet-Free Mode"). The narrow roles are the second wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.nag_acknowledgements import acknowledge, acknowledge_object_grant, arn_as_nag_prints
from stacks.components.release_store import ReleaseStore

__all__ = [
    "JOB_OUTPUT_PREFIXES",
    "SERVING_PREFIXES",
    "SageMakerExecutionRole",
    "SageMakerExecutionRoleProps",
    "grant_image_logs_and_metrics",
    "grant_pass_to_sagemaker",
]

# What SageMaker uploads for the jobs (`release_tools.release_layout`: training output, evaluation output).
JOB_OUTPUT_PREFIXES = ("releases/*/training/", "releases/*/evaluation/")
# What SageMaker uploads for the endpoints: captured requests and responses.
SERVING_PREFIXES = ("data-capture/",)


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
    """`role`: the endpoints' (puts captured data); `job_role`: the training and evaluation jobs' (puts their outputs).

    Neither deletes (the release bucket denies it to everyone). The stack wires the rest: the model image repository
    lets both pull (`ImageRepository.grant_pull`), and the production rollback alarms let `role` read them
    (`rollback_alarms.grant_describe_alarms`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: SageMakerExecutionRoleProps) -> None:
        super().__init__(scope, construct_id)
        self._release = props.release
        self.role = self._serving_role(props)
        self.job_role = self._job_role(props)
        self.roles = (self.role, self.job_role)
        """Both roles, endpoints' first: what every grant to "SageMaker" gives."""

    def confine_writes(self) -> None:
        """The release bucket holds each role to its own prefixes (call after `ReleaseStore.restrict_writes_to`)."""
        self._release.confine_writes("JobsWriteOnlyTheirOutputs", self.job_role, *JOB_OUTPUT_PREFIXES)
        self._release.confine_writes("EndpointsWriteOnlyCapturedData", self.role, *SERVING_PREFIXES)

    def _serving_role(self, p: SageMakerExecutionRoleProps) -> iam.Role:
        """The endpoints' role: reads releases (and the artifact store, so models released before the release
        bucket still serve), puts captured data only."""
        role = self._sagemaker_role(p, "Role", "execution role of this project's endpoints: writes captured data only")
        p.release.grant_write(role, *SERVING_PREFIXES)
        _grant_reading_model_packages(role)
        return role

    def _job_role(self, p: SageMakerExecutionRoleProps) -> iam.Role:
        """The jobs' role: reads releases (and the artifact store: a champion released before the release bucket is
        evaluated from there), puts the jobs' outputs only."""
        role = self._sagemaker_role(p, "JobRole", "role of the training and evaluation jobs: writes their outputs only")
        p.release.grant_write(role, *JOB_OUTPUT_PREFIXES)
        return role

    def _sagemaker_role(self, p: SageMakerExecutionRoleProps, construct_id: str, purpose: str) -> iam.Role:
        """A role only SageMaker assumes, with what both roles need (`_grant_key_image_and_old_releases`)."""
        role = iam.Role(
            self, construct_id, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=f"SageMaker {purpose}"
        )
        _grant_key_image_and_old_releases(role, p)
        return role


def _grant_key_image_and_old_releases(role: iam.Role, p: SageMakerExecutionRoleProps) -> None:
    """The project key, the framework image, logs and metrics; read-only, the artifact store (older releases)."""
    p.bucket.grant_read(role)
    acknowledge_object_grant(role, p.bucket, reason="Objects of the project's own artifact bucket.")
    p.key.grant_encrypt_decrypt(role)
    p.key.grant(role, "kms:CreateGrant", "kms:DescribeKey")
    grant_image_logs_and_metrics(role)


def _grant_reading_model_packages(role: iam.Role) -> None:
    """Endpoints serve registered model packages of this account's registry."""
    stack = cdk.Stack.of(role)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadModelPackages",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[stack.format_arn(service="sagemaker", resource="model-package", resource_name="*")],
        )
    )
    acknowledge(
        role,
        resources={
            arn_as_nag_prints(role).format(
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
