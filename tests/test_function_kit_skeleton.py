"""The shared pieces of every pipeline function: the read → decide → write skeleton, AWS error descriptions
(`contracts/aws_errors.py`) and decision-record naming and timestamps (`contracts/decision_records.py`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from contracts.aws_errors import aws_error_code, code_or_type, describe_aws_error, describe_exception
from contracts.decision_records import RECORD_NAMES, record_stem, record_timestamp
from function_kit.codepipeline_job import CodePipelineJob, JobOutcome
from function_kit.pipeline_function import FunctionSteps, run_pipeline_function
from function_kit_fixtures import aws_credentials
from rehearsal.codepipeline_double import JOB_ID, job_event, record_codepipeline_answers

__all__ = ["aws_credentials"]


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetObject")


def test_an_aws_error_is_its_code_and_the_first_line_of_its_message() -> None:
    error = _client_error("AccessDenied", "User is not authorized\nsecond line\n" + "x" * 500)
    assert aws_error_code(error) == "AccessDenied"
    assert code_or_type(error) == "AccessDenied"
    assert describe_aws_error(error) == "AccessDenied: User is not authorized"
    assert describe_aws_error(_client_error("NoSuchKey", "")) == "NoSuchKey"
    assert len(describe_aws_error(_client_error("Throttling", "y" * 1000))) == len("Throttling: ") + 200


def test_anything_else_is_its_type_and_never_a_traceback() -> None:
    error = ValueError("bad value\n  File x.py, line 3")
    assert aws_error_code(error) is None
    assert code_or_type(error) == describe_aws_error(error) == "ValueError"
    assert describe_exception(error) == "ValueError: bad value"
    assert describe_exception(RuntimeError()) == "RuntimeError"
    odd = ValueError("x")
    odd.response = "not a mapping"  # type: ignore[attr-defined]
    assert aws_error_code(odd) is None


def test_every_record_timestamp_is_utc_to_the_second_with_z() -> None:
    moment = datetime(2026, 11, 29, 23, 5, 7, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert record_timestamp(moment) == "2026-11-29T21:05:07Z"
    assert record_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"  # naive: taken as UTC
    now = record_timestamp()
    assert now.endswith("Z") and datetime.fromisoformat(now) <= datetime.now(UTC)


def test_records_are_named_with_one_spelling() -> None:
    assert all(name == name.lower() and "_" not in name for name in RECORD_NAMES)
    assert record_stem("/decision-records/", "evaluation-gate", JOB_ID) == f"decision-records/evaluation-gate/{JOB_ID}"
    assert record_stem("", "promote", "j") == "promote/j"


def test_the_skeleton_reads_decides_writes_in_order_and_answers_once(aws_credentials: None) -> None:
    seen: list[str] = []

    def read(job: CodePipelineJob) -> str:
        seen.append("read")
        return job.job_id

    def decide(inputs: str) -> bool:
        seen.append("decide")
        return inputs == JOB_ID

    def write(job: CodePipelineJob, inputs: str, decision: bool) -> JobOutcome:
        seen.append("write")
        return JobOutcome(succeeded=decision, message=json.dumps({"job": inputs}))

    with record_codepipeline_answers() as answers:
        outcome = run_pipeline_function(job_event(), FunctionSteps(read, decide, write))
    assert seen == ["read", "decide", "write"]
    assert outcome is not None and outcome.succeeded and answers.only_for(JOB_ID).succeeded


@pytest.mark.parametrize("failing", ["read", "decide", "write"])
def test_a_step_that_raises_becomes_one_failure_answer(aws_credentials: None, failing: str) -> None:
    def step(name: str, value: object) -> object:
        if name == failing:
            raise KeyError(f"{name} broke")
        return value

    steps = FunctionSteps(
        read=lambda job: step("read", job),
        decide=lambda inputs: step("decide", inputs),
        write=lambda job, inputs, decision: step("write", JobOutcome(succeeded=True, message="ok")),
    )
    with record_codepipeline_answers() as answers:
        run_pipeline_function(job_event(), steps)
    assert answers.failure_message == f"gate error: KeyError: '{failing} broke'"
