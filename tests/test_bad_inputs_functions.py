"""Bad input for the pipeline's functions: inputs that would exhaust memory, JSON beyond the bounds,
ambiguous artifacts. Each is refused with one line naming the file and the bound, and the job is answered
with a decision record (`function_kit.input_limits` holds the bounds; `bench/bench_function_memory.py`
measures that inputs within them fit the functions' memory).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from typing import Any

import boto3
import pytest
from moto import mock_aws

from evaluation_gate.handler import handler as evaluation_handler
from evaluation_gate_fixtures import CONTRACT_EVALUATION, CONTRACT_POLICY
from function_kit.artifacts import ArtifactError, ArtifactReader
from function_kit.codepipeline_job import InputArtifact, S3Location
from function_kit.input_limits import (
    MAX_ARTIFACT_BYTES,
    MAX_FILE_BYTES,
    MAX_JSON_DEPTH,
    MAX_RECORD_BYTES,
    BoundedJsonError,
    parse_bounded_json,
)
from function_kit_fixtures import REGION, put_zip_artifact, set_fake_aws_environment
from rehearsal.codepipeline_double import JOB_ID, FakeLambdaContext, job_event, record_codepipeline_answers

BUCKET = "artifact-bucket"
KEY = "ml-pipeline/TrainOutpu/AbCdE12"
WHERE = f"artifact TrainOutput (s3://{BUCKET}/{KEY})"


class _NeverRead:
    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read although its size was known to be too large")

    def close(self) -> None:
        pass


class _EndlessBody:
    """A body that never ends (no ContentLength): streaming must stop at the bound."""

    def __init__(self) -> None:
        self.served = 0

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "an unbounded read of the body"
        self.served += size
        return b"\0" * size


class _FakeS3:
    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response

    def get_object(self, **_: Any) -> dict[str, Any]:
        return self.response


def _reader(response: dict[str, Any]) -> ArtifactReader:
    return ArtifactReader(_FakeS3(response), [InputArtifact("TrainOutput", S3Location(BUCKET, KEY))])


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name, and writes it
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in entries:
                archive.writestr(name, content)
    return buffer.getvalue()


def test_an_artifact_larger_than_the_bound_is_refused_before_a_byte_is_read() -> None:
    reader = _reader({"ContentLength": MAX_ARTIFACT_BYTES + 1, "Body": _NeverRead()})
    with pytest.raises(ArtifactError) as caught:
        reader.require("evaluation.json")
    assert str(caught.value) == f"{WHERE} is {MAX_ARTIFACT_BYTES + 1} bytes, more than the 64 MiB a function reads"


def test_an_artifact_without_a_length_is_streamed_and_cut_at_the_bound() -> None:
    body = _EndlessBody()
    with pytest.raises(ArtifactError, match=r"is larger than the 64 MiB a function reads$"):
        _reader({"Body": body}).require("evaluation.json")
    assert body.served <= MAX_ARTIFACT_BYTES + 1024 * 1024


def test_a_file_larger_than_the_bound_is_refused_before_it_is_decompressed() -> None:
    archive = _zip([("evaluation.json", b" " * (MAX_FILE_BYTES + 1))])  # compresses to a few kilobytes
    with pytest.raises(ArtifactError) as caught:
        _reader({"ContentLength": len(archive), "Body": io.BytesIO(archive)}).require("evaluation.json")
    assert str(caught.value) == (
        f"evaluation.json in {WHERE} is {MAX_FILE_BYTES + 1} bytes, more than the 2 MiB a function reads"
    )


@pytest.mark.parametrize("duplicate", ["evaluation.json", "./evaluation.json", "endpoint/staging.config.json"])
def test_an_artifact_with_a_duplicate_entry_is_refused(duplicate: str) -> None:
    archive = _zip([("evaluation.json", b"{}"), ("endpoint/staging.config.json", b"{}"), (duplicate, b"[]")])
    with pytest.raises(ArtifactError) as caught:
        _reader({"Body": io.BytesIO(archive)}).require("evaluation.json")
    name = duplicate.removeprefix("./")
    assert str(caught.value) == f"{WHERE} holds {name!r} twice: an artifact with duplicate entries is ambiguous"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, f"nested more than {MAX_JSON_DEPTH} levels deep"),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), f"nested more than {MAX_JSON_DEPTH} levels deep"),
        ('{"value": ' + "9" * 400 + "}", "value: a number of 400 characters (99999999999999999999...) is longer than the 40"),
        ('{"a": [1, {"b": ' + "9" * 5000 + "}]}", "a[1].b: a number of 5000 characters"),
        ('{"value": 0.' + "1" * 400 + "}", "value: a number of 402 characters"),
        ('{"value": 1e400}', "1e400 is beyond the range of a double-precision number"),
        ('{"value": NaN}', "value is NaN, not a finite number"),
    ],
    ids=["100000-deep", "one-level-too-deep", "400-digit-int", "5000-digit-int", "400-digit-float", "1e400", "NaN"],
)
def test_json_beyond_the_bounds_is_refused_with_the_problem(text: str, problem: str) -> None:
    with pytest.raises(BoundedJsonError, match=None) as caught:
        parse_bounded_json(text)
    assert problem in str(caught.value)


def test_json_within_the_bounds_parses() -> None:
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_bounded_json(deepest) is not None
    assert parse_bounded_json('{"n": ' + "9" * 40 + ', "x": 0.25}') == {"n": int("9" * 40), "x": 0.25}


@pytest.fixture
def moto_bucket(monkeypatch: pytest.MonkeyPatch):
    set_fake_aws_environment(monkeypatch)
    monkeypatch.delenv("PLATFORM_FLOORS", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


BAD_FILES = {
    "100000-deep": ('{"a": ' * 100_000 + "1" + "}" * 100_000, f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels"),
    "400-digit-int": ('{"value": ' + "9" * 400 + "}", "a number of 400 characters (99999999999999999999...) is longer"),
    "oversized": (" " * (MAX_FILE_BYTES + 1), f"is {MAX_FILE_BYTES + 1} bytes, more than the 2 MiB a function reads"),
}
"""Bad artifact files every pipeline function meets through its real handler: (content, the reason's words)."""


def _answered_once_in_one_line_with_the_record(answers: Any, s3: Any, *, where: str, problem: str) -> dict[str, Any]:
    """The job's one failure answer gives the reason on one line, naming the file and the problem (then the
    record's location, as every failure answer does); the record written says the same."""
    reason, *rest = answers.failure_message.split("\n")
    assert [line.split(": ")[0] for line in rest] in ([], ["Record"]), rest  # the reason, then where its record is
    assert not reason.startswith("gate error") and "Traceback" not in reason
    assert where in reason and problem in reason, reason[:400]
    record_uri = answers.only.request["failureDetails"]["externalExecutionId"]
    bucket, key = record_uri.removeprefix("s3://").split("/", 1)
    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["decision"] == "failed" and record["job_id"] == JOB_ID
    assert any(where in error and problem in error for error in record["errors"]), record["errors"]
    return record


@pytest.mark.parametrize(
    ("report", "problem"),
    [
        *BAD_FILES.values(),
        (
            json.dumps(CONTRACT_EVALUATION).replace('"rows": 171', '"rows": ' + "1" * 400),
            "dataset.rows: a number of 400 characters",
        ),
        (json.dumps(CONTRACT_EVALUATION).replace('"rows": 171', '"rows": ' + "1" * 5000), "dataset.rows: a number of 5000"),
    ],
    ids=[*BAD_FILES, "400-digit-rows", "5000-digit-rows"],
)
def test_the_evaluation_gate_names_the_file_and_the_problem_and_writes_the_record(
    moto_bucket: Any, report: str, problem: str
) -> None:
    put_zip_artifact(moto_bucket, BUCKET, KEY, {"evaluation.json": report, "release-policy.json": CONTRACT_POLICY})
    with record_codepipeline_answers() as answers:
        evaluation_handler(job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}), FakeLambdaContext())
    assert answers.count == 1
    _answered_once_in_one_line_with_the_record(answers, moto_bucket, where=f"evaluation.json in {WHERE}", problem=problem)


