"""The pipeline's encryption key and artifact bucket, secure by default."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.checkov_skips import skip_checkov

__all__ = ["ArtifactStore", "project_bucket"]


def project_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    log_prefix: str,
    lifecycle_id: str,
    retention_days: int,
) -> s3.Bucket:
    """A versioned, KMS-encrypted (bucket key), TLS-only, private, access-logged bucket, retained on deletion.

    Replaced versions expire after `retention_days`; uploads without `aws:kms` are denied.
    """
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix,
        lifecycle_rules=[
            s3.LifecycleRule(
                id=lifecycle_id,
                noncurrent_version_expiration=cdk.Duration.days(retention_days),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            )
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    # Objects must be written with this bucket's KMS encryption, never unencrypted.
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyUnencryptedUploads",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects("*")],
            conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        )
    )
    return bucket


class ArtifactStore(Construct):
    """A customer-managed KMS key (rotated) and a versioned, TLS-only, KMS-encrypted bucket.

    The bucket holds pipeline artifacts, training and evaluation outputs,
    decision records and captured endpoint data; its server access logs go to
    a second bucket. Old artifact versions expire; data is retained on stack
    deletion.
    """

    def __init__(self, scope: Construct, construct_id: str, *, project_name: str, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{project_name}: encrypts pipeline artifacts, models, decision records and captured data",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts the project's log groups with this key; the key policy must name it
        # (AWS documents this statement), limited to log groups of this account and region.
        stack = cdk.Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                    }
                },
            )
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # Server access logging supports only SSE-S3 on the target bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(365),
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        skip_checkov(
            self.access_logs,
            {
                "CKV_AWS_18": "This bucket is the access-log target of the artifact bucket; "
                "logging it to itself would log its own log deliveries."
            },
        )
        self.bucket = project_bucket(
            self,
            "Bucket",
            key=self.key,
            access_logs=self.access_logs,
            log_prefix="artifacts/",
            lifecycle_id="expire-old-artifacts",
            retention_days=retention_days,
        )
