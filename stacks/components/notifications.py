"""The notification topic (KMS-encrypted) and an optional e-mail subscription."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

__all__ = ["ReleaseNotifications"]


class ReleaseNotifications(Construct):
    """Pipeline failures, gate verdicts, rollbacks and approvals are published here."""

    def __init__(self, scope: Construct, construct_id: str, *, project_name: str, key: kms.IKey, email: str | None) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{project_name} releases",
            master_key=key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        # EventBridge and CodeStar notifications publish to the encrypted topic.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToPublishEncrypted",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