def test_the_evaluation_gate_refuses_an_artifact_with_two_evaluation_files(moto_bucket: Any) -> None:
    good = json.dumps(CONTRACT_EVALUATION).encode()
    moto_bucket.put_object(
        Bucket=BUCKET,
        Key=KEY,
        Body=_zip(
            [
                ("evaluation.json", good),
                ("release-policy.json", json.dumps(CONTRACT_POLICY).encode()),
                ("evaluation.json", b'{"schema_version": 1}'),
            ]
        ),
    )
    with record_codepipeline_answers() as answers:
        evaluation_handler(job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}), FakeLambdaContext())
    assert answers.count == 1
    assert "holds 'evaluation.json' twice" in answers.failure_message


class _LargeResponseBody:
    """A 6 MB endpoint response (SageMaker's limit) that records how much of it was read."""

    def __init__(self, size: int = 6 * 1024 * 1024) -> None:
        self.remaining, self.read_bytes, self.closed = size, 0, False

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the whole response body was read"
        chunk = min(size, self.remaining)
        self.remaining -= chunk
        self.read_bytes += chunk
        return b"1" * chunk

    def close(self) -> None:
        self.closed = True


class _LargeAnswers:
    """A sagemaker-runtime client that answers every request with a 6 MB body (kept in `bodies`)."""

    def __init__(self) -> None:
        self.bodies: list[_LargeResponseBody] = []

    def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
        self.bodies.append(_LargeResponseBody())
        return {"Body": self.bodies[-1], "ContentType": "text/csv"}


