"""Bare stacks for construct tests: one construct, explicit props, `aws_cdk.assertions` matchers.

In the style of the CDK testing examples: a construct is built in a plain
`cdk.Stack` of its own app (the app's feature flags from cdk.json, no
`ml-cicd` configuration, no cdk-nag, no CloudFormation validation plugin) and
its template is asserted with `Template`, `Match` and `Capture`. The
whole-app checks stay on the one session synthesis (`synthesis_fixtures.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from stacks.components.artifact_store import ArtifactStore
from stacks.components.model_registry import ModelRegistry
from stacks.components.release_store import ReleaseStore
from tests.synthesis_fixtures import cdk_json_context

__all__ = ["ProjectResources", "bare_stack", "policy_of", "project_resources", "statement"]


def bare_stack(*, env: cdk.Environment | None = None) -> cdk.Stack:
    """A stack of its own app: cdk.json's feature flags only, no validation plugins."""
    flags = {key: value for key, value in cdk_json_context().items() if key != "ml-cicd"}
    app = cdk.App(context={**flags, "@aws-cdk/core:validationReportJson": False}, builtin_cloud_formation_validation=False)
    return cdk.Stack(app, "Test", env=env)


@dataclass(frozen=True)
class ProjectResources:
    """What most components are wired to: the key, the artifact bucket, the release store, the registry."""

    store: ArtifactStore
    release: ReleaseStore
    registry: ModelRegistry
    retention: logs.RetentionDays = logs.RetentionDays.ONE_WEEK


def project_resources(stack: cdk.Stack, *, project_name: str = "fraud") -> ProjectResources:
    store = ArtifactStore(stack, "ArtifactStore", project_name=project_name, retention_days=30)
    release = ReleaseStore(
        stack, "ReleaseStore", project_name=project_name, key=store.key, access_logs=store.access_logs, retention_days=30
    )
    registry = ModelRegistry(stack, "ModelRegistry", group_name=f"{project_name}-models", description="test group")
    return ProjectResources(store=store, release=release, registry=registry)


def policy_of(template: Template, stack: cdk.Stack, role: Any) -> list[dict[str, Any]]:
    """The statements of `role`'s default policy in `template`."""
    role_id = stack.resolve(stack.get_logical_id(role.node.default_child))
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    assert len(policies) == 1, f"{role_id} has {len(policies)} default policies"
    (policy,) = policies.values()
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def statement(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    """The one statement with this Sid."""
    found = [s for s in statements if s.get("Sid") == sid]
    assert len(found) == 1, f"{len(found)} statements named {sid}"
    return found[0]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    """Every action the statements allow."""
    found: set[str] = set()
    for s in statements:
        if s.get("Effect") == "Allow":
            found.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return found


# Re-exported for the construct tests.
__all__ += ["Match", "actions_of"]
