"""Read-only access to the release stores a torn-down deployment kept (`retained_release_stores`).

`make destroy` keeps the buckets (DeletionPolicy Retain) and `make adopt` brings
the model registry back, so after a redeploy the registry's champion still has
its `ModelDataUrl` in the old bucket, encrypted with the old key. The Train
stage's evaluation job reads it (an `S3Prefix` processing input: SageMaker lists
the prefix, then gets the objects), and a rollback serves it again. The new
roles get exactly that: list and get on the named buckets, and `kms:Decrypt` on
the named keys only when S3 calls KMS for them. "To download an object
encrypted with an AWS KMS key, the requester must have kms:Decrypt permission"
(Amazon S3 User Guide, "Using server-side encryption with AWS KMS keys"); the
old key's policy lets the account's IAM policies grant it (CDK's default key
policy: the account root may use the key).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from stacks.components.nag_acknowledgements import acknowledge, arn_as_nag_prints
from stacks.config import RetainedReleaseStore

__all__ = ["grant_read_retained_release_stores"]


def grant_read_retained_release_stores(stores: Sequence[RetainedReleaseStore], *roles: iam.IRole) -> None:
    """Let each of `roles` list and read the objects of each kept bucket and decrypt them (through S3 only)."""
    if not stores:
        return
    for role in roles:
        _grant_read(role, stores)


def _grant_read(role: iam.IRole, stores: Sequence[RetainedReleaseStore]) -> None:
    """The three statements on one role, and the acknowledgement of its one wildcard per bucket (`<bucket>/*`)."""
    stack = cdk.Stack.of(role)
    buckets = sorted({store.bucket for store in stores})
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ListRetainedReleaseStores",
            actions=["s3:ListBucket"],
            resources=[f"arn:{stack.partition}:s3:::{bucket}" for bucket in buckets],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadRetainedReleaseStores",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[f"arn:{stack.partition}:s3:::{bucket}/*" for bucket in buckets],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DecryptRetainedReleaseStores",
            actions=["kms:Decrypt"],
            resources=sorted({store.kms_key_arn for store in stores}),
            conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"}},
        )
    )
    partition_prefix = arn_as_nag_prints(role).split(":{service}")[0]  # "arn:<AWS::Partition>" or "arn:aws"
    acknowledge(
        role,
        resources={
            f"{partition_prefix}:s3:::{bucket}/*": "Objects of a release bucket an earlier deployment of this project kept "
            "(retained_release_stores): read only, for the adopted registry's models."
            for bucket in buckets
        },
    )