def test_an_endpoint_response_beyond_the_bound_is_an_error_attempt_and_is_not_read_whole() -> None:
    from function_kit.input_limits import MAX_ENDPOINT_RESPONSE_BYTES
    from staging_fixtures import GOLDEN_TEXT
    from staging_gate.endpoint_probe import probe_endpoint
    from staging_gate.golden_requests import parse_golden_requests

    runtime = _LargeAnswers()
    bodies = runtime.bodies
    requests = parse_golden_requests(GOLDEN_TEXT)
    result = probe_endpoint(runtime, "staging", requests[:1], repetitions=1)
    (attempt,) = result.attempts
    assert attempt.status == "error"
    assert "ResponseTooLarge: the response is larger than the 1 MiB the gate reads" in attempt.got
    assert bodies[0].read_bytes == MAX_ENDPOINT_RESPONSE_BYTES + 1 and bodies[0].closed


@pytest.mark.parametrize(
    ("line", "problem"),
    [("[" * 100_000 + "]" * 100_000, "nested more than 32 levels deep"), ('{"name": ' + "7" * 500 + "}", "500 characters")],
)
def test_a_golden_request_line_beyond_the_bounds_names_the_line(line: str, problem: str) -> None:
    from staging_gate.golden_requests import GoldenRequestsError, parse_golden_requests

    with pytest.raises(GoldenRequestsError) as caught:
        parse_golden_requests(line + "\n", origin="golden-requests.jsonl")
    assert str(caught.value).startswith("golden-requests.jsonl") and problem in str(caught.value)


def test_a_failure_message_at_codepipelines_limit_keeps_the_records_location(moto_bucket: Any) -> None:
    from function_kit.codepipeline_job import MAX_FAILURE_MESSAGE_CHARS, parse_job_event, run_job
    from function_kit.records import outcome_with_record

    job = parse_job_event(job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}))
    verdict = "Staging gate FAILED: " + "; ".join(f"request golden-{i:04d} expected label 1, got 0" for i in range(400))
    outcome = outcome_with_record(
        job,
        gate="staging_gate",
        passed=False,
        decision="failed",
        verdict=verdict,
        json_text="{}",
        markdown_text="#",
        s3_client=moto_bucket,
        environ={},
    )
    with record_codepipeline_answers() as answers:
        run_job(job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}), lambda _: outcome)
    message = answers.failure_message
    assert len(verdict) > MAX_FAILURE_MESSAGE_CHARS >= len(message)
    assert message.startswith("Staging gate FAILED: request golden-0000 expected label 1")
    assert message.endswith(f"(record: s3://{BUCKET}/ml-pipeline/TrainOutpu/decision-records/staging_gate/{JOB_ID}.md)")
    assert "[truncated]" in message


NONSENSE_TOKENS = {
    "not-json": "{oops",
    "a-list": "[1, 2]",
    "negative-attempt": '{"attempt": -5, "first_seen": 1700000000}',
    "boolean-attempt": '{"attempt": true, "first_seen": 1700000000}',
    "nan-first-seen": '{"attempt": 1, "first_seen": NaN}',
    "future-first-seen": '{"attempt": 1, "first_seen": 1e300}',
    "extra-key": '{"attempt": 1, "first_seen": 1700000000, "x": 1}',
    "deep": "[" * 100_000,
    "huge": '{"attempt": 1, "first_seen": 1700000000, "pad": "' + "x" * 100_000 + '"}',
}


