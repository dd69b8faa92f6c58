"""The SageMaker Model Registry group where every trained model is registered."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

__all__ = ["ModelRegistry"]


class ModelRegistry(Construct):
    """A model package group; its latest Approved package is the production champion."""

    def __init__(self, scope: Construct, construct_id: str, *, group_name: str, description: str) -> None:
        super().__init__(scope, construct_id)
        self.group = sagemaker.CfnModelPackageGroup(
            self, "Group",
            model_package_group_name=group_name,
            model_package_group_description=description,
        )
        self.group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.group_name = group_name
        stack = cdk.Stack.of(self)
        self.group_arn = self.group.attr_model_package_group_arn
        # Versions of the group: arn:...:model-package/<group>/<version>.
        self.package_arn_pattern = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{group_name}/*",
        )
