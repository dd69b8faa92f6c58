"""Resolve a synthesized CloudFormation template into concrete names and ARNs, and collect a role's policy.

The permission checks judge requests against the policies as IAM would see
them once deployed: `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`
and `Fn::Split` are resolved for one account and region; a resource without an
explicit name gets a deterministic one (CloudFormation generates one too). A
reference this module cannot resolve raises, so nothing is judged on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TemplateWorld", "Account"]


@dataclass(frozen=True)
class Account:
    """Where the stack is deployed."""

    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    stack_name: str = "ml-cicd-pipeline"


# Properties that carry a resource's explicit physical name.
_NAME_PROPERTIES = (
    "BucketName",
    "RoleName",
    "FunctionName",
    "RepositoryName",
    "ModelPackageGroupName",
    "Name",
    "LogGroupName",
    "AlarmName",
    "TopicName",
    "ManagedPolicyName",
    "EndpointName",
)

_ArnFormat = Callable[[Account, str], str]
# How each resource type's ARN is formed from its physical name (IAM Service Authorization Reference formats).
_ARNS: dict[str, _ArnFormat] = {
    "AWS::S3::Bucket": lambda a, n: f"arn:{a.partition}:s3:::{n}",
    "AWS::KMS::Key": lambda a, n: f"arn:{a.partition}:kms:{a.region}:{a.account}:key/{n}",
    "AWS::IAM::Role": lambda a, n: f"arn:{a.partition}:iam::{a.account}:role/{n}",
    "AWS::IAM::ManagedPolicy": lambda a, n: f"arn:{a.partition}:iam::{a.account}:policy/{n}",
    "AWS::Lambda::Function": lambda a, n: f"arn:{a.partition}:lambda:{a.region}:{a.account}:function:{n}",
    "AWS::CodeBuild::Project": lambda a, n: f"arn:{a.partition}:codebuild:{a.region}:{a.account}:project/{n}",
    "AWS::CodeCommit::Repository": lambda a, n: f"arn:{a.partition}:codecommit:{a.region}:{a.account}:{n}",
    "AWS::SageMaker::ModelPackageGroup": lambda a, n: (
        f"arn:{a.partition}:sagemaker:{a.region}:{a.account}:model-package-group/{n}"
    ),
    "AWS::SNS::Topic": lambda a, n: f"arn:{a.partition}:sns:{a.region}:{a.account}:{n}",
    "AWS::Logs::LogGroup": lambda a, n: f"arn:{a.partition}:logs:{a.region}:{a.account}:log-group:{n}:*",
    "AWS::CloudWatch::Alarm": lambda a, n: f"arn:{a.partition}:cloudwatch:{a.region}:{a.account}:alarm:{n}",
    "AWS::CloudWatch::CompositeAlarm": lambda a, n: f"arn:{a.partition}:cloudwatch:{a.region}:{a.account}:alarm:{n}",
    "AWS::CodePipeline::Pipeline": lambda a, n: f"arn:{a.partition}:codepipeline:{a.region}:{a.account}:{n}",
    "AWS::ECR::Repository": lambda a, n: f"arn:{a.partition}:ecr:{a.region}:{a.account}:repository/{n}",
    "AWS::Events::Rule": lambda a, n: f"arn:{a.partition}:events:{a.region}:{a.account}:rule/{n}",
    # The connection's id is a UUID CodeConnections generates; the generated name stands in for it.
    "AWS::CodeConnections::Connection": lambda a, n: f"arn:{a.partition}:codeconnections:{a.region}:{a.account}:connection/{n}",
}
# Resource types whose `Ref` is their ARN rather than their name.
_REF_IS_ARN = {"AWS::SNS::Topic", "AWS::IAM::ManagedPolicy"}


@dataclass
class TemplateWorld:
    """One template, resolved for one account; `names` overrides the physical name of chosen resources."""

    template: Mapping[str, Any]
    where: Account = field(default_factory=Account)
    names: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.template.get("Resources", {})

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self.names:
            return self.names[logical_id]
        properties = self.resources[logical_id].get("Properties", {})
        for key in _NAME_PROPERTIES:
            if isinstance(properties.get(key), (str, dict)) and key in properties:
                resolved = self.resolve(properties[key])
                if isinstance(resolved, str):
                    return resolved
        # CloudFormation's generated names: stack name, logical id, a random suffix (lowercase for S3).
        name = f"{self.where.stack_name}-{logical_id}-GENERATED"
        return name.lower() if self.resources[logical_id]["Type"] == "AWS::S3::Bucket" else name

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        if kind not in _ARNS:
            raise KeyError(f"no ARN format for {kind} ({logical_id}): add it to _ARNS")
        return _ARNS[kind](self.where, self.physical_name(logical_id))

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::AccountId": self.where.account,
            "AWS::Region": self.where.region,
            "AWS::Partition": self.where.partition,
            "AWS::URLSuffix": self.where.url_suffix,
            "AWS::StackName": self.where.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise KeyError(f"cannot resolve Ref {name}")
        kind = self.resources[name]["Type"]
        return self.arn(name) if kind in _REF_IS_ARN else self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute in ("Arn", "ModelPackageGroupArn", "TopicArn", "PolicyArn", "ConnectionArn"):
            return self.arn(logical_id)
        if attribute in ("Name", "ModelName", "EndpointConfigName", "EndpointName"):
            return self.physical_name(logical_id)
        raise KeyError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute}")

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in `value` (recursively)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {k: self.resolve(v) for k, v in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(p)) for p in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if function == "Fn::Sub":
            return self._sub(argument)
        raise KeyError(f"cannot resolve {function}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, text)

    # -- policies -------------------------------------------------------------

    def role_statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        """Every identity-policy statement attached to a role, resolved: inline, AWS::IAM::Policy, managed."""
        return [self.resolve(statement) for statement in self._raw_role_statements(role_logical_id)]

    def _raw_role_statements(self, role_logical_id: str) -> Iterator[dict[str, Any]]:
        role = self.resources[role_logical_id]
        for inline in role.get("Properties", {}).get("Policies", []):
            yield from _statements(inline["PolicyDocument"])
        for resource in self.resources.values():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            properties = resource["Properties"]
            if {"Ref": role_logical_id} in properties.get("Roles", []):
                yield from _statements(properties["PolicyDocument"])

    def role_of(self, logical_id: str) -> str:
        """The role a function or build project runs with (its `Role` / `ServiceRole`)."""
        properties = self.resources[logical_id]["Properties"]
        reference = properties.get("Role") or properties.get("ServiceRole")
        if isinstance(reference, dict) and "Fn::GetAtt" in reference:
            return str(reference["Fn::GetAtt"][0])
        raise KeyError(f"{logical_id} names no role of this template")


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return list(statements) if isinstance(statements, list) else [statements]
