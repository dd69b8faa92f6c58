"""SageMaker resources the rehearsal creates in the sandbox (moto), as the pipeline's stages would.

- The model package group, with the stored champion registered as its
  Approved package (as production's model is) and the challenger as
  PendingManualApproval (as the Train stage registers it).
- The staging and production endpoints: a model built from the challenger's
  package, an endpoint config with the `AllTraffic` variant, and the
  endpoint, as the endpoint stack deploys them, so the gates' "does the
  endpoint serve the release's package" check reads real (faked) state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rehearsal.aws_sandbox import ACCOUNT_ID, REGION

__all__ = [
    "MODEL_PACKAGE_GROUP",
    "DeployedEndpoint",
    "create_model_package_group",
    "deploy_endpoint",
    "register_model_package",
    "serving_image_uri",
]

MODEL_PACKAGE_GROUP = "rehearsal-models"
VARIANT_NAME = "AllTraffic"
_EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/rehearsal-sagemaker-execution"


@dataclass(frozen=True)
class DeployedEndpoint:
    """The names of a faked endpoint's resources."""

    endpoint_name: str
    endpoint_config_name: str
    model_name: str


def serving_image_uri() -> str:
    """The scikit-learn container image the pipeline registers (same resolver as the Train stage)."""
    from rehearsal.pipeline_code import import_release_tool

    resolve = import_release_tool("image_uri", "sklearn_image_uri", "the pipeline's image resolver")
    return str(resolve(REGION))


def create_model_package_group(sagemaker: Any) -> str:
    """Create the group; return its name."""
    sagemaker.create_model_package_group(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelPackageGroupDescription="Local release rehearsal",
    )
    return MODEL_PACKAGE_GROUP


def register_model_package(
    sagemaker: Any, *, model_data_url: str, image_uri: str, approval_status: str, description: str
) -> str:
    """Register a version in the group; return its ARN."""
    response = sagemaker.create_model_package(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelPackageDescription=description,
        ModelApprovalStatus=approval_status,
        InferenceSpecification={
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        },
    )
    return str(response["ModelPackageArn"])


def deploy_endpoint(sagemaker: Any, *, stage: str, model_package_arn: str, run_id: str) -> DeployedEndpoint:
    """Model -> endpoint config -> endpoint serving `model_package_arn`, for `stage` (staging, production)."""
    names = DeployedEndpoint(
        endpoint_name=f"rehearsal-{stage}-{run_id}",
        endpoint_config_name=f"rehearsal-{stage}-config-{run_id}",
        model_name=f"rehearsal-{stage}-model-{run_id}",
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
