"""The ``CreateTrainingJob`` request for the model project, in script mode.

Under network isolation the container cannot fetch its code from S3 itself,
so (as the SageMaker SDK does) the source tarball is passed as an input
channel named ``code`` and ``sagemaker_submit_directory`` points at its local
path. Hyperparameter values are JSON-encoded strings, which is how the
scikit-learn container expects them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .instance_types import volume_kms_key
from .release_layout import ReleaseLayout
from .settings import TrainSettings

__all__ = ["CODE_CHANNEL_SOURCEDIR", "TrainingRun", "release_tags", "training_job_request"]

CODE_CHANNEL_SOURCEDIR = "/opt/ml/input/data/code/sourcedir.tar.gz"
VOLUME_SIZE_GB = 10


@dataclass(frozen=True, kw_only=True)
class TrainingRun:
    """What varies between runs."""

    layout: ReleaseLayout
    image_uri: str
    source_revision: str
    hyperparameters: dict[str, Any]
    # The repository's own image (SageMaker's container contract: its `train` entry point, no script mode).
    custom_image: bool = False


def release_tags(settings: TrainSettings, source_revision: str) -> list[dict[str, str]]:
    """Tags on every job and package of a release."""
    return [
        {"Key": "project", "Value": settings.project_name},
        {"Key": "source-revision", "Value": source_revision},
    ]


def _channel(name: str, uri: str, content_type: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}},
        "ContentType": content_type,
        "InputMode": "File",
    }


def training_job_request(settings: TrainSettings, run: TrainingRun) -> dict[str, Any]:
    """Keyword arguments for ``sagemaker.create_training_job``."""
    layout = run.layout
    hyperparameters = {str(key): json.dumps(value) for key, value in run.hyperparameters.items()}
    if not run.custom_image:
        hyperparameters.update(
            {
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps(CODE_CHANNEL_SOURCEDIR),
                "sagemaker_region": json.dumps(settings.region),
                "sagemaker_container_log_level": "20",
            }
        )
    channels = [
        _channel("train", layout.data_channel("train"), "text/csv"),
        _channel("validation", layout.data_channel("validation"), "text/csv"),
    ]
    if not run.custom_image:  # script mode: the container fetches the code from its own channel
        channels.append(_channel("code", layout.source_tarball, "application/x-tar"))
    max_seconds = settings.timeout_minutes * 60
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": max_seconds}
    if settings.use_spot_training:
        stopping["MaxWaitTimeInSeconds"] = max_seconds
    return {
        "TrainingJobName": layout.training_job_name,
        "HyperParameters": hyperparameters,
        "AlgorithmSpecification": {"TrainingImage": run.image_uri, "TrainingInputMode": "File"},
        "RoleArn": settings.role_arn,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": layout.training_output, "KmsKeyId": settings.kms_key_arn},
        "ResourceConfig": {
            "InstanceType": settings.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": VOLUME_SIZE_GB,
            # Refused on local-storage (NVMe) types, whose volumes the hardware encrypts.
            **volume_kms_key(settings.training_instance_type, settings.kms_key_arn),
        },
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "EnableManagedSpotTraining": settings.use_spot_training,
        "Tags": release_tags(settings, run.source_revision),
    }
