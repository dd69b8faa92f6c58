"""The target stack: what one staging or production account needs before the pipeline can deploy into it.

One class, one instance per cross-account stage (stacks/accounts.py decides
which stages are). It is deployed once, with that account's credentials, by
`make deploy-target STAGE=staging|production` (plain CloudFormation: no CDK
bootstrap in the target account). It creates three roles with deterministic
names, so the pipeline stack refers to them by ARN without any lookup:

- the deploy role: CodePipeline's deploy action runs with it (assumed by the
  pipeline role, by ARN) and CloudFormation deploys the endpoint stack with it
  (the same role, passed to cloudformation.amazonaws.com);
- the SageMaker execution role the stage's endpoint runs with (trusts SageMaker
  only; only the deploy role may pass it);
- the endpoint reader role the staging gate (staging) or the production
  verification (production) assumes, trusted by that function's role ARN.

The pipeline account's artifact bucket and key are CloudFormation parameters
(the pipeline stack's `ArtifactBucketName`, `ReleaseBucketName` and `ArtifactKeyArn` outputs):
their physical names are generated in the pipeline account.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.accounts import MODEL_ARTIFACTS, AccountLayout, deploy_input_objects
from stacks.components.endpoint_deploy_role import EndpointDeployRole, EndpointDeployRoleProps
from stacks.components.image_repository import PULL_ACTIONS
from stacks.components.nag_acknowledgements import acknowledge, acknowledge_generated_hosting_names, arn_as_nag_prints
from stacks.components.rollback_alarms import grant_describe_alarms
from stacks.components.sagemaker_execution_role import grant_image_logs_and_metrics

__all__ = ["TargetAccountStack", "TargetAccountStacks", "endpoint_stack_name", "registry_arns", "target_stack_name"]


def target_stack_name(project_name: str, stage: str) -> str:
    """The CloudFormation stack `make deploy-target STAGE=<stage>` creates in the stage's account."""
    return f"{project_name}-{stage}-target"


def endpoint_stack_name(project_name: str, stage: str) -> str:
    """The endpoint stack the pipeline deploys for `stage` (also the endpoint's name)."""
    return f"{project_name}-{stage}-endpoint"


def registry_arns(partition: str, region: str, account: str, group_name: str) -> tuple[str, str]:
    """The model package group's ARN and its versions' ARN pattern in the pipeline account."""
    base = f"arn:{partition}:sagemaker:{region}:{account}"
    return f"{base}:model-package-group/{group_name}", f"{base}:model-package/{group_name}/*"


