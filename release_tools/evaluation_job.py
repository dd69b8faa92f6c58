"""The ``CreateProcessingJob`` request that runs the project's ``evaluate.py``.

Same image as training, network isolation, KMS on the output and on the volume
(except on local-storage instance types, see ``instance_types``).
Inputs: the project's code, the challenger's ``model.tar.gz``, the holdout
(with its manifest) and, when there is one, the champion's ``model.tar.gz``.
Output: ``evaluation.json`` under the run's ``evaluation/`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.champion import Champion

from .instance_types import volume_kms_key
from .release_layout import ReleaseLayout
from .settings import TrainSettings
from .training_job import release_tags

__all__ = ["Champion", "EvaluationRun", "evaluation_job_request"]

_BASE = "/opt/ml/processing"
VOLUME_SIZE_GB = 10


@dataclass(frozen=True, kw_only=True)
class EvaluationRun:
    """What the evaluation of one challenger needs."""

    layout: ReleaseLayout
    image_uri: str
    source_revision: str
    model_data_url: str
    champion: Champion | None


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def evaluation_job_request(settings: TrainSettings, run: EvaluationRun) -> dict[str, Any]:
    """Keyword arguments for ``sagemaker.create_processing_job``."""
    layout = run.layout
    inputs = [
        _input("code", layout.evaluation_code, f"{_BASE}/input/code"),
        _input("model", run.model_data_url, f"{_BASE}/model"),
        _input("holdout", layout.data_channel("holdout"), f"{_BASE}/holdout"),
    ]
    arguments = [
        "--model", f"{_BASE}/model",
        "--holdout", f"{_BASE}/holdout",
        "--output-dir", f"{_BASE}/evaluation",
        "--model-data-url", run.model_data_url,
        "--source-revision", run.source_revision,
    ]  # fmt: skip
    if run.champion is not None:
        inputs.append(_input("champion", run.champion.model_data_url, f"{_BASE}/champion"))
        arguments += ["--champion-model", f"{_BASE}/champion", "--champion-arn", run.champion.model_package_arn]
    return {
        "ProcessingJobName": layout.evaluation_job_name,
        "RoleArn": settings.role_arn,
        "AppSpecification": {
            "ImageUri": run.image_uri,
            "ContainerEntrypoint": ["python3", f"{_BASE}/input/code/evaluate.py"],
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "evaluation",
                    "S3Output": {
                        "S3Uri": layout.evaluation_output,
                        "LocalPath": f"{_BASE}/evaluation",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": settings.kms_key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings.evaluation_instance_type,
                "VolumeSizeInGB": VOLUME_SIZE_GB,
                # Refused on local-storage (NVMe) types, whose volumes the hardware encrypts.
                **volume_kms_key(settings.evaluation_instance_type, settings.kms_key_arn),
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.timeout_minutes * 60},
        "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True},
        "Tags": release_tags(settings, run.source_revision),
    }
