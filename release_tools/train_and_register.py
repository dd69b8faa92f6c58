"""The Train stage: train, evaluate against the champion, register, write ``TrainOutput``.

Run from the root of the Build stage's output (the model repository plus
``release-policy.json``, ``sourcedir.tar.gz`` and ``build-info.json``)::

    python -m release_tools.train_and_register --schemas-dir platform/schemas --out-dir train-output

Steps: upload code and data to ``s3://$ARTIFACT_BUCKET/releases/<run id>/``;
the training job (scikit-learn image, network isolation, KMS); package
``model.tar.gz`` for serving; the evaluation job running ``evaluate.py``
(challenger vs. the latest Approved package); register the model
``PendingManualApproval``; write the artifact files and ``--exports-file``
(``MODEL_DATA_URL``, ``MODEL_PACKAGE_ARN``, ``EVALUATION_URI``) for the
buildspec's exported variables. Any failure is one line and exit code 1.

The two jobs are run by a ``job_runner.JobRunner``: SageMaker's jobs here
(``main``), the model repository's scripts run locally in ``make rehearse``,
which calls :func:`train_and_register` itself, so both produce ``TrainOutput``
with this code.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.champion import Champion

from .build_signals import signals_raise
from .errors import ReleaseToolError, run_cli
from .evaluation_check import check_evaluation
from .evaluation_job import EvaluationRun
from .job_runner import JobRunner, SageMakerJobRunner, stage_wait_policy
from .model_image import ModelImage, resolve_model_image
from .model_package import build_model_tarball, build_source_tarball, source_files
from .model_registry import Registration, count_holdout_uses, find_champion, register_model
from .release_layout import ReleaseLayout, make_run_id
from .s3_objects import download_bytes, upload_file
from .settings import TrainSettings
from .train_output import ReleaseRecord, write_train_output
from .training_job import TrainingRun

__all__ = ["StageInputs", "main", "train_and_register", "write_exports"]

HOLDOUT_FILE = "holdout.csv"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True, kw_only=True)
class StageInputs:
    """The local side of the stage: where the project is and where results go."""

    project_dir: Path
    out_dir: Path
    schemas_dir: Path
    source_revision: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    # The Build stage's image record (buildspecs/image.yml); absent: the scikit-learn image.
    image_json: Path | None = None


@dataclass(frozen=True, kw_only=True)
class _Release:
    """One run of the stage: its inputs, where its objects go, the image it uses, the holdout's checksum."""

    inputs: StageInputs
    layout: ReleaseLayout
    image: ModelImage
    data_sha256: str


def _data_sha256(project_dir: Path) -> str:
    manifest_path = project_dir / "data" / MANIFEST_FILE
    try:
        return json.loads(manifest_path.read_text())["files"][HOLDOUT_FILE]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReleaseToolError(f"{manifest_path}: no sha256 for {HOLDOUT_FILE} ({exc!r})") from exc


def _upload_inputs(s3: Any, settings: TrainSettings, layout: ReleaseLayout, project_dir: Path, work: Path) -> None:
    """Code (as sourcedir.tar.gz and as loose files for the evaluation) and the three data splits."""
    kms = settings.kms_key_arn
    packaged = project_dir / "sourcedir.tar.gz"
    if not packaged.is_file():
        packaged = build_source_tarball(project_dir, work / "sourcedir.tar.gz")
    upload_file(s3, layout.source_tarball, packaged, kms)
    for path in source_files(project_dir):
        upload_file(s3, layout.evaluation_code + path.name, path, kms)
    data_dir = project_dir / "data"
    for channel, names in (
        ("train", ["train.csv"]),
        ("validation", ["validation.csv"]),
        ("holdout", [HOLDOUT_FILE, MANIFEST_FILE]),
    ):
        for name in names:
            if not (data_dir / name).is_file():
                raise ReleaseToolError(f"{data_dir / name}: missing (run prepare_data.py and commit data/)")
            upload_file(s3, layout.data_channel(channel) + name, data_dir / name, kms)


