"""cdk-nag acknowledgements for the wildcards that CDK's own grant methods produce.

Each acknowledgement names one exact finding (`AwsSolutions-IAM5[...]`) and
is placed on the construct whose policy holds it. The reasons say why the
wildcard is bounded: a prefix action on one named resource, objects of one
bucket, versions of one function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aws_cdk as cdk
from constructs import IConstruct

__all__ = [
    "GRANT_ACTION_REASONS",
    "KMS_USE",
    "S3_READ",
    "acknowledge",
    "acknowledge_generated_hosting_names",
    "acknowledge_object_grant",
    "arn_as_nag_prints",
    "logical_id",
]

# Prefix wildcards written by CDK grants (grant_read, grant_read_write, grant_encrypt_decrypt, ...).
GRANT_ACTION_REASONS: Mapping[str, str] = {
    "Action::s3:GetObject*": "CDK grant_read: object read actions, on the project's artifact bucket only.",
    "Action::s3:GetBucket*": "CDK grant_read: bucket metadata reads, on the project's artifact bucket only.",
    "Action::s3:List*": "CDK grant_read: listing, on the project's artifact bucket only.",
    "Action::s3:Abort*": "CDK grant_write: aborting multipart uploads, on the project's artifact bucket only.",
    "Action::s3:DeleteObject*": "CDK grant_read_write: replacing artifacts, on the project's artifact bucket only.",
    "Action::kms:GenerateDataKey*": "CDK grant_encrypt: data keys of the project's own KMS key only.",
    "Action::kms:ReEncrypt*": "CDK grant_encrypt_decrypt: re-encryption with the project's own KMS key only.",
    "Action::cloudformation:DescribeStack*": "CDK CloudFormation action: describes the one endpoint stack it deploys.",
    "Action::cloudformation:GetTemplate*": "CDK CloudFormation action: reads the template of the one endpoint stack it deploys.",
}
# The prefix actions of CDK's bucket `grant_read` and of a KMS key's encrypt/decrypt grant.
S3_READ = ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*")
KMS_USE = ("Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")


def logical_id(element: IConstruct) -> str:
    """The resolved logical ID of a construct's CloudFormation resource (as cdk-nag prints it)."""
    resource = element if isinstance(element, cdk.CfnElement) else element.node.default_child
    assert isinstance(resource, cdk.CfnElement), f"{element.node.path} has no CloudFormation resource"
    stack = cdk.Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(resource)))


def arn_as_nag_prints(scope: IConstruct, *, account: str | None = None) -> str:
    """The ARN format `arn:{partition}:{service}:{region}:{account}:{resource}` as cdk-nag prints it for `scope`'s stack.

    A finding ID quotes the resolved policy: in an environment-agnostic stack the
    partition, region and account are pseudo parameters (`<AWS::Region>`); in a
    stack pinned to a region or account they are literals (`eu-west-1`, and the
    partition that region belongs to). Fill in `service` and `resource` with
    `str.format`; `account` replaces the stack's account (e.g. `*`).
    """
    stack = cdk.Stack.of(scope)

    def as_printed(value: str, pseudo: str) -> str:
        resolved = stack.resolve(value)
        return resolved if isinstance(resolved, str) else f"<{pseudo}>"

    partition = as_printed(stack.partition, "AWS::Partition")
    region = as_printed(stack.region, "AWS::Region")
    account = account or as_printed(stack.account, "AWS::AccountId")
    return f"arn:{partition}:{{service}}:{region}:{account}:{{resource}}"


def acknowledge(construct: IConstruct, *, actions: Iterable[str] = (), resources: Mapping[str, str] | None = None) -> None:
    """Acknowledge exact IAM5 findings on `construct`: CDK grant actions and named resource wildcards."""
    acknowledgments = [
        cdk.Acknowledgment(id=f"AwsSolutions-IAM5[{action}]", reason=GRANT_ACTION_REASONS[action]) for action in actions
    ]
    acknowledgments += [
        cdk.Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason)
        for resource, reason in (resources or {}).items()
    ]
    if acknowledgments:
        cdk.Validations.of(construct).acknowledge(*acknowledgments)


def acknowledge_object_grant(
    construct: IConstruct, bucket: IConstruct, *, reason: str, put: bool = False, delete: bool = False
) -> None:
    """Acknowledge what CDK's `grant_read` (`put`: `grant_put`, `delete`: `grant_read_write`) on `bucket` writes.

    The prefix actions on the bucket's objects, the key's prefix actions, and the bucket's objects (`<bucket>/*`).
    """
    actions = [
        *S3_READ,
        *KMS_USE,
        *(["Action::s3:Abort*"] if put or delete else []),
        *(["Action::s3:DeleteObject*"] if delete else []),
    ]
    acknowledge(construct, actions=actions, resources={f"<{logical_id(bucket)}.Arn>/*": reason})


def acknowledge_generated_hosting_names(construct: IConstruct, *, what_it_does: str) -> None:
    """Acknowledge `model/*` and `endpoint-config/*` of `construct`'s region and account: names CloudFormation generates.

    `what_it_does` completes the reason: what the role may do with them (e.g. "the function only describes them").
    """
    region = arn_as_nag_prints(construct)
    acknowledge(
        construct,
        resources={
            region.format(service="sagemaker", resource=f"{kind}/*"): f"CloudFormation generates {kind} names; {what_it_does}."
            for kind in ("model", "endpoint-config")
        },
    )
