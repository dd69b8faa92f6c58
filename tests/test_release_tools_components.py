"""release_tools building blocks: image resolution, settings, job waiting, packaging, build info, TrainOutput."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from release_tools.build_info import build_info
from release_tools.errors import ReleaseToolError
from release_tools.image_uri import sklearn_image_uri
from release_tools.job_waiter import PROCESSING_JOB, TRAINING_JOB, WaitPolicy, wait_for_job
from release_tools.model_package import build_model_tarball, build_source_tarball
from release_tools.release_layout import make_run_id
from release_tools.train_output import ReleaseRecord, write_train_output
from tests.release_tools_fixtures import ENVIRONMENT, MODEL_REPO, NOW, REGION, FakeClock, settings, templates_zip, train_model


def test_image_uri_for_known_regions() -> None:
    assert sklearn_image_uri("us-east-1") == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
    assert sklearn_image_uri("eu-west-1").startswith("141502667606.dkr.ecr.eu-west-1.amazonaws.com/")
    assert sklearn_image_uri("cn-north-1").startswith("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/")


def test_image_uri_for_an_unknown_region_is_a_clear_error() -> None:
    with pytest.raises(ReleaseToolError, match="no SageMaker scikit-learn image is known for region 'mars-south-1'"):
        sklearn_image_uri("mars-south-1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"KMS_KEY_ARN": ""}, "KMS_KEY_ARN is not set"),
        ({"USE_SPOT_TRAINING": "maybe"}, "USE_SPOT_TRAINING='maybe' is not a boolean"),
        ({"TRAINING_TIMEOUT_MINUTES": "soon"}, "TRAINING_TIMEOUT_MINUTES='soon' is not a whole number"),
        ({"TRAINING_TIMEOUT_MINUTES": "0"}, "between 1 and 210"),
        ({"TRAINING_TIMEOUT_MINUTES": "211"}, "between 1 and 210"),
        ({"TRAINING_INSTANCE_TYPE": "m5.large"}, "not a SageMaker instance type"),
    ],
)
def test_settings_refuse_missing_or_malformed_variables(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ReleaseToolError, match=message):
        settings(**overrides)


def test_settings_defaults_and_region() -> None:
    minimal = {k: v for k, v in ENVIRONMENT.items() if k not in ("TRAINING_INSTANCE_TYPE", "USE_SPOT_TRAINING",
                                                                  "TRAINING_TIMEOUT_MINUTES", "PROJECT_NAME")}  # fmt: skip
    from release_tools.settings import TrainSettings

    parsed = TrainSettings.from_environment(minimal, REGION)
    assert (parsed.training_instance_type, parsed.use_spot_training, parsed.timeout_minutes) == ("ml.m5.large", False, 60)
    with pytest.raises(ReleaseToolError, match="no AWS region"):
        TrainSettings.from_environment(minimal, None)


def test_run_id_is_a_valid_job_name_with_room_for_the_eval_suffix() -> None:
    run_id = make_run_id("my project_with a very long name that goes on and on", "3f2c9e1a77d0", NOW)
    assert run_id == "my-project-with-a-very-long-name-3f2c9e1a-20261128120000"
    assert len(run_id + "-eval") <= 63


def _waiter(kind, statuses: list[dict], clock: FakeClock, timeout: float = 600):
    stops: list[str] = []
    answers = iter(statuses)
    result = wait_for_job(kind, "job-1", lambda: next(answers), lambda: stops.append("stop"),
                          WaitPolicy(timeout_seconds=timeout, poll_seconds=30, clock=clock.clock, sleep=clock.sleep))  # fmt: skip
    return result, stops


def test_waiter_returns_the_completed_description() -> None:
    clock = FakeClock()
    statuses = [{"TrainingJobStatus": "InProgress"}] * 3 + [{"TrainingJobStatus": "Completed", "x": 1}]
    result, stops = _waiter(TRAINING_JOB, statuses, clock)
    assert result == {"TrainingJobStatus": "Completed", "x": 1}
    assert clock.sleeps == [30, 30, 30] and stops == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"ProcessingJobStatus": "Failed", "FailureReason": "ClientError: evaluate.py exited 1"},
         "processing job job-1 failed: ClientError: evaluate.py exited 1"),
        ({"ProcessingJobStatus": "Failed"}, "failed: no FailureReason given"),
        ({"ProcessingJobStatus": "Stopped"}, "was stopped before it completed"),
    ],
)  # fmt: skip
def test_waiter_fails_on_failed_or_stopped_jobs(status: dict, message: str) -> None:
    with pytest.raises(ReleaseToolError, match=message):
        _waiter(PROCESSING_JOB, [status], FakeClock())


def test_waiter_stops_the_job_at_the_deadline() -> None:
    clock = FakeClock()
    stops: list[str] = []
    with pytest.raises(
        ReleaseToolError, match=r"did not complete within 2 minutes \(last status InProgress\); called stop_processing_job"
    ):
        wait_for_job(PROCESSING_JOB, "job-1", lambda: {"ProcessingJobStatus": "InProgress"}, lambda: stops.append("stop"),
                     WaitPolicy(timeout_seconds=120, poll_seconds=50, clock=clock.clock, sleep=clock.sleep))  # fmt: skip
    assert stops == ["stop"] and clock.now == 120


def test_waiter_reports_describe_errors_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    client = boto3.client("sagemaker", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_processing_job", "ValidationException", "Could not find job")
        with pytest.raises(ReleaseToolError, match="describe processing job for ml-cicd-job-1 failed: .*Could not find job"):
            wait_for_job(PROCESSING_JOB, "ml-cicd-job-1", lambda: client.describe_processing_job(ProcessingJobName="ml-cicd-job-1"),
                         lambda: None, WaitPolicy(timeout_seconds=60))  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model(tmp_path_factory.mktemp("model"))


def test_model_tarball_layout_serves_with_the_container_conventions(tmp_path: Path, model_dir: Path) -> None:
    out = build_model_tarball(model_dir, MODEL_REPO, tmp_path / "model.tar.gz")
    with tarfile.open(out) as archive:
        names = set(archive.getnames())
        assert {"model.joblib", "code/inference.py", "code/requirements.txt"} <= names
        archive.extractall(tmp_path / "opt-ml-model", filter="data")
    import importlib.util

    spec = importlib.util.spec_from_file_location("served_inference", tmp_path / "opt-ml-model" / "code" / "inference.py")
    served = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(served)
    model = served.model_fn(str(tmp_path / "opt-ml-model"))
    body, content_type = served.output_fn(served.predict_fn(served.input_fn(",".join(["1.0"] * 30), "text/csv"), model), None)
    assert content_type == "application/json" and "probability" in json.loads(body)["predictions"][0]


def test_tarballs_are_reproducible(tmp_path: Path, model_dir: Path) -> None:
    first = build_source_tarball(MODEL_REPO, tmp_path / "a.tar.gz").read_bytes()
    second = build_source_tarball(MODEL_REPO, tmp_path / "b.tar.gz").read_bytes()
    assert first == second
    names = tarfile.open(fileobj=io.BytesIO(first)).getnames()
    assert {"train.py", "evaluate.py", "inference.py", "requirements.txt"} <= set(names)
    assert all("/" not in name for name in names)
    assert build_model_tarball(model_dir, MODEL_REPO, tmp_path / "m1.tar.gz").read_bytes() == \
        build_model_tarball(model_dir, MODEL_REPO, tmp_path / "m2.tar.gz").read_bytes()  # fmt: skip


def test_packaging_refuses_missing_pieces(tmp_path: Path) -> None:
    with pytest.raises(ReleaseToolError, match="no model.joblib"):
        build_model_tarball(tmp_path, MODEL_REPO, tmp_path / "m.tar.gz")
    with pytest.raises(ReleaseToolError, match="missing train.py, evaluate.py, inference.py, requirements.txt"):
        build_source_tarball(tmp_path, tmp_path / "s.tar.gz")


def test_build_info_takes_the_pipeline_revision_first() -> None:
    env = {"SOURCE_REVISION": "abc123", "CODEBUILD_RESOLVED_SOURCE_VERSION": "def456", "CODEBUILD_BUILD_ID": "b:1"}
    assert build_info(env) == {"source_revision": "abc123", "build_id": "b:1"}
    assert build_info({"CODEBUILD_RESOLVED_SOURCE_VERSION": "def456"})["source_revision"] == "def456"
    with pytest.raises(ReleaseToolError, match="no source revision"):
        build_info({})


def _record() -> ReleaseRecord:
    return ReleaseRecord(model_package_arn="arn:aws:sagemaker:us-east-1:1:model-package/g/2", model_package_group_name="g",
                         model_data_url="s3://b/m.tar.gz", source_revision="abc", evaluation_uri="s3://b/e.json",
                         training_job_name="t")  # fmt: skip


def test_train_output_without_golden_requests(tmp_path: Path) -> None:
    (tmp_path / "release-policy.json").write_text('{"version": 1}')
    written = write_train_output(tmp_path / "out", evaluation={"schema_version": 1}, release_policy_path=tmp_path / "release-policy.json",
                                 record=_record(), golden_requests_path=tmp_path / "none.jsonl", templates_zip=templates_zip(),
                                 tags={"project": "p"})  # fmt: skip
    assert "golden-requests.jsonl" not in {str(p) for p in written}
    assert json.loads((tmp_path / "out" / "endpoint" / "production.config.json").read_text())["Parameters"] == {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:1:model-package/g/2"
    }


def test_train_output_refuses_incomplete_templates_or_missing_policy(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("staging.template.json", "{}")
    (tmp_path / "release-policy.json").write_text('{"version": 1}')
    policy = tmp_path / "release-policy.json"
    kwargs = dict(evaluation={}, record=_record(), golden_requests_path=tmp_path / "g.jsonl", tags={})
    with pytest.raises(ReleaseToolError, match="lacks production.template.json"):
        write_train_output(tmp_path / "out", release_policy_path=policy, templates_zip=buffer.getvalue(), **kwargs)
    with pytest.raises(ReleaseToolError, match="not-there.json: missing"):
        write_train_output(
            tmp_path / "out", release_policy_path=tmp_path / "not-there.json", templates_zip=templates_zip(), **kwargs
        )
    with pytest.raises(ReleaseToolError, match="endpoint templates archive is unusable"):
        write_train_output(tmp_path / "out", release_policy_path=policy, templates_zip=b"nope", **kwargs)
