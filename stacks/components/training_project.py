"""The Train stage's build project: launches SageMaker training and evaluation, registers the model.

A `BuildProject` (`buildspecs/train.yml`) that grants itself what the
training platform needs and acknowledges the wildcards of those grants:
the platform's tools and the endpoint templates, jobs named with the
project's prefix, registration in the project's model package group,
passing the jobs' SageMaker role (to SageMaker only, for jobs started with
network isolation only), and release data
under `releases/` of the release bucket. The construct id stays
`TrainProject`, so its resources keep their logical IDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from release_tools.stage_budget import stage_timeout_minutes
from stacks.components.build_project import BuildProject, BuildProjectProps
from stacks.components.model_registry import ModelRegistry
from stacks.components.nag_acknowledgements import acknowledge, arn_as_nag_prints
from stacks.components.platform_assets import PlatformAssets
from stacks.components.release_store import ReleaseStore
from stacks.components.sagemaker_execution_role import grant_pass_to_sagemaker

__all__ = ["TrainingProject", "TrainingProjectProps"]

# Both jobs run the commit's code: they may only be started with network isolation (no AWS credentials inside).
_CREATE_JOB_ACTIONS = ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"]
_JOB_ACTIONS = [
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:AddTags",
]
_REGISTER_ACTIONS = [
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:AddTags",
]


@dataclass(frozen=True, kw_only=True)
class TrainingProjectProps:
    """The project, the training settings of the configuration, and the resources training uses."""

    project_name: str
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays
    # The variables every build project gets (project name, floors, platform assets).
    environment: Mapping[str, str]
    training_instance_type: str
    evaluation_instance_type: str
    use_spot_training: bool
    training_timeout_minutes: int
    assets: PlatformAssets
    release_store: ReleaseStore
    # The role the training and evaluation jobs run with (`SageMakerExecutionRole.job_role`).
    job_role: iam.IRole
    registry: ModelRegistry


class TrainingProject(BuildProject):
    """`buildspecs/train.yml` with the permissions of the training platform, and nothing more."""

    def __init__(self, scope: Construct, construct_id: str, *, props: TrainingProjectProps) -> None:
        p = props
        super().__init__(
            scope,
            construct_id,
            props=BuildProjectProps(
                buildspec="train.yml",
                description=f"{p.project_name} Train stage: SageMaker training and evaluation, registers the model.",
                encryption_key=p.encryption_key,
                log_retention=p.log_retention,
                timeout=cdk.Duration.minutes(stage_timeout_minutes(p.training_timeout_minutes)),
                environment={
                    **p.environment,
                    "ARTIFACT_BUCKET": p.release_store.bucket.bucket_name,
                    "KMS_KEY_ARN": p.encryption_key.key_arn,
                    "SAGEMAKER_ROLE_ARN": p.job_role.role_arn,
                    "MODEL_PACKAGE_GROUP_NAME": p.registry.group_name,
                    "TRAINING_INSTANCE_TYPE": p.training_instance_type,
                    "EVALUATION_INSTANCE_TYPE": p.evaluation_instance_type,
                    "USE_SPOT_TRAINING": "true" if p.use_spot_training else "false",
                    "TRAINING_TIMEOUT_MINUTES": str(p.training_timeout_minutes),
                    "ENDPOINT_TEMPLATES_S3_URI": p.assets.endpoint_templates.s3_object_url,
                },
            ),
        )
        p.assets.grant_read(self.role, endpoint_templates=True)
        self._grant_jobs_and_registration(p)
        grant_pass_to_sagemaker(p.job_role, self.role)
        p.release_store.grant_write(self.role, "releases/")

    def _grant_jobs_and_registration(self, p: TrainingProjectProps) -> None:
        stack = cdk.Stack.of(self)
        prefix = f"{p.project_name}-*"
        jobs = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=prefix)
            for kind in ("training-job", "processing-job")
        ]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StartIsolatedTrainingAndEvaluationJobs",
                actions=_CREATE_JOB_ACTIONS,
                resources=jobs,
                # The Service Authorization Reference lists `sagemaker:NetworkIsolation` (Bool) for both actions; a
                # request without `EnableNetworkIsolation: true` does not match, so it is refused.
                conditions={"Bool": {"sagemaker:NetworkIsolation": "true"}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="RunTrainingAndEvaluationJobs", actions=_JOB_ACTIONS, resources=jobs)
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RegisterModels", actions=_REGISTER_ACTIONS, resources=[p.registry.group_arn, p.registry.package_arn_pattern]
            )
        )
        p.registry.grant_list_packages(self.role)
        region = arn_as_nag_prints(self)
        acknowledge(
            self.role,
            resources={
                region.format(
                    service="sagemaker", resource=f"model-package/{p.registry.group_name}/*"
                ): "Versions of this project's model package group only.",
                region.format(
                    service="sagemaker", resource=f"training-job/{prefix}"
                ): "Training jobs the launcher names with this project's prefix.",
                region.format(
                    service="sagemaker", resource=f"processing-job/{prefix}"
                ): "Evaluation jobs the launcher names with this project's prefix.",
            },
        )
