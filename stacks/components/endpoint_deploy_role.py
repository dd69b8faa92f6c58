"""The role CloudFormation assumes to deploy the endpoint stacks: SageMaker hosting only."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.components.checkov_skips import skip_checkov

__all__ = ["EndpointDeployRole"]


class EndpointDeployRole(Construct):
    """May create, update and delete this project's models, endpoint configs, endpoints and their alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, project_name: str, stack_names: list[str],
                 execution_role: iam.IRole, key: kms.IKey, model_package_arn_pattern: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            description=f"CloudFormation deploys the {project_name} endpoint stacks with this role",
        )

        def arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        project_tag = {"aws:RequestTag/ml-cicd:project": project_name}
        self.role.add_to_policy(iam.PolicyStatement(
            sid="CreateTaggedHostingResources",
            actions=["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:AddTags"],
            resources=[arn("model", "*"), arn("endpoint-config", "*"), *[arn("endpoint", name) for name in stack_names]],
            conditions={"StringEquals": project_tag},
        ))
        resource_tag = {"aws:ResourceTag/ml-cicd:project": project_name}
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ManageOwnHostingResources",
            actions=["sagemaker:DeleteModel", "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteEndpoint",
                     "sagemaker:UpdateEndpoint", "sagemaker:DeleteTags"],
            resources=[arn("model", "*"), arn("endpoint-config", "*"), *[arn("endpoint", name) for name in stack_names]],
            conditions={"StringEquals": resource_tag},
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DescribeHostingResources",
            actions=["sagemaker:DescribeModel", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeEndpoint"],
            resources=[arn("model", "*"), arn("endpoint-config", "*"), *[arn("endpoint", name) for name in stack_names]],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ServeRegisteredPackages",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[model_package_arn_pattern],
        ))
        execution_role.grant_pass_role(self.role)
        key.grant(self.role, "kms:CreateGrant", "kms:DescribeKey")
        self.role.add_to_policy(iam.PolicyStatement(
            sid="RollbackAlarms",
            actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
            resources=[stack.format_arn(service="cloudwatch", resource="alarm", resource_name=f"{name}-*",
                                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME) for name in stack_names],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="EndpointAutoscaling",
            actions=["application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
                     "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy",
                     "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"],
            resources=["*"],
        ))
        skip_checkov(self.role.node.find_child("DefaultPolicy"), {
            "CKV_AWS_111": "Only EndpointAutoscaling is unconstrained: registering a new scalable target has no ARN "
                           "before it exists (its ARN carries a service-generated id) and the actions offer no condition "
                           "key on the endpoint; every other write is scoped to the project's resources or tags.",
        })
        self.role.add_to_policy(iam.PolicyStatement(
            sid="AutoscalingServiceLinkedRole",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
                       "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"],
            conditions={"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
        ))
        cdk.Validations.of(self.role).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Application Auto Scaling actions have no resource-level permissions.",
            ),
        )
