"""The Train stage end to end against moto (S3, SageMaker), and its exact SageMaker requests via Stubber."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from release_tools import train_and_register as stage
from release_tools.errors import ReleaseToolError
from release_tools.job_runner import SageMakerJobRunner
from release_tools.job_waiter import WaitPolicy
from release_tools.release_layout import ReleaseLayout, make_run_id
from tests.release_tools_fixtures import (
    ENVIRONMENT,
    KMS_KEY_ARN,
    NOW,
    REGION,
    REVISION,
    ROLE_ARN,
    SCHEMAS_DIR,
    TEMPLATES_URI,
    FakeClock,
    build_output,
    model_tar_bytes,
    settings,
    templates_zip,
    train_model,
)  # fmt: skip

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
LAYOUT = ReleaseLayout("artifacts", make_run_id("ml-cicd", REVISION, NOW))


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"challenger": train_model(root / "challenger"), "champion": train_model(root / "champion", "--C", "0.01")}


_EVALUATIONS: dict[str | None, bytes] = {}


def _evaluation(tmp_path: Path, models: dict[str, Path], champion_arn: str | None) -> bytes:
    """What the evaluation job writes: the project's evaluate.py run on this run's arguments (cached)."""
    import evaluate

    if champion_arn in _EVALUATIONS:
        return _EVALUATIONS[champion_arn]
    args = ["--model", str(models["challenger"]), "--output-dir", str(tmp_path / "eval"),
            "--model-data-url", LAYOUT.model_tarball, "--source-revision", REVISION]  # fmt: skip
    if champion_arn:
        args += ["--champion-model", str(models["champion"]), "--champion-arn", champion_arn]
    assert evaluate.main(args) == 0
    _EVALUATIONS[champion_arn] = (tmp_path / "eval" / "evaluation.json").read_bytes()
    return _EVALUATIONS[champion_arn]


def _seed_aws(s3, models: dict[str, Path]) -> None:
    s3.create_bucket(Bucket="artifacts")
    s3.create_bucket(Bucket="platform-assets")
    s3.put_object(Bucket="platform-assets", Key="endpoint-templates.zip", Body=templates_zip())
    # What the training job leaves behind (moto runs no container).
    training_model = f"releases/{LAYOUT.run_id}/training/{LAYOUT.training_job_name}/output/model.tar.gz"
    s3.put_object(Bucket="artifacts", Key=training_model, Body=model_tar_bytes(models["challenger"]))


def _seed_with_evaluation(models: dict[str, Path], evaluation: dict) -> tuple:
    """A run whose evaluation job wrote ``evaluation`` (inside mock_aws)."""
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    _seed_aws(s3, models)
    sagemaker.create_model_package_group(ModelPackageGroupName="ml-cicd-models")
    s3.put_object(Bucket="artifacts", Key=LAYOUT.evaluation_json.split("/", 3)[3], Body=json.dumps(evaluation))
    return s3, sagemaker


def _run(tmp_path: Path, sagemaker, s3, image_json: Path | None = None) -> tuple:
    inputs = stage.StageInputs(project_dir=build_output(tmp_path), out_dir=tmp_path / "train-output",
                               schemas_dir=SCHEMAS_DIR, source_revision=REVISION, image_json=image_json)  # fmt: skip
    clock = FakeClock()
    wait = WaitPolicy(timeout_seconds=1800, poll_seconds=30, clock=clock.clock, sleep=clock.sleep)
    runner = SageMakerJobRunner(sagemaker=sagemaker, settings=settings(), wait=wait)
    record = stage.train_and_register(inputs, settings(), runner=runner, sagemaker=sagemaker, s3=s3, now=NOW)
    return record, inputs.out_dir


@mock_aws
@pytest.mark.parametrize("with_champion", [False, True], ids=["first-release", "with-champion"])
def test_train_evaluate_register_and_write_train_output(tmp_path: Path, models: dict[str, Path], with_champion: bool) -> None:
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    _seed_aws(s3, models)
    sagemaker.create_model_package_group(ModelPackageGroupName="ml-cicd-models")
    champion_arn = None
    if with_champion:
        champion_arn = sagemaker.create_model_package(
            ModelPackageGroupName="ml-cicd-models", ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/old/model.tar.gz"}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        )["ModelPackageArn"]  # fmt: skip
    s3.put_object(Bucket="artifacts", Key=LAYOUT.evaluation_json.split("/", 3)[3],
                  Body=_evaluation(tmp_path, models, champion_arn))  # fmt: skip

    record, out = _run(tmp_path, sagemaker, s3)

    # Training: the image, role, KMS, isolation, code channel, tags.
    job = sagemaker.describe_training_job(TrainingJobName=LAYOUT.training_job_name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["RoleArn"] == ROLE_ARN and job["EnableNetworkIsolation"] is True
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == KMS_KEY_ARN
    assert job["OutputDataConfig"]["KmsKeyId"] == KMS_KEY_ARN
    assert json.loads(job["HyperParameters"]["sagemaker_program"]) == "train.py"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels["code"] == LAYOUT.source_tarball
    # Evaluation: champion input only when there is one.
    processing = sagemaker.describe_processing_job(ProcessingJobName=LAYOUT.evaluation_job_name)
    input_names = {i["InputName"] for i in processing["ProcessingInputs"]}
    assert input_names == {"code", "model", "holdout"} | ({"champion"} if with_champion else set())
    assert ("--champion-arn" in processing["AppSpecification"]["ContainerArguments"]) is with_champion
    # Uploaded inputs, encrypted with the project key.
    head = s3.head_object(Bucket="artifacts", Key=f"releases/{LAYOUT.run_id}/data/holdout/holdout.csv")
    assert head["SSEKMSKeyId"] == KMS_KEY_ARN
    # Registration.
    package = sagemaker.describe_model_package(ModelPackageName=record.model_package_arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == LAYOUT.model_tarball == record.model_data_url
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == LAYOUT.evaluation_json
    assert package["CustomerMetadataProperties"]["commit_id"] == REVISION
    assert package["MetadataProperties"]["CommitId"] == REVISION
    # The serving tarball: model at the root, code under code/.
    import io
    import tarfile

    served = s3.get_object(Bucket="artifacts", Key=LAYOUT.model_tarball.split("/", 3)[3])["Body"].read()
    names = tarfile.open(fileobj=io.BytesIO(served)).getnames()
    assert {"model.joblib", "code/inference.py", "code/requirements.txt"} <= set(names)
    # TrainOutput.
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted([
        "endpoint/production.config.json", "endpoint/production.template.json",
        "endpoint/staging.config.json", "endpoint/staging.template.json",
        "evaluation.json", "golden-requests.jsonl", "release-policy.json", "release.json",
    ])  # fmt: skip
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert (evaluation["champion"] or {}).get("model_package_arn") == champion_arn
    release = json.loads((out / "release.json").read_text())
    # No earlier package of the group carries this holdout's sha256 (the champion has none).
    assert release.pop("holdout_reuse") == {
        "holdout_sha256": evaluation["dataset"]["sha256"], "earlier_candidates": 0,
    }  # fmt: skip
    assert release == {
        "model_package_arn": record.model_package_arn, "model_package_group_name": "ml-cicd-models",
        "model_data_url": LAYOUT.model_tarball, "source_revision": REVISION,
        "evaluation_uri": LAYOUT.evaluation_json, "training_job_name": LAYOUT.training_job_name,
        "image_uri": IMAGE,
    }  # fmt: skip
    config = json.loads((out / "endpoint" / "staging.config.json").read_text())
    assert config == {"Parameters": {"ModelPackageArn": record.model_package_arn},
                      "Tags": {"project": "ml-cicd", "source-revision": REVISION}}  # fmt: skip


@mock_aws
def test_an_evaluation_of_another_model_is_refused_before_registration(tmp_path: Path, models: dict[str, Path]) -> None:
    body = json.loads(_evaluation(tmp_path, models, None))
    body["model"]["model_data_url"] = "s3://artifacts/some-other-run/model.tar.gz"
    s3, sagemaker = _seed_with_evaluation(models, body)
    with pytest.raises(ReleaseToolError, match="model.model_data_url .* is not this run's"):
        _run(tmp_path, sagemaker, s3)
    assert sagemaker.list_model_packages(ModelPackageGroupName="ml-cicd-models")["ModelPackageSummaryList"] == []


@mock_aws
def test_an_evaluation_breaking_the_schema_is_refused(tmp_path: Path, models: dict[str, Path]) -> None:
    body = json.loads(_evaluation(tmp_path, models, None))
    body["metrics"]["roc_auc"]["value"] = "0.99"
    s3, sagemaker = _seed_with_evaluation(models, body)
    with pytest.raises(ReleaseToolError, match=r"evaluation.json: metrics.roc_auc.value: '0.99' is not of type 'number'"):
        _run(tmp_path, sagemaker, s3)


@mock_aws
def test_failed_training_job_stops_the_stage_with_its_failure_reason(tmp_path: Path, models: dict[str, Path]) -> None:
    s3 = boto3.client("s3")
    _seed_aws(s3, models)
    sagemaker = boto3.client("sagemaker")
    with Stubber(sagemaker) as stubber:
        stubber.add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:training-job/x"})
        stubber.add_response("describe_training_job", _description("InProgress"))
        stubber.add_response("describe_training_job", _description("Failed", FailureReason="AlgorithmError: train.py exited 1"))
        with pytest.raises(
            ReleaseToolError, match=f"training job {LAYOUT.training_job_name} failed: AlgorithmError: train.py exited 1"
        ):
            _run(tmp_path, sagemaker, s3)
        stubber.assert_no_pending_responses()  # no evaluation, no registration


def _description(status: str, **extra: str) -> dict:
    return {
        "TrainingJobName": LAYOUT.training_job_name, "TrainingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:training-job/x",
        "ModelArtifacts": {"S3ModelArtifacts": ""}, "TrainingJobStatus": status, "SecondaryStatus": "Training",
        "AlgorithmSpecification": {"TrainingInputMode": "File"}, "ResourceConfig": {"VolumeSizeInGB": 10},
        "StoppingCondition": {}, "CreationTime": NOW, **extra,
    }  # fmt: skip


@mock_aws
def test_exact_training_request_with_spot(tmp_path: Path, models: dict[str, Path]) -> None:
    s3 = boto3.client("s3")
    _seed_aws(s3, models)
    sagemaker = boto3.client("sagemaker")
    spot = settings(USE_SPOT_TRAINING="true", TRAINING_INSTANCE_TYPE="ml.c5.xlarge")
    expected = {
        "TrainingJobName": LAYOUT.training_job_name,
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"/opt/ml/input/data/code/sourcedir.tar.gz"',
            "sagemaker_region": '"us-east-1"',
            "sagemaker_container_log_level": "20",
        },
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE_ARN,
        "InputDataConfig": ANY,
        "OutputDataConfig": {"S3OutputPath": LAYOUT.training_output, "KmsKeyId": KMS_KEY_ARN},
        "ResourceConfig": {
            "InstanceType": "ml.c5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
            "VolumeKmsKeyId": KMS_KEY_ARN,
        },  # fmt: skip
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 1800},
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "EnableManagedSpotTraining": True,
        "Tags": [{"Key": "project", "Value": "ml-cicd"}, {"Key": "source-revision", "Value": REVISION}],
    }
    inputs = stage.StageInputs(project_dir=build_output(tmp_path), out_dir=tmp_path / "out",
                               schemas_dir=SCHEMAS_DIR, source_revision=REVISION)  # fmt: skip
    clock = FakeClock()
    with Stubber(sagemaker) as stubber:
        stubber.add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/x"}, expected)
        for _ in range(3):  # t=0, t=45, t=60 (the deadline)
            stubber.add_response("describe_training_job", _description("InProgress"))
        stubber.add_response("stop_training_job", {}, {"TrainingJobName": LAYOUT.training_job_name})
        with pytest.raises(ReleaseToolError, match="did not complete within 1 minutes .* called stop_training_job"):
            wait = WaitPolicy(timeout_seconds=60, poll_seconds=45, clock=clock.clock, sleep=clock.sleep)
            runner = SageMakerJobRunner(sagemaker=sagemaker, settings=spot, wait=wait)
            stage.train_and_register(inputs, spot, runner=runner, sagemaker=sagemaker, s3=s3, now=NOW)
        stubber.assert_no_pending_responses()
    assert clock.sleeps == [45, 15]


def test_cli_without_configuration_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOURCE_REVISION", REVISION)
    code = stage.run_cli("train_and_register", lambda: stage.main(["--schemas-dir", str(SCHEMAS_DIR),
                                                                   "--project-dir", str(tmp_path)]))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "environment variable ARTIFACT_BUCKET is not set" in err


def test_source_revision_precedence(tmp_path: Path) -> None:
    (tmp_path / "build-info.json").write_text(json.dumps({"source_revision": "from-build-info"}))
    assert stage._source_revision("explicit", {"SOURCE_REVISION": "env"}, tmp_path) == "explicit"
    assert stage._source_revision(None, {"SOURCE_REVISION": "env"}, tmp_path) == "env"
    assert stage._source_revision(None, {}, tmp_path) == "from-build-info"
    with pytest.raises(ReleaseToolError, match="no source_revision"):
        stage._source_revision(None, {}, tmp_path / "elsewhere")


def test_exports_file_is_shell_sourceable(tmp_path: Path) -> None:
    from release_tools.train_output import ReleaseRecord

    record = ReleaseRecord(model_package_arn="arn:aws:sagemaker:us-east-1:1:model-package/g/1", model_package_group_name="g",
                           model_data_url="s3://b/k with space/model.tar.gz", source_revision=REVISION,
                           evaluation_uri="s3://b/e.json", training_job_name="t")  # fmt: skip
    path = tmp_path / "exports.env"
    stage.write_exports(path, record)
    parsed = dict(shlex.split(line)[0].split("=", 1) for line in path.read_text().splitlines())
    assert parsed == record.exports()
    assert set(parsed) == {"MODEL_DATA_URL", "MODEL_PACKAGE_ARN", "EVALUATION_URI"}


def test_templates_uri_is_read_from_settings() -> None:
    assert settings().endpoint_templates_s3_uri == TEMPLATES_URI


OWN_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/ml-cicd-model@sha256:" + "ab" * 32


@mock_aws
def test_a_repository_image_is_used_by_digest_for_training_evaluation_and_serving(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    _seed_aws(s3, models)
    sagemaker.create_model_package_group(ModelPackageGroupName="ml-cicd-models")
    s3.put_object(Bucket="artifacts", Key=LAYOUT.evaluation_json.split("/", 3)[3], Body=_evaluation(tmp_path, models, None))
    image_json = tmp_path / "image.json"
    image_json.write_text(json.dumps({"image_uri": OWN_IMAGE, "digest": "sha256:" + "ab" * 32}))

    record, _ = _run(tmp_path, sagemaker, s3, image_json)

    job = sagemaker.describe_training_job(TrainingJobName=LAYOUT.training_job_name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == OWN_IMAGE
    assert "sagemaker_program" not in job.get("HyperParameters", {})  # the image's `train`, not script mode
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == {"train", "validation"}
    processing = sagemaker.describe_processing_job(ProcessingJobName=LAYOUT.evaluation_job_name)
    assert processing["AppSpecification"]["ImageUri"] == OWN_IMAGE
    package = sagemaker.describe_model_package(ModelPackageName=record.model_package_arn)
    (container,) = package["InferenceSpecification"]["Containers"]
    assert container["Image"] == OWN_IMAGE and "Framework" not in container
    assert package["CustomerMetadataProperties"]["image"] == OWN_IMAGE
    assert record.image_uri == OWN_IMAGE


@pytest.mark.parametrize(
    "recorded",
    ["111122223333.dkr.ecr.us-east-1.amazonaws.com/ml-cicd-model:latest", "docker.io/library/python@sha256:" + "ab" * 32, 42],
)
def test_an_image_record_not_by_digest_is_refused(tmp_path: Path, recorded: object) -> None:
    from release_tools.model_image import resolve_model_image

    image_json = tmp_path / "image.json"
    image_json.write_text(json.dumps({"image_uri": recorded}))
    with pytest.raises(ReleaseToolError, match="is not an ECR image by digest"):
        resolve_model_image(image_json, REGION)
    image_json.write_text(json.dumps({"image_uri": None}))
    assert not resolve_model_image(image_json, REGION).custom


@mock_aws
def test_holdout_uses_are_counted_over_every_package_of_the_group() -> None:
    from release_tools.model_registry import count_holdout_uses

    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="ml-cicd-models")
    for sha256, status in (("a" * 64, "Rejected"), ("a" * 64, "Approved"), ("b" * 64, "Approved")):
        sagemaker.create_model_package(
            ModelPackageGroupName="ml-cicd-models", ModelApprovalStatus=status,
            InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/m.tar.gz"}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
            CustomerMetadataProperties={"data_sha256": sha256},
        )  # fmt: skip
    assert count_holdout_uses(sagemaker, "ml-cicd-models", "a" * 64) == {"holdout_sha256": "a" * 64, "earlier_candidates": 2}
    assert count_holdout_uses(sagemaker, "ml-cicd-models", "c" * 64)["earlier_candidates"] == 0
