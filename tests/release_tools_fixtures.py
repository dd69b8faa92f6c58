"""Shared set-up for the release_tools tests: settings, a fake clock, a Build-stage output, a trained model."""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from release_tools.settings import TrainSettings
from release_tools.validate_policy import validate_policy_file

ROOT = Path(__file__).resolve().parent.parent
MODEL_REPO = ROOT / "model_repo"
SCHEMAS_DIR = ROOT / "schemas"
if str(MODEL_REPO) not in sys.path:
    sys.path.insert(0, str(MODEL_REPO))

REGION = "us-east-1"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
REVISION = "3f2c9e1a77d0c0ffee"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = "arn:aws:iam::111122223333:role/sagemaker-execution"
TEMPLATES_URI = "s3://platform-assets/endpoint-templates.zip"
ENVIRONMENT = {
    "PROJECT_NAME": "ml-cicd",
    "ARTIFACT_BUCKET": "artifacts",
    "KMS_KEY_ARN": KMS_KEY_ARN,
    "SAGEMAKER_ROLE_ARN": ROLE_ARN,
    "MODEL_PACKAGE_GROUP_NAME": "ml-cicd-models",
    "ENDPOINT_TEMPLATES_S3_URI": TEMPLATES_URI,
    "TRAINING_INSTANCE_TYPE": "ml.m5.large",
    "EVALUATION_INSTANCE_TYPE": "ml.m5.large",
    "USE_SPOT_TRAINING": "false",
    "TRAINING_TIMEOUT_MINUTES": "30",
}


def settings(**overrides: str) -> TrainSettings:
    return TrainSettings.from_environment({**ENVIRONMENT, **overrides}, REGION)


class FakeClock:
    """``clock()`` and ``sleep()`` for WaitPolicy: sleeping advances time instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def templates_zip() -> bytes:
    """The endpoint templates asset as the CDK app zips it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for stage in ("staging", "production"):
            template = {"Parameters": {"ModelPackageArn": {"Type": "String"}}, "Resources": {}}
            archive.writestr(f"{stage}.template.json", json.dumps(template))
        archive.writestr("manifest.json", "{}")
    return buffer.getvalue()


def build_output(tmp_path: Path) -> Path:
    """What the Build stage hands to the Train stage: the repository plus release-policy.json and build-info.json."""
    project = tmp_path / "build-output"
    shutil.copytree(MODEL_REPO, project, ignore=shutil.ignore_patterns("__pycache__", "model", "evaluation", ".*cache"))
    policy = validate_policy_file(project / "release-policy.yaml", SCHEMAS_DIR / "release-policy.v1.schema.json")
    (project / "release-policy.json").write_text(json.dumps(policy))
    (project / "build-info.json").write_text(json.dumps({"source_revision": REVISION}))
    return project


def train_model(model_dir: Path, *argv: str) -> Path:
    """Train with the project's own train.py; return the model directory."""
    import train

    assert train.main(["--model-dir", str(model_dir), "--output-data-dir", str(model_dir / "output"), *argv]) == 0
    return model_dir


def model_tar_bytes(model_dir: Path) -> bytes:
    """A training job's model.tar.gz: the model directory's files at the root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(model_dir / "model.joblib", arcname="model.joblib")
    return buffer.getvalue()
