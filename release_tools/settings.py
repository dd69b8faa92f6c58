"""The Train stage's configuration, read once from the CodeBuild environment.

The CDK app sets these variables on the Train project (docs/architecture.md,
"CodeBuild environment"); on a laptop, export them yourself. Anything missing
or malformed stops the stage with one line naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ReleaseToolError
from .instance_types import ENUM_SHAPES, TABLE_PATH, instance_types
from .stage_budget import MAX_TRAINING_TIMEOUT_MINUTES

__all__ = ["TrainSettings"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ReleaseToolError(f"environment variable {name} is not set (the CDK app sets it on the Train project)")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ReleaseToolError(f"environment variable {name}={env[name]!r} is not a boolean (true/false)")


def _instance_type(env: Mapping[str, str], name: str, default: str, use: str) -> str:
    value = env.get(name, "").strip() or default
    if not _INSTANCE_TYPE.match(value):
        raise ReleaseToolError(f"environment variable {name}={value!r} is not a SageMaker instance type (ml.<family>.<size>)")
    if value not in instance_types(use):
        raise ReleaseToolError(
            f"environment variable {name}={value!r} is not a SageMaker {use} instance type "
            f"(botocore's {ENUM_SHAPES[use]}, release_tools/{TABLE_PATH.name})"
        )
    return value


def _minutes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ReleaseToolError(f"environment variable {name}={raw!r} is not a whole number of minutes") from None
    if not 1 <= value <= MAX_TRAINING_TIMEOUT_MINUTES:
        raise ReleaseToolError(
            f"environment variable {name}={value} must be between 1 and {MAX_TRAINING_TIMEOUT_MINUTES} minutes "
            "(two jobs and their provisioning within CodePipeline's 8-hour CodeBuild action limit)"
        )
    return value


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything the Train stage needs besides the model project itself."""

    region: str
    project_name: str
    artifact_bucket: str
    kms_key_arn: str
    role_arn: str
    model_package_group_name: str
    endpoint_templates_s3_uri: str
    training_instance_type: str = "ml.m5.large"
    evaluation_instance_type: str = "ml.m5.large"
    use_spot_training: bool = False
    timeout_minutes: int = 60

    @classmethod
    def from_environment(cls, env: Mapping[str, str], region: str | None) -> TrainSettings:
        """Build from environment variables; ``region`` is the AWS session's region."""
        if not region:
            raise ReleaseToolError("no AWS region configured (set AWS_REGION or AWS_DEFAULT_REGION)")
        return cls(
            region=region,
            project_name=env.get("PROJECT_NAME", "").strip() or "ml-cicd",
            artifact_bucket=_required(env, "ARTIFACT_BUCKET"),
            kms_key_arn=_required(env, "KMS_KEY_ARN"),
            role_arn=_required(env, "SAGEMAKER_ROLE_ARN"),
            model_package_group_name=_required(env, "MODEL_PACKAGE_GROUP_NAME"),
            endpoint_templates_s3_uri=_required(env, "ENDPOINT_TEMPLATES_S3_URI"),
            training_instance_type=_instance_type(env, "TRAINING_INSTANCE_TYPE", "ml.m5.large", "training"),
            evaluation_instance_type=_instance_type(env, "EVALUATION_INSTANCE_TYPE", "ml.m5.large", "processing"),
            use_spot_training=_flag(env, "USE_SPOT_TRAINING"),
            timeout_minutes=_minutes(env, "TRAINING_TIMEOUT_MINUTES", 60),
        )
