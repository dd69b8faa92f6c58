"""Where one release's objects live in the artifact bucket, and the job names.

Everything of one run sits under ``s3://<bucket>/releases/<run id>/``, where
the run id is also the training job's name, so a job in the console leads
straight to its inputs and outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = ["ReleaseLayout", "make_run_id"]

_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9-]+")


def make_run_id(project_name: str, source_revision: str, now: datetime) -> str:
    """``<project>-<revision 8>-<UTC yyyymmddHHMMSS>``, valid as a SageMaker job name
    and short enough to take the ``-eval`` suffix (63 characters at most)."""
    project = _NOT_ALLOWED.sub("-", project_name).strip("-")[:32] or "model"
    revision = _NOT_ALLOWED.sub("", source_revision)[:8] or "norev"
    return f"{project}-{revision}-{now:%Y%m%d%H%M%S}"


@dataclass(frozen=True)
class ReleaseLayout:
    """S3 URIs of one run's inputs and outputs."""

    bucket: str
    run_id: str

    @property
    def prefix(self) -> str:
        return f"s3://{self.bucket}/releases/{self.run_id}"

    @property
    def training_job_name(self) -> str:
        return self.run_id

    @property
    def evaluation_job_name(self) -> str:
        return f"{self.run_id}-eval"

    @property
    def source_tarball(self) -> str:
        return f"{self.prefix}/code/sourcedir.tar.gz"

    @property
    def evaluation_code(self) -> str:
        return f"{self.prefix}/evaluation-code/"

    def data_channel(self, channel: str) -> str:
        """Prefix of one data channel (``train``, ``validation``, ``holdout``)."""
        return f"{self.prefix}/data/{channel}/"

    @property
    def training_output(self) -> str:
        return f"{self.prefix}/training/"

    @property
    def model_tarball(self) -> str:
        return f"{self.prefix}/model/model.tar.gz"

    @property
    def evaluation_output(self) -> str:
        return f"{self.prefix}/evaluation/"

    @property
    def evaluation_json(self) -> str:
        return f"{self.evaluation_output}evaluation.json"
