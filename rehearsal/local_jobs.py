"""The rehearsal's job runner: the Train stage's two jobs run locally, against the sandbox's S3.

`release_tools.train_and_register` runs the Train stage with a
`release_tools.job_runner.JobRunner`; in the pipeline that is SageMaker, here
it is `LocalJobRunner`, so the rehearsal's `TrainOutput` is written by the
stage's own code. Like the jobs, the runner works through S3:

- training: the `sourcedir.tar.gz` and the data channels the stage uploaded
  are fetched from the sandbox, the code unpacked as `opt/ml/code`; `train.py`
  runs there (`local_training`); the model directory, tarred, is put where
  SageMaker puts a training job's output
  (`<training output>/<job name>/output/model.tar.gz`);
- evaluation: the evaluation code, the serving package the stage built, the
  holdout it uploaded and, when there is one, the champion's package are
  fetched from the sandbox; `evaluate.py` runs
  (`local_evaluation`) and its `evaluation.json` is put where the processing
  job's output goes.

A script that fails raises `ReleaseToolError` with its last line, as a failed job stops the stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.errors import StepFailed
from rehearsal.local_evaluation import HOLDOUT_FILES, evaluate_model
from rehearsal.local_training import CHANNELS, train_model, unpack_source
from rehearsal.pipeline_code import ModelRepository
from release_tools.errors import ReleaseToolError
from release_tools.evaluation_job import EvaluationRun
from release_tools.s3_objects import download_file, split_s3_uri, upload_file
from release_tools.training_job import TrainingRun

__all__ = ["LocalJobRunner"]


@dataclass(kw_only=True)
class LocalJobRunner:
    """Runs `train.py` and `evaluate.py` under `work_dir`; `on_job_start("training" | "evaluation")` as each starts."""

    repository: ModelRepository
    work_dir: Path
    s3: Any
    kms_key_arn: str
    resamples: int | None
    on_job_start: Callable[[str], None]
    evaluation_file: Path | None = None
    """`evaluation.json` exactly as `evaluate.py` wrote it, once the evaluation ran."""

    def run_training(self, run: TrainingRun) -> str:
        self.on_job_start("training")
        work = self.work_dir / "training"
        source = download_file(self.s3, run.layout.source_tarball, work / "sourcedir.tar.gz")
        code_dir = unpack_source(source, work)
        channel_files = {
            channel: download_file(self.s3, run.layout.data_channel(channel) + name, work / "channels" / channel / name)
            for channel, name in CHANNELS.items()
        }
        try:
            result = train_model(self.repository, work, run.hyperparameters, code_dir=code_dir, channel_files=channel_files)
        except StepFailed as error:
            raise ReleaseToolError(str(error)) from None
        output = f"{run.layout.training_output}{run.layout.training_job_name}/output/model.tar.gz"
        return upload_file(self.s3, output, result.model_archive, self.kms_key_arn)

    def run_evaluation(self, run: EvaluationRun) -> None:
        self.on_job_start("evaluation")
        work = self.work_dir / "evaluation"
        code_dir = self._fetch_prefix(run.layout.evaluation_code, work / "inputs" / "code")
        model = download_file(self.s3, run.model_data_url, work / "inputs" / "model" / "model.tar.gz")
        holdout_dir = work / "inputs" / "holdout"
        for name in HOLDOUT_FILES:
            download_file(self.s3, run.layout.data_channel("holdout") + name, holdout_dir / name)
        champion = run.champion
        champion_archive = (
            download_file(self.s3, champion.model_data_url, work / "inputs" / "champion" / "model.tar.gz") if champion else None
        )
        try:
            result = evaluate_model(
                self.repository,
                work,
                code_dir=code_dir,
                holdout_dir=holdout_dir,
                model_archive=model,
                model_data_url=run.model_data_url,
                source_revision=run.source_revision,
                champion_archive=champion_archive,
                champion_arn=champion.model_package_arn if champion else None,
                resamples=self.resamples,
            )
        except StepFailed as error:
            raise ReleaseToolError(str(error)) from None
        if not result.is_file():
            raise ReleaseToolError(f"evaluate.py wrote no {result}")
        upload_file(self.s3, run.layout.evaluation_json, result, self.kms_key_arn)
        self.evaluation_file = result

    def _fetch_prefix(self, uri: str, folder: Path) -> Path:
        """Every object under the `s3://` prefix `uri`, into `folder` by name (the job's input `S3Prefix`)."""
        bucket, prefix = split_s3_uri(uri)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                download_file(self.s3, f"s3://{bucket}/{item['Key']}", folder / item["Key"][len(prefix) :])
        return folder
