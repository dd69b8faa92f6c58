"""The release pipeline: Source → Build → Train → Evaluate → DeployStaging → TestStaging
→ (Approve) → DeployProd → Promote, as a CodePipeline of type V2.

This construct only arranges stages and actions and grants what the
pipeline itself needs; the build projects, functions and roles it wires are
built by their own constructs and handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.accounts import DEPLOY_INPUT_ARTIFACT, artifact_folder
from stacks.action_parameters import user_parameters_string
from stacks.components.connection_source import ConnectionSource
from stacks.components.nag_acknowledgements import acknowledge, acknowledge_object_grant, arn_as_nag_prints, logical_id

__all__ = ["ReleasePipeline", "ReleasePipelineProps", "STAGE_NAMES", "artifact_object_pattern"]

STAGE_NAMES = ("Source", "Build", "Train", "Evaluate", "DeployStaging", "TestStaging", "Approve", "DeployProd", "Promote")


def artifact_object_pattern(artifact_name: str) -> str:
    """The artifact store keys of one output artifact: `<pipeline name, 20>/<artifact name, 10>/<id>`.

    CodePipeline shortens the folder names of its artifact store (pipeline name to 20 characters, artifact name
    to 10) ("Although the artifact folder name might appear to be shortened, it is still unique for your pipeline",
    AWS re:Post, CodePipeline truncates folder names). Should the layout change, a write outside the pattern is
    refused: the Build stage fails, it never writes elsewhere.
    """
    return f"*/{artifact_folder(artifact_name)}/*"


@dataclass(frozen=True, kw_only=True)
class ReleasePipelineProps:
    """Everything the pipeline wires together."""

    project_name: str
    # Exactly one of the two: the CodeCommit repository, or a repository behind a CodeConnections connection.
    repository: codecommit.IRepository | None
    connection: ConnectionSource | None
    release_branch: str
    artifact_bucket: s3.IBucket
    build_project: codebuild.IProject
    image_project: codebuild.IProject
    train_project: codebuild.IProject
    evaluation_gate: lambda_.IFunction
    staging_gate: lambda_.IFunction
    promote_function: lambda_.IFunction
    endpoint_deploy_role: iam.IRole
    endpoint_parameters: dict[str, str]
    production_data_capture_uri: str
    staging_stack_name: str
    production_stack_name: str
    require_manual_approval: bool
    approval_topic: sns.ITopic
    deployment_window: str | None
    deployment_window_time_zone: str
    # Stages deployed into another account (stacks/accounts.py): the target account's deploy role, which the
    # action runs with and CloudFormation deploys with, and the execution role the endpoint runs with there.
    target_deploy_roles: Mapping[str, iam.IRole] = field(default_factory=dict)
    target_execution_role_arns: Mapping[str, str] = field(default_factory=dict)


class ReleasePipeline(Construct):
    """Turns every commit on the release branch into a gated release."""

    def __init__(self, scope: Construct, construct_id: str, *, props: ReleasePipelineProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        source_output, build_output, train_output, image_output = (
            codepipeline.Artifact(name) for name in ("SourceOutput", "BuildOutput", DEPLOY_INPUT_ARTIFACT, "ImageOutput")
        )
        source = self._source_action(p, source_output)
        stages = [
            codepipeline.StageProps(stage_name="Source", actions=[source]),
            *self._build_and_train_stages(p, source, source_output, build_output, image_output, train_output),
            *self._release_stages(p, train_output),
        ]
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=self._artifact_bucket(p),
            restart_execution_on_update=False,
            # CodePipeline's own role runs every action: per-action roles would be assumable by this role
            # anyway (same effective privilege), and cost 20 more IAM resources to synthesize and audit.
            use_pipeline_role_for_actions=True,
            stages=stages,
        )
        self.stage_names = [stage.stage_name for stage in stages]
        if p.connection is not None:
            self._trigger_on_pushes_to_the_release_branch(source, p.release_branch)
        self._acknowledge_action_grants(p)

    def _build_and_train_stages(
        self,
        p: ReleasePipelineProps,
        source: actions.CodeCommitSourceAction | actions.CodeStarConnectionsSourceAction,
        source_output: codepipeline.Artifact,
        build_output: codepipeline.Artifact,
        image_output: codepipeline.Artifact,
        train_output: codepipeline.Artifact,
    ) -> list[codepipeline.StageProps]:
        """Build (the commit's checks, then its image) and Train, each told the commit it runs for."""

        def revision() -> dict[str, codebuild.BuildEnvironmentVariable]:
            return {"SOURCE_REVISION": codebuild.BuildEnvironmentVariable(value=source.variables.commit_id)}

        build = actions.CodeBuildAction(
            action_name="Build",
            project=self._commit_build(p, p.build_project, build_output, "BuildProjectByName"),
            input=source_output,
            outputs=[build_output],
            environment_variables=revision(),
        )
        image = actions.CodeBuildAction(
            action_name="Image",
            project=self._commit_build(p, p.image_project, image_output, "ImageProjectByName"),
            input=build_output,
            outputs=[image_output],
            run_order=2,
            environment_variables=revision(),
        )
        # Train reads the commit itself, not BuildOutput: the Build stage's files are written in a container where
        # the commit's install and tests ran first, as root; Train derives the policy and the package itself.
        train = actions.CodeBuildAction(
            action_name="Train",
            project=p.train_project,
            input=source_output,
            outputs=[train_output],
            extra_inputs=[image_output],
            variables_namespace="Train",
            environment_variables=revision(),
        )
        return [
            codepipeline.StageProps(stage_name="Build", actions=[build, image]),
            codepipeline.StageProps(stage_name="Train", actions=[train]),
        ]

    @staticmethod
    def _invoke(
        name: str, function: lambda_.IFunction, train_output: codepipeline.Artifact, **options: object
    ) -> actions.LambdaInvokeAction:
        """A Lambda invoke action on `TrainOutput` with its `UserParameters` from stacks/action_parameters.py."""
        return actions.LambdaInvokeAction(
            action_name=name,
            lambda_=function,
            inputs=[train_output],
            user_parameters_string=user_parameters_string(name),
            **options,  # type: ignore[arg-type]
        )

    def _release_stages(self, p: ReleasePipelineProps, train_output: codepipeline.Artifact) -> list[codepipeline.StageProps]:
        """Evaluate, DeployStaging, TestStaging, (Approve), DeployProd, Promote."""
        # Chain of custody: before each deploy, the TrainOutput files and the model must be exactly what the
        # evaluation gate judged (lambdas/function_kit/custody.py); production verification checks again.
        check_staging = self._invoke("CheckCustody", p.promote_function, train_output, run_order=1)
        deploy_staging = self._deploy_action("DeployStaging", p, p.staging_stack_name, "staging", train_output)
        stages = [
            codepipeline.StageProps(
                stage_name="Evaluate",
                actions=[self._invoke("EvaluationGate", p.evaluation_gate, train_output, variables_namespace="EvaluationGate")],
            ),
            codepipeline.StageProps(stage_name="DeployStaging", actions=[check_staging, deploy_staging]),
            codepipeline.StageProps(
                stage_name="TestStaging",
                actions=[self._invoke("StagingGate", p.staging_gate, train_output, variables_namespace="StagingGate")],
            ),
        ]
        if p.require_manual_approval:
            stages.append(self._approval_stage(p))
        stages.append(self._production_stage(p, train_output))
        stages.append(
            codepipeline.StageProps(stage_name="Promote", actions=[self._invoke("Promote", p.promote_function, train_output)])
        )
        return stages

    @staticmethod
    def _approval_stage(p: ReleasePipelineProps) -> codepipeline.StageProps:
        return codepipeline.StageProps(
            stage_name="Approve",
            actions=[
                actions.ManualApprovalAction(
                    action_name="Approve",
                    notification_topic=p.approval_topic,
                    additional_information=(
                        "Model #{Train.MODEL_PACKAGE_ARN} passed the evaluation and staging gates. "
                        "Evaluation record: #{EvaluationGate.record_uri}"
                    ),
                )
            ],
        )

    def _production_stage(self, p: ReleasePipelineProps, train_output: codepipeline.Artifact) -> codepipeline.StageProps:
        check_prod = self._invoke("CheckCustody", p.promote_function, train_output, run_order=1)
        deploy_prod = self._deploy_action("DeployProd", p, p.production_stack_name, "production", train_output)
        verify_prod = self._invoke("VerifyProduction", p.promote_function, train_output, run_order=3)
        return codepipeline.StageProps(
            stage_name="DeployProd",
            actions=[check_prod, deploy_prod, verify_prod],
            before_entry=self._deployment_window(p),
            on_failure=codepipeline.FailureConditions(result=codepipeline.Result.ROLLBACK),
            # No on-success CloudWatchAlarm condition: its WaitTime is documented as time "to allow for a state
            # change before running the rule result" (an alarm already OK succeeds at once), the launch
            # announcement describes a watch window instead, and composite alarms are not documented as
            # supported. The bake is SageMaker's own (TerminationWaitInSeconds, see stacks/endpoint_stack.py):
            # the old fleet is kept and the rollback alarms stay armed, as SageMaker documents.
        )

    def _acknowledge_action_grants(self, p: ReleasePipelineProps) -> None:
        """The wildcards of what the actions grant: the pipeline role, and the Train project's role."""
        region = arn_as_nag_prints(self)
        acknowledge_object_grant(
            self.pipeline, p.artifact_bucket, delete=True, reason="Objects of the project's own artifact bucket."
        )
        acknowledge(
            self.pipeline,
            actions=["Action::cloudformation:DescribeStack*", "Action::cloudformation:GetTemplate*"],
            resources={
                "*": "lambda:ListFunctions (Lambda invoke actions) has no resource-level permissions.",
                **{
                    f"<{logical_id(function)}.Arn>:*": "Versions and aliases of the one function the action invokes."
                    for function in (p.evaluation_gate, p.staging_gate, p.promote_function)
                },
                **{
                    region.format(
                        service="cloudformation", resource=f"stack/{name}/*"
                    ): "The one endpoint stack the action deploys (any stack id)."
                    for name in (p.staging_stack_name, p.production_stack_name)
                },
            },
        )
        # The Train action grants the project's role read and write on the artifact store (CDK's CodeBuildAction).
        if p.train_project.role is not None:
            acknowledge_object_grant(
                p.train_project.role, p.artifact_bucket, delete=True, reason="Objects of the project's own artifact bucket."
            )

    def _artifact_bucket(self, p: ReleasePipelineProps) -> s3.IBucket:
        """The artifact bucket; with cross-account actions, a reference CDK cannot add bucket or key policy to.

        For an action role of another account, CDK grants that role read on the whole bucket and decryption in
        the bucket and key policies, naming the role's ARN as principal. The grants a target account needs are
        made by stacks/components/cross_account_access.py instead: narrower (the templates' prefix), and
        written so the pipeline stack deploys before the target roles exist (an S3 or KMS policy naming a
        role that does not exist is refused). The pipeline's own grants are identity policies either way.
        """
        if not p.target_deploy_roles:
            return p.artifact_bucket
        key = p.artifact_bucket.encryption_key
        if key is None:
            raise ValueError("cross-account actions need a KMS-encrypted artifact bucket")
        return s3.Bucket.from_bucket_attributes(
            self,
            "ArtifactBucketReference",
            bucket_arn=p.artifact_bucket.bucket_arn,
            bucket_name=p.artifact_bucket.bucket_name,
            encryption_key=kms.Key.from_key_arn(self, "ArtifactKeyReference", key.key_arn),
        )

    def _commit_build(
        self, p: ReleasePipelineProps, project: codebuild.IProject, output: codepipeline.Artifact, construct_id: str
    ) -> codebuild.IProject:
        """A Build-stage project as the action sees it, and its access to the artifact store.

        The Build stage runs the commit's own code (its tests, `pip install` of its requirements, `docker build`
        of its Dockerfile). CDK's
        CodeBuildAction grants a project with a role read, write and delete on the whole artifact store, which
        also holds the Train output the deploy stages use. The action gets the project by name (CDK then grants
        nothing) and the project's role may read the store and put its own output artifact only: no delete, no
        other artifact.
        """
        role = project.role
        if role is None:
            raise ValueError(f"{construct_id}: a Build-stage project needs its own role")
        p.artifact_bucket.grant_read(role)
        pattern = artifact_object_pattern(output.artifact_name or "")
        p.artifact_bucket.grant_put(role, pattern)
        acknowledge_object_grant(role, p.artifact_bucket, put=True, reason="Objects of the project's own artifact bucket.")
        acknowledge(
            role,
            resources={
                f"<{logical_id(p.artifact_bucket)}.Arn>/{pattern}": "The Build stage puts its own output artifact only (CodePipeline's key layout)."
            },
        )
        return codebuild.Project.from_project_name(self, construct_id, project.project_name)

    @staticmethod
    def _source_action(
        p: ReleasePipelineProps, output: codepipeline.Artifact
    ) -> actions.CodeCommitSourceAction | actions.CodeStarConnectionsSourceAction:
        """CodeCommit (EventBridge trigger) or the connection source (a V2 trigger, added after the pipeline)."""
        if p.connection is None:
            if p.repository is None:
                raise ValueError("the release pipeline needs a CodeCommit repository or a connection")
            return actions.CodeCommitSourceAction(
                action_name="Source",
                repository=p.repository,
                branch=p.release_branch,
                output=output,
                trigger=actions.CodeCommitTrigger.EVENTS,
                variables_namespace="Source",
            )
        # No polling and no default trigger: the pipeline's V2 trigger below starts an execution on a push to the
        # release branch only. The action grants the pipeline role UseConnection on this connection and repository.
        return p.connection.source_action(release_branch=p.release_branch, output=output)

    def _trigger_on_pushes_to_the_release_branch(self, source: actions.Action, release_branch: str) -> None:
        # "Triggers ... for a source action of the CodeStarSourceConnection type ... filter on Git push
        # events by branch" (CodePipeline user guide, "Add trigger with code push or pull request event types").
        self.pipeline.add_trigger(
            provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
            git_configuration=codepipeline.GitConfiguration(
                source_action=source,
                push_filter=[codepipeline.GitPushFilter(branches_includes=[release_branch])],
            ),
        )

    @staticmethod
    def _deploy_action(
        namespace: str, p: ReleasePipelineProps, stack_name: str, stage: str, train_output: codepipeline.Artifact
    ) -> actions.CloudFormationCreateUpdateStackAction:
        overrides = dict(p.endpoint_parameters)
        if stage == "production":
            overrides["DataCaptureS3Uri"] = p.production_data_capture_uri
        target_role = p.target_deploy_roles.get(stage)
        cross_account: dict[str, object] = {}
        if target_role is not None:
            overrides["ExecutionRoleArn"] = p.target_execution_role_arns[stage]
            # "account": the action runs in the target account, with `role` (assumed by the pipeline role).
            cross_account = {"account": target_role.env.account, "role": target_role}
        return actions.CloudFormationCreateUpdateStackAction(
            action_name="Deploy",
            stack_name=stack_name,
            template_path=train_output.at_path(f"endpoint/{stage}.template.json"),
            template_configuration=train_output.at_path(f"endpoint/{stage}.config.json"),
            parameter_overrides=overrides,
            admin_permissions=False,
            deployment_role=target_role or p.endpoint_deploy_role,
            # CREATE_UPDATE cannot update a stack that a failed first create left in ROLLBACK_COMPLETE.
            # REPLACE_ON_FAILURE deletes and recreates a stack in a failed state: right for staging, which
            # serves no one; never for production, which must not be deleted while it serves. A production
            # stack in ROLLBACK_COMPLETE never served (its create failed): README "Production deployments" gives the
            # operator's one command to delete it.
            replace_on_failure=stage == "staging",
            variables_namespace=namespace,
            run_order=2,
            **cross_account,  # type: ignore[arg-type]
        )

    @staticmethod
    def _deployment_window(p: ReleasePipelineProps) -> codepipeline.Conditions | None:
        """An entry condition: the stage fails unless the DeploymentWindow rule's cron matches the moment.

        The expression is CodePipeline's own cron format, validated at synth by stacks/deployment_window.py.
        """
        if not p.deployment_window:
            return None
        return codepipeline.Conditions(
            conditions=[
                codepipeline.Condition(
                    result=codepipeline.Result.FAIL,
                    rules=[
                        codepipeline.Rule(
                            name="DeploymentWindow",
                            provider="DeploymentWindow",
                            version="1",
                            configuration={"Cron": p.deployment_window, "TimeZone": p.deployment_window_time_zone},
                        )
                    ],
                )
            ]
        )
