"""The model registry side of a release: find the champion, register the challenger.

The champion is the most recent ``Approved`` package of the group (the
pipeline's Promote step approves a package once it serves production). A new
package is registered ``PendingManualApproval`` with everything a reviewer
and the later stages need: the image and model data, the serving
environment, the evaluation report as its model-quality statistics, the
commit it was built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts.champion import Champion
from contracts.model_package_metadata import customer_metadata

from .errors import ReleaseToolError
from .image_uri import SKLEARN_FRAMEWORK_VERSION
from .model_package import SERVING_ENVIRONMENT
from .settings import TrainSettings
from .training_job import release_tags

__all__ = ["Registration", "count_holdout_uses", "find_champion", "model_package_request", "register_model"]

CONTENT_TYPES = ["text/csv", "application/json"]


@dataclass(frozen=True, kw_only=True)
class Registration:
    """What the new package records."""

    image_uri: str
    model_data_url: str
    evaluation_uri: str
    source_revision: str
    data_sha256: str
    training_job_name: str
    custom_image: bool = False


def find_champion(sagemaker: Any, group_name: str) -> Champion | None:
    """The latest Approved package of ``group_name`` and its model data, or ``None``."""
    try:
        listing = sagemaker.list_model_packages(
            ModelPackageGroupName=group_name,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
        summaries = listing.get("ModelPackageSummaryList", [])
        if not summaries:
            return None
        arn = summaries[0]["ModelPackageArn"]
        description = sagemaker.describe_model_package(ModelPackageName=arn)
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"cannot look up the champion in model package group {group_name}: {exc}") from exc
    containers = description.get("InferenceSpecification", {}).get("Containers", [])
    if not containers or not containers[0].get("ModelDataUrl"):
        raise ReleaseToolError(f"champion {arn} has no ModelDataUrl in its inference specification")
    return Champion(model_package_arn=arn, model_data_url=containers[0]["ModelDataUrl"])


def _serving_container(settings: TrainSettings, registration: Registration) -> dict[str, Any]:
    """The package's one container: the scikit-learn image in script mode, or the repository's image by digest."""
    if registration.custom_image:
        return {
            "Image": registration.image_uri,
            "ModelDataUrl": registration.model_data_url,
            "Environment": {"SAGEMAKER_REGION": settings.region},
        }
    return {
        "Image": registration.image_uri,
        "ModelDataUrl": registration.model_data_url,
        "Environment": {**SERVING_ENVIRONMENT, "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": settings.region},
        "Framework": "SKLEARN",
        "FrameworkVersion": SKLEARN_FRAMEWORK_VERSION,
    }


def count_holdout_uses(sagemaker: Any, group_name: str, holdout_sha256: str) -> dict[str, Any]:
    """How many packages of the group were judged on this holdout (their ``data_sha256``), any status.

    Read with the same ``ListModelPackages``/``DescribeModelPackage`` calls (and
    permissions) as :func:`find_champion`; one describe per package, since the
    list does not return ``CustomerMetadataProperties``. The evaluation gate
    puts the count in its record and may cap it (``evaluation.max_holdout_reuse``).
    """
    count = 0
    try:
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group_name):
            for summary in page.get("ModelPackageSummaryList", []):
                described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                if described.get("CustomerMetadataProperties", {}).get("data_sha256") == holdout_sha256:
                    count += 1
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"cannot count the uses of the holdout in model package group {group_name}: {exc}") from exc
    return {"holdout_sha256": holdout_sha256, "earlier_candidates": count}


def model_package_request(settings: TrainSettings, registration: Registration) -> dict[str, Any]:
    """Keyword arguments for ``sagemaker.create_model_package``."""
    return {
        "ModelPackageGroupName": settings.model_package_group_name,
        "ModelPackageDescription": (
            f"{settings.project_name} at {registration.source_revision} (training job {registration.training_job_name})"
        )[:1024],
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [_serving_container(settings, registration)],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": registration.evaluation_uri},
            }
        },
        "CustomerMetadataProperties": customer_metadata(
            {
                "commit_id": registration.source_revision,
                "data_sha256": registration.data_sha256,
                "evaluation_uri": registration.evaluation_uri,
                "training_job_name": registration.training_job_name,
                "image": registration.image_uri,
            }
        ),
        "MetadataProperties": {"CommitId": registration.source_revision},
        "Tags": release_tags(settings, registration.source_revision),
    }


def register_model(sagemaker: Any, settings: TrainSettings, registration: Registration) -> str:
    """Create the package; return its ARN."""
    try:
        response = sagemaker.create_model_package(**model_package_request(settings, registration))
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(
            f"cannot register the model in model package group {settings.model_package_group_name}: {exc}"
        ) from exc
    return response["ModelPackageArn"]