@pytest.mark.parametrize("token", NONSENSE_TOKENS.values(), ids=NONSENSE_TOKENS.keys())
@pytest.mark.parametrize("action", ["verify_production", "promote"])
def test_the_promote_function_refuses_a_nonsense_continuation_token_once_in_one_line(
    moto_bucket: Any, token: str, action: str
) -> None:
    from datetime import UTC, datetime

    from promote.handler import PromoteServices, run_promote

    def no_sagemaker() -> Any:
        raise AssertionError("SageMaker was called with a nonsense continuation token")

    event = job_event(
        bucket=BUCKET,
        artifacts={"TrainOutput": KEY},
        function_name="promote",
        continuation_token=token,
        user_parameters=json.dumps({"action": action, "endpoint_name": "production"}),
    )
    with record_codepipeline_answers() as answers:
        run_promote(
            event,
            services=PromoteServices(
                sagemaker=no_sagemaker,
                records_s3=lambda: moto_bucket,
                artifact_s3=lambda _: moto_bucket,
                now=lambda: datetime(2026, 11, 29, tzinfo=UTC),
            ),
            environ={},
        )
    assert answers.count == 1
    message = answers.failure_message
    assert "continuation token" in message and "is not one this function issued (" in message
    assert len(message) < 600 and "gate error" not in message


def test_a_token_the_function_issued_is_read_back() -> None:
    from promote.production_check import WaitToken, next_wait_token, read_wait_token

    issued = next_wait_token(None, now=1_700_000_000.0)
    assert read_wait_token(issued.to_json(), now=1_700_000_060.0) == issued
    assert next_wait_token(issued.to_json(), now=1_700_000_060.0) == WaitToken(attempt=2, first_seen=1_700_000_000.0)


def test_json_with_more_values_than_the_bound_is_refused_before_parsing() -> None:
    from function_kit.input_limits import MAX_JSON_VALUES

    with pytest.raises(BoundedJsonError, match=f"more than the {MAX_JSON_VALUES} values"):
        parse_bounded_json("[" + "[]," * MAX_JSON_VALUES + "[]]")


def test_a_deeply_nested_endpoint_response_is_a_malformed_attempt_not_a_crash() -> None:
    from staging_fixtures import GOLDEN_TEXT
    from staging_gate.golden_requests import parse_golden_requests
    from staging_gate.staging_decision import judge_response

    request = next(r for r in parse_golden_requests(GOLDEN_TEXT) if r.accept == "application/json")
    attempt = judge_response(request, repetition=1, latency_ms=1.0, body=b"[" * 100_000, content_type="application/json")
    assert attempt.status == "malformed" and "nested more than 32 levels deep" in attempt.got


STAGING_FILES = {
    "release.json": {"model_package_arn": f"arn:aws:sagemaker:{REGION}:111122223333:model-package/fraud-model/1"},
    "release-policy.json": {"version": 1, "staging": {"max_p95_latency_ms": 200, "max_error_rate": 0.0}},
    "golden-requests.jsonl": None,  # the model repository's own (staging_fixtures.GOLDEN_TEXT)
}


@pytest.mark.parametrize("bad", BAD_FILES)
@pytest.mark.parametrize("name", STAGING_FILES)
def test_the_staging_gate_names_a_bad_file_and_the_problem_and_writes_the_record(moto_bucket: Any, name: str, bad: str) -> None:
    from staging_fixtures import GOLDEN_TEXT
    from staging_gate.handler import handler as staging_handler

    content, problem = BAD_FILES[bad]
    files = {file: GOLDEN_TEXT if good is None else good for file, good in STAGING_FILES.items()}
    put_zip_artifact(moto_bucket, BUCKET, KEY, {**files, name: content})
    parameters = json.dumps({"endpoint_name": "ml-cicd-staging-endpoint"})
    event = job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}, function_name="staging-gate", user_parameters=parameters)
    with record_codepipeline_answers() as answers:
        staging_handler(event, FakeLambdaContext())  # the endpoint is never called: the inputs are refused first
    _answered_once_in_one_line_with_the_record(answers, moto_bucket, where=f"{name} in {WHERE}", problem=problem)


RECORDS = "release-records"
CUSTODY_RECORD = f"s3://{RECORDS}/evaluation-gate/{JOB_ID}.json"
RELEASE = STAGING_FILES["release.json"]
TOO_LARGE_RECORD = (" " * (MAX_RECORD_BYTES + 1), f"is {MAX_RECORD_BYTES + 1} bytes, more than the 8 MiB a function reads")


