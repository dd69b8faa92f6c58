"""The role CloudFormation assumes to deploy the endpoint stacks: SageMaker hosting only.

What it grants is what the CloudFormation resource handlers of the endpoint
templates call (their registry schemas' `handlers.*.permissions`, checked by
`tests/test_handler_permissions.py`), scoped to this project's resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.components.nag_acknowledgements import acknowledge, acknowledge_generated_hosting_names, arn_as_nag_prints
from stacks.components.rollback_alarms import alarm_arn_as_nag_prints, alarm_arn_pattern
from stacks.components.sagemaker_execution_role import grant_pass_to_sagemaker

__all__ = ["AUTOSCALING_SERVICE_NAME", "AWS_RESOURCE_GRANTS_ONLY", "EndpointDeployRole", "EndpointDeployRoleProps"]

# Application Auto Scaling acts on SageMaker variants through this service-linked role.
AUTOSCALING_SERVICE_NAME = "sagemaker.application-autoscaling.amazonaws.com"
# kms:CreateGrant only when an AWS service asks on the principal's behalf: "kms:GrantIsForAWSResource ... Allows
# principals to call CreateGrant ... only when an AWS service that is integrated with AWS KMS sends the request on
# the principal's behalf" (KMS developer guide, "Controlling access to grants"). SageMaker creates the grants for
# the endpoint's storage and captured data this way; the role itself cannot hand the key out.
AWS_RESOURCE_GRANTS_ONLY = {"Bool": {"kms:GrantIsForAWSResource": "true"}}


@dataclass(frozen=True, kw_only=True)
class EndpointDeployRoleProps:
    """The endpoint stacks the role deploys, the roles and key they use, and where their model packages are."""

    project_name: str
    stack_names: Sequence[str]
    execution_role: iam.IRole
    key: kms.IKey
    model_package_group_name: str
    # The registry's account: the pipeline account, when this is a target account's deploy role.
    registry_account: str | None = None
    # A target account's deploy role (stacks/target_account_stack.py): its deterministic name, and who assumes it.
    role_name: str | None = None
    assumed_by: iam.IPrincipal | None = None


class EndpointDeployRole(Construct):
    """May create, update and delete this project's models, endpoint configs, endpoints, alarms and autoscaling."""

    def __init__(self, scope: Construct, construct_id: str, *, props: EndpointDeployRoleProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        self.stack_names = list(p.stack_names)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=p.assumed_by or iam.ServicePrincipal("cloudformation.amazonaws.com"),
            role_name=p.role_name,
            description=f"CloudFormation deploys the {p.project_name} endpoint stacks with this role",
        )
        self._grant_hosting(p.project_name)
        self.model_package_arn_pattern = cdk.Stack.of(self).format_arn(
            service="sagemaker",
            resource="model-package",
            resource_name=f"{p.model_package_group_name}/*",
            account=p.registry_account,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ServeRegisteredPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[self.model_package_arn_pattern],
            )
        )
        acknowledge(
            self.role,
            resources={
                arn_as_nag_prints(self, account=p.registry_account).format(
                    service="sagemaker", resource=f"model-package/{p.model_package_group_name}/*"
                ): "Versions of the project's model package group only."
            },
        )
        grant_pass_to_sagemaker(p.execution_role, self.role)
        self._grant_key(p)
        self._grant_alarms()
        self._grant_autoscaling()
        self._grant_scaling_variants()

    def _grant_key(self, p: EndpointDeployRoleProps) -> None:
        if p.registry_account is None:  # single account: unchanged since before cross-account support
            p.key.grant(self.role, "kms:CreateGrant", "kms:DescribeKey")
            return
        # A target account's deploy role: the pipeline account's key, grants for SageMaker only (as its key policy).
        self.role.add_to_policy(
            iam.PolicyStatement(sid="DescribeTheArtifactKey", actions=["kms:DescribeKey"], resources=[p.key.key_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="LetSageMakerGrantOnTheArtifactKey",
                actions=["kms:CreateGrant"],
                resources=[p.key.key_arn],
                conditions=AWS_RESOURCE_GRANTS_ONLY,
            )
        )

    def _arn(self, service: str, resource: str, name: str, *, colon: bool = False) -> str:
        return cdk.Stack.of(self).format_arn(
            service=service,
            resource=resource,
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME if colon else cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )

    @property
    def _endpoints(self) -> list[str]:
        return [self._arn("sagemaker", "endpoint", name) for name in self.stack_names]

    def _grant_hosting(self, project_name: str) -> None:
        hosting = [self._arn("sagemaker", "model", "*"), self._arn("sagemaker", "endpoint-config", "*"), *self._endpoints]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateTaggedHostingResources",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:AddTags",
                ],
                resources=hosting,
                conditions={"StringEquals": {"aws:RequestTag/ml-cicd:project": project_name}},
            )
        )
        # An update re-tags the resources it keeps (the stack tags of the template configuration change
        # every release) with a tag diff that need not carry the project tag: re-tagging is allowed on
        # resources that already carry it (the SageMaker reference lists aws:ResourceTag for AddTags).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageOwnHostingResources",
                actions=[
                    "sagemaker:DeleteModel",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:AddTags",
                    "sagemaker:DeleteTags",
                ],
                resources=hosting,
                conditions={"StringEquals": {"aws:ResourceTag/ml-cicd:project": project_name}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeHostingResources",
                actions=[
                    "sagemaker:DescribeModel",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:ListTags",
                ],
                resources=hosting,
            )
        )
        acknowledge_generated_hosting_names(self.role, what_it_does="creation and changes require the ml-cicd:project tag")

    def _grant_alarms(self) -> None:
        # CloudFormation names the stacks' alarms `<stack name>-<logical id>-<suffix>`; Application Auto
        # Scaling names its target-tracking alarms `TargetTracking-<resource id>-Alarm{High,Low}-<uuid>`.
        alarms = [alarm_arn_pattern(self, name) for name in self.stack_names]
        alarms += [
            self._arn("cloudwatch", "alarm", f"TargetTracking-endpoint/{name}/variant/*", colon=True) for name in self.stack_names
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointAlarms",
                actions=[
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                    "cloudwatch:ListTagsForResource",
                ],
                resources=alarms,
            )
        )
        region = arn_as_nag_prints(self)
        for name in self.stack_names:
            acknowledge(
                self.role,
                resources={
                    alarm_arn_as_nag_prints(
                        self, name
                    ): "Alarms of the endpoint stack; CloudFormation prefixes their names with the stack name.",
                    region.format(
                        service="cloudwatch", resource=f"alarm:TargetTracking-endpoint/{name}/variant/*"
                    ): "Target-tracking alarms Application Auto Scaling creates for this endpoint's variant.",
                },
            )

    def _grant_autoscaling(self) -> None:
        # Scalable target ARNs end in a service-generated id, unknown before registration: this account's
        # and region's targets, limited to SageMaker variants by the service's own condition keys.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointAutoscaling",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                ],
                resources=[self._arn("application-autoscaling", "scalable-target", "*")],
                conditions={
                    "StringEquals": {
                        "application-autoscaling:service-namespace": "sagemaker",
                        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
                    }
                },
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TagScalableTargets",
                actions=[
                    "application-autoscaling:TagResource",
                    "application-autoscaling:UntagResource",
                    "application-autoscaling:ListTagsForResource",
                ],
                resources=[self._arn("application-autoscaling", "scalable-target", "*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeAutoscaling",
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "application-autoscaling:DescribeScheduledActions",
                    "cloudwatch:GetMetricData",
                ],
                resources=["*"],
            )
        )
        cdk.Validations.of(self.role).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Application Auto Scaling describe calls and cloudwatch:GetMetricData have no resource-level "
                "permissions (IAM reference); they only read.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::"
                + arn_as_nag_prints(self).format(service="application-autoscaling", resource="scalable-target/*")
                + "]",
                reason="Scalable target ids are generated by the service at registration; limited to this account and "
                "region, and registration and policies to SageMaker variants by condition.",
            ),
        )

    def _grant_scaling_variants(self) -> None:
        """What Application Auto Scaling does with the caller's permissions, and its service-linked role."""
        stack = cdk.Stack.of(self)
        # What Application Auto Scaling calls on a SageMaker variant with the caller's permissions
        # ("Identity-based policy examples for Application Auto Scaling": DescribeEndpoint,
        # DescribeEndpointConfig, UpdateEndpointWeightsAndCapacities, plus the target-tracking alarms above).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ScaleEndpointVariants",
                actions=["sagemaker:UpdateEndpointWeightsAndCapacities"],
                resources=self._endpoints,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/{AUTOSCALING_SERVICE_NAME}/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                ],
                conditions={"StringLike": {"iam:AWSServiceName": AUTOSCALING_SERVICE_NAME}},
            )
        )
