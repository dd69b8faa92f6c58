"""function_kit.artifacts: files at the root of zipped input artifacts, read with the job's credentials."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from function_kit.artifacts import ArtifactError, ArtifactReader, artifact_s3_client
from function_kit.codepipeline_job import InputArtifact, S3Location, parse_job_event
from function_kit_fixtures import REGION, aws_credentials, put_zip_artifact
from rehearsal.codepipeline_double import ARTIFACT_CREDENTIALS, job_event

__all__ = ["aws_credentials"]

BUCKET = "artifact-bucket"


@pytest.fixture
def s3(aws_credentials: None):
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def artifact(name: str = "TrainOutput", key: str = "p/TrainOutpu/abc") -> InputArtifact:
    return InputArtifact(name=name, location=S3Location(BUCKET, key))


def test_reads_json_from_the_artifact_root(s3) -> None:
    put_zip_artifact(
        s3,
        BUCKET,
        "p/TrainOutpu/abc",
        {"evaluation.json": {"schema_version": 1}, "other.txt": "x"},
    )
    found = ArtifactReader(s3, [artifact()]).require("evaluation.json")
    assert found.json() == {"schema_version": 1}
    assert found.artifact.name == "TrainOutput"


def test_a_file_in_a_subfolder_is_not_at_the_root(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/abc", {"nested/evaluation.json": {}})
    with pytest.raises(
        ArtifactError,
        match=r"evaluation\.json is missing from the root of the input artifact",
    ):
        ArtifactReader(s3, [artifact()]).require("evaluation.json")


def test_optional_file_absent_is_none(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/abc", {"evaluation.json": {}})
    assert ArtifactReader(s3, [artifact()]).find("release.json") is None


def test_missing_artifact_object_is_unreadable(s3) -> None:
    with pytest.raises(
        ArtifactError,
        match=r"artifact TrainOutput \(s3://artifact-bucket/p/TrainOutpu/abc\) could not be read: NoSuchKey",
    ):
        ArtifactReader(s3, [artifact()]).require("evaluation.json")


def test_not_a_zip(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="p/TrainOutpu/abc", Body=b'{"plain": "json"}')
    with pytest.raises(ArtifactError, match="is not a zip file"):
        ArtifactReader(s3, [artifact()]).require("evaluation.json")


def test_not_utf8(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/abc", {"evaluation.json": b"\xff\xfe{}"})
    with pytest.raises(
        ArtifactError,
        match=r"evaluation\.json in artifact TrainOutput .* is not UTF-8 text",
    ):
        ArtifactReader(s3, [artifact()]).require("evaluation.json").json()


def test_invalid_json_names_line_and_column(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/abc", {"evaluation.json": '{\n  "a": 1,\n  "b": \n}'})
    with pytest.raises(ArtifactError, match="is not valid JSON: Expecting value at line 4, column 1"):
        ArtifactReader(s3, [artifact()]).require("evaluation.json").json()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_constants_are_refused(s3, constant: str) -> None:
    text = f'{{"metrics": {{"roc_auc": {{"value": {constant}}}}}}}'
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/abc", {"evaluation.json": text})
    # The JSON path names the broken value (contracts.finite_json).
    with pytest.raises(ArtifactError, match=f"is not valid JSON: metrics.roc_auc.value is {constant}, not a finite number"):
        ArtifactReader(s3, [artifact()]).require("evaluation.json").json()


def test_file_is_looked_for_in_each_artifact(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/BuildOutpu/1", {"release-policy.json": {"version": 1}})
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/2", {"evaluation.json": {"schema_version": 1}})
    reader = ArtifactReader(
        s3,
        [
            artifact("BuildOutput", "p/BuildOutpu/1"),
            artifact("TrainOutput", "p/TrainOutpu/2"),
        ],
    )
    assert reader.require("evaluation.json").artifact.name == "TrainOutput"
    assert reader.require("release-policy.json").artifact.name == "BuildOutput"


def test_a_file_in_two_artifacts_is_ambiguous(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/A/1", {"evaluation.json": {}})
    put_zip_artifact(s3, BUCKET, "p/B/2", {"evaluation.json": {}})
    reader = ArtifactReader(s3, [artifact("A", "p/A/1"), artifact("B", "p/B/2")])
    with pytest.raises(ArtifactError, match=r"at the root of several input artifacts \(A, B\)"):
        reader.require("evaluation.json")


def test_each_artifact_is_downloaded_once(s3) -> None:
    put_zip_artifact(
        s3,
        BUCKET,
        "p/TrainOutpu/abc",
        {"evaluation.json": {}, "release-policy.json": {}},
    )
    calls: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **_: calls.append("get"))
    reader = ArtifactReader(s3, [artifact()])
    reader.require("evaluation.json")
    reader.require("release-policy.json")
    reader.find("release.json")
    assert calls == ["get"]


def test_no_input_artifact(s3) -> None:
    with pytest.raises(ArtifactError, match="no input artifact"):
        ArtifactReader(s3, []).require("evaluation.json")


def test_artifact_client_signs_with_the_jobs_credentials_sigv4(s3) -> None:
    put_zip_artifact(s3, BUCKET, "p/TrainOutpu/abc", {"evaluation.json": {}})
    job = parse_job_event(job_event(bucket=BUCKET, artifacts={"TrainOutput": "p/TrainOutpu/abc"}))
    client = artifact_s3_client(job.artifact_credentials)
    seen: list[dict[str, str]] = []
    client.meta.events.register_first(
        "before-send.s3.GetObject",
        lambda request, **_: seen.append({k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}),
    )
    ArtifactReader(client, job.input_artifacts).require("evaluation.json")
    (headers,) = seen
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=" + ARTIFACT_CREDENTIALS["accessKeyId"] + "/")
    assert headers["X-Amz-Security-Token"] == ARTIFACT_CREDENTIALS["sessionToken"]


def test_no_artifact_credentials_is_a_clear_error() -> None:
    with pytest.raises(ArtifactError, match="carries no artifactCredentials"):
        artifact_s3_client(None)


def test_kms_key_of_the_artifact_is_reported(s3) -> None:
    body_key = "p/TrainOutpu/kms"
    put_zip_artifact(s3, BUCKET, body_key, {"evaluation.json": {}})
    s3.copy_object(
        Bucket=BUCKET,
        Key=body_key,
        CopySource={"Bucket": BUCKET, "Key": body_key},
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:eu-west-1:111122223333:key/abc",
    )
    found = ArtifactReader(s3, [artifact(key=body_key)]).require("evaluation.json")
    assert found.kms_key_id == "arn:aws:kms:eu-west-1:111122223333:key/abc"
