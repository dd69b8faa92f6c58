"""One SageMaker endpoint: the model under release, its configuration and its guardrails.

The same class is deployed twice by the release pipeline (never by `cdk
deploy`): staging (serverless by default) and production (instances, canary
traffic shifting with automatic rollback on alarms, autoscaling, data
capture). The template has no file assets and no bootstrap-version rule, so a
CloudFormation deploy action can deploy it from the pipeline's artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from contracts.release_record import MODEL_PACKAGE_ARN_PATTERN
from release_tools.instance_types import has_local_storage
from stacks.components.checkov_skips import skip_checkov
from stacks.components.rollback_alarms import RollbackAlarms

__all__ = ["EndpointProps", "EndpointStack", "VARIANT_NAME"]

# A new endpoint configuration must keep the variant name, so it never changes.
VARIANT_NAME = "AllTraffic"


@dataclass(frozen=True, kw_only=True)
class EndpointProps:
    """What differs between the staging and the production endpoint."""

    stage: str
    serverless: bool
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    # Production guardrails; None turns the feature off (staging).
    traffic_routing: str | None = None  # "canary" or "linear"
    canary_size_percent: int = 10
    linear_step_percent: int = 25
    wait_minutes: int = 10
    min_capacity: int | None = None
    max_capacity: int | None = None
    target_invocations_per_instance: int = 300
    data_capture_sampling_percent: int | None = None
    p99_latency_alarm_ms: int = 500
    # The bake: SageMaker keeps the old fleet this long after all traffic has shifted, rollback alarms armed.
    termination_wait_seconds: int = 0
    deployment_timeout_seconds: int = 3600


class EndpointStack(cdk.Stack):
    """Model + EndpointConfig + Endpoint for one stage, named after the deployed stack."""

    def __init__(self, scope: Construct, construct_id: str, *, props: EndpointProps, **kwargs: object) -> None:
        super().__init__(
            scope,
            construct_id,
            synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            **kwargs,  # type: ignore[arg-type]
        )
        self.props = props
        if props.serverless and props.traffic_routing:
            raise ValueError("serverless endpoints support no blue/green traffic shifting")
        self._parameters()
        cdk.Tags.of(self).add("ml-cicd:stage", props.stage)
        self.model = self._model()
        self.endpoint_config = self._endpoint_config()
        # The endpoint's name is its stack's name: generated per deployment, never a
        # literal, and known to the alarms below without a dependency cycle.
        endpoint_name = cdk.Aws.STACK_NAME
        self.alarms = (
            RollbackAlarms(
                self,
                "RollbackAlarms",
                endpoint_name=endpoint_name,
                variant_name=VARIANT_NAME,
                p99_latency_alarm_ms=props.p99_latency_alarm_ms,
            ).alarms
            if props.traffic_routing
            else []
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=self._deployment_config() if props.traffic_routing else None,
            tags=self._project_tags(),
        )
        if props.min_capacity is not None and props.max_capacity is not None and not props.serverless:
            self._autoscaling(endpoint_name)
        for name, value, description in (
            ("EndpointName", self.endpoint.attr_endpoint_name, "Name of the SageMaker endpoint."),
            ("EndpointConfigName", self.endpoint_config.attr_endpoint_config_name, "The endpoint configuration in service."),
            ("ModelName", self.model.attr_model_name, "The SageMaker model behind the endpoint."),
            ("ServedModelPackageArn", self.model_package_arn.value_as_string, "The model package (version) being served."),
        ):
            cdk.CfnOutput(self, name, value=value, description=description)

    def _parameters(self) -> None:
        """What the pipeline's deploy action passes: the package, the execution role, the key, the project."""
        self.model_package_arn = cdk.CfnParameter(
            self,
            "ModelPackageArn",
            type="String",
            allowed_pattern=MODEL_PACKAGE_ARN_PATTERN.pattern,
            description="The registered model package (version) this endpoint serves.",
        )
        self.execution_role_arn = cdk.CfnParameter(
            self,
            "ExecutionRoleArn",
            type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
            description="The SageMaker execution role the model runs with (from the pipeline stack).",
        )
        self.kms_key_arn = cdk.CfnParameter(
            self,
            "KmsKeyArn",
            type="String",
            allowed_pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$",
            description="The KMS key for endpoint storage and captured data (from the pipeline stack).",
        )
        self.project_tag = cdk.CfnParameter(
            self,
            "Project",
            type="String",
            allowed_pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$",
            description="The ml-cicd project name, used in tags.",
        )

    def _project_tags(self) -> list[cdk.CfnTag]:
        return [cdk.CfnTag(key="ml-cicd:project", value=self.project_tag.value_as_string)]

    def _model(self) -> sagemaker.CfnModel:
        serverless = self.props.serverless
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.execution_role_arn.value_as_string,
            # One model package is one container: `PrimaryContainer`. `Containers` would
            # define an inference pipeline, which serverless inference does not support.
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=self.model_package_arn.value_as_string,
            ),
            # Serverless inference does not support network isolation.
            enable_network_isolation=not serverless,
            tags=self._project_tags(),
        )
        if serverless:
            skip_checkov(
                model,
                {"CKV_AWS_370": "Serverless inference does not support network isolation; the production endpoint enables it."},
            )
        return model

    def _variant(self) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        p = self.props
        capacity: dict[str, object] = (
            {
                "serverless_config": sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=p.serverless_memory_mb,
                    max_concurrency=p.serverless_max_concurrency,
                )
            }
            if p.serverless
            else {"instance_type": p.instance_type, "initial_instance_count": p.instance_count}
        )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=self.model.attr_model_name,
            initial_variant_weight=1,
            **capacity,  # type: ignore[arg-type]
        )

    def _data_capture(self) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None:
        if self.props.data_capture_sampling_percent is None:
            return None
        data_capture_uri = cdk.CfnParameter(
            self,
            "DataCaptureS3Uri",
            type="String",
            allowed_pattern=r"^s3://.+$",
            description="Where captured requests and responses are written (KMS-encrypted).",
        )
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=self.props.data_capture_sampling_percent,
            destination_s3_uri=data_capture_uri.value_as_string,
            kms_key_id=self.kms_key_arn.value_as_string,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
            ],
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                csv_content_types=["text/csv"],
                json_content_types=["application/json"],
            ),
        )

    def _endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        p = self.props
        variant, data_capture = self._variant(), self._data_capture()
        # CreateEndpointConfig refuses KmsKeyId on instance types with local (NVMe) storage,
        # whose volumes the hardware encrypts (release_tools/instance_types.py quotes the API).
        local_storage = not p.serverless and has_local_storage(p.instance_type)
        config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[variant],
            kms_key_id=None if local_storage else self.kms_key_arn.value_as_string,
            data_capture_config=data_capture,
            tags=self._project_tags(),
        )
        if local_storage:
            self._explain_local_storage(config, with_data_capture=data_capture is not None)
        return config

    def _explain_local_storage(self, config: sagemaker.CfnEndpointConfig, *, with_data_capture: bool) -> None:
        skip_checkov(
            config,
            {
                "CKV_AWS_98": (
                    f"{self.props.instance_type} has local NVMe storage, encrypted by a hardware module on the instance; "
                    "SageMaker refuses a KmsKeyId for it (CreateEndpointConfig API reference)."
                )
            },
        )
        if not with_data_capture:
            # The pipeline passes KmsKeyArn to every endpoint stack; here nothing uses it.
            reason = (
                "KmsKeyArn is passed by the pipeline to both endpoint stacks; a local-storage endpoint "
                "without data capture has no storage that accepts a KMS key."
            )
            cdk.Validations.of(self).acknowledge(cdk.Acknowledgment(id="CloudFormation-Validate::W2001", reason=reason))
            # cfn-lint reads its ignores from the template's Metadata (parameters carry none).
            self.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W2001"]}, "reason": reason})

    # -- production guardrails -------------------------------------------------

    def _deployment_config(self) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
        p = self.props
        wait_seconds = p.wait_minutes * 60
        if p.traffic_routing == "canary":
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="CANARY",
                canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=p.canary_size_percent),
                wait_interval_in_seconds=wait_seconds,
            )
        else:
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="LINEAR",
                linear_step_size=sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=p.linear_step_percent),
                wait_interval_in_seconds=wait_seconds,
            )
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=routing,
                # SageMaker: "Additional waiting time in seconds after the completion of an endpoint deployment
                # before terminating the old endpoint fleet"; the auto-rollback alarms stay armed meanwhile.
                termination_wait_in_seconds=p.termination_wait_seconds,
                # Covers provisioning, every traffic step and the bake (stacks/config.py checks it, max 28,800 s).
                maximum_execution_timeout_in_seconds=p.deployment_timeout_seconds,
            ),
            auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.ref) for alarm in self.alarms],
            ),
        )

    def _autoscaling(self, endpoint_name: str) -> None:
        p = self.props
        target = appscaling.CfnScalableTarget(
            self,
            "ScalableTarget",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=cdk.Fn.join("", ["endpoint/", endpoint_name, f"/variant/{VARIANT_NAME}"]),
            min_capacity=p.min_capacity or 1,
            max_capacity=p.max_capacity or 1,
            # No RoleARN: Application Auto Scaling uses its service-linked role.
        )
        target.node.add_dependency(self.endpoint)
        appscaling.CfnScalingPolicy(
            self,
            "InvocationsScalingPolicy",
            policy_name="invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.ref,
            target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=p.target_invocations_per_instance,
                predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance",
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
        )