def _package_for_serving(
    s3: Any, settings: TrainSettings, layout: ReleaseLayout, training_model_url: str, project_dir: Path, work: Path
) -> str:
    """Training's model.tar.gz holds only the model; add the serving code under ``code/``."""
    trained = work / "trained.tar.gz"
    trained.write_bytes(download_bytes(s3, training_model_url))
    model_dir = work / "trained"
    try:
        with tarfile.open(trained, "r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile() and not member.name.startswith(("/", "..")) and ".." not in Path(member.name).parts:
                    target = model_dir / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())
    except tarfile.TarError as exc:
        raise ReleaseToolError(f"{training_model_url}: not a readable model.tar.gz ({exc})") from exc
    packaged = build_model_tarball(model_dir, project_dir, work / "model.tar.gz")
    return upload_file(s3, layout.model_tarball, packaged, settings.kms_key_arn)


def _model_image(inputs: StageInputs, settings: TrainSettings) -> ModelImage:
    image = resolve_model_image(inputs.image_json, settings.region)
    print(f"image: {image.uri} ({'the repository’s own, scanned' if image.custom else 'prebuilt scikit-learn'})", flush=True)
    return image


def _train(runner: JobRunner, s3: Any, settings: TrainSettings, release: _Release) -> str:
    """Inputs to S3, the training job, then the serving package; return its URL (the release's model data)."""
    inputs, layout = release.inputs, release.layout
    with tempfile.TemporaryDirectory(prefix="train-stage-") as scratch:
        work = Path(scratch)
        _upload_inputs(s3, settings, layout, inputs.project_dir, work)
        training = TrainingRun(
            layout=layout,
            image_uri=release.image.uri,
            source_revision=inputs.source_revision,
            hyperparameters=inputs.hyperparameters,
            custom_image=release.image.custom,
        )
        training_model_url = runner.run_training(training)
        return _package_for_serving(s3, settings, layout, training_model_url, inputs.project_dir, work)


def _evaluate(runner: JobRunner, s3: Any, release: _Release, model_data_url: str, champion: Champion | None) -> dict[str, Any]:
    """The evaluation job, then its report checked against the contract and this run."""
    inputs, layout = release.inputs, release.layout
    evaluation = EvaluationRun(
        layout=layout,
        image_uri=release.image.uri,
        source_revision=inputs.source_revision,
        model_data_url=model_data_url,
        champion=champion,
    )
    runner.run_evaluation(evaluation)
    return check_evaluation(
        download_bytes(s3, layout.evaluation_json),
        inputs.schemas_dir,
        model_data_url=model_data_url,
        source_revision=inputs.source_revision,
        champion_arn=champion.model_package_arn if champion else None,
    )


def _register(sagemaker: Any, settings: TrainSettings, release: _Release, model_data_url: str) -> ReleaseRecord:
    """Count the holdout's earlier uses, register the challenger PendingManualApproval; the release record."""
    inputs, layout, image = release.inputs, release.layout, release.image
    holdout_reuse = count_holdout_uses(sagemaker, settings.model_package_group_name, release.data_sha256)
    registration = Registration(
        image_uri=image.uri,
        model_data_url=model_data_url,
        evaluation_uri=layout.evaluation_json,
        source_revision=inputs.source_revision,
        data_sha256=release.data_sha256,
        training_job_name=layout.training_job_name,
        custom_image=image.custom,
    )
    model_package_arn = register_model(sagemaker, settings, registration)
    print(f"registered {model_package_arn} (PendingManualApproval)", flush=True)
    return ReleaseRecord(
        model_package_arn=model_package_arn,
        model_package_group_name=settings.model_package_group_name,
        model_data_url=model_data_url,
        source_revision=inputs.source_revision,
        evaluation_uri=layout.evaluation_json,
        training_job_name=layout.training_job_name,
        image_uri=image.uri,
        holdout_reuse=holdout_reuse,
    )


def _write_output(s3: Any, settings: TrainSettings, inputs: StageInputs, report: dict[str, Any], record: ReleaseRecord) -> None:
    written = write_train_output(
        inputs.out_dir,
        evaluation=report,
        release_policy_path=inputs.project_dir / "release-policy.json",
        record=record,
        golden_requests_path=inputs.project_dir / "golden-requests.jsonl",
        templates_zip=download_bytes(s3, settings.endpoint_templates_s3_uri),
        tags={"project": settings.project_name, "source-revision": inputs.source_revision},
    )
    print(f"wrote {inputs.out_dir}: {', '.join(str(path) for path in written)}", flush=True)


