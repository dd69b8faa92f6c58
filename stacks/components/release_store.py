"""The release bucket: what the gates judged and production runs, written only by the platform's own steps.

Release data (every release's training code, data channels and
`model.tar.gz`, the evaluation output, the gates' decision records and
production's captured data) lives here, apart from the CodePipeline artifact
store, whose objects the Build stage (the commit's own tests and installs)
must be able to write. This bucket is:

* versioned, KMS-encrypted with the project key, TLS-only, never public;
* written only by the writers the stack names (the Train role, the gate
  functions and the two SageMaker roles): its policy denies every other
  principal `s3:PutObject`, whatever that principal's own IAM policy says,
  and holds each SageMaker role to its own prefixes (`confine_writes`);
* never emptied by anyone: object deletions (`s3:DeleteObject`,
  `s3:DeleteObjectVersion`) are denied to every principal except the
  break-glass role `<project>-release-break-glass` (not created by this app;
  an administrator creates it when a release must be erased, and CloudTrail
  records its use). An overwrite by a named writer keeps the previous version
  for the retention period (versioning), and the chain of custody
  (`function_kit/custody.py`) refuses a deploy whose files changed.

No S3 Object Lock: "the Content-MD5 or x-amz-sdk-checksum-algorithm header is
required for any request to upload an object with a retention period
configured using Amazon S3 Object Lock" (S3 API reference, PutObject), and
SageMaker does not document that its training-output and data-capture
uploads send one; a default retention could make those writes fail.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.artifact_store import project_bucket
from stacks.components.nag_acknowledgements import KMS_USE, S3_READ, acknowledge, logical_id

__all__ = ["DELETE_ACTIONS", "WRITE_ACTIONS", "ReleaseStore", "break_glass_role_name", "deny_deletes"]

# What no build, function or job may do to release data.
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
# What only the named writers may do, each under its own prefixes.
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:RestoreObject",
)


def break_glass_role_name(project_name: str) -> str:
    """The one role name the release bucket lets delete (an administrator creates it only when needed)."""
    return f"{project_name}-release-break-glass"


def deny_deletes(bucket: s3.IBucket, *, sid: str, break_glass_arn: str) -> None:
    """Deny deleting any object or object version of `bucket` to every principal but the break-glass role.

    "Explicit denies in [...] resource-based policies [...] override allows" (IAM User Guide, "Policy evaluation
    logic"): the CDK grants that give a role `s3:DeleteObject*` on the bucket no longer let it erase anything.
    Lifecycle expiration is S3's own action, not a principal's request, so the retention rules still apply.
    """
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(DELETE_ACTIONS),
            resources=[bucket.arn_for_objects("*")],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": break_glass_arn}},
        )
    )


class ReleaseStore(Construct):
    """A versioned, KMS-encrypted, TLS-only bucket only the platform's named writers may write, nobody may empty."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project_name: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
        retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.break_glass_arn = f"arn:{stack.partition}:iam::{stack.account}:role/{break_glass_role_name(project_name)}"
        self.bucket = project_bucket(
            self,
            "Bucket",
            key=key,
            access_logs=access_logs,
            log_prefix="releases/",
            lifecycle_id="expire-replaced-release-data",
            retention_days=retention_days,
        )
        deny_deletes(self.bucket, sid="DenyDeletingReleaseData", break_glass_arn=self.break_glass_arn)

    def restrict_writes_to(self, writers: list[iam.IRole], *, other_writer_arns: list[str] | None = None) -> None:
        """Deny `s3:PutObject` (and tagging, retention, legal holds) to every principal but `writers`.

        `other_writer_arns`: roles of other accounts (a target account's production execution role writes
        captured data)."""
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyWritesButThePlatformsOwnSteps",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(WRITE_ACTIONS),
                resources=[self.bucket.arn_for_objects("*")],
                conditions={
                    "ArnNotEquals": {
                        "aws:PrincipalArn": [role.role_arn for role in writers]
                        + list(other_writer_arns or [])
                        + [self.break_glass_arn]
                    }
                },
            )
        )

    def confine_writes(self, sid: str, role: iam.IRole, *prefixes: str) -> None:
        """Deny `role` every write outside `prefixes`, whatever its own IAM policy grants (now or later).

        For the SageMaker roles: the jobs' role writes the jobs' outputs, the endpoints' role captured data.
        An explicit deny in a resource-based policy overrides any allow ("Policy evaluation logic", IAM User Guide).
        """
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(WRITE_ACTIONS),
                not_resources=[self.bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
                conditions={"ArnEquals": {"aws:PrincipalArn": role.role_arn}},
            )
        )

    def grant_write(self, role: iam.IRole, *prefixes: str) -> None:
        """Read everything, put (never delete) under `prefixes`."""
        self.bucket.grant_read(role)
        for prefix in prefixes:
            self.bucket.grant_put(role, f"{prefix}*")
        arn = f"<{logical_id(self.bucket)}.Arn>"
        acknowledge(
            role,
            actions=[*S3_READ, *KMS_USE, *(["Action::s3:Abort*"] if prefixes else [])],
            resources={
                f"{arn}/*": "Reads objects of the project's release bucket.",
                **{
                    f"{arn}/{prefix}*": f"Puts (never deletes) release data under {prefix} of the release bucket."
                    for prefix in prefixes
                },
            },
        )
