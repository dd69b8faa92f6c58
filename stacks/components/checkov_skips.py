"""checkov skips, written where checkov reads them: the `Metadata` of the resource concerned.

A skip is one check id and a comment a reviewer would accept; it is placed
on the one CloudFormation resource the check fails on, never globally.
`LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION` holds the reasons shared by every
function that CodePipeline or CloudFormation invokes (gates and custom
resources).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from constructs import IConstruct

__all__ = ["LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION", "skip_checkov"]

LAMBDA_WITHOUT_QUEUE_VPC_OR_RESERVATION: Mapping[str, str] = {
    "CKV_AWS_116": "No dead-letter queue: the invocation event carries short-lived credentials (CodePipeline "
    "artifactCredentials, CloudFormation response URL) that a queue would store; the function answers "
    "its caller on every path and retries are off.",
    "CKV_AWS_117": "No VPC: the function calls only AWS APIs over TLS with IAM and reaches no private resource; a VPC "
    "would add NAT or endpoints without reducing exposure.",
    "CKV_AWS_115": "No reserved concurrency: invoked once per pipeline action or stack operation; a reservation fails "
    "deployment in accounts with the default low concurrency quota.",
}


def skip_checkov(construct: IConstruct, skips: Mapping[str, str]) -> None:
    """Add checkov skips (check id -> justification) to the metadata of `construct`'s CloudFormation resource."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to carry checkov skips")
    existing = resource.get_metadata("checkov") or {}
    listed = list(existing.get("skip", []))
    listed += [{"id": check_id, "comment": comment} for check_id, comment in skips.items()]
    resource.add_metadata("checkov", {**existing, "skip": listed})