def train_and_register(
    inputs: StageInputs,
    settings: TrainSettings,
    *,
    runner: JobRunner,
    sagemaker: Any,
    s3: Any,
    now: datetime,
) -> ReleaseRecord:
    """Run the whole stage; return the release record (``exports()``: the stage variables).

    ``runner`` runs the training and evaluation jobs (``SageMakerJobRunner`` in the pipeline, the
    rehearsal's local runner in ``make rehearse``); ``sagemaker`` is the model registry's client.
    Raises :class:`ReleaseToolError` on any failure.
    """
    release = _Release(
        inputs=inputs,
        layout=ReleaseLayout(settings.artifact_bucket, make_run_id(settings.project_name, inputs.source_revision, now)),
        image=_model_image(inputs, settings),
        data_sha256=_data_sha256(inputs.project_dir),  # no checksum: the stage stops before any upload
    )
    model_data_url = _train(runner, s3, settings, release)
    champion = find_champion(sagemaker, settings.model_package_group_name)
    print(f"champion: {champion.model_package_arn if champion else 'none (first release)'}", flush=True)
    report = _evaluate(runner, s3, release, model_data_url, champion)
    record = _register(sagemaker, settings, release, model_data_url)
    _write_output(s3, settings, inputs, report, record)
    return record


def _source_revision(explicit: str | None, env: Mapping[str, str], project_dir: Path) -> str:
    """``--source-revision``, else ``SOURCE_REVISION``, else ``build-info.json`` from the Build stage."""
    if explicit:
        return explicit
    if env.get("SOURCE_REVISION", "").strip():
        return env["SOURCE_REVISION"].strip()
    info_path = project_dir / "build-info.json"
    try:
        revision = json.loads(info_path.read_text())["source_revision"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReleaseToolError(
            f"{info_path}: no source_revision ({exc!r}); set SOURCE_REVISION or pass --source-revision"
        ) from exc
    if not isinstance(revision, str) or not revision.strip():
        raise ReleaseToolError(f"{info_path}: source_revision is empty")
    return revision.strip()


def _image_output(env: Mapping[str, str]) -> Path | None:
    """CodeBuild puts a secondary input artifact at ``$CODEBUILD_SRC_DIR_<artifact name>``."""
    folder = env.get("CODEBUILD_SRC_DIR_ImageOutput", "").strip()
    return Path(folder) / "image.json" if folder else None


def write_exports(path: Path, record: ReleaseRecord) -> None:
    """``NAME=value`` lines a shell can source (``set -a; . file; set +a``)."""
    path.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in record.exports().items()))


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="release_tools.train_and_register", description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument("--out-dir", type=Path, default=Path("train-output"))
    parser.add_argument("--schemas-dir", type=Path, required=True)
    parser.add_argument("--source-revision", default=None, help="default: build-info.json in --project-dir")
    parser.add_argument("--exports-file", type=Path, default=Path("train-exports.env"))
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument(
        "--image-json",
        type=Path,
        default=None,
        help="the Build stage's image.json (default: $CODEBUILD_SRC_DIR_ImageOutput/image.json)",
    )
    args = parser.parse_args(argv)

    session = boto3.session.Session()
    settings = TrainSettings.from_environment(os.environ, session.region_name)
    inputs = StageInputs(
        project_dir=args.project_dir,
        out_dir=args.out_dir,
        schemas_dir=args.schemas_dir,
        source_revision=_source_revision(args.source_revision, os.environ, args.project_dir),
        image_json=args.image_json or _image_output(os.environ),
    )
    with signals_raise():
        sagemaker = session.client("sagemaker")
        runner = SageMakerJobRunner(
            sagemaker=sagemaker, settings=settings, wait=stage_wait_policy(settings, poll_seconds=args.poll_seconds)
        )
        record = train_and_register(
            inputs, settings, runner=runner, sagemaker=sagemaker, s3=session.client("s3"), now=datetime.now(UTC)
        )
    write_exports(args.exports_file, record)
    for name, value in record.exports().items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("train_and_register", main))