def _promote(action: str, **parameters: str) -> Any:
    from promote.handler import handler as promote_handler

    event = job_event(
        bucket=BUCKET,
        artifacts={"TrainOutput": KEY},
        function_name="promote",
        user_parameters=json.dumps({"action": action, **parameters}),
    )
    with record_codepipeline_answers() as answers:
        promote_handler(event, FakeLambdaContext())
    return answers


@pytest.mark.parametrize("bad", BAD_FILES)
def test_promote_names_a_bad_release_file_and_the_problem_and_writes_the_record(moto_bucket: Any, bad: str) -> None:
    content, problem = BAD_FILES[bad]
    put_zip_artifact(moto_bucket, BUCKET, KEY, {"release.json": content})
    answers = _promote("verify_production", endpoint_name="ml-cicd-production-endpoint")
    _answered_once_in_one_line_with_the_record(answers, moto_bucket, where=f"release.json in {WHERE}", problem=problem)


@pytest.fixture
def records_bucket(moto_bucket: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The release bucket promote reads the evaluation gate's record from (and writes its own record to)."""
    moto_bucket.create_bucket(Bucket=RECORDS, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("RECORD_BUCKET", RECORDS)
    put_zip_artifact(moto_bucket, BUCKET, KEY, {"release.json": RELEASE})
    return moto_bucket


@pytest.mark.parametrize("bad", ["100000-deep", "400-digit-int", "oversized-record"])  # 2 MiB is a fine record
def test_promote_bounds_the_evaluation_gates_record_it_reads_and_writes_its_own(records_bucket: Any, bad: str) -> None:
    content, problem = TOO_LARGE_RECORD if bad == "oversized-record" else BAD_FILES[bad]
    records_bucket.put_object(Bucket=RECORDS, Key=CUSTODY_RECORD.split("/", 3)[3], Body=content.encode())
    answers = _promote("verify_custody", custody_record=CUSTODY_RECORD)
    where = f"the evaluation gate's record {CUSTODY_RECORD}"
    _answered_once_in_one_line_with_the_record(answers, records_bucket, where=where, problem=problem)


class _CountedBody(_LargeResponseBody):
    """A record body without a length, larger than the bound: only bound + 1 bytes may be read."""


@pytest.mark.parametrize("declared", [True, False], ids=["length-declared", "no-length"])
def test_promote_refuses_a_large_record_without_reading_it_whole(records_bucket: Any, declared: bool) -> None:
    from promote.handler import PromoteServices, run_promote

    body = _CountedBody(MAX_RECORD_BYTES * 2)
    response = {"ContentLength": MAX_RECORD_BYTES * 2, "Body": body} if declared else {"Body": body}

    class RecordsS3:
        def get_object(self, **_: Any) -> dict[str, Any]:
            return response

        def put_object(self, **request: Any) -> dict[str, Any]:
            return records_bucket.put_object(**request)

    event = job_event(
        bucket=BUCKET,
        artifacts={"TrainOutput": KEY},
        function_name="promote",
        user_parameters=json.dumps({"action": "verify_custody", "custody_record": CUSTODY_RECORD}),
    )
    services = PromoteServices(records_s3=RecordsS3, artifact_s3=lambda _: records_bucket)
    with record_codepipeline_answers() as answers:
        run_promote(event, services=services, environ={"RECORD_BUCKET": RECORDS})
    assert body.read_bytes == (0 if declared else MAX_RECORD_BYTES + 1) and body.closed
    assert "more than the 8 MiB a function reads" in answers.failure_message.split("\n")[0]


def test_the_evaluation_gates_record_at_the_bounds_is_within_the_bound_promote_reads(moto_bucket: Any) -> None:
    """The largest record the gate writes (2 MiB evaluation.json and release-policy.json, about 3,000 metrics,
    as `bench/bench_function_memory.py` builds them) is one promote reads back."""
    from bench.bench_function_memory import _metrics_report

    report, policy = _metrics_report(MAX_FILE_BYTES)
    put_zip_artifact(moto_bucket, BUCKET, KEY, {"evaluation.json": report, "release-policy.json": policy})
    with record_codepipeline_answers() as answers:
        evaluation_handler(job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}), FakeLambdaContext())
    record_key = answers.only.request["failureDetails"]["externalExecutionId"].split("/", 3)[3]
    record = moto_bucket.get_object(Bucket=BUCKET, Key=record_key)["Body"].read()
    assert MAX_FILE_BYTES < len(record) <= MAX_RECORD_BYTES // 2  # larger than a file, with room to spare
    assert parse_bounded_json(record.decode())["inputs"]["custody"]


