"""The endpoint stack: one class, staging and production differ by props."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import load_config
from stacks.endpoint_stack import EndpointStack
from stacks.endpoint_templates import endpoint_props
from tests.synthesis_fixtures import SynthesizedApp, cdk_json_config

# Values the templates carry from the configuration are read from it (cdk.json), never restated here.
CONFIG = cdk_json_config()
STAGING, PRODUCTION, CANARY = CONFIG.staging, CONFIG.production, CONFIG.canary


def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_template_is_deployable_by_a_pipeline_action(synthesized: SynthesizedApp, stage: str) -> None:
    template = synthesized.templates[stage]
    assert "BootstrapVersion" not in template.get("Parameters", {})
    assert "CheckBootstrapVersion" not in template.get("Rules", {})
    assert set(template["Parameters"]) >= {"ModelPackageArn", "ExecutionRoleArn", "KmsKeyArn", "Project"}
    assert set(template["Outputs"]) >= {"EndpointName", "EndpointConfigName", "ModelName", "ServedModelPackageArn"}
    # Generated names: only the endpoint is named, after its own stack.
    (endpoint,) = of_type(template, "AWS::SageMaker::Endpoint")
    assert endpoint["EndpointName"] == {"Ref": "AWS::StackName"}
    assert "ModelName" not in of_type(template, "AWS::SageMaker::Model")[0]
    assert "EndpointConfigName" not in of_type(template, "AWS::SageMaker::EndpointConfig")[0]


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_model_serves_the_registered_package_with_kms(synthesized: SynthesizedApp, stage: str) -> None:
    template = Template.from_json(synthesized.templates[stage])
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": {"Ref": "ModelPackageArn"}},
            "ExecutionRoleArn": {"Ref": "ExecutionRoleArn"},
        },
    )
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"KmsKeyId": {"Ref": "KmsKeyArn"}})


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_model_is_a_single_container_not_an_inference_pipeline(synthesized: SynthesizedApp, stage: str) -> None:
    """`Containers` defines an inference pipeline, which serverless inference excludes;
    a single model package goes in `PrimaryContainer`."""
    (model,) = of_type(synthesized.templates[stage], "AWS::SageMaker::Model")
    assert "Containers" not in model
    assert model["PrimaryContainer"] == {"ModelPackageName": {"Ref": "ModelPackageArn"}}


@pytest.mark.skipif(STAGING.mode != "serverless", reason="staging configured on instances")
def test_staging_is_serverless_by_default_and_free_when_idle(synthesized: SynthesizedApp) -> None:
    (config,) = of_type(synthesized.staging, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": STAGING.serverless_memory_mb,
        "MaxConcurrency": STAGING.serverless_max_concurrency,
    }
    assert "InstanceType" not in variant and variant["VariantName"] == "AllTraffic"
    assert "DeploymentConfig" not in of_type(synthesized.staging, "AWS::SageMaker::Endpoint")[0]


def test_production_is_network_isolated_instances(synthesized: SynthesizedApp) -> None:
    (model,) = of_type(synthesized.production, "AWS::SageMaker::Model")
    assert model["EnableNetworkIsolation"] is True
    (config,) = of_type(synthesized.production, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"], variant["VariantName"]) == (
        PRODUCTION.instance_type,
        PRODUCTION.instance_count,
        "AllTraffic",
    )


@pytest.mark.skipif(CANARY.traffic_routing != "canary", reason="linear traffic shifting configured")
def test_production_shifts_traffic_by_canary_and_rolls_back_on_alarms(synthesized: SynthesizedApp) -> None:
    template = Template.from_json(synthesized.production)
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": Match.object_like(
                    {
                        "TrafficRoutingConfiguration": {
                            "Type": "CANARY",
                            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": CANARY.size_percent},
                            "WaitIntervalInSeconds": CANARY.wait_minutes * 60,
                        },
                    }
                ),
                "AutoRollbackConfiguration": {"Alarms": Match.any_value()},
            },
        },
    )
    (endpoint,) = of_type(synthesized.production, "AWS::SageMaker::Endpoint")
    rollback_alarms = {a["AlarmName"]["Ref"] for a in endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]}
    # Which metrics, and why: tests/test_production_guardrails.py.
    assert len(rollback_alarms) == 2
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ModelLatency", "ExtendedStatistic": "p99", "Threshold": PRODUCTION.p99_latency_alarm_ms * 1000},
    )


def test_production_autoscales_with_target_tracking(synthesized: SynthesizedApp) -> None:
    template = Template.from_json(synthesized.production)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "MinCapacity": PRODUCTION.min_capacity,
            "MaxCapacity": PRODUCTION.max_capacity,
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                    "TargetValue": PRODUCTION.target_invocations_per_instance,
                }
            ),
        },
    )


def test_production_captures_data_with_kms(synthesized: SynthesizedApp) -> None:
    Template.from_json(synthesized.production).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "DataCaptureConfig": Match.object_like(
                {
                    "EnableCapture": True,
                    "InitialSamplingPercentage": PRODUCTION.data_capture_sampling_percent,
                    "KmsKeyId": {"Ref": "KmsKeyArn"},
                    "DestinationS3Uri": {"Ref": "DataCaptureS3Uri"},
                }
            ),
        },
    )


def test_linear_routing_and_instance_staging_come_from_props() -> None:
    """Same class, other props: no second app synthesis, one small stack each."""
    config = load_config(
        {
            "ml-cicd": {
                "staging": {"mode": "instances", "instance_type": "ml.c5.xlarge", "instance_count": 2},
                "canary": {"traffic_routing": "linear", "linear_step_percent": 25},
            }
        }
    )
    app = cdk.App(context={"@aws-cdk/core:validationReportJson": False})
    props = endpoint_props(config)
    staging_stack = EndpointStack(app, "Staging", props=props["staging"])
    production_stack = EndpointStack(app, "Production", props=props["production"])
    staging, production = Template.from_stack(staging_stack), Template.from_stack(production_stack)
    staging.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [Match.object_like({"InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 2})],
        },
    )
    production.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": Match.object_like(
                {
                    "BlueGreenUpdatePolicy": Match.object_like(
                        {
                            "TrafficRoutingConfiguration": Match.object_like(
                                {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}}
                            )
                        }
                    )
                }
            )
        },
    )