class TargetAccountStack(cdk.Stack):
    """The deploy, SageMaker execution and endpoint reader roles of one stage, in that stage's account."""

    def __init__(
        self, scope: Construct, construct_id: str, *, layout: AccountLayout, stage: str, group_name: str, **kwargs: object
    ) -> None:
        synthesizer = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False)
        super().__init__(scope, construct_id, synthesizer=synthesizer, **kwargs)  # type: ignore[arg-type]
        pipeline_account = self._pipeline_account = layout.pipeline_account or ""
        names, pipeline_roles = layout.role_names(stage), layout.pipeline_roles
        self.stack_name_of_endpoint = endpoint_stack_name(layout.project_name, stage)
        self.group_name = group_name
        bucket_name = cdk.CfnParameter(
            self,
            "ArtifactBucketName",
            type="String",
            allowed_pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            description="The pipeline account's artifact bucket (pipeline stack output ArtifactBucketName).",
        ).value_as_string
        release_bucket_name = cdk.CfnParameter(
            self,
            "ReleaseBucketName",
            type="String",
            allowed_pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            description="The pipeline account's release bucket: models and captured data (output ReleaseBucketName).",
        ).value_as_string
        key_arn = cdk.CfnParameter(
            self,
            "ArtifactKeyArn",
            type="String",
            allowed_pattern=rf"^arn:aws[a-z-]*:kms:[a-z0-9-]+:{pipeline_account}:key/[0-9a-f-]{{36}}$",
            description="The pipeline account's artifact key (pipeline stack output ArtifactKeyArn).",
        ).value_as_string
        self.bucket_arn = f"arn:{self.partition}:s3:::{bucket_name}"
        self.release_bucket_arn = f"arn:{self.partition}:s3:::{release_bucket_name}"
        self.key = kms.Key.from_key_arn(self, "ArtifactKey", key_arn)
        _, package_pattern = registry_arns(self.partition, self.region, pipeline_account, group_name)
        # Resources as cdk-nag prints them in acknowledgement IDs (literals once the environment is pinned).
        self._nag_arn = arn_as_nag_prints(self)
        self._nag_s3 = f"arn:{self._nag_arn.split(':')[1]}:s3:::<ArtifactBucketName>"
        self._nag_release_s3 = f"arn:{self._nag_arn.split(':')[1]}:s3:::<ReleaseBucketName>"
        self.nag_package_pattern = arn_as_nag_prints(self, account=pipeline_account).format(
            service="sagemaker", resource=f"model-package/{group_name}/*"
        )

        def pipeline_role(name: str) -> iam.ArnPrincipal:
            return iam.ArnPrincipal(f"arn:{self.partition}:iam::{pipeline_account}:role/{name}")

        self.execution_role = self._execution_role(names.execution, stage, package_pattern)
        self.deploy_role = self._deploy_role(names.deploy, pipeline_role(pipeline_roles.pipeline), package_pattern, layout, stage)
        reader = pipeline_roles.staging_gate if stage == "staging" else pipeline_roles.promote
        self.reader_role = self._reader_role(names.endpoint_reader, pipeline_role(reader), stage)
        for name, role, description in (
            ("DeployRoleArn", self.deploy_role, "CodePipeline's deploy action and CloudFormation use this role."),
            ("ExecutionRoleArn", self.execution_role, "The endpoint's SageMaker execution role."),
            ("EndpointReaderRoleArn", self.reader_role, "The gate assumes this role to read (and test) the endpoint."),
        ):
            cdk.CfnOutput(self, name, value=role.role_arn, description=description)

    def _deploy_role(
        self, name: str, pipeline_role: iam.ArnPrincipal, package_pattern: str, layout: AccountLayout, stage: str
    ) -> iam.Role:
        role = EndpointDeployRole(
            self,
            "EndpointDeployRole",
            props=EndpointDeployRoleProps(
                project_name=layout.project_name,
                stack_names=[self.stack_name_of_endpoint],
                execution_role=self.execution_role,
                key=self.key,
                model_package_group_name=self.group_name,
                registry_account=self._pipeline_account,
                role_name=name,
                assumed_by=iam.CompositePrincipal(pipeline_role, iam.ServicePrincipal("cloudformation.amazonaws.com")),
            ),
        ).role
        self._grant_deploying_the_stack(role, name)
        # The endpoint serves a package of the pipeline account's registry (its group policy allows it too).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateModelsFromRegisteredPackages", actions=["sagemaker:CreateModel"], resources=[package_pattern]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadEndpointTemplates",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"{self.bucket_arn}/{deploy_input_objects(layout.project_name)}"],
            )
        )
        role.add_to_policy(iam.PolicyStatement(sid="DecryptArtifacts", actions=["kms:Decrypt"], resources=[self.key.key_arn]))
        acknowledge(
            role,
            resources={
                f"{self._nag_s3}/{deploy_input_objects(layout.project_name)}": "The Train stage's output artifact (the endpoint templates): CodePipeline keys each execution's copy by a generated id.",
                self.nag_package_pattern: "Versions of the project's model package group in the pipeline account only.",
            },
        )
        return role

    def _grant_deploying_the_stack(self, role: iam.Role, name: str) -> None:
        """As CodePipeline's action role: deploy this one stack, with this same role as CloudFormation's."""
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeployTheEndpointStack",
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:GetTemplate",
                    "cloudformation:ValidateTemplate",
                ],
                resources=[
                    self.format_arn(service="cloudformation", resource="stack", resource_name=f"{self.stack_name_of_endpoint}/*")
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassItselfToCloudFormation",
                actions=["iam:PassRole"],
                resources=[f"arn:{self.partition}:iam::{self.account}:role/{name}"],
                conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
            )
        )
        acknowledge(
            role,
            resources={
                self._nag_arn.format(
                    service="cloudformation", resource=f"stack/{self.stack_name_of_endpoint}/*"
                ): "The one endpoint stack this role deploys (any stack id).",
            },
        )

    def _execution_role(self, name: str, stage: str, package_pattern: str) -> iam.Role:
        role = iam.Role(
            self,
            "SageMakerExecutionRole",
            role_name=name,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker runs the {stage} endpoint's model with this role",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadModelArtifacts", actions=["s3:GetObject"], resources=[f"{self.release_bucket_arn}/{MODEL_ARTIFACTS}"]
            )
        )
        key_actions = ["kms:Decrypt", "kms:DescribeKey"]
        if stage == "production":
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="WriteCapturedData",
                    actions=["s3:PutObject"],
                    resources=[f"{self.release_bucket_arn}/data-capture/{stage}/*"],
                )
            )
            key_actions.append("kms:GenerateDataKey")
            # SageMaker's auto-rollback reads the production rollback alarms with the execution role.
            grant_describe_alarms(role, self, self.stack_name_of_endpoint)
        role.add_to_policy(iam.PolicyStatement(sid="UseArtifactKey", actions=key_actions, resources=[self.key.key_arn]))
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadModelPackages", actions=["sagemaker:DescribeModelPackage"], resources=[package_pattern])
        )
        grant_image_logs_and_metrics(role)
        self._grant_pulling_the_model_image(role)
        acknowledge(
            role,
            resources={
                f"{self._nag_release_s3}/{MODEL_ARTIFACTS}": "Serving model artifacts of the project's releases in the pipeline account's release bucket.",
                f"{self._nag_release_s3}/data-capture/production/*": "Captured production requests, under the one prefix the endpoint writes.",
                self.nag_package_pattern: "Versions of the project's model package group in the pipeline account only.",
            },
        )
        return role

    def _grant_pulling_the_model_image(self, role: iam.Role) -> None:
        # The model's own image (when the model repository has a Dockerfile) is in the pipeline account; its
        # repository policy names this role (its name is generated there, so any repository of that account).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PullTheModelImage",
                actions=list(PULL_ACTIONS),
                resources=[f"arn:{self.partition}:ecr:{self.region}:{self._pipeline_account}:repository/*"],
            )
        )
        acknowledge(
            role,
            resources={
                arn_as_nag_prints(self, account=self._pipeline_account).format(
                    service="ecr", resource="repository/*"
                ): "The pipeline account's repositories: only the model image repository's policy lets this role pull."
            },
        )

    def _reader_role(self, name: str, trusted: iam.ArnPrincipal, stage: str) -> iam.Role:
        role = iam.Role(
            self,
            "EndpointReaderRole",
            role_name=name,
            assumed_by=trusted,
            description=f"The {stage} check reads (and, for staging, invokes) the {stage} endpoint",
        )
        endpoint = self.format_arn(service="sagemaker", resource="endpoint", resource_name=self.stack_name_of_endpoint)
        actions = ["sagemaker:DescribeEndpoint"] + (["sagemaker:InvokeEndpoint"] if stage == "staging" else [])
        role.add_to_policy(iam.PolicyStatement(sid="ReadTheEndpoint", actions=actions, resources=[endpoint]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadWhatTheEndpointServes",
                actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                resources=[
                    self.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*"),
                    self.format_arn(service="sagemaker", resource="model", resource_name="*"),
                ],
            )
        )
        acknowledge_generated_hosting_names(role, what_it_does="describe only")
        return role


