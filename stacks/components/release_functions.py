"""The three functions the release pipeline invokes: the evaluation gate, the staging gate and the promotion.

Each is a `GateFunction` that grants itself what it reads and writes and
acknowledges, narrowly, the wildcards of those grants: every one reads the
artifact store (the `TrainOutput` artifact), writes its decision records
under `decision-records/` of the release bucket with the artifact key;
then each adds its own SageMaker permissions. The construct ids stay those
the stack always used (`EvaluationGate`, `StagingGate`, `Promote`), so the
resources keep their logical IDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.gate_function import GateFunction, GateFunctionProps
from stacks.components.image_repository import ImageRepository
from stacks.components.model_registry import ModelRegistry
from stacks.components.nag_acknowledgements import (
    acknowledge,
    acknowledge_generated_hosting_names,
    acknowledge_object_grant,
    arn_as_nag_prints,
)
from stacks.components.release_store import ReleaseStore
from stacks.service_limits import RECORD_PREFIX, floors_gate_environment, gate_environment

__all__ = [
    "EvaluationGate",
    "Promotion",
    "PromotionProps",
    "ReleaseFunctionProps",
    "StagingGate",
    "StagingGateProps",
]

_DESCRIBE_HOSTING = ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"]
_JUDGE_PACKAGE = ["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"]


@dataclass(frozen=True, kw_only=True)
class ReleaseFunctionProps:
    """What every release function shares: the project, its logs and key, what it reads and where it records."""

    project_name: str
    log_retention: logs.RetentionDays
    encryption_key: kms.IKey
    artifact_bucket: s3.IBucket
    release_store: ReleaseStore
    registry: ModelRegistry
    platform_floors_json: str


@dataclass(frozen=True, kw_only=True)
class StagingGateProps(ReleaseFunctionProps):
    """The staging endpoint's stack (its endpoint's name) and how long the live test may take."""

    endpoint_stack_name: str
    timeout_seconds: int
    probe_json: str


@dataclass(frozen=True, kw_only=True)
class PromotionProps(ReleaseFunctionProps):
    """The production endpoint's stack and the image repository whose champion image it tags."""

    endpoint_stack_name: str
    image_repository: ImageRepository


class _ReleaseFunction(GateFunction):
    """A release function: its folder, configuration and common grants (with their acknowledgements)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        props: ReleaseFunctionProps,
        environment: Mapping[str, str],
        timeout: cdk.Duration | None = None,
    ) -> None:
        function = GateFunctionProps(
            name=name,
            description=description,
            log_retention=props.log_retention,
            encryption_key=props.encryption_key,
            environment=environment,
        )
        super().__init__(scope, construct_id, props=function if timeout is None else replace(function, timeout=timeout))

    def _grant_release_data(self, props: ReleaseFunctionProps) -> None:
        """Read the artifact store, put decision records (never delete), use the artifact key."""
        props.artifact_bucket.grant_read(self.role, "*")
        props.release_store.grant_write(self.role, RECORD_PREFIX)
        props.encryption_key.grant_encrypt_decrypt(self.role)
        acknowledge_object_grant(self.role, props.artifact_bucket, reason="Objects of the project's own artifact bucket.")

    def _arn(self, resource: str, name: str) -> str:
        return cdk.Stack.of(self).format_arn(service="sagemaker", resource=resource, resource_name=name)

    def _grant_describe_hosting(self, sid: str, endpoint_stack_name: str, *extra_actions: str) -> None:
        """Describe the one endpoint (named after its stack) and the configs and models CloudFormation names."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=sid,
                actions=[*extra_actions, *_DESCRIBE_HOSTING],
                resources=[
                    self._arn("endpoint", endpoint_stack_name),
                    self._arn("endpoint-config", "*"),
                    self._arn("model", "*"),
                ],
            )
        )
        acknowledge_generated_hosting_names(self.role, what_it_does="the function only describes them")

    def _acknowledge_packages(self, registry: ModelRegistry) -> None:
        package = arn_as_nag_prints(self).format(service="sagemaker", resource=f"model-package/{registry.group_name}/*")
        acknowledge(self.role, resources={package: "Versions of this project's model package group only."})


class EvaluationGate(_ReleaseFunction):
    """Judges `evaluation.json` against the release policy and the platform floors; records the verdict on the package."""

    def __init__(self, scope: Construct, construct_id: str, *, props: ReleaseFunctionProps) -> None:
        p = props
        super().__init__(
            scope,
            construct_id,
            name="evaluation_gate",
            description=f"{p.project_name} evaluation gate: judges evaluation.json against the release policy and floors.",
            props=p,
            # Every file the deploy stages use and the model must be accounted for (lambdas/function_kit/custody.py).
            environment=floors_gate_environment(
                record_bucket=p.release_store.bucket.bucket_name,
                record_kms_key_arn=p.encryption_key.key_arn,
                platform_floors_json=p.platform_floors_json,
                chain_of_custody=True,
            ),
        )
        self._grant_release_data(p)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RecordVerdictOnModelPackage", actions=_JUDGE_PACKAGE, resources=[p.registry.package_arn_pattern]
            )
        )
        self._acknowledge_packages(p.registry)


class StagingGate(_ReleaseFunction):
    """Golden requests, latency and error rate on the live staging endpoint."""

    def __init__(self, scope: Construct, construct_id: str, *, props: StagingGateProps) -> None:
        p = props
        super().__init__(
            scope,
            construct_id,
            name="staging_gate",
            description=f"{p.project_name} staging gate: golden requests, latency and error rate on the live staging endpoint.",
            props=p,
            timeout=cdk.Duration.seconds(p.timeout_seconds),
            environment=floors_gate_environment(
                record_bucket=p.release_store.bucket.bucket_name,
                record_kms_key_arn=p.encryption_key.key_arn,
                platform_floors_json=p.platform_floors_json,
                staging_probe_json=p.probe_json,
            ),
        )
        self._grant_release_data(p)
        self._grant_describe_hosting("TestStagingEndpoint", p.endpoint_stack_name, "sagemaker:InvokeEndpoint")


class Promotion(_ReleaseFunction):
    """Checks custody before each deploy, verifies the production endpoint, then makes the model the champion."""

    def __init__(self, scope: Construct, construct_id: str, *, props: PromotionProps) -> None:
        p = props
        images = p.image_repository.repository
        super().__init__(
            scope,
            construct_id,
            name="promote",
            description=f"{p.project_name}: verifies the production endpoint, then makes the model the champion.",
            props=p,
            environment={
                **gate_environment(record_bucket=p.release_store.bucket.bucket_name, record_kms_key_arn=p.encryption_key.key_arn),
                "MODEL_PACKAGE_GROUP_NAME": p.registry.group_name,
                "MODEL_IMAGE_REPOSITORY_NAME": images.repository_name,
                "MODEL_IMAGE_REPOSITORY_URI": images.repository_uri,
            },
        )
        p.image_repository.grant_champion_tagging(self.role)
        self._grant_release_data(p)
        self._grant_describe_hosting("VerifyProductionEndpoint", p.endpoint_stack_name)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PromoteChampion", actions=_JUDGE_PACKAGE, resources=[p.registry.group_arn, p.registry.package_arn_pattern]
            )
        )
        p.registry.grant_list_packages(self.role)
        self._acknowledge_packages(p.registry)
