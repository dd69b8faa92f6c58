"""The pipeline stack: composes the release platform's components and wires them together.

Each component grants itself what it needs and acknowledges, narrowly, the
cdk-nag findings of its own grants (docs/architecture.md, "Layout"); this
stack only decides which component gets which resource.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from release_tools.image_scan import image_project_timeout_minutes
from stacks.accounts import account_layout, model_package_group_name
from stacks.components.artifact_store import ArtifactStore
from stacks.components.build_project import BuildProject, BuildProjectProps
from stacks.components.cross_account_access import CrossAccountAccess, CrossAccountAccessProps
from stacks.components.endpoint_deploy_role import EndpointDeployRole, EndpointDeployRoleProps
from stacks.components.image_repository import ImageRepository, ImageRepositoryProps
from stacks.components.model_registry import ModelRegistry
from stacks.components.notifications import ReleaseNotifications
from stacks.components.platform_assets import PlatformAssets
from stacks.components.release_events import ReleaseEvents
from stacks.components.release_functions import (
    EvaluationGate,
    Promotion,
    PromotionProps,
    ReleaseFunctionProps,
    StagingGate,
    StagingGateProps,
)
from stacks.components.release_pipeline import ReleasePipeline, ReleasePipelineProps
from stacks.components.release_source import ReleaseSource, ReleaseSourceProps, add_release_source
from stacks.components.release_store import ReleaseStore, deny_deletes
from stacks.components.retained_release_stores import grant_read_retained_release_stores
from stacks.components.rollback_alarms import grant_describe_alarms
from stacks.components.sagemaker_execution_role import SageMakerExecutionRole, SageMakerExecutionRoleProps
from stacks.components.training_project import TrainingProject, TrainingProjectProps
from stacks.config import LOG_RETENTION_DAYS, AppConfig

__all__ = ["PipelineStack", "log_retention"]


def log_retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention enum member for a number of days the configuration allowed."""
    members = [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE]
    return dict(zip(LOG_RETENTION_DAYS, members, strict=True))[days]