class TargetAccountStacks(cdk.Stage):
    """A nested stage with one TargetAccountStack per cross-account stage: `cdk deploy --all` never deploys them
    (they need the target account's credentials); `make deploy-target` deploys one with plain CloudFormation."""

    def __init__(
        self, scope: Construct, construct_id: str, *, layout: AccountLayout, group_name: str, region: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.stacks = {
            stage: TargetAccountStack(
                self,
                stage.title(),
                layout=layout,
                stage=stage,
                group_name=group_name,
                stack_name=target_stack_name(layout.project_name, stage),
                description=f"{layout.project_name}: the roles the release pipeline uses in the {stage} account",
                env=cdk.Environment(account=layout.target_account(stage), region=region),
            )
            for stage in layout.cross_account_stages()
        }

    def write_templates(self, directory: Path) -> dict[str, Path]:
        """Synthesize the stage and copy each template to `<directory>/<stage>.template.json`."""
        assembly = self.synth()
        directory.mkdir(parents=True, exist_ok=True)
        written = {}
        for stage, stack in self.stacks.items():
            artifact = assembly.get_stack_artifact(stack.artifact_id)
            if artifact.assets:
                raise ValueError(f"the {stage} target template must not have file assets")
            written[stage] = directory / f"{stage}.template.json"
            shutil.copyfile(artifact.template_full_path, written[stage])
        return written