def test_the_warm_up_reads_no_more_of_an_answer_than_the_gate_reads() -> None:
    from function_kit.input_limits import MAX_ENDPOINT_RESPONSE_BYTES
    from staging_fixtures import GOLDEN_TEXT
    from staging_gate.golden_requests import parse_golden_requests
    from staging_gate.warmup import ProbeSettings, warm_up

    runtime = _LargeAnswers()
    bodies = runtime.bodies
    result = warm_up(runtime, "staging", parse_golden_requests(GOLDEN_TEXT)[0], settings=ProbeSettings())
    assert result.warm and [a.outcome for a in result.attempts] == [
        "answered (response larger than the 1 MiB the gate reads; not read further)"
    ]
    assert bodies[0].read_bytes == MAX_ENDPOINT_RESPONSE_BYTES + 1 and bodies[0].closed


def test_no_function_reads_a_stream_whole() -> None:
    """`body.read()` without a size takes whatever the other side sends: every read in the functions is bounded
    (a size first, or `input_limits.read_at_most`)."""
    import ast
    from pathlib import Path

    lambdas = Path(__file__).resolve().parent.parent / "lambdas"
    unbounded = [
        f"{path.relative_to(lambdas)}:{node.lineno}"
        for path in sorted(lambdas.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "read"
        and not node.args
        and not node.keywords
    ]
    assert len(list(lambdas.rglob("handler.py"))) >= 5 and unbounded == []


@pytest.mark.parametrize("bad", ["100000-deep", "400-digit-int"])
@pytest.mark.parametrize("function", ["evaluation_gate", "staging_gate", "promote"])
def test_user_parameters_beyond_the_json_bounds_are_one_line_and_a_record(moto_bucket: Any, function: str, bad: str) -> None:
    """UserParameters reach a function with CodePipeline's variables resolved into them: the JSON bounds apply."""
    import importlib

    handler = importlib.import_module(f"{function}.handler").handler
    put_zip_artifact(moto_bucket, BUCKET, KEY, {"evaluation.json": "{}"})  # no release: no package to mark Rejected
    content, problem = BAD_FILES[bad]
    event = job_event(bucket=BUCKET, artifacts={"TrainOutput": KEY}, function_name=function, user_parameters=content)
    with record_codepipeline_answers() as answers:
        handler(event, FakeLambdaContext())
    _answered_once_in_one_line_with_the_record(answers, moto_bucket, where="UserParameters is refused:", problem=problem)


def test_the_sdk_streams_the_bodies_the_functions_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the bounds rest on: S3 GetObject and InvokeEndpoint answer with a streamed body (botocore's models),
    and a real SageMaker-runtime client over a real socket keeps only what `read_at_most` asks of a 6 MB answer."""
    import threading
    import tracemalloc
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import botocore.session

    from function_kit.input_limits import MAX_ENDPOINT_RESPONSE_BYTES
    from staging_fixtures import GOLDEN_TEXT
    from staging_gate.endpoint_probe import runtime_client
    from staging_gate.golden_requests import parse_golden_requests
    from staging_gate.warmup import ProbeSettings, warm_up

    models = botocore.session.get_session()
    assert models.get_service_model("s3").operation_model("GetObject").has_streaming_output
    assert "ContentLength" in models.get_service_model("s3").operation_model("GetObject").output_shape.members
    invoke = models.get_service_model("sagemaker-runtime").operation_model("InvokeEndpoint")
    assert invoke.has_streaming_output and invoke.output_shape.members["Body"].metadata["max"] == 6 * 1024 * 1024

    answer = b"1" * (6 * 1024 * 1024)

    class SageMakerLike(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            try:
                self.wfile.write(answer)
            except OSError:
                pass  # the client closed the stream at the bound: the rest is never sent

        def log_message(self, *_: Any) -> None:
            pass

    set_fake_aws_environment(monkeypatch)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SageMakerLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = runtime_client(f"http://127.0.0.1:{server.server_port}")
        request = parse_golden_requests(GOLDEN_TEXT)[0]
        tracemalloc.start()
        result = warm_up(client, "staging", request, settings=ProbeSettings())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert result.warm and result.attempts[0].outcome.startswith("answered (response larger than the 1 MiB")
    assert peak < 2 * MAX_ENDPOINT_RESPONSE_BYTES < len(answer)  # 1.2 MB measured; 6.4 MB when read whole
