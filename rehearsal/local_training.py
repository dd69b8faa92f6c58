"""Step 2: run `train.py` as a SageMaker script-mode training job would, on local folders.

The model project's code is the `sourcedir.tar.gz` the pipeline's own
`build_source_tarball` packaged, unpacked into `opt/ml/code` (so a file
missing from the source archive fails here, as it would in SageMaker). Channels are folders
under `opt/ml/input/data/<channel>`; `SM_MODEL_DIR`, `SM_CHANNEL_*`,
`SM_OUTPUT_DATA_DIR` and `SM_HPS` point at them, hyperparameters are also
passed as `--name value` arguments. At the end the model directory is tarred
into `model.tar.gz`, as SageMaker uploads it.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rehearsal.pipeline_code import ModelRepository
from rehearsal.subprocess_step import run_script

__all__ = ["TrainingResult", "parse_hyperparameter", "train_model", "unpack_source"]

CHANNELS = {"train": "train.csv", "validation": "validation.csv"}


@dataclass(frozen=True)
class TrainingResult:
    """Where the trained model is and what the training script printed."""

    code_dir: Path
    model_dir: Path
    model_archive: Path
    hyperparameters: Mapping[str, str]
    stdout: str


def parse_hyperparameter(text: str) -> tuple[str, str]:
    """`C=0.5` -> `("C", "0.5")`; raises ValueError for anything else."""
    name, separator, value = text.partition("=")
    if not separator or not name.strip() or not value.strip():
        raise ValueError(f"--hyperparameter {text!r} is not NAME=VALUE")
    return name.strip(), value.strip()


def _decoded(value: str) -> object:
    """`"0.5"` -> 0.5: SageMaker JSON-decodes hyperparameters before putting them in `SM_HPS`."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def unpack_source(archive: Path, work_dir: Path) -> Path:
    """`sourcedir.tar.gz` (the pipeline's packager built it) unpacked as `/opt/ml/code` under `work_dir`."""
    code_dir = work_dir / "opt" / "ml" / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(code_dir, filter="data")
    return code_dir


def _tar_directory(directory: Path, out_path: Path) -> Path:
    with tarfile.open(out_path, "w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
    return out_path


def train_model(
    repository: ModelRepository,
    work_dir: Path,
    hyperparameters: Mapping[str, str],
    code_dir: Path,
    channel_files: Mapping[str, Path],
) -> TrainingResult:
    """Run `train.py` from `code_dir` with SageMaker's folders and variables under `work_dir`.

    `channel_files` holds each channel's file (`CHANNELS`), as the job's input channels hold them.
    The paths handed to the script are absolute: it runs in `code_dir`, not where we were started.
    """
    script = repository.train_script
    work_dir = work_dir.resolve()
    opt_ml = work_dir / "opt" / "ml"
    environment = {
        "SM_MODEL_DIR": str(opt_ml / "model"),
        "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
        "SM_HPS": json.dumps({name: _decoded(value) for name, value in hyperparameters.items()}),
        "SM_CHANNELS": json.dumps(sorted(CHANNELS)),
        "SM_NUM_CPUS": "2",
        "SM_NUM_GPUS": "0",
        "SM_CURRENT_HOST": "algo-1",
        "SM_HOSTS": json.dumps(["algo-1"]),
    }
    for channel, file_name in CHANNELS.items():
        channel_dir = opt_ml / "input" / "data" / channel
        channel_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(channel_files[channel], channel_dir / file_name)
        environment[f"SM_CHANNEL_{channel.upper()}"] = str(channel_dir)
    config_dir = opt_ml / "input" / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters), indent=2), encoding="utf-8")
    (opt_ml / "model").mkdir(parents=True, exist_ok=True)
    arguments = [script.name]
    for name, value in hyperparameters.items():
        arguments += [f"--{name}", value]
    stdout = run_script("train.py", arguments, cwd=code_dir, log_file=work_dir / "logs" / "train.log", environment=environment)
    output_dir = opt_ml / "output"
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = _tar_directory(opt_ml / "model", output_dir / "model.tar.gz")
    return TrainingResult(
        code_dir=code_dir,
        model_dir=opt_ml / "model",
        model_archive=archive,
        hyperparameters=dict(hyperparameters),
        stdout=stdout,
    )
