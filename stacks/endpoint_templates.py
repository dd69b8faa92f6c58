"""The staging and production endpoint stacks, synthesized for the pipeline to deploy.

They live in a nested stage of the app, so `cdk deploy --all` never deploys
them directly (an endpoint without a model to serve makes no sense); the
pipeline's CloudFormation actions do, with the model under release.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

from stacks.config import AppConfig
from stacks.endpoint_stack import EndpointProps, EndpointStack

__all__ = ["EndpointTemplates", "endpoint_props"]


def endpoint_props(config: AppConfig) -> dict[str, EndpointProps]:
    """The two instances of the endpoint stack: staging and production."""
    s, prod, canary = config.staging, config.production, config.canary
    return {
        "staging": EndpointProps(
            stage="staging",
            serverless=s.mode == "serverless",
            serverless_memory_mb=s.serverless_memory_mb,
            serverless_max_concurrency=s.serverless_max_concurrency,
            instance_type=s.instance_type,
            instance_count=s.instance_count,
        ),
        "production": EndpointProps(
            stage="production",
            serverless=False,
            instance_type=prod.instance_type,
            instance_count=prod.instance_count,
            traffic_routing=canary.traffic_routing,
            canary_size_percent=canary.size_percent,
            linear_step_percent=canary.linear_step_percent,
            wait_minutes=canary.wait_minutes,
            min_capacity=prod.min_capacity,
            max_capacity=prod.max_capacity,
            target_invocations_per_instance=prod.target_invocations_per_instance,
            data_capture_sampling_percent=prod.data_capture_sampling_percent,
            p99_latency_alarm_ms=prod.p99_latency_alarm_ms,
            termination_wait_seconds=canary.bake_minutes * 60,
            deployment_timeout_seconds=canary.deployment_timeout_seconds,
        ),
    }


class EndpointTemplates(cdk.Stage):
    """A nested stage holding one EndpointStack per release stage."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.stacks: dict[str, EndpointStack] = {}
        for stage, props in endpoint_props(config).items():
            env = config.staging_env if stage == "staging" else config.production_env
            self.stacks[stage] = EndpointStack(
                self,
                "Staging" if stage == "staging" else "Production",
                props=props,
                stack_name=f"{config.project_name}-{stage}-endpoint",
                description=f"{config.project_name}: the {stage} SageMaker endpoint (deployed by the release pipeline)",
                env=cdk.Environment(account=env.account, region=env.region),
            )

    def write_templates(self, directory: Path) -> Path:
        """Synthesize the stage and copy its templates to `<directory>/<stage>.template.json`."""
        assembly = self.synth()
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for stage, stack in self.stacks.items():
            artifact = assembly.get_stack_artifact(stack.artifact_id)
            if artifact.assets:
                raise ValueError(f"the {stage} endpoint template must not have file assets")
            shutil.copyfile(artifact.template_full_path, directory / f"{stage}.template.json")
        return directory
