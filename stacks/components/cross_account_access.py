"""The pipeline account's side of a cross-account release (README "Accounts").

Built only when a stage deploys into another account (stacks/accounts.py), so
the single-account templates are unchanged. For each such stage it:

- grants that stage's deploy and SageMaker execution roles (by ARN) what they
  need from the artifact and release buckets and the KMS key: the deploy role
  reads only the deploy action's input artifact (TrainOutput, the endpoint
  templates) and may create grants on the key only as SageMaker's request on its
  behalf; the execution role reads the serving models and (production) writes
  captured data; and the model image repository lets the execution role pull;
- gives the model package group a resource policy that lets them describe its
  packages and create models from them;
- lets the gate that checks the stage assume the stage's endpoint reader role,
  and tells it the role's ARN (`ENDPOINT_READER_ROLE_ARN`);
- names the pipeline's own roles (and the pipeline) deterministically, so the
  target stacks can trust them by ARN.

Resource policies name the target account as principal with an
`aws:PrincipalArn` condition on the exact role ARNs: the IAM documentation
("AWS global condition context keys", aws:PrincipalArn) recommends this form
for roles that may not exist yet, and a policy naming a role ARN directly is
refused while the role does not exist (the target stacks are deployed after
the pipeline stack, which their trust policies name).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.accounts import MODEL_ARTIFACTS, AccountLayout, deploy_input_objects, pipeline_name
from stacks.components.endpoint_deploy_role import AWS_RESOURCE_GRANTS_ONLY
from stacks.components.gate_function import GateFunction
from stacks.components.image_repository import PULL_ACTIONS
from stacks.components.model_registry import ModelRegistry

__all__ = ["CrossAccountAccess", "CrossAccountAccessProps", "READER_ROLE_VARIABLE"]

# The environment variable that tells a gate which role to assume to reach its endpoint.
READER_ROLE_VARIABLE = "ENDPOINT_READER_ROLE_ARN"


@dataclass(frozen=True, kw_only=True)
class CrossAccountAccessProps:
    layout: AccountLayout
    bucket: s3.Bucket
    key: kms.Key
    registry: ModelRegistry
    staging_gate: GateFunction
    promote: GateFunction
    image_repository: ecr.IRepository
    # Where the models and production's captured data live (the release bucket); the artifact bucket otherwise.
    release_bucket: s3.Bucket | None = None


class CrossAccountAccess(Construct):
    """Grants of the pipeline account to the target accounts' roles, and the imported deploy roles."""

    def __init__(self, scope: Construct, construct_id: str, *, props: CrossAccountAccessProps) -> None:
        super().__init__(scope, construct_id)
        self.props = p = props
        stack = cdk.Stack.of(self)
        self.deploy_roles: dict[str, iam.IRole] = {}
        self.execution_role_arns: dict[str, str] = {}
        registry_statements: list[dict[str, object]] = []
        for stage in p.layout.cross_account_stages():
            names, account = p.layout.role_names(stage), p.layout.target_account(stage) or ""
            deploy_arn = p.layout.role_arn(stage, names.deploy, stack.partition)
            execution_arn = p.layout.role_arn(stage, names.execution, stack.partition)
            self.deploy_roles[stage] = iam.Role.from_role_arn(self, f"{stage.title()}DeployRole", deploy_arn, mutable=False)
            self.execution_role_arns[stage] = execution_arn
            self._grant_artifacts(stage, account, deploy_arn, execution_arn)
            # A model built from the repository's own Dockerfile is served from this account's image repository.
            p.image_repository.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"{stage.title()}ExecutionRolePullsTheModelImage",
                    principals=[iam.AccountPrincipal(account)],
                    actions=list(PULL_ACTIONS),
                    conditions=self._condition([execution_arn]),
                )
            )
            registry_statements += self._registry_statements(stage, account, [deploy_arn, execution_arn])
            gate = p.staging_gate if stage == "staging" else p.promote
            reader_arn = p.layout.role_arn(stage, names.endpoint_reader, stack.partition)
            gate.function.add_environment(READER_ROLE_VARIABLE, reader_arn)
            gate.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=f"Assume{stage.title()}EndpointReader", actions=["sts:AssumeRole"], resources=[reader_arn]
                )
            )
            _name_role(gate.role, p.layout.pipeline_roles.staging_gate if stage == "staging" else p.layout.pipeline_roles.promote)
        p.registry.group.model_package_group_policy = {"Version": "2012-10-17", "Statement": registry_statements}
        cdk.CfnOutput(
            stack,
            "ArtifactKeyArn",
            value=p.key.key_arn,
            description='The artifact key: a parameter of `make deploy-target` (README "Accounts").',
        )

    def name_pipeline(self, pipeline: codepipeline.Pipeline) -> None:
        """The pipeline and its role get deterministic names: the deploy roles trust the role by ARN."""
        cfn = pipeline.node.default_child
        assert isinstance(cfn, codepipeline.CfnPipeline)
        cfn.name = pipeline_name(self.props.layout.project_name)
        _name_role(pipeline.role, self.props.layout.pipeline_roles.pipeline)

    @staticmethod
    def _condition(arns: list[str]) -> dict[str, dict[str, list[str]]]:
        return {"ArnEquals": {"aws:PrincipalArn": arns}}

    def _grant_artifacts(self, stage: str, account: str, deploy_arn: str, execution_arn: str) -> None:
        p, title = self.props, stage.title()
        releases = p.release_bucket or p.bucket
        target = iam.AccountPrincipal(account)
        statements = [
            (
                f"{title}DeployRoleReadsTemplates",
                deploy_arn,
                ["s3:GetObject", "s3:GetObjectVersion"],
                # Only the deploy action's input artifact (TrainOutput): not the source, not the build output.
                p.bucket.arn_for_objects(deploy_input_objects(p.layout.project_name)),
            ),
            (f"{title}ExecutionRoleReadsModels", execution_arn, ["s3:GetObject"], releases.arn_for_objects(MODEL_ARTIFACTS)),
        ]
        if stage == "production":
            statements.append(
                (
                    f"{title}ExecutionRoleWritesCapture",
                    execution_arn,
                    ["s3:PutObject"],
                    releases.arn_for_objects("data-capture/production/*"),
                )
            )
        for sid, arn, actions, resource in statements:
            bucket = releases if "ExecutionRole" in sid else p.bucket
            bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid, principals=[target], actions=actions, resources=[resource], conditions=self._condition([arn])
                )
            )
        key_uses = [
            (f"{title}DeployRoleUsesKey", deploy_arn, ["kms:Decrypt", "kms:DescribeKey"], {}),
            # SageMaker creates grants on the key for the endpoint's storage (and capture) with the deploying
            # role's credentials; "kms:GrantIsForAWSResource ... Allows principals to call CreateGrant ... only
            # when an AWS service that is integrated with AWS KMS sends the request on the principal's behalf"
            # (KMS developer guide, "Controlling access to grants"): the role itself cannot hand the key out.
            (f"{title}DeployRoleLetsSageMakerGrant", deploy_arn, ["kms:CreateGrant"], AWS_RESOURCE_GRANTS_ONLY),
            (
                f"{title}ExecutionRoleUsesKey",
                execution_arn,
                ["kms:Decrypt", "kms:DescribeKey"] + (["kms:GenerateDataKey"] if stage == "production" else []),
                {},
            ),
        ]
        for sid, arn, actions, extra in key_uses:
            p.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[target],
                    actions=actions,
                    resources=["*"],
                    conditions={**self._condition([arn]), **extra},
                )
            )

    def _registry_statements(self, stage: str, account: str, arns: list[str]) -> list[dict[str, object]]:
        """ModelPackageGroupPolicy statements (AWS::SageMaker::ModelPackageGroup takes a JSON policy document)."""
        stack, title = cdk.Stack.of(self), stage.title()
        principal = {"AWS": f"arn:{stack.partition}:iam::{account}:root"}
        group = self.props.registry
        group_arn = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group.group_name)
        return [
            {
                "Sid": f"{title}DescribesTheGroup",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "sagemaker:DescribeModelPackageGroup",
                "Resource": group_arn,
                "Condition": self._condition(arns),
            },
            {
                "Sid": f"{title}DeploysPackages",
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["sagemaker:DescribeModelPackage", "sagemaker:CreateModel"],
                "Resource": group.package_arn_pattern,
                "Condition": self._condition(arns),
            },
        ]


def _name_role(role: iam.IRole, name: str) -> None:
    cfn = role.node.default_child
    assert isinstance(cfn, iam.CfnRole), f"{role.node.path} is not a role of this stack"
    cfn.role_name = name
