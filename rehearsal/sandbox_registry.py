"""SageMaker state the rehearsal needs in the sandbox (moto), made with the pipeline's own code.

- The Train stage's settings (`train_settings`) with the sandbox's names, and
  the endpoint templates archive they name (`put_endpoint_templates`).
- The model package group. The stored champion is registered with the Train
  stage's `release_tools.model_registry.register_model` and approved, as the
  Promote stage leaves production's package; `train_and_register` then looks
  the champion up and registers the challenger (PendingManualApproval) in this
  registry with its own code, exactly as in AWS.
- The staging and production endpoints: a model built from the challenger's
  package, an endpoint config with the `AllTraffic` variant, and the
  endpoint, as the endpoint stack deploys them, so the gates' "does the
  endpoint serve the release's package" check reads real (faked) state.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

from rehearsal.aws_sandbox import ACCOUNT_ID, ARTIFACT_BUCKET, ARTIFACT_KEY_ARN, REGION, zip_files
from release_tools.image_uri import sklearn_image_uri
from release_tools.model_registry import Registration, register_model
from release_tools.s3_objects import split_s3_uri
from release_tools.settings import TrainSettings
from release_tools.train_output import ENDPOINT_STAGES

__all__ = [
    "MODEL_PACKAGE_GROUP",
    "DeployedEndpoint",
    "deploy_endpoint",
    "put_endpoint_templates",
    "register_package",
    "train_settings",
]

PROJECT_NAME = "rehearsal"
MODEL_PACKAGE_GROUP = f"{PROJECT_NAME}-models"
VARIANT_NAME = "AllTraffic"
INSTANCE_TYPE = "ml.m5.large"
_EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/rehearsal-sagemaker-execution"
_KMS_KEY = ARTIFACT_KEY_ARN


@dataclass(frozen=True)
class DeployedEndpoint:
    """The names of a faked endpoint's resources."""

    endpoint_name: str
    endpoint_config_name: str
    model_name: str


def train_settings() -> TrainSettings:
    """The Train stage's `TrainSettings`, with the sandbox's names in place of the CDK app's."""
    return TrainSettings(
        region=REGION,
        project_name=PROJECT_NAME,
        artifact_bucket=ARTIFACT_BUCKET,
        kms_key_arn=_KMS_KEY,
        role_arn=_EXECUTION_ROLE,
        model_package_group_name=MODEL_PACKAGE_GROUP,
        endpoint_templates_s3_uri=f"s3://{ARTIFACT_BUCKET}/endpoint-templates.zip",
    )


def register_package(
    sagemaker: Any,
    *,
    model_data_url: str,
    evaluation_uri: str,
    source_revision: str,
    training_job_name: str,
    data_sha256: str,
) -> str:
    """Register a package as the Train stage does (`register_model`); return its ARN."""
    registration = Registration(
        image_uri=sklearn_image_uri(REGION),
        model_data_url=model_data_url,
        evaluation_uri=evaluation_uri,
        source_revision=source_revision,
        data_sha256=data_sha256,
        training_job_name=training_job_name,
    )
    return str(register_model(sagemaker, train_settings(), registration))


def _endpoint_template(stage: str) -> dict[str, Any]:
    """The endpoint `deploy_endpoint` registers, as a CloudFormation template (never deployed: see below)."""
    return {
        "Description": f"ml-cicd rehearsal: the {stage} endpoint as the rehearsal registers it in its sandbox "
        "(rehearsal/sandbox_registry.py deploy_endpoint); not the endpoint stack, which make synth builds",
        "Parameters": {"ModelPackageArn": {"Type": "String"}},
        "Resources": {
            "Model": {
                "Type": "AWS::SageMaker::Model",
                "Properties": {
                    "ExecutionRoleArn": _EXECUTION_ROLE,
                    "PrimaryContainer": {"ModelPackageName": {"Ref": "ModelPackageArn"}},
                },
            },
            "EndpointConfig": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {
                            "VariantName": VARIANT_NAME,
                            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                            "InstanceType": INSTANCE_TYPE,
                            "InitialInstanceCount": 1,
                        }
                    ]
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointName": f"{PROJECT_NAME}-{stage}-endpoint",
                    "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]},
                },
            },
        },
    }


def put_endpoint_templates(s3: Any, settings: TrainSettings) -> None:
    """The archive `ENDPOINT_TEMPLATES_S3_URI` names in the pipeline, at the sandbox settings' URI.

    The rehearsal registers its endpoints directly (`deploy_endpoint`) instead of deploying the endpoint
    stack with CloudFormation, so the templates it puts in `TrainOutput/endpoint/` describe those
    endpoints; the configuration files next to them are the Train stage's own.
    """
    bucket, key = split_s3_uri(settings.endpoint_templates_s3_uri)
    templates = {
        f"{stage}.template.json": (json.dumps(_endpoint_template(stage), indent=1) + "\n").encode() for stage in ENDPOINT_STAGES
    }
    s3.put_object(Bucket=bucket, Key=key, Body=zip_files(templates))


def _generated_name(logical_id: str) -> str:
    """A name as CloudFormation generates one for a resource without a name: `<LogicalId>-<12 characters>`."""
    alphabet = string.ascii_letters + string.digits
    return f"{logical_id}-{''.join(secrets.choice(alphabet) for _ in range(12))}"


def deploy_endpoint(sagemaker: Any, *, stage: str, model_package_arn: str, run_id: str) -> DeployedEndpoint:
    """Model -> endpoint config -> endpoint serving `model_package_arn`, for `stage` (staging, production).

    Named as the endpoint stack names them in AWS: the endpoint after its stack
    (`<project>-<stage>-endpoint`), the model and config by CloudFormation. `run_id` is not part of a name.
    """
    names = DeployedEndpoint(
        endpoint_name=f"{PROJECT_NAME}-{stage}-endpoint",
        endpoint_config_name=_generated_name("EndpointConfig"),
        model_name=_generated_name("Model"),
    )
    sagemaker.create_model(
        ModelName=names.model_name,
        ExecutionRoleArn=_EXECUTION_ROLE,
        PrimaryContainer={"ModelPackageName": model_package_arn},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=names.endpoint_config_name,
        ProductionVariants=[
            {
                "VariantName": VARIANT_NAME,
                "ModelName": names.model_name,
                "InstanceType": INSTANCE_TYPE,
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=names.endpoint_name, EndpointConfigName=names.endpoint_config_name)
    return names
