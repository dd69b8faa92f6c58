"""The SageMaker Model Registry group where every trained model is registered."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

__all__ = ["ModelRegistry"]


class ModelRegistry(Construct):
    """A model package group; its latest Approved package is the production champion."""

    def __init__(self, scope: Construct, construct_id: str, *, group_name: str, description: str) -> None:
        super().__init__(scope, construct_id)
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=group_name,
            model_package_group_description=description,
        )
        self.group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.group_name = group_name
        stack = cdk.Stack.of(self)
        self.group_arn = self.group.attr_model_package_group_arn
        # Versions of the group: arn:...:model-package/<group>/<version>.
        self.package_arn_pattern = stack.format_arn(
            service="sagemaker",
            resource="model-package",
            resource_name=f"{group_name}/*",
        )

    def grant_list_packages(self, grantee: iam.IGrantable) -> None:
        """Allow listing the group's packages, as AWS authorises a list call.

        ListModelPackages is a List-level action whose only resource type in the IAM
        Service Authorization Reference (`model-package`) is optional, with no condition
        key: the request names no package (the group is a filter parameter), so the
        only grant that covers every form of the request is `Resource: *`. It lists
        package summaries; describing or changing a package stays scoped to the group.
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListModelPackages",
                actions=["sagemaker:ListModelPackages"],
                resources=["*"],
            )
        )
        if isinstance(grantee, iam.Role):
            cdk.Validations.of(grantee).acknowledge(
                cdk.Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="sagemaker:ListModelPackages authorises on * (its model-package resource type is optional in the "
                    "IAM reference and the request names no package); other actions on * are each allow-listed "
                    "in tests/test_security_iam.py against the IAM reference.",
                )
            )
