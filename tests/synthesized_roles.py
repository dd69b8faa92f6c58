"""The roles of the synthesized pipeline and what each deploys or runs, resolved for one account.

A deploy action of the cross-account layout (README "Accounts") names a target account's deploy role by ARN: that
role's statements come from the stage's target stack, resolved for the target account, and what the role does
with the pipeline account's key and model packages must also be allowed by their resource policies there
("Cross-account policy evaluation logic", IAM user guide: the identity policy in the trusted account and the
resource-based policy in the trusting account must both allow the request).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tests.cfn_template_world import Account, TemplateWorld

__all__ = ["Deployment", "deployments", "pipeline_world", "MODEL_PACKAGE_VERSION"]

ACCOUNT = Account()
MODEL_PACKAGE_VERSION = 3


def pipeline_world(pipeline: Mapping[str, Any], names: Mapping[str, str] | None = None) -> TemplateWorld:
    return TemplateWorld(pipeline, ACCOUNT, names=names or {})


@dataclass(frozen=True)
class Deployment:
    """One endpoint template as a CloudFormation deploy action deploys it, and the role it deploys with.

    `role_arn` and `resource_policy` are set for a target account's deploy role: a request on a resource of the
    pipeline account must be allowed by that resource's policy too (`resource_policy`: the statements of the
    pipeline account's key and model package group policies that name the role's account, resolved).
    """

    name: str
    world: TemplateWorld
    statements: list[dict[str, Any]]
    role_arn: str = ""
    resource_policy: list[dict[str, Any]] = field(default_factory=list)

    def renamed(self, name: str) -> Deployment:
        return replace(self, name=name)


def _deploy_actions(pipeline: Mapping[str, Any]) -> list[dict[str, Any]]:
    (resource,) = [r for r in pipeline["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    return [
        a
        for stage in resource["Properties"]["Stages"]
        for a in stage["Actions"]
        if a["ActionTypeId"]["Provider"] == "CloudFormation"
    ]


def _account_of(pipeline: Mapping[str, Any]) -> Account:
    """Where the pipeline stack is deployed: the account and region its environment pins, else the default."""
    for resource in pipeline["Resources"].values():
        if resource["Type"] == "AWS::SageMaker::ModelPackageGroup" and "ModelPackageGroupPolicy" in resource["Properties"]:
            statement = resource["Properties"]["ModelPackageGroupPolicy"]["Statement"][0]
            _, _, _, region, account, _ = str(TemplateWorld(pipeline, ACCOUNT).resolve(statement["Resource"])).split(":", 5)
            return replace(ACCOUNT, account=account, region=region)
    return ACCOUNT


def deployments(
    pipeline: Mapping[str, Any],
    templates: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Deployment]:
    """Each endpoint template with the parameters and role its pipeline action deploys it with.

    `targets`: the target stacks' templates by stage (`staging-target` ...), for a cross-account pipeline.
    """
    where = _account_of(pipeline)
    world = TemplateWorld(pipeline, where)
    (group,) = [
        world.physical_name(k) for k, r in pipeline["Resources"].items() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
    ]
    out = []
    for action in _deploy_actions(pipeline):
        configuration = action["Configuration"]
        stage = configuration["TemplatePath"].split("/")[-1].split(".")[0]
        parameters = json.loads(world.resolve(configuration["ParameterOverrides"]))
        parameters["ModelPackageArn"] = (
            f"arn:{where.partition}:sagemaker:{where.region}:{where.account}:model-package/{group}/{MODEL_PACKAGE_VERSION}"
        )
        role = configuration["RoleArn"]
        if isinstance(role, str):  # a target account's deploy role, by ARN
            out.append(_cross_account(stage, role, configuration, parameters, templates[stage], world, (targets or {})[stage]))
            continue
        endpoint_world = TemplateWorld(
            templates[stage], replace(where, stack_name=configuration["StackName"]), parameters=parameters
        )
        out.append(Deployment(stage, endpoint_world, world.role_statements(role["Fn::GetAtt"][0])))
    return out


def _cross_account(
    stage: str,
    role_arn: str,
    configuration: Mapping[str, Any],
    parameters: Mapping[str, str],
    template: Mapping[str, Any],
    pipeline: TemplateWorld,
    target: Mapping[str, Any],
) -> Deployment:
    account = role_arn.split(":")[4]
    target_parameters = {
        "ArtifactBucketName": pipeline.physical_name(_logical_id(pipeline, "AWS::S3::Bucket", "ArtifactStoreBucket")),
        "ReleaseBucketName": pipeline.physical_name(_logical_id(pipeline, "AWS::S3::Bucket", "ReleaseStoreBucket")),
        "ArtifactKeyArn": parameters["KmsKeyArn"],
    }
    here = replace(pipeline.where, account=account)
    target_world = TemplateWorld(target, replace(here, stack_name=f"{stage}-target"), parameters=target_parameters)
    name = role_arn.split(":role/", 1)[1]
    (role,) = [
        k for k, r in target_world.resources.items() if r["Type"] == "AWS::IAM::Role" and r["Properties"]["RoleName"] == name
    ]
    endpoint_world = TemplateWorld(template, replace(here, stack_name=configuration["StackName"]), parameters=parameters)
    return Deployment(stage, endpoint_world, target_world.role_statements(role), role_arn, _resource_policy(pipeline, account))


def _logical_id(world: TemplateWorld, kind: str, prefix: str) -> str:
    (found,) = [k for k, r in world.resources.items() if r["Type"] == kind and k.startswith(prefix)]
    return found


def _resource_policy(pipeline: TemplateWorld, account: str) -> list[dict[str, Any]]:
    """The key policy's and the model package group policy's statements that name `account` as principal."""
    out = []
    for logical_id, resource in pipeline.resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::KMS::Key":
            # A key policy's `Resource: *` means the key itself.
            statements = [{**s, "Resource": pipeline.arn(logical_id)} for s in props["KeyPolicy"]["Statement"]]
        elif kind == "AWS::SageMaker::ModelPackageGroup" and "ModelPackageGroupPolicy" in props:
            statements = list(props["ModelPackageGroupPolicy"]["Statement"])
        else:
            continue
        resolved = [pipeline.resolve(s) for s in statements]
        out += [s for s in resolved if f":iam::{account}:" in json.dumps(s.get("Principal", {}))]
    return out
