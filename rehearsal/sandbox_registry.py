"""SageMaker state the rehearsal needs in the sandbox (moto), made with the pipeline's own code.

- The model package group. The stored champion is registered with the Train
  stage's `release_tools.model_registry.register_model` and approved, as the
  Promote stage leaves production's package; the champion is then looked up
  with the Train stage's `find_champion`, and the challenger registered with
  `register_model` (PendingManualApproval), exactly as in AWS.
- The staging and production endpoints: a model built from the challenger's
  package, an endpoint config with the `AllTraffic` variant, and the
  endpoint, as the endpoint stack deploys them, so the gates' "does the
  endpoint serve the release's package" check reads real (faked) state.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from rehearsal.aws_sandbox import ACCOUNT_ID, ARTIFACT_BUCKET, ARTIFACT_KEY_ARN, REGION
from rehearsal.pipeline_code import import_release_tool

__all__ = [
    "MODEL_PACKAGE_GROUP",
    "DeployedEndpoint",
    "deploy_endpoint",
    "find_champion",
    "register_package",
    "train_settings",
]

PROJECT_NAME = "rehearsal"
MODEL_PACKAGE_GROUP = f"{PROJECT_NAME}-models"
VARIANT_NAME = "AllTraffic"
_EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/rehearsal-sagemaker-execution"
_KMS_KEY = ARTIFACT_KEY_ARN


@dataclass(frozen=True)
class DeployedEndpoint:
    """The names of a faked endpoint's resources."""

    endpoint_name: str
    endpoint_config_name: str
    model_name: str


def train_settings() -> Any:
    """The Train stage's `TrainSettings`, with the sandbox's names in place of the CDK app's."""
    settings_class = import_release_tool("settings", "TrainSettings", "the Train stage's settings")
    return settings_class(
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
    registration_class = import_release_tool("model_registry", "Registration", "the Train stage's registry code")
    register_model = import_release_tool("model_registry", "register_model", "the Train stage's registry code")
    image_uri = import_release_tool("image_uri", "sklearn_image_uri", "the pipeline's image resolver")(REGION)
    registration = registration_class(
        image_uri=image_uri,
        model_data_url=model_data_url,
        evaluation_uri=evaluation_uri,
        source_revision=source_revision,
        data_sha256=data_sha256,
        training_job_name=training_job_name,
    )
    return str(register_model(sagemaker, train_settings(), registration))


def find_champion(sagemaker: Any) -> Any:
    """The Train stage's champion look-up (latest Approved package), or `None`."""
    lookup = import_release_tool("model_registry", "find_champion", "the Train stage's registry code")
    return lookup(sagemaker, MODEL_PACKAGE_GROUP)


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
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=names.endpoint_name, EndpointConfigName=names.endpoint_config_name)
    return names
