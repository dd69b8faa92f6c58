"""Invoke a gate's real Lambda handler as a CodePipeline Lambda-invoke action would.

The input artifact is zipped into the sandbox's artifact bucket, the handler
is called with the documented job event and a fake Lambda context, and the
`PutJob*Result` answer is read back. A success carrying a continuation token
is re-invoked with it, as CodePipeline does. The gate must answer each
invocation exactly once; its decision records (JSON and Markdown) are
collected from the record prefix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rehearsal.aws_sandbox import ACCOUNT_ID, ARTIFACT_BUCKET, ARTIFACT_KEY_ARN, Sandbox, environment
from rehearsal.codepipeline_double import CodePipelineAnswer, FakeLambdaContext, job_event, new_job_id
from rehearsal.errors import StepFailed

__all__ = ["ActionRun", "run_pipeline_action"]

_MAX_CONTINUATIONS = 20


@dataclass(frozen=True)
class ActionRun:
    """What one action did: its final answer and the decision record of its last invocation."""

    answer: CodePipelineAnswer
    record: Mapping[str, Any] | None
    record_files: Mapping[str, bytes]
    invocations: int


def _invoke_once(
    sandbox: Sandbox,
    handler: Callable[[Any, Any], Any],
    function_name: str,
    event: dict[str, Any],
) -> CodePipelineAnswer:
    job_id = event["CodePipeline.job"]["id"]
    try:
        handler(event, FakeLambdaContext(function_name=function_name, account_id=ACCOUNT_ID))
    except Exception as error:  # noqa: BLE001 - a handler must never raise; say so, as a failed step
        raise StepFailed(
            f"{function_name} raised {type(error).__name__} out of its handler (it must answer the job instead)"
        ) from None
    answers = sandbox.answers.for_job(job_id)
    if len(answers) != 1:
        raise StepFailed(f"{function_name} answered its CodePipeline job {len(answers)} times, expected exactly once")
    return answers[0]


def run_pipeline_action(
    sandbox: Sandbox,
    *,
    handler: Callable[[Any, Any], Any],
    function_name: str,
    artifact_name: str,
    artifact_key: str,
    user_parameters: str | None,
    record_prefix: str,
    function_environment: Mapping[str, str],
) -> ActionRun:
    """Run the action to its final answer with the function's environment set."""
    env = {
        "RECORD_BUCKET": ARTIFACT_BUCKET,
        "RECORD_PREFIX": record_prefix,
        "RECORD_KMS_KEY_ARN": ARTIFACT_KEY_ARN,
        **function_environment,
    }
    token: str | None = None
    invocations = 0
    with environment(env):
        while True:
            job_id = new_job_id()
            event = job_event(
                job_id=job_id,
                function_name=function_name,
                bucket=ARTIFACT_BUCKET,
                artifacts={artifact_name: artifact_key},
                user_parameters=user_parameters,
                continuation_token=token,
                account_id=ACCOUNT_ID,
            )
            answer = _invoke_once(sandbox, handler, function_name, event)
            invocations += 1
            token = answer.request.get("continuationToken") if answer.succeeded else None
            if not token:
                break
            if invocations >= _MAX_CONTINUATIONS:
                raise StepFailed(f"{function_name} asked to continue more than {_MAX_CONTINUATIONS} times")
    files = sandbox.download_prefix(ARTIFACT_BUCKET, record_prefix.rstrip("/") + "/")
    record = None
    for key, content in files.items():
        if key.endswith(f"/{job_id}.json"):
            record = json.loads(content)
    return ActionRun(answer=answer, record=record, record_files=files, invocations=invocations)
