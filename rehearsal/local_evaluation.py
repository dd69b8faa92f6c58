"""Step 3: run `evaluate.py` as the SageMaker Processing job would, on local folders.

Inputs are laid out as the processing job's (`opt/ml/processing/<input>`):
the training output `model.tar.gz`, the frozen holdout with its manifest, and
the champion's archive when the previous rehearsal promoted one, so a second
rehearsal exercises the champion comparison.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rehearsal.pipeline_code import ModelRepository
from rehearsal.subprocess_step import run_script

__all__ = ["HOLDOUT_FILES", "evaluate_model"]

HOLDOUT_FILES = ("holdout.csv", "manifest.json")


def evaluate_model(
    repository: ModelRepository,
    work_dir: Path,
    *,
    code_dir: Path,
    holdout_dir: Path,
    model_archive: Path,
    model_data_url: str,
    source_revision: str,
    champion_archive: Path | None,
    champion_arn: str | None,
    resamples: int | None,
) -> Path:
    """Run `evaluate.py` from `code_dir` on `holdout_dir`'s `HOLDOUT_FILES`; return the `evaluation.json` it
    wrote (the Train stage checks it)."""
    repository.evaluate_script  # noqa: B018 - a ConfigurationError naming the file when it is absent
    processing = work_dir.resolve() / "opt" / "ml" / "processing"  # absolute: the script runs in code_dir
    model_input = processing / "model"
    holdout_input = processing / "holdout"
    output_dir = processing / "evaluation"
    for directory in (model_input, holdout_input, output_dir):
        directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_archive, model_input / "model.tar.gz")
    for name in HOLDOUT_FILES:
        shutil.copy2(holdout_dir / name, holdout_input / name)
    arguments = [
        "evaluate.py",
        "--model", str(model_input / "model.tar.gz"),
        "--holdout", str(holdout_input / "holdout.csv"),
        "--output-dir", str(output_dir),
        "--model-data-url", model_data_url,
        "--source-revision", source_revision,
    ]  # fmt: skip
    if champion_archive is not None and champion_arn is not None:
        champion_input = processing / "champion"
        champion_input.mkdir(parents=True, exist_ok=True)
        shutil.copy2(champion_archive, champion_input / "model.tar.gz")
        arguments += ["--champion-model", str(champion_input / "model.tar.gz"), "--champion-arn", champion_arn]
    if resamples is not None:
        arguments += ["--resamples", str(resamples)]
    run_script("evaluate.py", arguments, cwd=code_dir, log_file=work_dir / "logs" / "evaluate.log")
    return output_dir / "evaluation.json"
