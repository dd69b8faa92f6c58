"""The pipeline stack: composes the release platform's components and wires their permissions."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from release_tools.stage_budget import stage_timeout_minutes
from stacks.accounts import account_layout, model_package_group_name
from stacks.components.artifact_store import ArtifactStore
from stacks.components.branch_protection import BranchProtection, BranchProtectionProps
from stacks.components.build_project import BuildProject, BuildProjectProps
from stacks.components.connection_source import ConnectionSource, ConnectionSourceProps
from stacks.components.cross_account_access import CrossAccountAccess, CrossAccountAccessProps
from stacks.components.endpoint_deploy_role import EndpointDeployRole
from stacks.components.gate_function import GateFunction, GateFunctionProps
from stacks.components.host_pull_request_checks import HostPullRequestChecks, HostPullRequestChecksProps
from stacks.components.image_repository import ImageRepository, ImageRepositoryProps
from stacks.components.model_registry import ModelRegistry
from stacks.components.model_repository import ModelRepository
from stacks.components.nag_acknowledgements import acknowledge, arn_as_nag_prints, logical_id
from stacks.components.notifications import ReleaseNotifications
from stacks.components.platform_assets import PlatformAssets
from stacks.components.pull_request_checks import PullRequestChecks, PullRequestChecksProps
from stacks.components.release_events import ReleaseEvents
from stacks.components.release_pipeline import ReleasePipeline, ReleasePipelineProps
from stacks.components.release_store import ReleaseStore
from stacks.components.rollback_alarms import grant_describe_alarms
from stacks.components.sagemaker_execution_role import SageMakerExecutionRole, grant_pass_to_sagemaker
from stacks.config import LOG_RETENTION_DAYS, AppConfig
from stacks.service_limits import floors_gate_environment, gate_environment

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
        c = config
        retention = log_retention(c.log_retention_days)
        self.staging_stack_name = f"{c.project_name}-staging-endpoint"
        self.production_stack_name = f"{c.project_name}-production-endpoint"
        cdk.Tags.of(self).add("ml-cicd:project", c.project_name)

        store = ArtifactStore(self, "ArtifactStore", project_name=c.project_name, retention_days=c.artifact_retention_days)
        key, bucket = store.key, store.bucket
        # Release data (models, evaluation outputs, decision records, captured data) lives apart from the artifact
        # store the Build stage (the commit's own code) writes: only the platform's own steps write it.
        release = ReleaseStore(
            self,
            "ReleaseStore",
            project_name=c.project_name,
            key=key,
            access_logs=store.access_logs,
            retention_days=c.artifact_retention_days,
        )
        registry = ModelRegistry(
            self,
            "ModelRegistry",
            group_name=model_package_group_name(c.project_name),
            description=f"{c.project_name}: every trained model; the latest Approved version is the production champion.",
        )
        notifications = ReleaseNotifications(
            self, "Notifications", project_name=c.project_name, key=key, email=c.notification_email
        )
        execution = SageMakerExecutionRole(self, "SageMakerExecution", bucket=bucket, key=key, release=release)
        assets = PlatformAssets(
            self, "PlatformAssets", endpoint_templates_dir=endpoint_templates_dir, bootstrap_kms_key_arn=c.bootstrap_kms_key_arn
        )

        common_env = {"PROJECT_NAME": c.project_name, "PLATFORM_FLOORS": c.platform_floors_json, **assets.environment}
        ci = BuildProject(
            self,
            "BuildProject",
            props=BuildProjectProps(
                buildspec="ci.yml",
                description=f"{c.project_name} Build stage: lints and tests the model code, validates release-policy.yaml.",
                encryption_key=key,
                log_retention=retention,
                environment=common_env,
            ),
        )
        train = BuildProject(
            self,
            "TrainProject",
            props=BuildProjectProps(
                buildspec="train.yml",
                description=f"{c.project_name} Train stage: SageMaker training and evaluation, registers the model.",
                encryption_key=key,
                log_retention=retention,
                timeout=cdk.Duration.minutes(stage_timeout_minutes(c.training_timeout_minutes)),
                environment={
                    **common_env,
                    "ARTIFACT_BUCKET": release.bucket.bucket_name,
                    "KMS_KEY_ARN": key.key_arn,
                    "SAGEMAKER_ROLE_ARN": execution.role.role_arn,
                    "MODEL_PACKAGE_GROUP_NAME": registry.group_name,
                    "TRAINING_INSTANCE_TYPE": c.training_instance_type,
                    "EVALUATION_INSTANCE_TYPE": c.evaluation_instance_type,
                    "USE_SPOT_TRAINING": "true" if c.use_spot_training else "false",
                    "TRAINING_TIMEOUT_MINUTES": str(c.training_timeout_minutes),
                    "ENDPOINT_TEMPLATES_S3_URI": assets.endpoint_templates.s3_object_url,
                },
            ),
        )
        images = ImageRepository(
            self,
            "ModelImage",
            props=ImageRepositoryProps(
                project_name=c.project_name, encryption_key=key, keep_release_images=c.image_retention_count
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
                encryption_key=key,
                log_retention=retention,
                privileged=True,
                environment={
                    **common_env,
                    "IMAGE_REPOSITORY_NAME": images.repository.repository_name,
                    "IMAGE_REPOSITORY_URI": images.repository.repository_uri,
                },
            ),
        )
        images.grant_push(image_build.role)
        images.grant_pull(execution.role)
        assets.grant_read(image_build.role)
        assets.grant_read(ci.role)
        assets.grant_read(train.role, endpoint_templates=True)
        self._grant_training(train.role, config=c, execution_role=execution.role, registry=registry)
        release.grant_write(train.role, "releases/")  # the artifact store: the Train action grants its output

        repository, connection = self._source(c, key=key, retention=retention, environment=common_env, assets=assets)

        # Records carry the artifact key: the bucket policy refuses puts without aws:kms (function_kit/records.py).
        gate_env = gate_environment(record_bucket=release.bucket.bucket_name, record_kms_key_arn=key.key_arn)
        evaluation_gate = GateFunction(
            self,
            "EvaluationGate",
            props=GateFunctionProps(
                name="evaluation_gate",
                description=f"{c.project_name} evaluation gate: judges evaluation.json against the release policy and floors.",
                log_retention=retention,
                encryption_key=key,
                # Every file the deploy stages use and the model must be accounted for (lambdas/function_kit/custody.py).
                environment=floors_gate_environment(
                    record_bucket=release.bucket.bucket_name,
                    record_kms_key_arn=key.key_arn,
                    platform_floors_json=c.platform_floors_json,
                    chain_of_custody=True,
                ),
            ),
        )
        staging_gate = GateFunction(
            self,
            "StagingGate",
            props=GateFunctionProps(
                name="staging_gate",
                description=f"{c.project_name} staging gate: golden requests, latency and error rate on the live staging endpoint.",
                log_retention=retention,
                encryption_key=key,
                timeout=cdk.Duration.seconds(c.staging.gate_timeout_seconds),
                environment=floors_gate_environment(
                    record_bucket=release.bucket.bucket_name,
                    record_kms_key_arn=key.key_arn,
                    platform_floors_json=c.platform_floors_json,
                    staging_probe_json=c.staging.probe_json,
                ),
            ),
        )
        promote = GateFunction(
            self,
            "Promote",
            props=GateFunctionProps(
                name="promote",
                description=f"{c.project_name}: verifies the production endpoint, then makes the model the champion.",
                log_retention=retention,
                encryption_key=key,
                environment={
                    **gate_env,
                    "MODEL_PACKAGE_GROUP_NAME": registry.group_name,
                    "MODEL_IMAGE_REPOSITORY_NAME": images.repository.repository_name,
                    "MODEL_IMAGE_REPOSITORY_URI": images.repository.repository_uri,
                },
            ),
        )
        images.grant_champion_tagging(promote.role)
        for gate in (evaluation_gate, staging_gate, promote):
            bucket.grant_read(gate.role, "*")
            release.grant_write(gate.role, "decision-records/")
            key.grant_encrypt_decrypt(gate.role)
        self._grant_gates(evaluation_gate, staging_gate, promote, registry=registry)

        deploy_role = EndpointDeployRole(
            self,
            "EndpointDeployRole",
            project_name=c.project_name,
            stack_names=[self.staging_stack_name, self.production_stack_name],
            execution_role=execution.role,
            key=key,
            model_package_arn_pattern=registry.package_arn_pattern,
        )
        # SageMaker's auto-rollback reads the production rollback alarms with the execution role.
        grant_describe_alarms(execution.role, self, self.production_stack_name)
        layout = account_layout(c)
        targets = (
            CrossAccountAccess(
                self,
                "CrossAccountAccess",
                props=CrossAccountAccessProps(
                    layout=layout,
                    bucket=bucket,
                    key=key,
                    registry=registry,
                    staging_gate=staging_gate,
                    promote=promote,
                    image_repository=images.repository,
                    release_bucket=release.bucket,
                ),
            )
            if layout.cross_account
            else None
        )

        self.release = ReleasePipeline(
            self,
            "ReleasePipeline",
            props=ReleasePipelineProps(
                project_name=c.project_name,
                repository=repository,
                connection=connection,
                release_branch=c.release_branch,
                artifact_bucket=bucket,
                build_project=ci.project,
                image_project=image_build.project,
                train_project=train.project,
                evaluation_gate=evaluation_gate.function,
                staging_gate=staging_gate.function,
                promote_function=promote.function,
                endpoint_deploy_role=deploy_role.role,
                endpoint_parameters={
                    "ExecutionRoleArn": execution.role.role_arn,
                    "KmsKeyArn": key.key_arn,
                    "Project": c.project_name,
                },
                production_data_capture_uri=release.bucket.s3_url_for_object("data-capture/production"),
                staging_stack_name=self.staging_stack_name,
                production_stack_name=self.production_stack_name,
                require_manual_approval=c.require_manual_approval,
                approval_topic=notifications.topic,
                deployment_window=c.deployment_window,
                deployment_window_time_zone=c.deployment_window_time_zone,
                target_deploy_roles=targets.deploy_roles if targets else {},
                target_execution_role_arns=targets.execution_role_arns if targets else {},
            ),
        )
        if targets:
            targets.name_pipeline(self.release.pipeline)
        release.restrict_writes_to(
            [train.role, evaluation_gate.role, staging_gate.role, promote.role, execution.role],
            other_writer_arns=[targets.execution_role_arns["production"]]
            if targets and "production" in targets.execution_role_arns
            else [],
        )
        ReleaseEvents(
            self,
            "ReleaseEvents",
            pipeline=self.release.pipeline,
            topic=notifications.topic,
            model_package_group_name=registry.group_name,
        )

        acknowledge(
            image_build.role,
            resources={
                "*": "ecr:GetAuthorizationToken (registry login) has no resource-level "
                "permission; push is scoped to the model image repository."
            },
        )
        self._acknowledge_grants(
            bucket=bucket,
            builds=[ci, train, image_build],
            gates=[evaluation_gate, staging_gate, promote],
            execution_role=execution.role,
            deploy_role=deploy_role.role,
            registry=registry,
            config=c,
        )

        self.repository = repository
        self.artifact_bucket = bucket
        self.release_bucket = release.bucket
        self.key = key
        self.topic = notifications.topic
        self.registry = registry
        region = cdk.Aws.REGION
        for name, value, description in (
            (
                "PipelineConsoleUrl",
                f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{self.release.pipeline.pipeline_name}/view?region={region}",
                "The release pipeline in the CodePipeline console.",
            ),
            (
                "ModelPackageGroupName",
                registry.group_name,
                "The SageMaker Model Registry group (SageMaker console: Models > Model registry).",
            ),
            (
                "NotificationTopicArn",
                notifications.topic.topic_arn,
                "Subscribe here for failures, gate verdicts, approvals and rollbacks.",
            ),
            ("ArtifactBucketName", bucket.bucket_name, "The pipeline's artifact store (CodePipeline's artifacts)."),
            (
                "ReleaseBucketName",
                release.bucket.bucket_name,
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

    # -- source ---------------------------------------------------------------

    def _source(
        self, c: AppConfig, *, key: kms.IKey, retention: logs.RetentionDays, environment: dict[str, str], assets: PlatformAssets
    ) -> tuple[codecommit.IRepository | None, ConnectionSource | None]:
        """CodeCommit (seeded, branch-protected, checked) or a host repository through a connection."""
        if c.source.uses_connection:
            connection = ConnectionSource(
                self, "ConnectionSource", props=ConnectionSourceProps(project_name=c.project_name, source=c.source)
            )
            checks = HostPullRequestChecks(
                self,
                "HostPullRequestChecks",
                props=HostPullRequestChecksProps(
                    project_name=c.project_name,
                    connection=connection,
                    release_branch=c.release_branch,
                    encryption_key=key,
                    log_retention=retention,
                    environment=environment,
                ),
            )
            assets.grant_read(checks.role)
            self._source_outputs_for_a_connection(connection, checks.status_context)
            return None, connection
        source = ModelRepository(
            self,
            "ModelRepository",
            repository_name=c.repository_name,
            release_branch=c.release_branch,
            description=f"{c.project_name}: the model project. Every commit on {c.release_branch} is a release candidate.",
        )
        self.pull_request_checks = PullRequestChecks(
            self,
            "PullRequestChecks",
            props=PullRequestChecksProps(
                project_name=c.project_name,
                repository=source.repository,
                release_branch=c.release_branch,
                encryption_key=key,
                log_retention=retention,
                environment=environment,
            ),
        )
        assets.grant_read(self.pull_request_checks.role)
        self.branch_protection = BranchProtection(
            self,
            "BranchProtection",
            props=BranchProtectionProps(
                project_name=c.project_name,
                repository=source.repository,
                release_branch=c.release_branch,
                required_approvals=c.pull_request_approvals,
                checks_role=self.pull_request_checks.reporter_role,
                encryption_key=key,
                log_retention=retention,
                checks_project_arn=self.pull_request_checks.project.project_arn,
            ),
        )
        for name, value, description in (
            (
                "RepositoryCloneUrlHttp",
                source.repository.repository_clone_url_http,
                "git clone URL (HTTPS, git-remote-codecommit or credentials).",
            ),
            ("RepositoryCloneUrlGrc", source.repository.repository_clone_url_grc, "git clone URL for git-remote-codecommit."),
            (
                "DataScientistPolicyArn",
                self.branch_protection.data_scientist_policy.managed_policy_arn,
                "Attach to the data scientists' IAM group or role: releases only through approved pull requests.",
            ),
        ):
            cdk.CfnOutput(self, name, value=value, description=description)
        return source.repository, None

    def _source_outputs_for_a_connection(self, connection: ConnectionSource, status: str) -> None:
        outputs = [
            (
                "SourceRepository",
                f"{connection.provider_type}: {connection.full_repository_id}",
                "Releases come from this repository's release branch, through the CodeConnections connection.",
            ),
            ("SourceConnectionArn", connection.connection_arn, "The CodeConnections connection the pipeline uses."),
            (
                "PullRequestStatusName",
                status,
                "The commit status the pull-request checks post: require it in the host's branch protection.",
            ),
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
        for name, value, description in outputs:
            cdk.CfnOutput(self, name, value=value, description=description)

    # -- permissions ----------------------------------------------------------

    def _grant_training(self, role: iam.IRole, *, config: AppConfig, execution_role: iam.IRole, registry: ModelRegistry) -> None:
        def arn(resource: str, name: str) -> str:
            return self.format_arn(service="sagemaker", resource=resource, resource_name=name)

        prefix = f"{config.project_name}-*"
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunTrainingAndEvaluationJobs",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                ],
                resources=[arn("training-job", prefix), arn("processing-job", prefix)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RegisterModels",
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:AddTags",
                ],
                resources=[registry.group_arn, registry.package_arn_pattern],
            )
        )
        registry.grant_list_packages(role)
        grant_pass_to_sagemaker(execution_role, role)

    def _grant_gates(
        self, evaluation_gate: GateFunction, staging_gate: GateFunction, promote: GateFunction, *, registry: ModelRegistry
    ) -> None:
        def arn(resource: str, name: str) -> str:
            return self.format_arn(service="sagemaker", resource=resource, resource_name=name)

        evaluation_gate.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RecordVerdictOnModelPackage",
                actions=["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"],
                resources=[registry.package_arn_pattern],
            )
        )
        describe = ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"]
        hosting = [arn("endpoint-config", "*"), arn("model", "*")]
        staging_gate.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TestStagingEndpoint",
                actions=["sagemaker:InvokeEndpoint", *describe],
                resources=[arn("endpoint", self.staging_stack_name), *hosting],
            )
        )
        promote.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="VerifyProductionEndpoint",
                actions=describe,
                resources=[arn("endpoint", self.production_stack_name), *hosting],
            )
        )
        promote.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PromoteChampion",
                actions=["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"],
                resources=[registry.group_arn, registry.package_arn_pattern],
            )
        )
        registry.grant_list_packages(promote.role)

    def _acknowledge_grants(
        self,
        *,
        bucket: s3.IBucket,
        builds: list[BuildProject],
        gates: list[GateFunction],
        execution_role: iam.IRole,
        deploy_role: iam.IRole,
        registry: ModelRegistry,
        config: AppConfig,
    ) -> None:
        """Narrow acknowledgements, one per exact finding, on the role or pipeline that holds it."""
        objects = {f"<{logical_id(bucket)}.Arn>/*": "Objects of the project's own artifact bucket."}
        s3_read = ["Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*"]
        s3_write = [*s3_read, "Action::s3:Abort*", "Action::s3:DeleteObject*"]
        kms_use = ["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"]
        region = arn_as_nag_prints(self)
        packages = {
            region.format(
                service="sagemaker", resource=f"model-package/{registry.group_name}/*"
            ): "Versions of this project's model package group only."
        }
        hosting = {
            region.format(
                service="sagemaker", resource="model/*"
            ): "CloudFormation generates model names; creation and changes require the ml-cicd:project tag.",
            region.format(
                service="sagemaker", resource="endpoint-config/*"
            ): "CloudFormation generates endpoint-config names; creation and changes require the ml-cicd:project tag.",
        }
        for build in builds:
            project = logical_id(build.project)
            acknowledge(
                build.role,
                actions=s3_write + kms_use,
                resources={
                    **objects,
                    region.format(
                        service="codebuild", resource=f"report-group/<{project}>-*"
                    ): "Test report groups of this build project (CDK default).",
                    region.format(
                        service="logs", resource=f"log-group:/aws/codebuild/<{project}>:*"
                    ): "Log streams of this build project's default log group (CDK default).",
                },
            )
        acknowledge(
            builds[1].role,
            resources={
                **packages,
                region.format(
                    service="sagemaker", resource=f"training-job/{config.project_name}-*"
                ): "Training jobs the launcher names with this project's prefix.",
                region.format(
                    service="sagemaker", resource=f"processing-job/{config.project_name}-*"
                ): "Evaluation jobs the launcher names with this project's prefix.",
            },
        )
        for gate in gates:
            acknowledge(
                gate.role,
                actions=s3_read + ["Action::s3:Abort*"] + kms_use,
                resources={
                    **objects,
                    f"<{logical_id(bucket)}.Arn>/decision-records/*": "Decision records the gates write, under one prefix.",
                    **packages,
                    **hosting,
                },
            )
        acknowledge(
            execution_role,
            actions=s3_write + kms_use,
            resources={
                **objects,
                region.format(
                    service="sagemaker", resource="model-package/*"
                ): "Endpoints serve registered packages; the package ARN is only known per release.",
                region.format(
                    service="logs", resource="log-group:/aws/sagemaker/*"
                ): "SageMaker writes job and endpoint logs under /aws/sagemaker/.",
                region.format(
                    service="cloudwatch", resource=f"alarm:{self.production_stack_name}-*"
                ): "SageMaker's auto-rollback reads the production stack's rollback alarms; CloudFormation prefixes "
                "their names with the stack name.",
            },
        )
        acknowledge(deploy_role, resources={**packages, **hosting})
        pipeline = self.release.pipeline
        acknowledge(
            pipeline,
            actions=s3_write + kms_use + ["Action::cloudformation:DescribeStack*", "Action::cloudformation:GetTemplate*"],
            resources={
                **objects,
                "*": "lambda:ListFunctions (Lambda invoke actions) has no resource-level permissions.",
                **{
                    f"<{logical_id(gate.function)}.Arn>:*": "Versions and aliases of the one gate function the action invokes."
                    for gate in gates
                },
                **{
                    region.format(
                        service="cloudformation", resource=f"stack/{name}/*"
                    ): "The one endpoint stack the action deploys (any stack id)."
                    for name in (self.staging_stack_name, self.production_stack_name)
                },
            },
        )