class PipelineStack(cdk.Stack):
    """Repository, builds, gates, registry and the release pipeline of one ML project."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, endpoint_templates_dir: Path, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        c = self.config = config
        self.retention = log_retention(c.log_retention_days)
        self.staging_stack_name = f"{c.project_name}-staging-endpoint"
        self.production_stack_name = f"{c.project_name}-production-endpoint"
        cdk.Tags.of(self).add("ml-cicd:project", c.project_name)
        self._data_stores()
        execution = SageMakerExecutionRole(
            self,
            "SageMakerExecution",
            props=SageMakerExecutionRoleProps(bucket=self.artifact_bucket, key=self.key, release=self.release_store),
        )
        assets = PlatformAssets(
            self, "PlatformAssets", endpoint_templates_dir=endpoint_templates_dir, bootstrap_kms_key_arn=c.bootstrap_kms_key_arn
        )
        environment = {"PROJECT_NAME": c.project_name, "PLATFORM_FLOORS": c.platform_floors_json, **assets.environment}
        ci, train, images, image_build = self._builds(environment, assets=assets, execution=execution)
        source = add_release_source(self, props=self._source_props(environment, assets))
        self.repository = source.repository
        evaluation_gate, staging_gate, promote = self._release_functions(images)
        deploy_role = self._deploy_role(execution)
        # SageMaker's auto-rollback reads the production rollback alarms with the execution role.
        grant_describe_alarms(execution.role, self, self.production_stack_name)
        # After a redeploy, the adopted registry's models live in the buckets the teardown kept: every SageMaker
        # role that reads a model (the evaluation job scores the champion; an endpoint serves it) may read them.
        grant_read_retained_release_stores(c.retained_release_stores, *execution.roles)
        targets = self._cross_account_access(staging_gate, promote, images)
        self.release = ReleasePipeline(
            self,
            "ReleasePipeline",
            props=self._pipeline_props(
                source,
                builds=(ci, image_build, train),
                functions=(evaluation_gate, staging_gate, promote),
                deploy_role=deploy_role,
                execution=execution,
                targets=targets,
            ),
        )
        if targets:
            targets.name_pipeline(self.release.pipeline)
        production_writers = targets.execution_role_arns if targets else {}
        self.release_store.restrict_writes_to(
            [train.role, evaluation_gate.role, staging_gate.role, promote.role, *execution.roles],
            other_writer_arns=[production_writers["production"]] if "production" in production_writers else [],
        )
        execution.confine_writes()
        ReleaseEvents(
            self,
            "ReleaseEvents",
            pipeline=self.release.pipeline,
            topic=self.topic,
            model_package_group_name=self.registry.group_name,
        )
        self._outputs()

    # -- components -----------------------------------------------------------

    def _data_stores(self) -> None:
        """The artifact store, the release store, the model registry and the notification topic."""
        c = self.config
        store = ArtifactStore(self, "ArtifactStore", project_name=c.project_name, retention_days=c.artifact_retention_days)
        self.key, self.artifact_bucket = store.key, store.bucket
        # Release data (models, evaluation outputs, decision records, captured data) lives apart from the artifact
        # store the Build stage (the commit's own code) writes: only the platform's own steps write it.
        self.release_store = ReleaseStore(
            self,
            "ReleaseStore",
            project_name=c.project_name,
            key=self.key,
            access_logs=store.access_logs,
            retention_days=c.artifact_retention_days,
        )
        self.release_bucket = self.release_store.bucket
        # The endpoint templates and configurations the deploys use stay in the artifact store (TrainOutput):
        # no build or function may erase them either (the chain of custody refuses a changed or missing one).
        deny_deletes(
            self.artifact_bucket, sid="DenyDeletingPipelineArtifacts", break_glass_arn=self.release_store.break_glass_arn
        )
        self.registry = ModelRegistry(
            self,
            "ModelRegistry",
            group_name=model_package_group_name(c.project_name),
            description=f"{c.project_name}: every trained model; the latest Approved version is the production champion.",
        )
        self.topic = ReleaseNotifications(
            self, "Notifications", project_name=c.project_name, key=self.key, email=c.notification_email
        ).topic

    def _deploy_role(self, execution: SageMakerExecutionRole) -> EndpointDeployRole:
        """The role CloudFormation deploys the endpoint stacks with (in this account)."""
        return EndpointDeployRole(
            self,
            "EndpointDeployRole",
            props=EndpointDeployRoleProps(
                project_name=self.config.project_name,
                stack_names=[self.staging_stack_name, self.production_stack_name],
                execution_role=execution.role,
                key=self.key,
                model_package_group_name=self.registry.group_name,
            ),
        )

    def _builds(
        self, environment: dict[str, str], *, assets: PlatformAssets, execution: SageMakerExecutionRole
    ) -> tuple[BuildProject, TrainingProject, ImageRepository, BuildProject]:
        """The Build stage's checks, the Train stage, and the model image repository with the build that fills it."""
        c = self.config
        ci = BuildProject(
            self,
            "BuildProject",
            props=BuildProjectProps(
                buildspec="ci.yml",
                description=f"{c.project_name} Build stage: lints and tests the model code, validates release-policy.yaml.",
                encryption_key=self.key,
                log_retention=self.retention,
                environment=environment,
            ),
        )
        train = TrainingProject(self, "TrainProject", props=self._training_props(environment, assets, execution))
        images = ImageRepository(
            self,
            "ModelImage",
            props=ImageRepositoryProps(
                project_name=c.project_name, encryption_key=self.key, keep_release_images=c.image_retention_count
            ),
        )
        image_build = BuildProject(
            self,
            "ImageProject",
            props=BuildProjectProps(
                buildspec="image.yml",
                description=(
                    f"{c.project_name} Build stage: builds the model repository's Dockerfile (when it has one), "
                    "pushes it, waits for the scan and applies the image gate."
                ),
                encryption_key=self.key,
                log_retention=self.retention,
                privileged=True,
                timeout=cdk.Duration.minutes(image_project_timeout_minutes()),
                environment={
                    **environment,
                    "IMAGE_REPOSITORY_NAME": images.repository.repository_name,
                    "IMAGE_REPOSITORY_URI": images.repository.repository_uri,
                },
            ),
        )
        images.grant_push(image_build.role)
        for role in execution.roles:
            images.grant_pull(role)
        assets.grant_read(image_build.role)
        assets.grant_read(ci.role)
        return ci, train, images, image_build

    def _training_props(
        self, environment: dict[str, str], assets: PlatformAssets, execution: SageMakerExecutionRole
    ) -> TrainingProjectProps:
        c = self.config
        return TrainingProjectProps(
            project_name=c.project_name,
            encryption_key=self.key,
            log_retention=self.retention,
            environment=environment,
            training_instance_type=c.training_instance_type,
            evaluation_instance_type=c.evaluation_instance_type,
            use_spot_training=c.use_spot_training,
            training_timeout_minutes=c.training_timeout_minutes,
            assets=assets,
            release_store=self.release_store,
            job_role=execution.job_role,
            registry=self.registry,
        )

    def _source_props(self, environment: dict[str, str], assets: PlatformAssets) -> ReleaseSourceProps:
        c = self.config
        return ReleaseSourceProps(
            project_name=c.project_name,
            source=c.source,
            repository_name=c.repository_name,
            release_branch=c.release_branch,
            pull_request_approvals=c.pull_request_approvals,
            encryption_key=self.key,
            log_retention=self.retention,
            environment=environment,
            assets=assets,
        )

    def _release_functions(self, images: ImageRepository) -> tuple[EvaluationGate, StagingGate, Promotion]:
        """The evaluation gate, the staging gate and the promotion; each grants itself what it uses."""
        c = self.config
        shared = ReleaseFunctionProps(
            project_name=c.project_name,
            log_retention=self.retention,
            encryption_key=self.key,
            artifact_bucket=self.artifact_bucket,
            release_store=self.release_store,
            registry=self.registry,
            platform_floors_json=c.platform_floors_json,
        )
        evaluation_gate = EvaluationGate(self, "EvaluationGate", props=shared)
        staging_gate = StagingGate(
            self,
            "StagingGate",
            props=StagingGateProps(
                **vars(shared),
                endpoint_stack_name=self.staging_stack_name,
                timeout_seconds=c.staging.gate_timeout_seconds,
                probe_json=c.staging.probe_json,
            ),
        )
        promote = Promotion(
            self,
            "Promote",
            props=PromotionProps(**vars(shared), endpoint_stack_name=self.production_stack_name, image_repository=images),
        )
        return evaluation_gate, staging_gate, promote

    def _cross_account_access(
        self, staging_gate: StagingGate, promote: Promotion, images: ImageRepository
    ) -> CrossAccountAccess | None:
        """The grants a target account's roles need here, when a stage deploys into another account."""
        layout = account_layout(self.config)
        if not layout.cross_account:
            return None
        return CrossAccountAccess(
            self,
            "CrossAccountAccess",
            props=CrossAccountAccessProps(
                layout=layout,
                bucket=self.artifact_bucket,
                key=self.key,
                registry=self.registry,
                staging_gate=staging_gate,
                promote=promote,
                image_repository=images.repository,
                release_bucket=self.release_bucket,
            ),
        )

    def _pipeline_props(
        self,
        source: ReleaseSource,
        *,
        builds: tuple[BuildProject, BuildProject, TrainingProject],
        functions: tuple[EvaluationGate, StagingGate, Promotion],
        deploy_role: EndpointDeployRole,
        execution: SageMakerExecutionRole,
        targets: CrossAccountAccess | None,
    ) -> ReleasePipelineProps:
        """What the release pipeline wires: the source, the three builds, the three functions, the deploy roles."""
        c, (ci, image_build, train), (evaluation_gate, staging_gate, promote) = self.config, builds, functions
        return ReleasePipelineProps(
            project_name=c.project_name,
            repository=source.repository,
            connection=source.connection,
            release_branch=c.release_branch,
            artifact_bucket=self.artifact_bucket,
            build_project=ci.project,
            image_project=image_build.project,
            train_project=train.project,
            evaluation_gate=evaluation_gate.function,
            staging_gate=staging_gate.function,
            promote_function=promote.function,
            endpoint_deploy_role=deploy_role.role,
            endpoint_parameters={
                "ExecutionRoleArn": execution.role.role_arn,
                "KmsKeyArn": self.key.key_arn,
                "Project": c.project_name,
            },
            production_data_capture_uri=self.release_bucket.s3_url_for_object("data-capture/production"),
            staging_stack_name=self.staging_stack_name,
            production_stack_name=self.production_stack_name,
            require_manual_approval=c.require_manual_approval,
            approval_topic=self.topic,
            deployment_window=c.deployment_window,
            deployment_window_time_zone=c.deployment_window_time_zone,
            target_deploy_roles=targets.deploy_roles if targets else {},
            target_execution_role_arns=targets.execution_role_arns if targets else {},
        )

    def _outputs(self) -> None:
        region = cdk.Aws.REGION
        console = "https://{0}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{1}/view?region={0}"
        for name, value, description in (
            (
                "PipelineConsoleUrl",
                console.format(region, self.release.pipeline.pipeline_name),
                "The release pipeline in the CodePipeline console.",
            ),
            (
                "ModelPackageGroupName",
                self.registry.group_name,
                "The SageMaker Model Registry group (SageMaker console: Models > Model registry).",
            ),
            (
                "NotificationTopicArn",
                self.topic.topic_arn,
                "Subscribe here for failures, gate verdicts, approvals and rollbacks.",
            ),
            ("ArtifactBucketName", self.artifact_bucket.bucket_name, "The pipeline's artifact store (CodePipeline's artifacts)."),
            (
                "ReleaseBucketName",
                self.release_bucket.bucket_name,
                "Release data: models, evaluations, decision records (decision-records/), captured data (data-capture/).",
            ),
            ("StagingEndpointStackName", self.staging_stack_name, "The CloudFormation stack the pipeline deploys for staging."),
            (
                "ProductionEndpointStackName",
                self.production_stack_name,
                "The CloudFormation stack the pipeline deploys for production.",
            ),
        ):
            cdk.CfnOutput(self, name, value=value, description=description)
