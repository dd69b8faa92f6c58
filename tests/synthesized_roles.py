"""The roles of the synthesized pipeline and what each deploys or runs, resolved for one account."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from tests.cfn_template_world import Account, TemplateWorld

__all__ = ["Deployment", "deployments", "pipeline_world", "MODEL_PACKAGE_VERSION"]

ACCOUNT = Account()
MODEL_PACKAGE_VERSION = 3


def pipeline_world(pipeline: Mapping[str, Any], names: Mapping[str, str] | None = None) -> TemplateWorld:
    return TemplateWorld(pipeline, ACCOUNT, names=names or {})


@dataclass(frozen=True)
class Deployment:
    """One endpoint template as a CloudFormation deploy action deploys it, and the role it deploys with."""

    name: str
    world: TemplateWorld
    statements: list[dict[str, Any]]

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


def deployments(pipeline: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]]) -> list[Deployment]:
    """Each endpoint template with the parameters and role its pipeline action deploys it with."""
    world = pipeline_world(pipeline)
    (group,) = [
        world.physical_name(k) for k, r in pipeline["Resources"].items() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
    ]
    out = []
    for action in _deploy_actions(pipeline):
        configuration = action["Configuration"]
        stage = configuration["TemplatePath"].split("/")[-1].split(".")[0]
        parameters = json.loads(world.resolve(configuration["ParameterOverrides"]))
        parameters["ModelPackageArn"] = (
            f"arn:{ACCOUNT.partition}:sagemaker:{ACCOUNT.region}:{ACCOUNT.account}:model-package/{group}/{MODEL_PACKAGE_VERSION}"
        )
        role = configuration["RoleArn"]["Fn::GetAtt"][0]
        endpoint_world = TemplateWorld(
            templates[stage], replace(ACCOUNT, stack_name=configuration["StackName"]), parameters=parameters
        )
        out.append(Deployment(stage, endpoint_world, world.role_statements(role)))
    return out
